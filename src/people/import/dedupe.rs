//! Deduplication: the federation's e-mails and phones kept in memory (`Known`), and the queries that fill it.

use std::collections::HashMap;

use super::json;
use super::merge::Draft;
use super::validate::Item;
use crate::db::Backend;
use crate::db::link::{Arg, Link};
use crate::error::Result;
use crate::people::csv_import::Candidate;

/// A person a row can merge into: one already in the database, or the `n`-th person this import creates
/// (`New(n)`, which stands for `Stored` once its batch is written, see [`Key::resolve`]). The order of resolved
/// keys is the order of their ids: the people of the batch being written get larger ids than everyone already
/// stored, in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Key {
    Stored(i64),
    New(usize),
}

impl Key {
    /// The person the key stands for now, given the ids of the people the import created (`Known::created`): a
    /// created person whose batch is written is a stored one.
    pub(super) fn resolve(self, created: &[i64]) -> Key {
        match self {
            Key::New(n) if n < created.len() => Key::Stored(created[n]),
            key => key,
        }
    }
}

/// A hash map with foldhash's randomly seeded hasher: the address maps of a 1M import take millions of lookups and
/// insertions, and SipHash (the standard one) was 8 % of the import's writing thread.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The federation's people as far as deduplication is concerned, kept in memory for the whole import.
pub(super) struct Known {
    pub(super) federation_id: i64,
    pub(super) backend: Backend,
    /// Normalised e-mail → the federation's person with it (unique per federation).
    pub(super) emails: FastMap<String, Key>,
    /// E.164 phone → the federation's person with it that has the smallest id (`ORDER BY id LIMIT 1`).
    pub(super) phones: FastMap<String, Key>,
    /// Largest person id `emails` and `phones` know of.
    pub(super) max_id: i64,
    /// Only the stored people the rows name are read, a batch at a time (`look_up_batch`), instead of the whole
    /// federation's addresses at the start (`load_people`): for a file small beside its federation.
    pub(super) targeted: bool,
    /// Ids of the people this import created, in creation order: `Key::New(n)` is `Key::Stored(created[n])` once
    /// written. Writing a batch appends to it instead of finding each of its addresses and phones in the maps again
    /// (two million random lookups for a million people: the rows took 6.0–6.2 s instead of 6.8–7.4 s to write in
    /// alternating runs).
    pub(super) created: Vec<i64>,
}

impl Known {
    /// Dedupe: the person with one of the row's e-mail addresses (in the row's order), else the first one with one
    /// of its phones.
    pub(super) fn lookup(&self, c: &Candidate) -> Option<Key> {
        let emails = c.email.iter().chain(&c.other_emails);
        let key = match emails.filter_map(|e| self.emails.get(e)).next() {
            Some(key) => *key,
            None => *c.phone.iter().chain(&c.other_phones).find_map(|p| self.phones.get(p))?,
        };
        Some(key.resolve(&self.created))
    }

    /// Every stored person the row's addresses and phones point to.
    pub(super) fn stored_hits(&self, c: &Candidate, out: &mut Vec<i64>) {
        let emails = c.email.iter().chain(&c.other_emails).filter_map(|e| self.emails.get(e));
        let phones = c.phone.iter().chain(&c.other_phones).filter_map(|p| self.phones.get(p));
        out.extend(emails.chain(phones).filter_map(|k| match k.resolve(&self.created) {
            Key::Stored(id) => Some(id),
            Key::New(_) => None,
        }));
    }

    /// Records that the person `key` has these addresses and phones (an address already someone's stays theirs).
    pub(super) fn note_person(&mut self, d: &Draft, key: Key) {
        for e in d.email.iter().chain(&d.other_emails) {
            self.emails.entry(e.clone()).or_insert(key);
        }
        for p in d.phone.iter().chain(&d.other_phones) {
            self.note_phone(p, key);
        }
    }

    pub(super) fn note_phone(&mut self, phone: &str, key: Key) {
        let key = key.resolve(&self.created);
        match self.phones.get_mut(phone) {
            Some(k) => *k = k.resolve(&self.created).min(key),
            None => {
                self.phones.insert(phone.to_string(), key);
            }
        }
    }

    pub(super) fn note_stored(&mut self, id: i64, federation_id: i64, email: Option<String>, phone: Option<String>) {
        self.max_id = self.max_id.max(id);
        if federation_id != self.federation_id {
            return;
        }
        if let Some(e) = email {
            self.emails.insert(e, Key::Stored(id));
        }
        if let Some(p) = phone {
            self.note_phone(&p, Key::Stored(id));
        }
    }

    /// A further address or phone of a stored person of the federation (`person_contacts`).
    fn note_other(&mut self, id: i64, kind: &str, value: String) {
        match kind {
            "email" => {
                self.emails.insert(value, Key::Stored(id));
            }
            _ => self.note_phone(&value, Key::Stored(id)),
        }
    }
}

/// Reads the e-mails and phones of the federation's people into `ctx` (from scratch), with room for `more` people
/// (the rows to import).
pub(super) async fn load_people(conn: &mut Link, ctx: &mut Known, more: usize) -> Result<()> {
    ctx.emails.clear();
    ctx.phones.clear();
    let max_id = conn.int("SELECT MAX(id) FROM people", &[]).await?;
    note_people(conn, ctx, ("", ""), &[Arg::from(ctx.federation_id)], more).await?;
    ctx.max_id = max_id.unwrap_or(0);
    Ok(())
}

/// A file is small beside its federation (see `Known::targeted`) when the federation has more than this many people
/// per row.
pub(super) const TARGETED: i64 = 4;

/// Notes the federation's stored people that have one of the batch's addresses or phones, as their main one or a
/// further one (`Known::targeted`).
pub(super) async fn look_up_batch(conn: &mut Link, ctx: &mut Known, items: &[Item]) -> Result<()> {
    let (mut emails, mut phones): (Vec<&str>, Vec<&str>) = (Vec::new(), Vec::new());
    for c in items.iter().map(|item| &item.candidate) {
        emails.extend(c.email.iter().chain(&c.other_emails).map(String::as_str));
        phones.extend(c.phone.iter().chain(&c.other_phones).map(String::as_str));
    }
    let (emails, phones) = (json(&emails)?, json(&phones)?);
    // The values of the JSON array in parameter `$n`.
    let list = |n: u8| match ctx.backend {
        Backend::Sqlite => format!("SELECT value FROM json_each(${n})"),
        Backend::Postgres => format!("SELECT json_array_elements_text(${n}::json)"),
    };
    let people = format!(" AND (email IN ({}) OR phone IN ({}))", list(2), list(3));
    let contacts =
        format!(" AND ((kind = 'email' AND value IN ({})) OR (kind = 'phone' AND value IN ({})))", list(2), list(3));
    let args = [Arg::from(ctx.federation_id), Arg::from(emails.as_str()), Arg::from(phones.as_str())];
    note_people(conn, ctx, (&people, &contacts), &args, 0).await
}

/// Notes the federation's stored people (`$1` in `args`) that `conditions` select (appended to the `WHERE` of
/// `people`, then of `person_contacts`), with their main and further addresses and phones; room for `more` people
/// besides. Rows come as one JSON text: for a million people, decoding rows one by one would take seconds.
async fn note_people(
    conn: &mut Link,
    ctx: &mut Known,
    conditions: (&str, &str),
    args: &[Arg<'_>],
    more: usize,
) -> Result<()> {
    let (people, contacts) = match ctx.backend {
        Backend::Sqlite => (
            "SELECT json_group_array(json_array(id, email, phone)) FROM people WHERE federation_id = $1",
            "SELECT json_group_array(json_array(person_id, kind, value)) FROM person_contacts WHERE federation_id = $1",
        ),
        Backend::Postgres => (
            "SELECT COALESCE(json_agg(json_build_array(id, email, phone))::text, '[]') FROM people \
             WHERE federation_id = $1",
            "SELECT COALESCE(json_agg(json_build_array(person_id, kind, value))::text, '[]') FROM person_contacts \
             WHERE federation_id = $1",
        ),
    };
    let text = conn.text(&format!("{people}{}", conditions.0), args).await?;
    let rows: Vec<(i64, Option<String>, Option<String>)> = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
    // Room for everyone at once: growing maps of a million addresses rehashed them again and again.
    ctx.emails.reserve(rows.len() + more);
    ctx.phones.reserve(rows.len() + more);
    for (id, email, phone) in rows {
        ctx.note_stored(id, ctx.federation_id, email, phone);
    }
    let text = conn.text(&format!("{contacts}{}", conditions.1), args).await?;
    let others: Vec<(i64, String, String)> = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
    for (id, kind, value) in others {
        ctx.note_other(id, &kind, value);
    }
    Ok(())
}
