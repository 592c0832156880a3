//! Durable job queue in the database.
//!
//! A job is a typed payload ([`Job`]) stored as JSON. Workers claim one job at a time by moving it to
//! `running` with a lease; on PostgreSQL the claim uses `FOR UPDATE SKIP LOCKED` so several worker
//! processes never take the same row; on SQLite the single writer makes the claiming UPDATE atomic.
//! A worker that dies leaves an expired lease and the job is claimed again; a failing job is retried
//! with exponential backoff, then marked `failed`. Handlers must therefore be idempotent.

use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::db::{Backend, Db, now};
use crate::mail::{Mailer, OutgoingEmail, SendError};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Job {
    SendEmail(OutgoingEmail),
    /// Deletes expired sessions, old login attempts and old finished jobs.
    Housekeeping,
    /// Runs a confirmed web import of people (`imports` row).
    ImportPeople {
        import_id: i64,
    },
    /// Sends a campaign's pending recipients for a while, then queues itself again (newsletter::sender).
    SendCampaign {
        campaign_id: i64,
        shard: u32,
    },
    /// Reads bounces and complaints from the configured Maildir.
    IngestBounces,
    /// One copy of a campaign to a staff member's address, as recipients will get it.
    SendCampaignTest {
        campaign_id: i64,
        to: String,
        first_name: String,
    },
    /// Imports a file of election results or indicators uploaded by HQ; progress and outcome are written back
    /// into the job's own payload (territory::upload).
    ImportTerritory(crate::territory::upload::TerritoryImport),
}

impl Job {
    pub fn kind(&self) -> &'static str {
        match self {
            Job::SendEmail(_) => "send_email",
            Job::Housekeeping => "housekeeping",
            Job::ImportPeople { .. } => "import_people",
            Job::SendCampaign { .. } => "send_campaign",
            Job::IngestBounces => "ingest_bounces",
            Job::SendCampaignTest { .. } => "send_campaign_test",
            Job::ImportTerritory(_) => "import_territory",
        }
    }
}

/// How long a claimed job is ours before another worker may take it over.
pub const LEASE_SECONDS: i64 = 300;

fn wakeup() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// Wakes the workers of this process (others find new rows at their next poll).
pub fn wake() {
    wakeup().notify_waiters();
}

/// Adds a job inside a transaction, to run from `run_after` (unix seconds). Call [`wake`] after the commit.
pub async fn enqueue_in(conn: &mut sqlx::AnyConnection, job: &Job, run_after: i64) -> anyhow::Result<i64> {
    let t = now();
    Ok(sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, 'queued', 0, 5, $3, $4, $4) RETURNING id",
    )
    .bind(job.kind())
    .bind(serde_json::to_string(job)?)
    .bind(run_after)
    .bind(t)
    .fetch_one(&mut *conn)
    .await?)
}

/// Adds a job, to run as soon as a worker is free.
pub async fn enqueue(db: &Db, job: &Job) -> anyhow::Result<i64> {
    let t = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, 'queued', 0, 5, $3, $3, $3) RETURNING id",
    )
    .bind(job.kind())
    .bind(serde_json::to_string(job)?)
    .bind(t)
    .fetch_one(&db.pool)
    .await?;
    // A hint for workers in this process; others find the row at their next poll.
    wakeup().notify_waiters();
    Ok(id)
}

#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    id: i64,
    payload: String,
    attempts: i64,
    max_attempts: i64,
}

async fn claim(db: &Db, worker: &str) -> anyhow::Result<Option<Claimed>> {
    let t = now();
    let lock = if db.backend == Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2, updated_at = $3 \
         WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND run_after <= $3) \
                     OR (state = 'running' AND locked_until < $3) ORDER BY run_after, id LIMIT 1 {lock}) \
         RETURNING id, payload, attempts, max_attempts"
    );
    Ok(sqlx::query_as(&sql).bind(worker).bind(t + LEASE_SECONDS).bind(t).fetch_optional(&db.pool).await?)
}

/// This machine's name, in worker identities (`host:pid:n`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "terrain".into())
}

/// Whether a process of this machine is still running (Linux `/proc`; elsewhere: assumed alive).
pub fn pid_alive(pid: u32) -> bool {
    !std::path::Path::new("/proc/self").exists() || std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Jobs held by a dead worker process of this machine are queued again at once, without waiting for their
/// lease (a killed worker restarted by its supervisor resumes its work immediately).
pub async fn reap_dead_local(db: &Db) -> anyhow::Result<u64> {
    let host = host_name();
    let running: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, locked_by FROM jobs WHERE state = 'running' AND locked_by IS NOT NULL")
            .fetch_all(&db.pool)
            .await?;
    let mut reaped = 0;
    for (id, worker) in running {
        let mut parts = worker.split(':');
        let (Some(h), Some(Ok(pid))) = (parts.next(), parts.next().map(str::parse::<u32>)) else { continue };
        if h == host && !pid_alive(pid) {
            reaped += sqlx::query(
                // The death was not the job's doing: the attempt is given back.
                "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, \
                 attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = $1 AND locked_by = $2",
            )
            .bind(id)
            .bind(&worker)
            .execute(&db.pool)
            .await?
            .rows_affected();
        }
    }
    Ok(reaped)
}

/// Seconds to wait before attempt `attempts + 1`: 30 s, 1 min, 2 min… capped at one hour.
pub fn backoff(attempts: i64) -> i64 {
    (30i64 << attempts.clamp(0, 7)).min(3600)
}

async fn finish(db: &Db, id: i64, worker: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, updated_at = $1 WHERE id = $2 AND locked_by = $3")
        .bind(now())
        .bind(id)
        .bind(worker)
        .execute(&db.pool)
        .await?;
    Ok(())
}

async fn fail(db: &Db, job: &Claimed, worker: &str, error: &str, permanent: bool) -> anyhow::Result<()> {
    let t = now();
    let give_up = permanent || job.attempts >= job.max_attempts;
    sqlx::query(
        "UPDATE jobs SET state = $1, run_after = $2, last_error = $3, locked_by = NULL, locked_until = NULL, updated_at = $4 \
         WHERE id = $5 AND locked_by = $6",
    )
    .bind(if give_up { "failed" } else { "queued" })
    .bind(t + backoff(job.attempts))
    .bind(error)
    .bind(t)
    .bind(job.id)
    .bind(worker)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// What a worker needs to run jobs.
#[derive(Clone)]
pub struct Runner {
    pub db: Db,
    pub mailer: Mailer,
    pub config: std::sync::Arc<crate::config::Config>,
    /// Retention period of non-members, in years (configuration).
    pub retention_years: i64,
}

impl Runner {
    /// Runs a job; `id` is its row (None for the periodic tasks run without a row).
    async fn execute(&self, job: &Job, id: Option<i64>) -> Result<(), (String, bool)> {
        match job {
            Job::SendEmail(email) => self.mailer.send(&self.db, email).await.map_err(|e| match e {
                SendError::Permanent(m) => (m, true),
                SendError::Transient(m) => (m, false),
            }),
            Job::ImportPeople { import_id } => {
                crate::people::import::run_job(&self.db, *import_id).await.map_err(|e| (format!("{e:#}"), false))
            }
            Job::SendCampaign { campaign_id, shard } => {
                crate::newsletter::sender::run(self, *campaign_id, *shard).await.map_err(|e| (format!("{e:#}"), false))
            }
            Job::SendCampaignTest { campaign_id, to, first_name } => {
                crate::newsletter::sender::send_test(self, *campaign_id, to, first_name)
                    .await
                    .map_err(|e| (format!("{e:#}"), false))
            }
            Job::IngestBounces => {
                crate::newsletter::bounces::ingest_maildir(self).await.map_err(|e| (format!("{e:#}"), false))
            }
            Job::ImportTerritory(import) => match id {
                Some(id) => {
                    crate::territory::upload::run(&self.db, id, import).await.map_err(|e| (format!("{e:#}"), false))
                }
                None => Err(("a territory import needs its job row".into(), true)),
            },
            Job::Housekeeping => {
                let r = async {
                    crate::auth::session::purge_expired(&self.db).await?;
                    crate::auth::throttle::purge_old(&self.db).await?;
                    crate::people::selfservice::purge_expired(&self.db).await?;
                    let purged = crate::people::retention::purge(&self.db, now(), self.retention_years).await?;
                    if purged > 0 {
                        let entry = crate::audit::Entry::new(None, "retention_purge")
                            .details(serde_json::json!({ "deleted": purged, "years": self.retention_years }));
                        crate::audit::record(&self.db, &crate::audit::RequestMeta::default(), entry).await?;
                    }
                    sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
                        .bind(now() - 7 * 86_400)
                        .execute(&self.db.pool)
                        .await?;
                    // The day after a mission: ask its participants for their fiche d'observation.
                    crate::field::missions::send_due_reminders(&self.db, &self.config.public_url).await?;
                    anyhow::Ok(())
                };
                r.await.map_err(|e| (e.to_string(), false))
            }
        }
    }

    /// Claims and runs one job; `Ok(false)` when the queue had nothing ready.
    pub async fn run_one(&self, worker: &str) -> anyhow::Result<bool> {
        let Some(claimed) = claim(&self.db, worker).await? else {
            return Ok(false);
        };
        if claimed.attempts > claimed.max_attempts {
            // A lease expired after the last allowed attempt: the job keeps crashing its worker.
            fail(&self.db, &claimed, worker, "worker lost the job too many times", true).await?;
            return Ok(true);
        }
        let job: Job = match serde_json::from_str(&claimed.payload) {
            Ok(job) => job,
            Err(e) => {
                fail(&self.db, &claimed, worker, &format!("unreadable payload: {e}"), true).await?;
                return Ok(true);
            }
        };
        match self.execute(&job, Some(claimed.id)).await {
            Ok(()) => finish(&self.db, claimed.id, worker).await?,
            Err((error, permanent)) => {
                tracing::warn!(job = claimed.id, kind = job.kind(), attempt = claimed.attempts, permanent, %error, "job failed");
                fail(&self.db, &claimed, worker, &error, permanent).await?;
            }
        }
        Ok(true)
    }

    /// Runs until `shutdown` resolves: drains ready jobs, then waits for a wake-up or a one-second tick.
    pub async fn run(self, worker: String, shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut shutdown = shutdown;
        let mut last_housekeeping = 0;
        let mut last_reap = 0;
        let mut last_bounces = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if !self.config.newsletter.bounce_maildir.is_empty() && now() - last_bounces >= 60 {
                last_bounces = now();
                if let Err(e) = self.execute(&Job::IngestBounces, None).await {
                    tracing::warn!(error = %e.0, "reading the bounce mailbox failed");
                }
            }
            if now() - last_reap >= 10 {
                last_reap = now();
                if let Err(e) = reap_dead_local(&self.db).await {
                    tracing::warn!(error = %e, "reaping jobs of dead workers failed");
                }
            }
            if now() - last_housekeeping > 3600 {
                last_housekeeping = now();
                if let Err(e) = self.execute(&Job::Housekeeping, None).await {
                    tracing::warn!(error = %e.0, "housekeeping failed");
                }
            }
            match self.run_one(&worker).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "job queue unavailable"),
            }
            tokio::select! {
                _ = wakeup().notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Counts jobs by state (for `terrain check` and tests).
pub async fn counts(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state ORDER BY state").fetch_all(&db.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), 30);
        assert_eq!(backoff(1), 60);
        assert_eq!(backoff(3), 240);
        assert_eq!(backoff(50), 3600);
    }

    #[test]
    fn jobs_round_trip_as_json() {
        let job =
            Job::SendEmail(OutgoingEmail { to: "a@b.fr".into(), subject: "Objet".into(), text: "Bonjour".into() });
        let json = serde_json::to_string(&job).unwrap();
        assert!(json.contains("\"kind\":\"send_email\""));
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
    }
}
