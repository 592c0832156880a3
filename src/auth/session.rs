//! Server-side sessions. The browser holds a random 256-bit id in an HttpOnly cookie; the database holds
//! only its SHA-256, so a leaked database does not leak live sessions.

use crate::db::{Db, now};

pub const COOKIE: &str = "terrain_session";
pub const SECURE_COOKIE: &str = "__Host-terrain_session";

#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub user_id: i64,
    pub pending_totp: bool,
}

pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// `Set-Cookie` value for a new session.
pub fn set_cookie(token: &str, secure: bool) -> String {
    let name = cookie_name(secure);
    let secure_attr = if secure { "; Secure" } else { "" };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax{secure_attr}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let name = cookie_name(secure);
    let secure_attr = if secure { "; Secure" } else { "" };
    format!("{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure_attr}")
}

/// Creates a session and returns the raw id for the cookie.
pub async fn create(db: &Db, user_id: i64, pending_totp: bool, idle_minutes: i64) -> anyhow::Result<String> {
    let token = super::random_token();
    let t = now();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, pending_totp, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $4, $5)",
    )
    .bind(super::sha256_hex(&token))
    .bind(user_id)
    .bind(pending_totp as i64)
    .bind(t)
    .bind(t + idle_minutes * 60)
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// Finds a live session of an enabled user and slides its expiry.
pub async fn lookup(db: &Db, token: &str, idle_minutes: i64) -> anyhow::Result<Option<Session>> {
    let id_hash = super::sha256_hex(token);
    let t = now();
    let row: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT s.user_id, s.pending_totp, s.last_seen_at FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
    )
    .bind(&id_hash)
    .bind(t)
    .fetch_optional(&db.pool)
    .await?;
    let Some((user_id, pending, last_seen)) = row else {
        return Ok(None);
    };
    // Write at most once a minute per session: reads stay reads.
    if t - last_seen >= 60 {
        sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE id_hash = $3")
            .bind(t)
            .bind(t + idle_minutes * 60)
            .bind(&id_hash)
            .execute(&db.pool)
            .await?;
    }
    Ok(Some(Session { id_hash, user_id, pending_totp: pending != 0 }))
}

pub async fn delete(db: &Db, id_hash: &str) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(&db.pool).await?;
    Ok(())
}

pub async fn delete_for_user(db: &Db, user_id: i64) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&db.pool).await?;
    Ok(())
}

/// Removes expired sessions (housekeeping job).
pub async fn purge_expired(db: &Db) -> anyhow::Result<u64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now()).execute(&db.pool).await?.rows_affected())
}
