//! iCalendar (RFC 5545) for missions: one mission as a download, and each activist's feed of their missions at a
//! private URL that calendar applications poll without a session. The feed URL carries the user id and an HMAC of
//! it with an installation secret; it only lists missions (title, time, place), never other people.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::missions::Mission;
use crate::db::Db;
use crate::error::Result;

const MAC_BYTES: usize = 16;

/// The installation's secret for calendar feed URLs, created on first use (shared by every process).
pub async fn key(db: &Db) -> Result<Vec<u8>> {
    if let Some(v) = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = 'calendar_key'")
        .fetch_optional(&db.pool)
        .await?
    {
        return Ok(v.into_bytes());
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let _ = sqlx::query("INSERT INTO settings (key, value) VALUES ('calendar_key', $1)")
        .bind(data_encoding::HEXLOWER.encode(&bytes))
        .execute(&db.pool)
        .await;
    let v: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'calendar_key'").fetch_one(&db.pool).await?;
    Ok(v.into_bytes())
}

fn mac(key: &[u8], user_id: i64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("calendar:{user_id}").as_bytes());
    data_encoding::BASE32_NOPAD.encode(&m.finalize().into_bytes()[..MAC_BYTES]).to_lowercase()
}

/// "42-k3j…": the token of a user's feed.
pub fn token(key: &[u8], user_id: i64) -> String {
    format!("{user_id}-{}", mac(key, user_id))
}

/// The user id of a valid token.
pub fn verify(key: &[u8], token: &str) -> Option<i64> {
    let (id, given) = token.split_once('-')?;
    let id: i64 = id.parse().ok()?;
    let expected = mac(key, id);
    // Constant-time comparison.
    (given.len() == expected.len() && given.bytes().zip(expected.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0)
        .then_some(id)
}

/// Escapes a TEXT value (RFC 5545 §3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets (never inside a UTF-8 character) and ends it with CRLF.
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn utc(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

/// A calendar of missions. `host` names the installation in UIDs; `public_url` builds each mission's link.
pub fn calendar(name: &str, missions: &[Mission], host: &str, public_url: &str, stamp: i64) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Terrain//Missions//FR", "CALSCALE:GREGORIAN"] {
        fold(line, &mut out);
    }
    fold(&format!("X-WR-CALNAME:{}", text(name)), &mut out);
    let base = public_url.trim_end_matches('/');
    for m in missions {
        fold("BEGIN:VEVENT", &mut out);
        fold(&format!("UID:mission-{}@{}", m.id, text(host)), &mut out);
        fold(&format!("DTSTAMP:{}", utc(stamp)), &mut out);
        fold(&format!("DTSTART:{}", utc(m.starts_at)), &mut out);
        fold(&format!("DTEND:{}", utc(m.ends_at)), &mut out);
        fold(&format!("SUMMARY:{}", text(&m.title)), &mut out);
        let place = [m.meeting_point.as_str(), m.commune_name.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        if !place.is_empty() {
            fold(&format!("LOCATION:{}", text(&place)), &mut out);
        }
        let mut description = super::method_label(&m.method);
        if !m.theme.is_empty() {
            description += &format!(" — {}", m.theme);
        }
        if !m.description.is_empty() {
            description += &format!("\n\n{}", m.description);
        }
        if !base.is_empty() {
            description += &format!("\n\n{base}/missions/{}", m.id);
            fold(&format!("URL:{base}/missions/{}", m.id), &mut out);
        }
        fold(&format!("DESCRIPTION:{}", text(&description)), &mut out);
        if m.state == "cancelled" {
            fold("STATUS:CANCELLED", &mut out);
        } else {
            fold("STATUS:CONFIRMED", &mut out);
        }
        fold("END:VEVENT", &mut out);
    }
    fold("END:VCALENDAR", &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_for_their_user() {
        let key = b"secret";
        let t = token(key, 42);
        assert_eq!(verify(key, &t), Some(42));
        assert_eq!(verify(key, &t.replace("42-", "43-")), None);
        assert_eq!(verify(b"other", &t), None);
        assert_eq!(verify(key, "42"), None);
        assert_eq!(verify(key, "x-y"), None);
    }

    #[test]
    fn lines_are_escaped_and_folded() {
        assert_eq!(text("a;b,c\\d\ne"), "a\\;b\\,c\\\\d\\ne");
        let mut out = String::new();
        fold(&format!("SUMMARY:{}", "é".repeat(60)), &mut out);
        for line in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(line.len() <= 75, "{}", line.len());
        }
        assert_eq!(out.replace("\r\n ", "").trim_end(), format!("SUMMARY:{}", "é".repeat(60)));
        assert_eq!(utc(0), "19700101T000000Z");
    }
}
