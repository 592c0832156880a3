//! The campaign sender: claims recipients in batches, renders and sends each message through a pool of SMTP
//! connections, and records the outcome in the per-recipient ledger. When nothing is left to claim, it takes the
//! next list of the frozen audience (`campaigns::take_audience`), which becomes pending rows in the same transaction.
//!
//! **Never twice, never lost.** What decides whether a message is delivered is the final `.` of the SMTP DATA
//! reaching the server. Right before writing it, the sender stores `campaign person` into its journal file, a
//! shared memory mapping that a SIGKILL cannot undo (see [`Journal`]), so that after a crash:
//! - a recipient left `sending` whose line is in the journal was handed over: it becomes `sent`;
//! - one without a line never got its final dot (the server drops an unfinished DATA): it goes back to `pending`.
//!
//! Outcomes reach the database at the end of each batch (the journal is then truncated). Recovery happens at the
//! start of every run, for batches of dead senders on this machine (their pid is gone). A sender that died on
//! another machine (several workers on PostgreSQL) left its journal there: once its lease is over, its
//! recipients become `uncertain`, shown to staff, never silently resent nor skipped.
//! A run lasts about a minute, then queues itself again, so no job outlives its lease in the job queue.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::Mutex;

use super::campaigns::{self, Campaign};
use super::dkim::DkimSigner;
use super::smtp::{self, Connection, SmtpError};
use super::{bounce, mime, render, tracking};
use crate::config::{Config, SmtpSecurity};
use crate::db::{Backend, Db, now};
use crate::jobs::{self, Job, Runner};
use journal::{Journal, read_journal};

/// How long one run sends before it queues itself again.
const RUN_SECONDS: u64 = 50;
/// A claimed batch must be finished within this lease; recovery waits for it on other machines.
const LEASE_SECONDS: i64 = 600;
/// Attempts before a temporary failure becomes final.
const MAX_ATTEMPTS: i64 = 5;

/// This process's identity in the `worker` column: `host|pid|journal file name`.
struct Identity {
    host: String,
    pid: u32,
    journal_name: String,
}

impl Identity {
    fn column(&self) -> String {
        format!("{}|{}|{}", self.host, self.pid, self.journal_name)
    }
}

/// Resolves the recipients of `campaign_id` left `sending` by senders that are gone.
pub async fn recover(db: &Db, spool: &Path, campaign_id: i64) -> anyhow::Result<()> {
    let host = jobs::host_name();
    let t = now();
    let workers: Vec<(String, i64)> = sqlx::query_as(
        // `state <> 'pending'` names the state index's condition (migration 15), which SQLite does not deduce.
        "SELECT worker, MIN(lease_until) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'sending' \
         AND state <> 'pending' GROUP BY worker",
    )
    .bind(campaign_id)
    .fetch_all(&db.pool)
    .await?;
    for (worker, lease_until) in workers {
        let mut parts = worker.splitn(3, '|');
        let (w_host, w_pid, w_journal) = (
            parts.next().unwrap_or(""),
            parts.next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0),
            parts.next().unwrap_or(""),
        );
        let local = w_host == host;
        if local && jobs::pid_alive(w_pid) && w_pid != std::process::id() {
            continue; // still sending
        }
        if local && w_pid == std::process::id() && lease_until > t {
            continue; // another run of this process
        }
        if !local && lease_until > t {
            continue; // maybe alive elsewhere: wait for its lease
        }
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT person_id FROM campaign_recipients WHERE campaign_id = $1 AND state = 'sending' \
             AND state <> 'pending' AND worker = $2",
        )
        .bind(campaign_id)
        .bind(&worker)
        .fetch_all(&db.pool)
        .await?;
        let journal_path = spool.join(w_journal);
        let (sent, back): (Vec<i64>, Vec<i64>) = if local && !w_journal.contains(['/', '\\']) {
            let handed = read_journal(&journal_path);
            ids.into_iter().partition(|p| handed.contains(&(campaign_id, *p)))
        } else {
            // The journal is on another machine: nobody can tell. Reported, never resent.
            let why = "l'envoi a été interrompu : remise incertaine";
            set_state(db, campaign_id, &ids, "uncertain", why, Some(&worker)).await?;
            tracing::warn!(campaign_id, worker, n = ids.len(), "recipients of a lost sender marked uncertain");
            continue;
        };
        tracing::info!(campaign_id, worker, sent = sent.len(), pending = back.len(), "recovered an interrupted batch");
        let why = "remis au serveur (confirmé par le journal après interruption)";
        set_state(db, campaign_id, &sent, "sent", why, Some(&worker)).await?;
        set_state(db, campaign_id, &back, "pending", "", Some(&worker)).await?;
        let still: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM campaign_recipients WHERE state = 'sending' AND worker = $1")
                .bind(&worker)
                .fetch_one(&db.pool)
                .await?;
        if still == 0 && local {
            let _ = std::fs::remove_file(&journal_path);
        }
    }
    Ok(())
}

/// Sets the state of some recipients of a campaign (sent ones get their time). With `held_by`, only rows still
/// `sending` for that sender change: recovery never undoes what another sender did since it looked.
async fn set_state(
    db: &Db,
    campaign_id: i64,
    ids: &[i64],
    state: &str,
    detail: &str,
    held_by: Option<&str>,
) -> anyhow::Result<()> {
    for chunk in ids.chunks(5_000) {
        if chunk.is_empty() {
            continue;
        }
        let guard = if held_by.is_some() { "AND state = 'sending' AND worker = $6" } else { "AND $6 = ''" };
        let sql = format!(
            "UPDATE campaign_recipients SET state = $1, detail = $2, worker = NULL, lease_until = NULL, \
             sent_at = CASE WHEN $1 = 'sent' THEN $3 ELSE sent_at END \
             WHERE campaign_id = $4 AND person_id IN ({}) {guard}",
            crate::db::json_ids(db.backend, 5)
        );
        sqlx::query(&sql)
            .bind(state)
            .bind(detail)
            .bind(now())
            .bind(campaign_id)
            .bind(serde_json::to_string(chunk)?)
            .bind(held_by.unwrap_or(""))
            .execute(&db.pool)
            .await?;
    }
    Ok(())
}

/// One recipient of a claimed batch, with what its message needs.
#[derive(sqlx::FromRow)]
struct Recipient {
    person_id: i64,
    track: i64,
    attempts: i64,
    email: Option<String>,
    first_name: String,
    last_name: String,
    commune: String,
    consent: Option<i64>,
    blocked: Option<i64>,
}

/// Everything fixed for a campaign's run.
struct Context {
    campaign: Campaign,
    compiled: render::Compiled,
    base_url: String,
    key: Vec<u8>,
    from_name: String,
    from_address: String,
    list_id: String,
    return_domain: String,
    return_prefix: String,
    unsubscribe_mailto_domain: String,
    dkim: Option<Arc<DkimSigner>>,
    smtp: smtp::SmtpConfig,
    /// Demo without an SMTP server: messages go to the outbox page instead (not crash-proof; demo only).
    outbox_only: Option<Db>,
    journal: Journal,
    identity: Identity,
}

fn smtp_config(config: &Config) -> smtp::SmtpConfig {
    let s = &config.smtp;
    smtp::SmtpConfig {
        host: s.host.clone(),
        port: s.port,
        security: match s.security {
            SmtpSecurity::None => smtp::Security::None,
            SmtpSecurity::Starttls => smtp::Security::StartTls,
            SmtpSecurity::Tls => smtp::Security::Tls,
        },
        username: s.username.clone(),
        password: s.password.expose().to_string(),
        helo_name: url_host(&config.base_url()),
        timeout: Duration::from_secs(s.timeout),
        accept_invalid_certs: false,
    }
}

fn url_host(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host = rest.split(['/', ':']).next().unwrap_or("localhost");
    if host.is_empty() { "localhost".into() } else { host.to_string() }
}

/// "Name <address>" → (name, address).
fn split_mailbox(s: &str) -> (String, String) {
    match (s.find('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => (s[..a].trim().trim_matches('"').to_string(), s[a + 1..b].trim().to_string()),
        _ => (String::new(), s.trim().to_string()),
    }
}

impl Context {
    async fn prepare(runner: &Runner, campaign: Campaign, shard: u32) -> anyhow::Result<Context> {
        let config = &runner.config;
        let db = &runner.db;
        let doc = campaign.document();
        let template = render::template(&campaign.template).context("unknown template")?;
        let sender = super::sender_identity(db, config, &campaign).await?;
        let compiled = render::compile(&doc, template, &sender).map_err(|e| anyhow::anyhow!("{e}"))?;
        let (from_name, from_address) = split_mailbox(&config.mail_from);
        let domain = from_address.rsplit('@').next().unwrap_or("localhost").to_string();
        let n = &config.newsletter;
        let dkim = if n.dkim_key_file.is_empty() {
            None
        } else {
            let pem = std::fs::read_to_string(&n.dkim_key_file)
                .with_context(|| format!("cannot read the DKIM key {}", n.dkim_key_file))?;
            Some(DkimSigner::shared(&n.dkim_domain, &n.dkim_selector, &pem).map_err(|e| anyhow::anyhow!("DKIM: {e}"))?)
        };
        let return_domain = if n.bounce_domain.is_empty() { domain.clone() } else { n.bounce_domain.clone() };
        let list_name: String = sqlx::query_scalar("SELECT name FROM mailing_lists WHERE id = $1")
            .bind(campaign.list_id)
            .fetch_one(&db.pool)
            .await?;
        // Unique per run: two runs never share a journal nor a claim.
        let mut nonce = [0u8; 6];
        getrandom::getrandom(&mut nonce).map_err(|e| anyhow::anyhow!("random: {e}"))?;
        let journal_name = format!(
            "journal-{}-{}-{}-{}.log",
            std::process::id(),
            campaign.id,
            shard,
            data_encoding::HEXLOWER.encode(&nonce)
        );
        let journal = Journal::create(Path::new(&n.spool_dir), &journal_name)?;
        Ok(Context {
            list_id: format!(
                "{} <liste-{}.{}>",
                list_name.replace(['<', '>', '\r', '\n'], ""),
                campaign.list_id,
                domain
            ),
            campaign,
            compiled,
            base_url: config.base_url(),
            key: tracking::key(db).await?,
            from_name: if sender.organisation.is_empty() { from_name } else { sender.organisation.clone() },
            from_address,
            unsubscribe_mailto_domain: return_domain.clone(),
            return_domain,
            return_prefix: n.bounce_prefix.clone(),
            dkim,
            smtp: smtp_config(config),
            outbox_only: config.smtp.host.is_empty().then(|| db.clone()),
            journal,
            identity: Identity { host: jobs::host_name(), pid: std::process::id(), journal_name },
        })
    }

    /// The complete message for one recipient, not yet DKIM-signed; returns its return path and subject.
    fn message(
        &self,
        r: &Recipient,
        email: &str,
        html: &mut String,
        text: &mut String,
        out: &mut Vec<u8>,
        test: bool,
    ) -> (String, String) {
        let c = self.campaign.id;
        let person = r.person_id;
        let tracked_person = if r.track == 1 { person } else { 0 };
        let unsubscribe_token = tracking::encode(&self.key, tracking::UNSUBSCRIBE, c, person, 0);
        let unsubscribe_url = format!("{}/d/{unsubscribe_token}", self.base_url);
        let pixel =
            format!("{}/o/{}", self.base_url, tracking::encode(&self.key, tracking::OPEN, c, tracked_person, 0));
        // The renderer takes a `'static` hook: it owns copies of what it needs.
        let (base, key) = (self.base_url.clone(), self.key.clone());
        let track = move |i: usize, out: &mut String| {
            out.push_str(&base);
            out.push_str("/l/");
            out.push_str(&tracking::encode(&key, tracking::CLICK, c, tracked_person, i as i64));
        };
        let tracking_on = self.campaign.tracking == 1 && !test;
        let vars = render::Recipient {
            first_name: &r.first_name,
            last_name: &r.last_name,
            commune: &r.commune,
            unsubscribe_url: &unsubscribe_url,
            tracking: if tracking_on { Some(&track) } else { None },
            open_pixel_url: if tracking_on { Some(&pixel) } else { None },
        };
        html.clear();
        text.clear();
        self.compiled.render_html(&vars, html);
        self.compiled.render_text(&vars, text);
        let mut subject = self.compiled.subject(&vars);
        if test {
            subject.insert_str(0, "[Test] ");
        }
        let message_id = format!("c{c}.p{person}@{}", self.return_domain);
        let mailto = format!(
            "mailto:{}-desinscription+{unsubscribe_token}@{}",
            self.return_prefix, self.unsubscribe_mailto_domain
        );
        let campaign_header = c.to_string();
        let extra = [("X-Terrain-Campaign", campaign_header.as_str())];
        let env = mime::Envelope {
            from_name: &self.from_name,
            from_address: &self.from_address,
            reply_to: None,
            to: email,
            subject: &subject,
            message_id: &message_id,
            date: now(),
            list_id: &self.list_id,
            unsubscribe_https: &unsubscribe_url,
            unsubscribe_mailto: &mailto,
            extra_headers: &extra,
        };
        mime::build(&env, text, html, out);
        (bounce::verp_address(&self.key, &self.return_prefix, &self.return_domain, c, person), subject)
    }
}

/// What happened to one recipient.
enum Outcome {
    Sent,
    Skipped(&'static str),
    Retry(String),
    Failed(String),
    Uncertain(String),
}

/// Runs a shard of a campaign for about a minute.
pub async fn run(runner: &Runner, campaign_id: i64, shard: u32) -> anyhow::Result<()> {
    let db = &runner.db;
    campaigns::start_if_due(db, campaign_id).await?;
    let campaign = match campaigns::load(db, campaign_id).await {
        Ok(c) => c,
        Err(crate::error::Error::NotFound) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    match campaign.state.as_str() {
        "sending" => {}
        "scheduled" => {
            // Not due yet (clocks differ): look again later.
            requeue(db, campaign_id, shard, campaign.scheduled_at.unwrap_or(0).max(now() + 1)).await?;
            return Ok(());
        }
        _ => return Ok(()),
    }
    let spool = PathBuf::from(&runner.config.newsletter.spool_dir);
    recover(db, &spool, campaign_id).await?;
    let ctx = Arc::new(Context::prepare(runner, campaign, shard).await?);
    let purpose: String = sqlx::query_scalar("SELECT purpose FROM mailing_lists WHERE id = $1")
        .bind(ctx.campaign.list_id)
        .fetch_one(&db.pool)
        .await?;
    let n = &runner.config.newsletter;
    let concurrency = n.concurrency.max(1);
    let limiter = Arc::new(Limiter::new(n.rate));
    let errors = Arc::new(AtomicU32::new(0));
    let mut pool: Vec<Option<Connection>> = (0..concurrency).map(|_| None).collect();
    let started = Instant::now();
    // Consent and blocks are read when a batch is claimed: batches of about two seconds of sending make a
    // withdrawal effective within seconds, even in the middle of a campaign.
    let batch_size: i64 = if n.rate > 0 { (i64::from(n.rate) * 2).clamp(1, 1000) } else { 500 };
    let worker = ctx.identity.column();
    // Where this sender's previous claim ended (see `claim`).
    let mut after = 0;
    let result = async {
        loop {
            let state: String =
                sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1").bind(campaign_id).fetch_one(&db.pool).await?;
            if state != "sending" {
                return anyhow::Ok(());
            }
            if started.elapsed() > Duration::from_secs(RUN_SECONDS) {
                requeue(db, campaign_id, shard, now()).await?;
                return Ok(());
            }
            let Some((batch, last)) = claim(db, campaign_id, &worker, &purpose, after, batch_size).await? else {
                // Nothing further: the next list of the frozen audience, if any, becomes pending rows to claim.
                let mut tx = db.pool.begin().await?;
                let taken = campaigns::take_audience(&mut tx, db.backend, campaign_id, 1, true, "pending", "").await?;
                tx.commit().await?;
                if let Some(first) = taken {
                    after = first - 1;
                    continue;
                }
                if after > 0 {
                    after = 0;
                    continue;
                }
                return finish_or_wait(db, campaign_id, shard).await;
            };
            after = last;
            if batch.is_empty() {
                continue;
            }
            let outcomes = send_batch(&ctx, batch, &mut pool, &limiter, &errors).await;
            record(db, campaign_id, &outcomes).await?;
            ctx.journal.truncate();
            let consecutive = errors.load(Ordering::Relaxed);
            if consecutive >= n.pause_after_errors {
                let last = outcomes.iter().rev().find_map(|(_, o)| match o {
                    Outcome::Retry(e) | Outcome::Failed(e) => Some(e.clone()),
                    _ => None,
                });
                let reason = format!(
                    "Mise en pause automatique après {consecutive} erreurs d'envoi consécutives. Dernière erreur : {}",
                    last.unwrap_or_default()
                );
                sqlx::query("UPDATE campaigns SET state = 'paused', pause_reason = $1, updated_at = $2 WHERE id = $3 AND state = 'sending'")
                    .bind(reason.chars().take(500).collect::<String>())
                    .bind(now())
                    .bind(campaign_id)
                    .execute(&db.pool)
                    .await?;
                tracing::warn!(campaign_id, consecutive, "campaign paused after consecutive errors");
                return Ok(());
            }
        }
    }
    .await;
    for conn in pool.into_iter().flatten() {
        conn.quit().await;
    }
    if result.is_ok() {
        let _ = std::fs::remove_file(&ctx.journal.path);
    }
    result
}

/// Sends one copy of a campaign, exactly as recipients will get it (HTML and text, DKIM), to a staff member's
/// address: tracking off, the greeting with their first name. Through the job queue, like every e-mail.
pub async fn send_test(runner: &Runner, campaign_id: i64, to: &str, first_name: &str) -> anyhow::Result<()> {
    let campaign = campaigns::load(&runner.db, campaign_id).await?;
    let ctx = Context::prepare(runner, campaign, u32::MAX).await?;
    let r = Recipient {
        person_id: 0,
        track: 0,
        attempts: 0,
        email: Some(to.to_string()),
        first_name: first_name.to_string(),
        last_name: String::new(),
        commune: String::new(),
        consent: Some(1),
        blocked: None,
    };
    let (mut html, mut text, mut out) = (String::new(), String::new(), Vec::new());
    let (return_path, subject) = ctx.message(&r, to, &mut html, &mut text, &mut out, true);
    if let Some(dkim) = &ctx.dkim {
        dkim.sign_prepend(&mut out);
    }
    let result = match &ctx.outbox_only {
        Some(db) => match to_outbox(db, to, &subject, &text, &html).await {
            Outcome::Sent => Ok(()),
            _ => Err(anyhow::anyhow!("outbox write failed")),
        },
        None => {
            let mut conn = Connection::connect(&ctx.smtp).await?;
            let sent = conn.send(&return_path, to, &out, || {}).await;
            conn.quit().await;
            sent.map(|_| ()).map_err(anyhow::Error::from)
        }
    };
    let _ = std::fs::remove_file(&ctx.journal.path);
    result
}

async fn requeue(db: &Db, campaign_id: i64, shard: u32, at: i64) -> anyhow::Result<()> {
    let mut conn = db.pool.acquire().await?;
    jobs::enqueue_in(&mut conn, &Job::SendCampaign { campaign_id, shard }, at).await?;
    jobs::wake();
    Ok(())
}

/// No recipient to claim now: the campaign is finished, or waits for retries or for other senders.
async fn finish_or_wait(db: &Db, campaign_id: i64, shard: u32) -> anyhow::Result<()> {
    // In one statement, so that a list another sender takes meanwhile is seen either as a list or as its rows.
    let (pending, sending, next, lists): (i64, i64, Option<i64>, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN state = 'sending' THEN 1 ELSE 0 END), 0), \
         MIN(CASE WHEN state = 'pending' THEN next_attempt_at END), \
         (SELECT COUNT(*) FROM campaign_audience WHERE campaign_id = $1) \
         FROM campaign_recipients WHERE campaign_id = $1",
    )
    .bind(campaign_id)
    .fetch_one(&db.pool)
    .await?;
    if lists > 0 {
        // Lists not taken yet: another sender is taking them.
        requeue(db, campaign_id, shard, now() + 1).await?;
        return Ok(());
    }
    if pending == 0 && sending == 0 {
        sqlx::query("UPDATE campaigns SET state = 'sent', finished_at = $1, updated_at = $1 WHERE id = $2 AND state = 'sending'")
            .bind(now())
            .bind(campaign_id)
            .execute(&db.pool)
            .await?;
        return Ok(());
    }
    if pending > 0 {
        requeue(db, campaign_id, shard, next.unwrap_or(0).max(now() + 1)).await?;
    } else if shard == 0 {
        // Others are sending (or died with a lease): look again soon, to recover or to finish.
        requeue(db, campaign_id, shard, now() + 5).await?;
    }
    Ok(())
}

/// Claims up to `n` pending recipients for this sender, the first ones after person `after` in the campaign's
/// primary key order; returns them with what their message needs, and the last person claimed (None: nothing left
/// to claim after `after`). A sender passes the last person of its previous claim as `after`, so that each claim
/// reads only the rows since then (not the whole campaign already sent), and starts again from 0 when it finds
/// nothing further (retries that came due, rows another sender let go).
async fn claim(
    db: &Db,
    campaign_id: i64,
    worker: &str,
    purpose: &str,
    after: i64,
    n: i64,
) -> anyhow::Result<Option<(Vec<Recipient>, i64)>> {
    let t = now();
    let lock = if db.backend == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "UPDATE campaign_recipients SET state = 'sending', worker = $1, lease_until = $2, attempts = attempts + 1 \
         WHERE campaign_id = $3 AND person_id IN (SELECT person_id FROM campaign_recipients \
         WHERE campaign_id = $3 AND person_id > $6 AND state = 'pending' AND next_attempt_at <= $4 \
         ORDER BY person_id LIMIT $5 {lock}) RETURNING person_id"
    ))
    .bind(worker)
    .bind(t + LEASE_SECONDS)
    .bind(campaign_id)
    .bind(t)
    .bind(n)
    .bind(after)
    .fetch_all(&db.pool)
    .await?;
    if ids.is_empty() {
        return Ok(None);
    }
    let claimed = ids.len() as u64;
    let id_list = serde_json::to_string(&ids)?;
    let recipients: Vec<Recipient> = sqlx::query_as(&format!(
        "SELECT r.person_id, r.track, r.attempts, p.email, p.first_name, p.last_name, \
         COALESCE(co.name, p.city) AS commune, \
         (SELECT cs.granted FROM consent_state cs WHERE cs.person_id = p.id AND cs.purpose = $3) AS consent, \
         (SELECT 1 FROM email_blocks b WHERE b.person_id = p.id) AS blocked \
         FROM campaign_recipients r JOIN people p ON p.id = r.person_id \
         LEFT JOIN communes co ON co.code = p.commune_code \
         WHERE r.campaign_id = $1 AND r.person_id IN ({}) AND r.worker = $2 AND r.state = 'sending' \
         ORDER BY r.person_id",
        crate::db::json_ids(db.backend, 4)
    ))
    .bind(campaign_id)
    .bind(worker)
    .bind(purpose)
    .bind(&id_list)
    .fetch_all(&db.pool)
    .await?;
    if (recipients.len() as u64) < claimed {
        // Rows whose person was deleted while the audience was frozen (PostgreSQL has no foreign key there, see
        // migration 6): nobody to write to.
        sqlx::query(&format!(
            "UPDATE campaign_recipients SET state = 'skipped', detail = 'personne supprimée', lease_until = NULL \
             WHERE campaign_id = $1 AND person_id IN ({}) AND worker = $2 AND state = 'sending' \
             AND NOT EXISTS (SELECT 1 FROM people p WHERE p.id = campaign_recipients.person_id)",
            crate::db::json_ids(db.backend, 3)
        ))
        .bind(campaign_id)
        .bind(worker)
        .bind(&id_list)
        .execute(&db.pool)
        .await?;
    }
    Ok(Some((recipients, ids.iter().copied().max().unwrap_or(after))))
}

/// A messages-per-second cap shared by the connections of a run (0: none).
struct Limiter {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl Limiter {
    fn new(rate: u32) -> Limiter {
        Limiter {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(rate))),
            next: Mutex::new(Instant::now()),
        }
    }
    async fn wait(&self) {
        let Some(interval) = self.interval else { return };
        let at = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let at = (*next).max(now);
            *next = at + interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Sends a batch over the connection pool; returns each recipient's outcome.
async fn send_batch(
    ctx: &Arc<Context>,
    batch: Vec<Recipient>,
    pool: &mut [Option<Connection>],
    limiter: &Arc<Limiter>,
    errors: &Arc<AtomicU32>,
) -> Vec<(i64, Outcome)> {
    let mut outcomes: Vec<(i64, Outcome)> = Vec::with_capacity(batch.len());
    let mut todo = Vec::with_capacity(batch.len());
    for r in batch {
        let skip = match (&r.email, r.consent, r.blocked) {
            (None, _, _) => Some("plus d'adresse e-mail"),
            (_, Some(1), None) => None,
            (_, _, Some(_)) => Some("adresse bloquée (rebond ou plainte)"),
            _ => Some("consentement retiré"),
        };
        match skip {
            Some(why) => outcomes.push((r.person_id, Outcome::Skipped(why))),
            None => todo.push(r),
        }
    }
    let queue = Arc::new(std::sync::Mutex::new(todo.into_iter()));
    let mut tasks = Vec::new();
    for slot in pool.iter_mut() {
        let conn = slot.take();
        let (ctx, queue, limiter, errors) = (ctx.clone(), queue.clone(), limiter.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            // Signing batches wait for this task's messages while it lives.
            let _signing = ctx.dkim.as_ref().and_then(|d| d.producer());
            let mut conn = conn;
            let mut done = Vec::new();
            let (mut html, mut text, mut spare) = (String::new(), String::new(), Vec::new());
            let mut current = prepare(&ctx, &queue, &limiter, &mut html, &mut text, Vec::new()).await;
            while let Some(cur) = current.take() {
                let (outcome, next) = match &ctx.outbox_only {
                    Some(db) => {
                        let outcome = to_outbox(db, &cur.email, &cur.subject, &text, &html).await;
                        (outcome, prepare(&ctx, &queue, &limiter, &mut html, &mut text, cur.out).await)
                    }
                    None => {
                        // The next message is ready before this one's final dot, which carries its envelope.
                        let buf = std::mem::take(&mut spare);
                        let next = prepare(&ctx, &queue, &limiter, &mut html, &mut text, buf).await;
                        let outcome = send_one(&ctx, &mut conn, &cur, next.as_ref()).await;
                        spare = cur.out;
                        (outcome, next)
                    }
                };
                match &outcome {
                    Outcome::Sent => errors.store(0, Ordering::Relaxed),
                    Outcome::Retry(_) | Outcome::Failed(_) | Outcome::Uncertain(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Outcome::Skipped(_) => {}
                }
                done.push((cur.r.person_id, outcome));
                current = next;
            }
            (conn, done)
        }));
    }
    for (slot, task) in pool.iter_mut().zip(tasks) {
        match task.await {
            Ok((conn, done)) => {
                *slot = conn;
                outcomes.extend(done);
            }
            Err(e) => tracing::error!(error = %e, "sending task panicked"),
        }
    }
    outcomes
}

/// A recipient's message, rendered and ready to go.
struct Ready {
    r: Recipient,
    email: String,
    return_path: String,
    subject: String,
    out: Vec<u8>,
}

/// Takes the next recipient from the batch, waits for the rate limit and renders its message into `out`.
async fn prepare(
    ctx: &Context,
    queue: &std::sync::Mutex<std::vec::IntoIter<Recipient>>,
    limiter: &Limiter,
    html: &mut String,
    text: &mut String,
    mut out: Vec<u8>,
) -> Option<Ready> {
    let r = queue.lock().expect("queue").next()?;
    limiter.wait().await;
    let email = r.email.clone().unwrap_or_default();
    let (return_path, subject) = ctx.message(&r, &email, html, text, &mut out, false);
    if let Some(dkim) = &ctx.dkim {
        dkim.sign_prepend_batched(&mut out).await;
    }
    Some(Ready { r, email, return_path, subject, out })
}

/// Sends `m` over the task's connection (connecting first if needed); `next`, when known, is announced with the
/// final dot (see [`Connection::send_then`]).
async fn send_one(ctx: &Context, conn: &mut Option<Connection>, m: &Ready, next: Option<&Ready>) -> Outcome {
    let r = &m.r;
    if conn.as_ref().is_none_or(Connection::is_broken) {
        match Connection::connect(&ctx.smtp).await {
            Ok(c) => *conn = Some(c),
            Err(e) => return retry_or_fail(r, e.to_string()),
        }
    }
    let c = conn.as_mut().expect("connected");
    let campaign = ctx.campaign.id;
    let handed = std::sync::atomic::AtomicBool::new(false);
    let next = next.map(|n| smtp::Next { from: &n.return_path, to: &n.email, message: &n.out });
    let hook = || {
        ctx.journal.mark(campaign, r.person_id, true);
        handed.store(true, Ordering::Relaxed);
    };
    let result = c.send_then(&m.return_path, &m.email, &m.out, hook, next).await;
    match result {
        Ok(_) => Outcome::Sent,
        Err(SmtpError::Uncertain(e)) => {
            *conn = None;
            Outcome::Uncertain(format!("connexion perdue après la remise : {e}"))
        }
        Err(e) => {
            if handed.load(Ordering::Relaxed) {
                // Refused after the final dot: not handed over after all.
                ctx.journal.mark(campaign, r.person_id, false);
            }
            // A transaction left open is reset by the next send; a broken connection is replaced.
            if c.is_broken() {
                *conn = None;
            }
            if e.is_permanent() { Outcome::Failed(e.to_string()) } else { retry_or_fail(r, e.to_string()) }
        }
    }
}

/// The demo outbox keeps the text part and, below it, the HTML (so that its links and pixel can be tried).
async fn to_outbox(db: &Db, to: &str, subject: &str, text: &str, html: &str) -> Outcome {
    let body = format!("{text}\n\n--- Version HTML ---\n{html}");
    match sqlx::query("INSERT INTO outbox (to_addr, subject, body_text, created_at) VALUES ($1, $2, $3, $4)")
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now())
        .execute(&db.pool)
        .await
    {
        Ok(_) => Outcome::Sent,
        Err(e) => Outcome::Retry(e.to_string()),
    }
}

fn retry_or_fail(r: &Recipient, error: String) -> Outcome {
    if r.attempts >= MAX_ATTEMPTS { Outcome::Failed(error) } else { Outcome::Retry(error) }
}

/// Writes a batch's outcomes.
async fn record(db: &Db, campaign_id: i64, outcomes: &[(i64, Outcome)]) -> anyhow::Result<()> {
    let sent: Vec<i64> = outcomes.iter().filter(|(_, o)| matches!(o, Outcome::Sent)).map(|(p, _)| *p).collect();
    set_state(db, campaign_id, &sent, "sent", "", None).await?;
    let t = now();
    for (person, outcome) in outcomes {
        let (state, detail, next) = match outcome {
            Outcome::Sent => continue,
            Outcome::Skipped(why) => ("skipped", why.to_string(), 0),
            Outcome::Failed(e) => ("failed", e.clone(), 0),
            Outcome::Uncertain(e) => ("uncertain", e.clone(), 0),
            Outcome::Retry(e) => ("pending", e.clone(), t + 30),
        };
        sqlx::query(
            "UPDATE campaign_recipients SET state = $1, detail = $2, next_attempt_at = $3, worker = NULL, \
             lease_until = NULL WHERE campaign_id = $4 AND person_id = $5",
        )
        .bind(state)
        .bind(detail.chars().take(500).collect::<String>())
        .bind(next)
        .bind(campaign_id)
        .bind(person)
        .execute(&db.pool)
        .await?;
    }
    Ok(())
}

mod journal;
#[cfg(test)]
mod tests;
