//! Retention (GDPR art. 5(1)(e)): sympathisers and curious people with no interaction they started for the
//! configured period are deleted by the housekeeping job; members are kept while they are members. Only
//! events the person starts (sign-up, self-service, later: replies, field reports) move `last_activity_at`.

use serde::Serialize;

use crate::access::{Access, Perm};
use crate::db::Db;
use crate::error::Result;

const YEAR: i64 = 365 * 86_400 + 86_400 / 4;

/// The Unix time before which inactive non-members are purged.
pub fn cutoff(now: i64, years: i64) -> i64 {
    now - years * YEAR
}

const EXPIRED: &str = "p.category IN ('sympathiser', 'curious') AND p.last_activity_at < $1";

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Expiring {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub category: String,
    pub last_activity_at: i64,
}

/// Who the next purge would delete, within the caller's scope (preview): count and the first rows.
pub async fn preview(db: &Db, access: &Access, now: i64, years: i64, limit: i64) -> Result<(i64, Vec<Expiring>)> {
    let scope = access.filter(Perm::ManagePeople, "p.federation_id", Some("p.section_id"));
    let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM people p WHERE {scope} AND {EXPIRED}"))
        .bind(cutoff(now, years))
        .fetch_one(&db.pool)
        .await?;
    let rows = sqlx::query_as(&format!(
        "SELECT p.id, p.first_name, p.last_name, p.email, p.category, p.last_activity_at FROM people p \
         WHERE {scope} AND {EXPIRED} ORDER BY p.last_activity_at, p.id LIMIT {limit}"
    ))
    .bind(cutoff(now, years))
    .fetch_all(&db.pool)
    .await?;
    Ok((n, rows))
}

/// Deletes every expired non-member (all federations: this is the system's own duty, run by a job).
/// Dependent rows (tags, skills, consents, timeline) go with them. Returns how many were deleted.
pub async fn purge(db: &Db, now: i64, years: i64) -> Result<u64> {
    let n = sqlx::query(&format!("DELETE FROM people WHERE id IN (SELECT p.id FROM people p WHERE {EXPIRED})"))
        .bind(cutoff(now, years))
        .execute(&db.pool)
        .await?
        .rows_affected();
    Ok(n)
}
