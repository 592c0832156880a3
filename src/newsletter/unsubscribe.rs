//! Unsubscribing (RFC 8058 one-click POST, the page behind the link, the mailto address): a withdrawal in the
//! consent ledger, effective at once (a campaign in progress skips the person at its next batch). Idempotent:
//! a second request changes nothing.

use crate::db::{Db, now};
use crate::error::{Error, Result};
use crate::people::{add_event, consent};

/// The e-mail purposes a person can manage from a newsletter.
pub const EMAIL_PURPOSES: [&str; 4] = ["newsletter_national", "newsletter_federation", "alerts", "tracking"];

/// Withdraws the consent of the campaign's list; returns whether anything changed.
pub async fn apply(db: &Db, campaign: i64, person: i64, how: &str) -> Result<bool> {
    let purpose: Option<String> = sqlx::query_scalar(
        "SELECT l.purpose FROM campaigns c JOIN mailing_lists l ON l.id = c.list_id WHERE c.id = $1",
    )
    .bind(campaign)
    .fetch_optional(&db.pool)
    .await?;
    let Some(purpose) = purpose else { return Err(Error::NotFound) };
    let exists: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM people WHERE id = $1").bind(person).fetch_one(&db.pool).await?;
    if exists == 0 {
        // Erased meanwhile: nothing left to unsubscribe.
        return Ok(false);
    }
    let mut tx = db.pool.begin().await?;
    let granted: Option<i64> =
        sqlx::query_scalar("SELECT granted FROM consent_state WHERE person_id = $1 AND purpose = $2")
            .bind(person)
            .bind(&purpose)
            .fetch_optional(&mut *tx)
            .await?;
    if granted != Some(1) {
        return Ok(false);
    }
    consent::record(&mut *tx, person, &purpose, false, "unsubscribe", "", None).await?;
    sqlx::query("INSERT INTO campaign_events (campaign_id, person_id, kind, at) VALUES ($1, $2, 'unsubscribe', $3)")
        .bind(campaign)
        .bind(person)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    let summary = format!("Désinscription de « {} » ({how})", consent::purpose_label(&purpose));
    add_event(&mut *tx, person, "unsubscribe", &summary, None).await?;
    tx.commit().await?;
    Ok(true)
}

/// The person's current e-mail preferences: (purpose, label, granted).
pub async fn preferences(db: &Db, person: i64) -> Result<Vec<(&'static str, &'static str, bool)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT purpose, granted FROM consent_state WHERE person_id = $1")
        .bind(person)
        .fetch_all(&db.pool)
        .await?;
    Ok(EMAIL_PURPOSES
        .iter()
        .map(|p| (*p, consent::purpose_label(p), rows.iter().any(|(q, g)| q == p && *g == 1)))
        .collect())
}

/// Sets the preferences from the page: a decision is recorded only where it changes.
pub async fn set_preferences(db: &Db, person: i64, wanted: &[String], ip: &str) -> Result<usize> {
    let current = preferences(db, person).await?;
    let mut tx = db.pool.begin().await?;
    let mut changed = 0;
    for (purpose, label, granted) in current {
        let want = wanted.iter().any(|w| w == purpose);
        if want != granted {
            consent::record(&mut *tx, person, purpose, want, "self_service", ip, None).await?;
            let verb = if want { "accepté" } else { "refusé" };
            add_event(&mut *tx, person, "consent", &format!("A {verb} : {label} (page de désinscription)"), None)
                .await?;
            changed += 1;
        }
    }
    tx.commit().await?;
    Ok(changed)
}
