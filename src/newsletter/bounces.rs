//! Acting on bounces and complaints: hard bounce → the address is blocked at once; soft bounces → blocked after
//! `soft_bounce_limit` within `soft_bounce_days`; complaint → blocked at once and every e-mail consent withdrawn.
//! Reports reach us from a Maildir (read every minute by a job) or over HTTP (`POST /api/v1/bounces`).
//! The person is found from the signed VERP return path; a report that names no valid one is ignored.

use std::path::Path;

use super::bounce::{self, ReportKind, Severity};
use crate::db::{Db, now};
use crate::error::Result;
use crate::jobs::Runner;
use crate::people::{add_event, consent};

/// What a report led to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    HardBounce { person: i64 },
    SoftBounce { person: i64, blocked: bool },
    Complaint { person: i64 },
    Unsubscribe { person: i64 },
    Ignored(&'static str),
}

/// Applies one raw message received on the bounce address.
pub async fn apply(db: &Db, config: &crate::config::Config, raw: &[u8]) -> Result<Applied> {
    let key = super::tracking::key(db).await?;
    let n = &config.newsletter;
    let Ok(report) = bounce::parse(raw) else { return Ok(Applied::Ignored("pas un message")) };
    // A mail to the unsubscribe address: `prefix-desinscription+TOKEN@domain` (List-Unsubscribe mailto).
    let marker = format!("{}-desinscription+", n.bounce_prefix).to_lowercase();
    for address in &report.verp_addresses {
        let lower = address.to_lowercase();
        if let Some(start) = lower.find(&marker) {
            let rest = &address[start + marker.len()..];
            let token = rest.split('@').next().unwrap_or("");
            if let Some(t) = super::tracking::decode(&key, token)
                && t.kind == super::tracking::UNSUBSCRIBE
            {
                super::unsubscribe::apply(db, t.campaign, t.person, "mailto").await?;
                return Ok(Applied::Unsubscribe { person: t.person });
            }
        }
    }
    let Some((campaign, person)) = report.verp_ids(&key, &n.bounce_prefix) else {
        return Ok(Applied::Ignored("aucune adresse de retour signée"));
    };
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM people WHERE id = $1").bind(person).fetch_one(&db.pool).await?;
    if exists == 0 {
        return Ok(Applied::Ignored("personne effacée"));
    }
    let campaign_exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM campaigns WHERE id = $1").bind(campaign).fetch_one(&db.pool).await?;
    let campaign_id = (campaign_exists > 0).then_some(campaign);
    let detail = report
        .recipients
        .first()
        .map(|r| format!("{} {}", r.status.clone().unwrap_or_default(), r.diagnostic.clone().unwrap_or_default()))
        .unwrap_or_default()
        .trim()
        .chars()
        .take(300)
        .collect::<String>();
    let t = now();
    match report.kind {
        ReportKind::Complaint => {
            let mut tx = db.pool.begin().await?;
            block(&mut tx, person, "complaint", &detail, t).await?;
            for purpose in ["newsletter_national", "newsletter_federation", "alerts"] {
                consent::record(&mut *tx, person, purpose, false, "complaint", "", None).await?;
            }
            event(&mut tx, campaign_id, person, "complaint", t).await?;
            add_event(
                &mut *tx,
                person,
                "complaint",
                "A signalé une lettre comme indésirable : plus aucun e-mail",
                None,
            )
            .await?;
            tx.commit().await?;
            Ok(Applied::Complaint { person })
        }
        ReportKind::Bounce => {
            let hard = report.recipients.iter().any(|r| r.severity == Severity::Hard);
            let mut tx = db.pool.begin().await?;
            event(&mut tx, campaign_id, person, "bounce", t).await?;
            if hard {
                block(&mut tx, person, "hard_bounce", &detail, t).await?;
                add_event(&mut *tx, person, "bounce", &format!("Adresse e-mail en échec définitif ({detail})"), None)
                    .await?;
                tx.commit().await?;
                return Ok(Applied::HardBounce { person });
            }
            sqlx::query("INSERT INTO soft_bounces (person_id, campaign_id, status, at) VALUES ($1, $2, $3, $4)")
                .bind(person)
                .bind(campaign_id)
                .bind(&detail)
                .bind(t)
                .execute(&mut *tx)
                .await?;
            let recent: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM soft_bounces WHERE person_id = $1 AND at >= $2")
                .bind(person)
                .bind(t - i64::from(n.soft_bounce_days) * 86_400)
                .fetch_one(&mut *tx)
                .await?;
            let blocked = recent >= i64::from(n.soft_bounce_limit);
            if blocked {
                block(&mut tx, person, "soft_bounces", &format!("{recent} rebonds temporaires"), t).await?;
                add_event(&mut *tx, person, "bounce", "Adresse e-mail bloquée après des rebonds répétés", None).await?;
            }
            tx.commit().await?;
            Ok(Applied::SoftBounce { person, blocked })
        }
        ReportKind::DelayNotice => Ok(Applied::Ignored("avis de retard")),
        ReportKind::AutoReply => Ok(Applied::Ignored("réponse automatique")),
        ReportKind::Unknown => Ok(Applied::Ignored("message non reconnu")),
    }
}

async fn block(tx: &mut sqlx::AnyConnection, person: i64, reason: &str, detail: &str, t: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO email_blocks (person_id, reason, detail, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (person_id) DO NOTHING",
    )
    .bind(person)
    .bind(reason)
    .bind(detail)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn event(tx: &mut sqlx::AnyConnection, campaign: Option<i64>, person: i64, kind: &str, t: i64) -> Result<()> {
    if let Some(c) = campaign {
        sqlx::query("INSERT INTO campaign_events (campaign_id, person_id, kind, at) VALUES ($1, $2, $3, $4)")
            .bind(c)
            .bind(person)
            .bind(kind)
            .bind(t)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Reads the Maildir's `new/` messages, applies each and leaves it in `cur/` (kept for a look by hand). A message
/// is claimed by moving it first (an atomic rename: with several workers, only one gets each file).
pub async fn ingest_maildir(runner: &Runner) -> anyhow::Result<()> {
    let dir = &runner.config.newsletter.bounce_maildir;
    if dir.is_empty() {
        return Ok(());
    }
    let new = Path::new(dir).join("new");
    let cur = Path::new(dir).join("cur");
    std::fs::create_dir_all(&cur)?;
    let Ok(entries) = std::fs::read_dir(&new) else { return Ok(()) };
    for entry in entries.flatten().take(10_000) {
        let path = entry.path();
        let claimed = cur.join(format!("{}:2,S", entry.file_name().to_string_lossy()));
        if std::fs::rename(&path, &claimed).is_err() {
            continue; // another worker took it
        }
        let Ok(raw) = std::fs::read(&claimed) else { continue };
        match apply(&runner.db, &runner.config, &raw).await {
            Ok(applied) => tracing::info!(file = %claimed.display(), ?applied, "bounce mailbox message"),
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "bounce not applied; will retry");
                let _ = std::fs::rename(&claimed, &path);
            }
        }
    }
    Ok(())
}
