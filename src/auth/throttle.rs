//! Throttling of login, second-factor and password-reset attempts, counted in the database so that every
//! web process enforces the same limits (OWASP ASVS 6.3.1; limits as in Mastodon's rack-attack rules).

use std::net::IpAddr;

use crate::db::{Db, now};

/// Failed logins allowed per IP (an IPv6 /64 counts as one) in 5 minutes.
pub const PER_IP: i64 = 25;
pub const IP_WINDOW: i64 = 5 * 60;
/// Failed logins allowed per account in one hour, whatever the IP.
pub const PER_ACCOUNT: i64 = 25;
pub const ACCOUNT_WINDOW: i64 = 60 * 60;
/// Password-reset requests per address in 30 minutes.
pub const RESETS: i64 = 5;
pub const RESET_WINDOW: i64 = 30 * 60;

/// The key an address is counted under: the address itself for IPv4, its /64 for IPv6.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The key an account is counted under (a hash: no address stored in this table).
pub fn account_key(kind: &str, identifier: &str) -> String {
    super::sha256_hex(&format!("{kind}:{}", identifier.trim().to_lowercase()))
}

async fn count(db: &Db, column: &str, key: &str, since: i64, failures_only: bool) -> anyhow::Result<i64> {
    let failed = if failures_only { " AND succeeded = 0" } else { "" };
    let sql = format!("SELECT COUNT(*) FROM login_attempts WHERE {column} = $1 AND at > $2{failed}");
    Ok(sqlx::query_scalar(&sql).bind(key).bind(since).fetch_one(&db.pool).await?)
}

/// Is another login (or TOTP) attempt allowed from this IP for this account?
pub async fn login_allowed(db: &Db, ip: &str, account: &str) -> anyhow::Result<bool> {
    let t = now();
    Ok(count(db, "ip_key", ip, t - IP_WINDOW, true).await? < PER_IP
        && count(db, "account_key", account, t - ACCOUNT_WINDOW, true).await? < PER_ACCOUNT)
}

/// Is another password-reset e-mail allowed for this address?
pub async fn reset_allowed(db: &Db, account: &str) -> anyhow::Result<bool> {
    Ok(count(db, "account_key", account, now() - RESET_WINDOW, false).await? < RESETS)
}

/// Public forms (sign-up, self-service links): at most 20 submissions per address per hour.
pub const PUBLIC_FORMS: i64 = 20;

pub async fn public_form_allowed(db: &Db, ip: &str) -> anyhow::Result<bool> {
    let key = account_key("public_form", "");
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM login_attempts WHERE ip_key = $1 AND account_key = $2 AND at > $3")
            .bind(ip)
            .bind(&key)
            .bind(now() - 3600)
            .fetch_one(&db.pool)
            .await?;
    Ok(n < PUBLIC_FORMS)
}

pub async fn record_public_form(db: &Db, ip: &str) -> anyhow::Result<()> {
    record(db, ip, &account_key("public_form", ""), true).await
}

pub async fn record(db: &Db, ip: &str, account: &str, succeeded: bool) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO login_attempts (ip_key, account_key, succeeded, at) VALUES ($1, $2, $3, $4)")
        .bind(ip)
        .bind(account)
        .bind(succeeded as i64)
        .bind(now())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets attempts older than a day (housekeeping job).
pub async fn purge_old(db: &Db) -> anyhow::Result<u64> {
    Ok(sqlx::query("DELETE FROM login_attempts WHERE at < $1")
        .bind(now() - 86_400)
        .execute(&db.pool)
        .await?
        .rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_counts_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        assert_eq!(ip_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
    }
}
