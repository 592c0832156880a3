//! Signed tracking and unsubscribe tokens, and the buffered recorder of open/click events.
//!
//! Tokens are compact (kind, campaign, person, link) tuples with a truncated HMAC-SHA256, keyed by a secret
//! generated once per installation and kept in the database (so every process shares it). A token for a
//! person who did not allow individual tracking carries person 0: their opens and clicks are counted for the
//! campaign and linked to no one.
//!
//! Tracking requests only push to an in-process channel; one task writes the events in batches, at least every
//! second. A clean shutdown flushes what is buffered ([`Recorder::flush`]); a crash loses at most the last second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use data_encoding::BASE64URL_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use crate::db::{Backend, Db, now};
use crate::error::Result;

pub const OPEN: u8 = b'o';
pub const CLICK: u8 = b'c';
pub const UNSUBSCRIBE: u8 = b'u';

const MAC_LEN: usize = 10;

/// The installation's secret for newsletter tokens and VERP addresses, created on first use.
pub async fn key(db: &Db) -> Result<Vec<u8>> {
    if let Some(v) = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = 'newsletter_key'")
        .fetch_optional(&db.pool)
        .await?
    {
        return Ok(v.into_bytes());
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let value = data_encoding::HEXLOWER.encode(&bytes);
    // Two processes may race: the first insert wins and both read it back.
    let _ = sqlx::query("INSERT INTO settings (key, value) VALUES ('newsletter_key', $1)")
        .bind(&value)
        .execute(&db.pool)
        .await;
    let v: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'newsletter_key'").fetch_one(&db.pool).await?;
    Ok(v.into_bytes())
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn mac(key: &[u8], payload: &[u8]) -> [u8; MAC_LEN] {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(b"terrain-newsletter-token");
    m.update(payload);
    let full = m.finalize().into_bytes();
    let mut out = [0u8; MAC_LEN];
    out.copy_from_slice(&full[..MAC_LEN]);
    out
}

/// A signed token for (kind, campaign, person or 0, link index).
pub fn encode(key: &[u8], kind: u8, campaign: i64, person: i64, link: i64) -> String {
    let mut payload = Vec::with_capacity(24);
    payload.push(kind);
    for v in [campaign, person, link] {
        varint(v.max(0) as u64, &mut payload);
    }
    let m = mac(key, &payload);
    payload.extend_from_slice(&m);
    BASE64URL_NOPAD.encode(&payload)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: u8,
    pub campaign: i64,
    pub person: i64,
    pub link: i64,
}

/// Decodes a token; `None` when it is malformed or its signature does not match.
pub fn decode(key: &[u8], token: &str) -> Option<Token> {
    if token.len() > 64 {
        return None;
    }
    let bytes = BASE64URL_NOPAD.decode(token.as_bytes()).ok()?;
    if bytes.len() < 1 + 3 + MAC_LEN {
        return None;
    }
    let (payload, tag) = bytes.split_at(bytes.len() - MAC_LEN);
    let expected = mac(key, payload);
    // Constant-time comparison.
    if expected.iter().zip(tag).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0 {
        return None;
    }
    let mut pos = 1;
    let campaign = read_varint(payload, &mut pos)?;
    let person = read_varint(payload, &mut pos)?;
    let link = read_varint(payload, &mut pos)?;
    if pos != payload.len() || campaign > i64::MAX as u64 || person > i64::MAX as u64 || link > i64::MAX as u64 {
        return None;
    }
    Some(Token { kind: payload[0], campaign: campaign as i64, person: person as i64, link: link as i64 })
}

/// One open or click.
#[derive(Clone, Copy, Debug)]
pub struct Event {
    pub campaign: i64,
    /// 0: not linked to anyone.
    pub person: i64,
    pub kind: u8,
    pub link: Option<i64>,
    pub at: i64,
}

enum Message {
    Event(Event),
    Flush(oneshot::Sender<()>),
}

/// Buffers tracking events and writes them in batches. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Message>,
    links: Arc<RwLock<HashMap<i64, Arc<Vec<String>>>>>,
    /// The installation's token key, read once (it never changes after its creation).
    key: Arc<tokio::sync::OnceCell<Vec<u8>>>,
}

const BATCH: usize = 5_000;

impl Recorder {
    /// Starts the writer task.
    pub fn start(db: Db) -> Recorder {
        let (tx, rx) = mpsc::channel(100_000);
        tokio::spawn(writer(db, rx));
        Recorder { tx, links: Arc::default(), key: Arc::default() }
    }

    /// The token key ([`key`]), cached for the life of the process.
    pub async fn key(&self, db: &Db) -> Result<&[u8]> {
        Ok(self.key.get_or_try_init(|| key(db)).await?.as_slice())
    }

    /// Queues an event; waits only when 100,000 are already waiting (back-pressure, nothing dropped).
    pub async fn record(&self, event: Event) {
        if self.tx.send(Message::Event(event)).await.is_err() {
            tracing::error!("tracking writer stopped: event lost");
        }
    }

    /// Writes everything queued so far (clean shutdown, tests).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// The stored links of a campaign (immutable once sent, so cached for good).
    pub async fn links(&self, db: &Db, campaign: i64) -> Result<Arc<Vec<String>>> {
        if let Some(l) = self.links.read().expect("links cache").get(&campaign) {
            return Ok(l.clone());
        }
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT url FROM campaign_links WHERE campaign_id = $1 ORDER BY idx")
                .bind(campaign)
                .fetch_all(&db.pool)
                .await?;
        let sent: bool = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM campaigns WHERE id = $1 AND state IN ('sending', 'paused', 'sent', 'cancelled')",
        )
        .bind(campaign)
        .fetch_one(&db.pool)
        .await?
            > 0;
        let rows = Arc::new(rows);
        if sent {
            let mut cache = self.links.write().expect("links cache");
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(campaign, rows.clone());
        }
        Ok(rows)
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<Message>) {
    let mut buffer: Vec<Event> = Vec::with_capacity(BATCH);
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut closed = false;
        tokio::select! {
            m = rx.recv() => match m {
                Some(Message::Event(e)) => {
                    buffer.push(e);
                    // Take whatever else is already queued without waiting.
                    while buffer.len() < BATCH {
                        match rx.try_recv() {
                            Ok(Message::Event(e)) => buffer.push(e),
                            Ok(Message::Flush(done)) => { waiting.push(done); break; }
                            Err(_) => break,
                        }
                    }
                    if buffer.len() < BATCH && waiting.is_empty() {
                        continue;
                    }
                }
                Some(Message::Flush(done)) => waiting.push(done),
                None => closed = true,
            },
            _ = tick.tick() => {}
        }
        if !buffer.is_empty() {
            // Retried until written: events are never dropped while the database is briefly unavailable.
            let mut delay = Duration::from_millis(100);
            while let Err(e) = write_batch(&db, &buffer).await {
                tracing::error!(error = %e, events = buffer.len(), "tracking events not written yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            buffer.clear();
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if closed {
            return;
        }
    }
}

async fn write_batch(db: &Db, events: &[Event]) -> Result<()> {
    // (campaign, person, kind, link, at)
    type Row<'a> = (i64, Option<i64>, &'a str, Option<i64>, i64);
    let rows: Vec<Row> = events
        .iter()
        .map(|e| {
            let kind = if e.kind == CLICK { "click" } else { "open" };
            (e.campaign, (e.person > 0).then_some(e.person), kind, e.link, e.at)
        })
        .collect();
    let source = match db.backend {
        Backend::Sqlite => "json_each($1) AS e",
        Backend::Postgres => "jsonb_array_elements($1::jsonb) AS e(value)",
    };
    // Events of people erased meanwhile lose their link to the person (the anonymous count stays).
    let sql = format!(
        "INSERT INTO campaign_events (campaign_id, person_id, kind, link_idx, at) \
         SELECT CAST(e.value ->> 0 AS BIGINT), \
         (SELECT p.id FROM people p WHERE p.id = CAST(e.value ->> 1 AS BIGINT)), \
         e.value ->> 2, CAST(e.value ->> 3 AS BIGINT), CAST(e.value ->> 4 AS BIGINT) FROM {source} \
         WHERE EXISTS (SELECT 1 FROM campaigns c WHERE c.id = CAST(e.value ->> 0 AS BIGINT))"
    );
    let json = serde_json::to_string(&rows).map_err(anyhow::Error::from)?;
    sqlx::query(&sql).bind(json).execute(&db.pool).await?;
    Ok(())
}

/// The event for a tracking hit now.
pub fn event(token: &Token) -> Event {
    Event {
        campaign: token.campaign,
        person: token.person,
        kind: token.kind,
        link: (token.kind == CLICK).then_some(token.link),
        at: now(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_tampering() {
        let key = b"0123456789abcdef";
        let t = encode(key, CLICK, 12, 345_678, 3);
        assert!(t.len() < 32, "{t}");
        assert_eq!(decode(key, &t), Some(Token { kind: CLICK, campaign: 12, person: 345_678, link: 3 }));
        assert_eq!(decode(b"another key", &t), None);
        let mut bytes = BASE64URL_NOPAD.decode(t.as_bytes()).unwrap();
        bytes[2] ^= 1;
        assert_eq!(decode(key, &BASE64URL_NOPAD.encode(&bytes)), None, "a changed person is refused");
        assert_eq!(decode(key, "not a token"), None);
        assert_eq!(decode(key, ""), None);
        assert_eq!(decode(key, &"A".repeat(500)), None);
    }
}
