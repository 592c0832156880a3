//! Importing people from a spreadsheet into one federation: parse (`csv_import`), then, row by row, validate,
//! refuse suppressed people, deduplicate on normalised e-mail then phone, merge into existing people without
//! losing data (only empty fields are filled, tags and skills are added), or insert. Re-importing the same file
//! changes nothing. Work is committed in batches; the whole import is idempotent, so a crashed import can
//! simply run again.
//!
//! Built for files of a million rows: deduplication looks people up in memory (the federation's e-mails and phones
//! are read once), rows are written with multi-row statements (a big load on SQLite talks to SQLite directly,
//! see `db::link`), and the next batch is validated while one is written.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::csv_import::{self, Candidate, Category, Field, Row, Table};
use super::{default_legal_basis, pepper};
use crate::access::{Access, Perm};
use crate::db::link::{Arg, Link};
use crate::db::{Backend, Db, now};
use crate::error::{Error, Result};
use crate::org::Federation;

/// What a volunteer sees before committing an import.
#[derive(Clone, Debug, Serialize)]
pub struct Preview {
    pub encoding: &'static str,
    pub delimiter: &'static str,
    pub headers: Vec<String>,
    pub mapping: Vec<Field>,
    pub sample: Vec<Vec<String>>,
    pub rows: usize,
}

/// Decodes and parses a file; the error is a French sentence for the user.
pub fn read(bytes: Vec<u8>) -> Result<(Table, Preview)> {
    let decoded = csv_import::decode(bytes);
    let delimiter = csv_import::sniff_delimiter(&decoded.text);
    let table = csv_import::parse(&decoded.text, delimiter).map_err(|e| Error::Invalid(e.to_string()))?;
    let preview = Preview {
        encoding: match decoded.encoding {
            csv_import::Encoding::Utf8 => "UTF-8",
            csv_import::Encoding::Windows1252 => "Windows-1252 (Excel)",
        },
        delimiter: match delimiter {
            b';' => "point-virgule",
            b'\t' => "tabulation",
            _ => "virgule",
        },
        mapping: csv_import::guess_mapping(&table.headers),
        headers: table.headers.clone(),
        sample: table.rows.iter().take(5).map(|r| r.cells().map(str::to_owned).collect()).collect(),
        rows: table.rows.len(),
    };
    Ok((table, preview))
}

/// Choices made on the preview page.
#[derive(Clone, Debug)]
pub struct Options {
    pub mapping: Vec<Field>,
    /// For rows without a category column.
    pub category: Category,
    /// For rows without a legal basis: the category's usual one when None.
    pub legal_basis: Option<String>,
    /// Shown as the data origin, e.g. "import « adherents.csv » du 22/11/2026".
    pub origin: String,
    pub actor: Option<i64>,
    /// One transaction for the whole import, with the address book's secondary indexes dropped and rebuilt at the
    /// end (SQLite only; elsewhere ignored): faster for a big file (1M rows: 35–39 s instead of 49–52 s), but other
    /// writers wait until it is done and progress is not visible to other processes meanwhile. For loads from the
    /// command line.
    pub exclusive: bool,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Report {
    pub total: usize,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Rows of people who were erased or objected: refused, never re-created.
    pub suppressed: usize,
    #[serde(skip)]
    pub rejected: Vec<(Row, Vec<String>)>,
}

impl Report {
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }
}

/// Rows committed per transaction: large enough that committing costs little (each commit writes out every index page
/// the batch touched: with random e-mails and phones, most of them), small enough for a useful progress bar and for
/// other writers, who wait while a batch is written (about a second or two).
const BATCH: usize = 50_000;

/// Rows in a batch starting at row `start`: the first one is small, so that writing starts while the next, full one
/// is validated, instead of waiting for 50,000 rows to be validated.
fn batch_len(start: usize) -> usize {
    if start == 0 { BATCH / 10 } else { BATCH }
}

enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

/// A person a row can merge into: one already in the database, or the `n`-th person this import creates
/// (`New(n)`, which stands for `Stored` once its batch is written, see [`Key::resolve`]). The order of resolved
/// keys is the order of their ids: the people of the batch being written get larger ids than everyone already
/// stored, in creation order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    Stored(i64),
    New(usize),
}

impl Key {
    /// The person the key stands for now, given the ids of the people the import created (`Known::created`): a
    /// created person whose batch is written is a stored one.
    fn resolve(self, created: &[i64]) -> Key {
        match self {
            Key::New(n) if n < created.len() => Key::Stored(created[n]),
            key => key,
        }
    }
}

/// What validating a row needs besides the row: suppression list, communes, sections and skills.
struct Resolver {
    federation_id: i64,
    /// HMAC keyed with the pepper, cloned for each hash; `None` when the suppression list is empty.
    suppression_mac: Option<Hmac<Sha256>>,
    suppressed: HashSet<[u8; 32]>,
    /// (INSEE code, postcode, city) joined with NUL → commune.
    communes: HashMap<String, Option<String>>,
    sections: HashMap<String, Option<i64>>,
    /// Lower-case skill name → id (the first in name order, as a search of the list would find).
    skills: HashMap<String, i64>,
}

/// A hash map with foldhash's randomly seeded hasher: the address maps of a 1M import take millions of lookups and
/// insertions, and SipHash (the standard one) was 8 % of the import's writing thread.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The federation's people as far as deduplication is concerned, kept in memory for the whole import.
struct Known {
    federation_id: i64,
    backend: Backend,
    /// Normalised e-mail → the federation's person with it (unique per federation).
    emails: FastMap<String, Key>,
    /// E.164 phone → the federation's person with it that has the smallest id (`ORDER BY id LIMIT 1`).
    phones: FastMap<String, Key>,
    /// Largest person id `emails` and `phones` know of.
    max_id: i64,
    /// Only the stored people the rows name are read, a batch at a time (`look_up_batch`), instead of the whole
    /// federation's addresses at the start (`load_people`): for a file small beside its federation.
    targeted: bool,
    /// Ids of the people this import created, in creation order: `Key::New(n)` is `Key::Stored(created[n])` once
    /// written. Writing a batch appends to it instead of finding each of its addresses and phones in the maps again
    /// (two million random lookups for a million people: the rows took 6.0–6.2 s instead of 6.8–7.4 s to write in
    /// alternating runs).
    created: Vec<i64>,
}

impl Known {
    /// Dedupe: the person with one of the row's e-mail addresses (in the row's order), else the first one with one
    /// of its phones.
    fn lookup(&self, c: &Candidate) -> Option<Key> {
        let emails = c.email.iter().chain(&c.other_emails);
        let key = match emails.filter_map(|e| self.emails.get(e)).next() {
            Some(key) => *key,
            None => *c.phone.iter().chain(&c.other_phones).find_map(|p| self.phones.get(p))?,
        };
        Some(key.resolve(&self.created))
    }

    /// Every stored person the row's addresses and phones point to.
    fn stored_hits(&self, c: &Candidate, out: &mut Vec<i64>) {
        let emails = c.email.iter().chain(&c.other_emails).filter_map(|e| self.emails.get(e));
        let phones = c.phone.iter().chain(&c.other_phones).filter_map(|p| self.phones.get(p));
        out.extend(emails.chain(phones).filter_map(|k| match k.resolve(&self.created) {
            Key::Stored(id) => Some(id),
            Key::New(_) => None,
        }));
    }

    /// Records that the person `key` has these addresses and phones (an address already someone's stays theirs).
    fn note_person(&mut self, d: &Draft, key: Key) {
        for e in d.email.iter().chain(&d.other_emails) {
            self.emails.entry(e.clone()).or_insert(key);
        }
        for p in d.phone.iter().chain(&d.other_phones) {
            self.note_phone(p, key);
        }
    }

    fn note_phone(&mut self, phone: &str, key: Key) {
        let key = key.resolve(&self.created);
        match self.phones.get_mut(phone) {
            Some(k) => *k = k.resolve(&self.created).min(key),
            None => {
                self.phones.insert(phone.to_string(), key);
            }
        }
    }

    fn note_stored(&mut self, id: i64, federation_id: i64, email: Option<String>, phone: Option<String>) {
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

/// A valid row, with what the database told about it.
struct Item {
    candidate: Candidate,
    commune: Option<String>,
    section: Option<i64>,
    skill_ids: Vec<i64>,
    /// Search keys of the first and last names, worked out with the validation (on the other core).
    keys: (String, String),
}

/// A person as the batch leaves them: read from the database (`stored`) or created by a row of the batch.
struct Draft {
    /// (id, updated_at) of a person read from the database.
    stored: Option<(i64, i64)>,
    section_id: Option<i64>,
    commune_code: Option<String>,
    first_name: String,
    last_name: String,
    email: Option<String>,
    phone: Option<String>,
    /// Further addresses and phones; the ones after `stored_others` are to insert.
    other_emails: Vec<String>,
    other_phones: Vec<String>,
    stored_others: (usize, usize),
    address: String,
    postcode: String,
    city: String,
    notes: String,
    external_id: String,
    category: &'static str,
    /// The category's usual legal basis, for a new person when the import gives none.
    legal_basis: &'static str,
    /// Search keys of the names, unless a name was filled in since (then worked out when written).
    keys: Option<(String, String)>,
    tags: Vec<String>,
    skills: Vec<i64>,
    /// Tags and skills read from the database: the ones after these are to insert.
    stored_tags: usize,
    stored_skills: usize,
    /// Something was filled in or added (`updated_at` moves).
    changed: bool,
    /// The row must be updated (something changed, or the section was set).
    dirty: bool,
}

/// Keeps what is there; fills what is empty.
fn fill(existing: &mut String, new: &str) -> bool {
    let filled = existing.is_empty() && !new.is_empty();
    if filled {
        *existing = new.to_string();
    }
    filled
}

/// Gives a person an address or phone they do not have: as their first one when they have none, else as a further
/// one (up to [`super::contacts::MAX_OTHERS`]). True when it was added.
fn add_contact(first: &mut Option<String>, others: &mut Vec<String>, value: &String) -> bool {
    if first.as_ref() == Some(value) || others.contains(value) {
        return false;
    }
    if first.is_none() {
        *first = Some(value.clone());
    } else if others.len() < super::contacts::MAX_OTHERS {
        others.push(value.clone());
    } else {
        return false;
    }
    true
}

impl Draft {
    /// Names, address, phone and postal address, in the order both the insert and the update bind them.
    fn contact_args(&self) -> [Arg<'_>; 7] {
        [
            Arg::from(&self.first_name),
            Arg::from(&self.last_name),
            Arg::from(self.email.as_deref()),
            Arg::from(self.phone.as_deref()),
            Arg::from(&self.address),
            Arg::from(&self.postcode),
            Arg::from(&self.city),
        ]
    }

    /// A new person from a row (moved, not copied: a batch creates tens of thousands).
    fn new(item: Item, options: &Options) -> Draft {
        let Item { candidate: c, commune, section, skill_ids, keys } = item;
        let category = c.category.unwrap_or(options.category);
        let mut tags: Vec<String> = Vec::with_capacity(c.tags.len());
        for t in c.tags {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        Draft {
            stored: None,
            section_id: section,
            commune_code: commune,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            phone: c.phone,
            other_emails: c.other_emails,
            other_phones: c.other_phones,
            stored_others: (0, 0),
            address: c.address,
            postcode: c.postcode,
            city: c.city,
            notes: c.notes,
            external_id: c.external_id,
            category: category.as_str(),
            legal_basis: default_legal_basis(category),
            keys: Some(keys),
            tags,
            skills: skill_ids,
            stored_tags: 0,
            stored_skills: 0,
            changed: false,
            dirty: false,
        }
    }

    /// Merges a row: only empty fields are filled; tags, skills, addresses and phones the person does not have yet
    /// are added (an address is only taken when `free` says it is nobody else's). True when something changed.
    fn merge(&mut self, item: &Item, free: impl Fn(&str) -> bool) -> bool {
        let c = &item.candidate;
        let had_commune = self.commune_code.is_some();
        let mut changed = fill(&mut self.first_name, &c.first_name);
        changed |= fill(&mut self.last_name, &c.last_name);
        if changed {
            self.keys = None;
        }
        for e in c.email.iter().chain(&c.other_emails).filter(|e| free(e)) {
            changed |= add_contact(&mut self.email, &mut self.other_emails, e);
        }
        for p in c.phone.iter().chain(&c.other_phones) {
            changed |= add_contact(&mut self.phone, &mut self.other_phones, p);
        }
        changed |= fill(&mut self.address, &c.address);
        changed |= fill(&mut self.postcode, &c.postcode);
        changed |= fill(&mut self.city, &c.city);
        if !had_commune && item.commune.is_some() {
            self.commune_code = item.commune.clone();
            changed = true;
        }
        changed |= fill(&mut self.notes, &c.notes);
        changed |= fill(&mut self.external_id, &c.external_id);
        if self.section_id.is_none() && item.section.is_some() && !had_commune {
            self.section_id = item.section;
            self.dirty = true;
        }
        for t in &c.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
                changed = true;
            }
        }
        for s in &item.skill_ids {
            if !self.skills.contains(s) {
                self.skills.push(*s);
                changed = true;
            }
        }
        self.changed |= changed;
        self.dirty |= changed;
        changed
    }
}

/// Imports `table` into `federation`. `progress` is called with the number of rows processed after each batch.
///
/// Deduplication costs no query per row: the federation's e-mails and phones are read once into memory and kept up
/// to date. New people are written with multi-row statements; only the people rows merge into are read back, a
/// batch at a time. While a batch is written, the next one is validated on another task (the other core).
pub async fn run(
    db: &Db,
    access: &Access,
    federation: &Federation,
    table: Arc<Table>,
    options: &Options,
    mut progress: impl FnMut(usize),
) -> Result<Report> {
    // Imports write whole federations: section-only managers cannot run them.
    if !access.allows(Perm::ManagePeople, federation.scope()) {
        return Err(Error::Forbidden);
    }
    if options.mapping.len() != table.headers.len() {
        return Err(Error::Invalid("La correspondance des colonnes ne correspond pas au fichier.".into()));
    }
    if !options
        .mapping
        .iter()
        .any(|f| matches!(f, Field::Email | Field::Phone | Field::FirstName | Field::LastName | Field::FullName))
    {
        return Err(Error::Invalid(
            "Associez au moins une colonne à un nom, une adresse e-mail ou un téléphone.".into(),
        ));
    }
    let suppressed: HashSet<[u8; 32]> = sqlx::query_scalar::<_, String>("SELECT hash FROM suppressions")
        .fetch_all(&db.pool)
        .await?
        .iter()
        .filter_map(|h| data_encoding::HEXLOWER.decode(h.as_bytes()).ok()?.try_into().ok())
        .collect();
    let suppression_mac = if suppressed.is_empty() {
        None
    } else {
        Some(Hmac::<Sha256>::new_from_slice(pepper(db).await?.as_bytes()).expect("HMAC takes any key length"))
    };
    let mut skills = HashMap::new();
    for (id, name) in super::skill_list(db).await? {
        skills.entry(name.to_lowercase()).or_insert(id);
    }
    let resolver = Resolver {
        federation_id: federation.id,
        suppression_mac,
        suppressed,
        communes: HashMap::new(),
        sections: HashMap::new(),
        skills,
    };
    let mut known = Known {
        federation_id: federation.id,
        backend: db.backend,
        emails: FastMap::default(),
        phones: FastMap::default(),
        max_id: 0,
        targeted: false,
        created: Vec::new(),
    };
    let exclusive = options.exclusive && db.backend == Backend::Sqlite;
    // Batches are committed by hand on this connection. A load in one transaction into a SQLite file talks to
    // SQLite directly (see `db::link`): writing a million rows took 7.9–8.3 s instead of 11.4–13.1 s through sqlx
    // (alternating runs; whole import 15.2–17.7 s instead of 20.7–24.1 s).
    let direct = if exclusive { Link::direct(db)? } else { None };
    let mut conn = match direct {
        Some(link) => link,
        None => Link::pooled(db).await?,
    };
    if db.backend == Backend::Sqlite {
        // Settings for bulk writing, on this connection only.
        // - A page cache that holds the indexes being filled, instead of writing and re-reading pages mid-batch.
        // - No fsync at each batch's commit (WAL mode stays crash-safe: a power cut can only lose the last batches,
        //   which re-running the idempotent import restores); the next commit with synchronous = FULL — the
        //   import's own report, audit entry or job state — makes everything written before it durable.
        // - Fewer checkpoints: each copies every page the batch touched back into the database file.
        for pragma in
            ["cache_size = -262144", "synchronous = NORMAL", "temp_store = MEMORY", "wal_autocheckpoint = 100000"]
        {
            conn.execute(&format!("PRAGMA {pragma}"), &[]).await?;
        }
    }
    // Exclusive mode: the write lock for the whole import, and no secondary index of the people, tag and skill
    // tables to maintain row by row (on SQLite, inserting a row into the million-row table with its five indexes
    // costs ~30 µs, building them from scratch afterwards ~8 µs a row; a million tags: 1.7 s with their index,
    // 1.1 s with it rebuilt). Their definitions are read back from the schema, so they come back exactly as
    // migrated; dropping and creating them is part of the transaction, so a crash leaves them as they were.
    let mut indexes: Vec<(String, String)> = Vec::new();
    // A load over the direct connection checks its references itself, once, at the end (see `references_gone`):
    // checked row by row, the foreign keys of a million people, their tags and skills took 8 % of the import's
    // instructions (callgrind, 100,000 rows). Only between transactions can SQLite switch the checks off.
    let own_checks = exclusive && matches!(conn, Link::Sqlite(_));
    if own_checks {
        conn.execute("PRAGMA foreign_keys = OFF", &[]).await?;
    }
    if exclusive {
        conn.execute("BEGIN IMMEDIATE", &[]).await?;
        let text = conn
            .text(
                "SELECT json_group_array(json_array(name, sql)) FROM (SELECT name, sql FROM sqlite_master \
                 WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('people', 'person_tags', 'person_skills') \
                 ORDER BY name)",
                &[],
            )
            .await?;
        indexes = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
        for (name, _) in &indexes {
            conn.execute(&format!("DROP INDEX \"{name}\""), &[]).await?;
        }
    }
    let started = std::time::Instant::now();
    // A file small beside its federation reads only the people its rows name: reading all the addresses of a
    // federation of a million people took 4.2 s and 700 MB for a two-row file. A load in one transaction has
    // dropped the address indexes it would need (and counting the federation's people without them would read the
    // whole table).
    if !exclusive {
        let sql = "SELECT COUNT(*) FROM people WHERE federation_id = $1";
        let people = conn.int(sql, &[Arg::from(federation.id)]).await?.unwrap_or(0);
        known.targeted = (table.rows.len() as i64).saturating_mul(TARGETED) < people;
    }
    if known.targeted {
        known.max_id = conn.int("SELECT MAX(id) FROM people", &[]).await?.unwrap_or(0);
    } else {
        load_people(&mut conn, &mut known, table.rows.len()).await?;
    }
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), people = known.emails.len(), "import: addresses read");

    let mut report = Report { total: table.rows.len(), ..Report::default() };
    // Validation runs on its own task, a batch ahead of the writing: it owns the resolver and hands it back.
    let validate = |resolver: Resolver, start: usize| {
        let (db, options, table) = (db.clone(), options.clone(), table.clone());
        tokio::spawn(async move {
            let mut resolver = resolver;
            let rows = &table.rows[start..table.rows.len().min(start + batch_len(start))];
            let prepared = prepare(&db, &mut resolver, &options, rows).await;
            (resolver, prepared)
        })
    };
    let mut next = (!table.rows.is_empty()).then(|| validate(resolver, 0));
    let mut done = 0;
    // The resolver once every row is validated: what the rows refer to.
    let mut resolved = None;
    // How long the writing waited for validation, in the debug log: which of the two sets the pace.
    let mut waited = std::time::Duration::ZERO;
    while let Some(task) = next.take() {
        let waiting = std::time::Instant::now();
        let (resolver, prepared) =
            task.await.map_err(|e| Error::Internal(anyhow::anyhow!("import: validation task failed: {e}")))?;
        waited += waiting.elapsed();
        let batch = prepared?;
        let rows = table.rows.len().min(done + batch_len(done)) - done;
        if done + rows < table.rows.len() {
            next = Some(validate(resolver, done + rows));
        } else {
            resolved = Some(resolver);
        }
        report.rejected.extend(batch.rejected);
        report.suppressed += batch.suppressed;
        let write = async {
            // SQLite: take the write lock at once, so that another writer waits for this batch instead of making
            // it fail; new people's ids are chosen under it.
            let begin = if db.backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
            if !exclusive {
                conn.execute(begin, &[]).await?;
            }
            let outcomes = write_batch(&mut conn, &mut known, options, batch.items).await?;
            if !exclusive {
                conn.execute("COMMIT", &[]).await?;
            }
            Ok::<_, Error>(outcomes)
        };
        let outcomes = match write.await {
            Ok(outcomes) => outcomes,
            Err(e) => {
                if let Some(task) = next.take() {
                    task.abort();
                }
                return Err(e);
            }
        };
        for outcome in outcomes {
            match outcome {
                Outcome::Inserted => report.inserted += 1,
                Outcome::Updated => report.updated += 1,
                Outcome::Unchanged => report.unchanged += 1,
            }
        }
        done += rows;
        progress(done);
    }
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        rows = done,
        waited_for_validation = waited.as_secs_f64(),
        "import: rows written"
    );
    // Two million addresses and phones, freed beside the index builds instead of before the caller gets the report.
    tokio::task::spawn_blocking(move || drop(known));
    if exclusive {
        // SQLite sorts an index's entries on helper threads only when the sort goes in chunks through temporary
        // files, each at most the page cache's size: kept in memory, they are sorted in one piece on this thread.
        // Chunks of 4 MB, sorted on both cores and merged, build the five indexes of a million people in 60 % of
        // the time (measured against one sort in a 256 MB cache). The pages the cache no longer holds go to the
        // write-ahead log, where the commit would have written them anyway.
        for pragma in ["temp_store = FILE", "cache_size = -4096", "threads = 2"] {
            conn.execute(&format!("PRAGMA {pragma}"), &[]).await?;
        }
        for (_, sql) in &indexes {
            conn.execute(sql, &[]).await?;
        }
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "import: indexes rebuilt");
        if own_checks && let Some(resolver) = &resolved {
            let found = references_gone(&mut conn, resolver, options.actor).await?;
            if found > 0 {
                // Dropping the connection rolls the whole load back.
                return Err(Error::Internal(anyhow::anyhow!("import: {found} referenced rows do not exist")));
            }
        }
        conn.execute("COMMIT", &[]).await?;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "import: committed");
    }
    if db.backend == Backend::Sqlite {
        // Leave a short write-ahead log behind, so that the next writer does not pay for copying this one's.
        let _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)", &[]).await;
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "import: write-ahead log checkpointed");
    }
    if report.inserted > 10_000 {
        // Fresh statistics after a big import, so that searches and segments pick the right index at once.
        let analyze: &[&str] = match db.backend {
            Backend::Sqlite => &["PRAGMA analysis_limit = 1000", "ANALYZE"],
            Backend::Postgres => &["ANALYZE people, person_tags, person_skills"],
        };
        for statement in analyze {
            let _ = conn.execute(statement, &[]).await;
        }
        tracing::debug!(seconds = started.elapsed().as_secs_f64(), "import: statistics refreshed");
    }
    Ok(report)
}

/// For a load without SQLite's foreign key checks: how many of the rows its rows refer to do not exist. Every
/// reference it writes comes from the resolver (the federation, the sections, communes and skills that validation
/// found) or is the collector, or is a person this load inserted or read in its own transaction. Sections and
/// communes were read under the write lock and cannot have gone since; the skills were read before it.
async fn references_gone(conn: &mut Link, resolver: &Resolver, actor: Option<i64>) -> Result<i64> {
    let sections: std::collections::BTreeSet<i64> = resolver.sections.values().flatten().copied().collect();
    let communes: std::collections::BTreeSet<&String> = resolver.communes.values().flatten().collect();
    let skills: std::collections::BTreeSet<i64> = resolver.skills.values().copied().collect();
    let sql = "SELECT (SELECT COUNT(*) FROM json_each($1)) \
               - (SELECT COUNT(*) FROM sections WHERE id IN (SELECT value FROM json_each($1))) \
               + (SELECT COUNT(*) FROM json_each($2)) \
               - (SELECT COUNT(*) FROM communes WHERE code IN (SELECT value FROM json_each($2))) \
               + (SELECT COUNT(*) FROM json_each($3)) \
               - (SELECT COUNT(*) FROM skills WHERE id IN (SELECT value FROM json_each($3))) \
               + 1 - (SELECT COUNT(*) FROM federations WHERE id = $4) \
               + (CASE WHEN $5 IS NULL THEN 0 ELSE 1 - (SELECT COUNT(*) FROM users WHERE id = $5) END)";
    let (sections, communes, skills) = (json(&sections)?, json(&communes)?, json(&skills)?);
    let args = [
        Arg::from(&sections),
        Arg::from(&communes),
        Arg::from(&skills),
        Arg::from(resolver.federation_id),
        Arg::from(actor),
    ];
    Ok(conn.int(sql, &args).await?.unwrap_or(0))
}

/// The rows of a batch, validated.
struct Prepared {
    items: Vec<Item>,
    rejected: Vec<(Row, Vec<String>)>,
    suppressed: usize,
}

/// Validates the rows of a batch: refused (with reasons), suppressed, or ready to write. Gives way to other tasks
/// every few hundred rows.
async fn prepare(db: &Db, resolver: &mut Resolver, options: &Options, rows: &[Row]) -> Result<Prepared> {
    let mut out = Prepared { items: Vec::with_capacity(rows.len()), rejected: Vec::new(), suppressed: 0 };
    for (n, row) in rows.iter().enumerate() {
        if n % 500 == 499 {
            tokio::task::yield_now().await;
        }
        let candidate = match csv_import::validate_row(&options.mapping, row) {
            Ok(c) => c,
            Err(reasons) => {
                out.rejected.push((row.clone(), reasons));
                continue;
            }
        };
        if is_suppressed(resolver, &candidate) {
            out.suppressed += 1;
            continue;
        }
        match resolve(db, resolver, &candidate).await? {
            Err(reasons) => out.rejected.push((row.clone(), reasons)),
            Ok((commune, section, skill_ids)) => {
                let keys =
                    (super::search::name_key(&candidate.first_name), super::search::name_key(&candidate.last_name));
                out.items.push(Item { candidate, commune, section, skill_ids, keys })
            }
        }
    }
    Ok(out)
}

fn is_suppressed(resolver: &Resolver, c: &Candidate) -> bool {
    let Some(mac) = &resolver.suppression_mac else { return false };
    // Same keyed hash as `suppression_hash`, compared as bytes.
    let listed = |kind: &str, value: &str| {
        let mut mac = mac.clone();
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        <[u8; 32]>::try_from(mac.finalize().into_bytes().as_slice()).is_ok_and(|h| resolver.suppressed.contains(&h))
    };
    c.email.iter().chain(&c.other_emails).any(|e| listed("email", e))
        || c.phone.iter().chain(&c.other_phones).any(|p| listed("phone", p))
}

type Resolved = (Option<String>, Option<i64>, Vec<i64>);

/// Commune, section and skills of a candidate, or the reasons to reject the row.
async fn resolve(
    db: &Db,
    resolver: &mut Resolver,
    c: &Candidate,
) -> Result<std::result::Result<Resolved, Vec<String>>> {
    let mut reasons = Vec::new();
    let key = format!("{}\0{}\0{}", c.commune_code, c.postcode, c.city);
    let commune = match resolver.communes.get(&key) {
        Some(v) => v.clone(),
        None => {
            let v = super::resolve_commune(db, resolver.federation_id, &c.commune_code, &c.postcode, &c.city).await?;
            resolver.communes.insert(key, v.clone());
            v
        }
    };
    if !c.commune_code.is_empty() && commune.is_none() {
        reasons.push(format!("commune « {} » inconnue ou hors de cette fédération", c.commune_code));
    }
    let section = match &commune {
        Some(code) => match resolver.sections.get(code) {
            Some(s) => *s,
            None => {
                let s = super::section_for_commune(db, resolver.federation_id, code).await?;
                resolver.sections.insert(code.clone(), s);
                s
            }
        },
        None => None,
    };
    let mut skill_ids = Vec::new();
    for name in &c.skills {
        match resolver.skills.get(&name.to_lowercase()) {
            Some(id) if !skill_ids.contains(id) => skill_ids.push(*id),
            Some(_) => {}
            None => reasons.push(format!("compétence inconnue : « {name} »")),
        }
    }
    Ok(if reasons.is_empty() { Ok((commune, section, skill_ids)) } else { Err(reasons) })
}

/// Reads the e-mails and phones of the federation's people into `ctx` (from scratch), with room for `more` people
/// (the rows to import).
async fn load_people(conn: &mut Link, ctx: &mut Known, more: usize) -> Result<()> {
    ctx.emails.clear();
    ctx.phones.clear();
    let max_id = conn.int("SELECT MAX(id) FROM people", &[]).await?;
    note_people(conn, ctx, ("", ""), &[Arg::from(ctx.federation_id)], more).await?;
    ctx.max_id = max_id.unwrap_or(0);
    Ok(())
}

/// A file is small beside its federation (see `Known::targeted`) when the federation has more than this many people
/// per row.
const TARGETED: i64 = 4;

/// Notes the federation's stored people that have one of the batch's addresses or phones, as their main one or a
/// further one (`Known::targeted`).
async fn look_up_batch(conn: &mut Link, ctx: &mut Known, items: &[Item]) -> Result<()> {
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

/// A stored person as `read_drafts` reads them: id, updated_at, section_id, commune_code, first_name, last_name,
/// email, phone, address, postcode, city, notes, external_id, tags, skills, further (kind, value).
type StoredRow = (
    i64,
    i64,
    Option<i64>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    Vec<String>,
    Vec<i64>,
    Vec<(String, String)>,
);

/// The stored people (with their tags and skills) the rows of a batch may merge into; `None` if one of them is
/// gone (erased meanwhile).
async fn read_drafts(conn: &mut Link, ctx: &Known, ids: &[i64]) -> Result<Option<HashMap<i64, Draft>>> {
    if ids.is_empty() {
        return Ok(Some(HashMap::new()));
    }
    let sql = match ctx.backend {
        Backend::Sqlite => {
            "SELECT json_group_array(json_array(p.id, p.updated_at, p.section_id, p.commune_code, p.first_name, \
             p.last_name, p.email, p.phone, p.address, p.postcode, p.city, p.notes, p.external_id, \
             json((SELECT json_group_array(t.tag) FROM person_tags t WHERE t.person_id = p.id)), \
             json((SELECT json_group_array(s.skill_id) FROM person_skills s WHERE s.person_id = p.id)), \
             json((SELECT json_group_array(json_array(c.kind, c.value)) FROM (SELECT kind, value FROM person_contacts \
             WHERE person_id = p.id ORDER BY created_at, value) c)))) \
             FROM people p WHERE p.id IN (SELECT value FROM json_each($1))"
        }
        Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(p.id, p.updated_at, p.section_id, p.commune_code, p.first_name, \
             p.last_name, p.email, p.phone, p.address, p.postcode, p.city, p.notes, p.external_id, \
             (SELECT COALESCE(json_agg(t.tag), '[]') FROM person_tags t WHERE t.person_id = p.id), \
             (SELECT COALESCE(json_agg(s.skill_id), '[]') FROM person_skills s WHERE s.person_id = p.id), \
             (SELECT COALESCE(json_agg(json_build_array(c.kind, c.value) ORDER BY c.created_at, c.value), '[]') \
             FROM person_contacts c WHERE c.person_id = p.id)))::text, '[]') \
             FROM people p WHERE p.id IN (SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text($1::jsonb))"
        }
    };
    let text = conn.text(sql, &[Arg::from(&json(&ids)?)]).await?;
    let rows: Vec<StoredRow> = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
    if rows.len() != ids.len() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .map(|r| {
                let (mut other_emails, mut other_phones) = (Vec::new(), Vec::new());
                for (kind, value) in r.15 {
                    match kind.as_str() {
                        "email" => other_emails.push(value),
                        _ => other_phones.push(value),
                    }
                }
                let draft = Draft {
                    stored: Some((r.0, r.1)),
                    section_id: r.2,
                    commune_code: r.3,
                    first_name: r.4,
                    last_name: r.5,
                    email: r.6,
                    phone: r.7,
                    stored_others: (other_emails.len(), other_phones.len()),
                    other_emails,
                    other_phones,
                    address: r.8,
                    postcode: r.9,
                    city: r.10,
                    notes: r.11,
                    external_id: r.12,
                    category: "",
                    legal_basis: "",
                    keys: None,
                    stored_tags: r.13.len(),
                    stored_skills: r.14.len(),
                    tags: r.13,
                    skills: r.14,
                    changed: false,
                    dirty: false,
                };
                (r.0, draft)
            })
            .collect(),
    ))
}

/// Merges or inserts the valid rows of one batch, in order, inside `tx`; one outcome per row.
async fn write_batch(conn: &mut Link, ctx: &mut Known, options: &Options, items: Vec<Item>) -> Result<Vec<Outcome>> {
    // People added meanwhile by someone else (a form, another import).
    let sql = match ctx.backend {
        Backend::Sqlite => {
            "SELECT json_group_array(json_array(id, federation_id, email, phone)) FROM people WHERE id > $1"
        }
        Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(id, federation_id, email, phone))::text, '[]') FROM people \
             WHERE id > $1"
        }
    };
    let text = conn.text(sql, &[Arg::from(ctx.max_id)]).await?;
    let added: Vec<(i64, i64, Option<String>, Option<String>)> =
        serde_json::from_str(&text).map_err(anyhow::Error::from)?;
    for (id, federation_id, email, phone) in added {
        ctx.note_stored(id, federation_id, email, phone);
    }
    if ctx.targeted {
        look_up_batch(conn, ctx, &items).await?;
    }
    // The stored people the rows match: a row can only merge into one of them or into a person created by an
    // earlier row of the batch (e-mails and phones filled in by merging belong to those too).
    let mut attempts = 0;
    let mut stored = loop {
        let mut ids: Vec<i64> = Vec::new();
        for item in &items {
            ctx.stored_hits(&item.candidate, &mut ids);
        }
        ids.sort_unstable();
        ids.dedup();
        match read_drafts(conn, ctx, &ids).await? {
            Some(drafts) => break drafts,
            // Someone was erased since the e-mails were read: read them again.
            None if attempts < 3 && ctx.targeted => {
                ctx.emails.clear();
                ctx.phones.clear();
                look_up_batch(conn, ctx, &items).await?;
            }
            None if attempts < 3 => load_people(conn, ctx, 0).await?,
            None => return Err(Error::Internal(anyhow::anyhow!("import: people keep disappearing"))),
        }
        attempts += 1;
    };

    // The people this batch creates are `Key::New(base)` onwards.
    let base = ctx.created.len();
    let mut news: Vec<Draft> = Vec::with_capacity(items.len());
    let mut completed: Vec<Key> = Vec::new();
    let mut outcomes = Vec::with_capacity(items.len());
    for item in items {
        let Some(key) = ctx.lookup(&item.candidate) else {
            // None of the row's addresses is known: they are all this new person's.
            let draft = Draft::new(item, options);
            ctx.note_person(&draft, Key::New(base + news.len()));
            news.push(draft);
            outcomes.push(Outcome::Inserted);
            continue;
        };
        let draft = match key {
            // Resolved by `lookup`: a person created by an earlier batch is a stored one.
            Key::New(n) => n
                .checked_sub(base)
                .and_then(|i| news.get_mut(i))
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("import: created person {n} is not in the batch")))?,
            Key::Stored(id) => stored
                .get_mut(&id)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("import: person {id} was not read")))?,
        };
        let (emails, created) = (&ctx.emails, &ctx.created);
        if draft.merge(&item, |e| emails.get(e).is_none_or(|k| k.resolve(created) == key)) {
            ctx.note_person(draft, key);
            completed.push(key);
            outcomes.push(Outcome::Updated);
        } else {
            outcomes.push(Outcome::Unchanged);
        }
    }

    for d in &mut news {
        d.keys.get_or_insert_with(|| (super::search::name_key(&d.first_name), super::search::name_key(&d.last_name)));
    }
    let t = now();
    let ids = insert_people(conn, ctx, options, &news, t).await?;
    for d in stored.values().filter(|d| d.dirty) {
        update_person(conn, d, t).await?;
    }
    let id_of = |key: Key| match key {
        Key::Stored(id) => id,
        Key::New(n) => ids[n - base],
    };
    let mut tags: Vec<(i64, &str)> = Vec::new();
    let mut skills: Vec<(i64, i64)> = Vec::new();
    for (i, d) in news.iter().enumerate() {
        tags.extend(d.tags.iter().map(|t| (ids[i], t.as_str())));
        skills.extend(d.skills.iter().map(|s| (ids[i], *s)));
    }
    for (id, d) in &stored {
        tags.extend(d.tags[d.stored_tags..].iter().map(|t| (*id, t.as_str())));
        skills.extend(d.skills[d.stored_skills..].iter().map(|s| (*id, *s)));
    }
    // Tags and skills a person does not have yet.
    let statement = ("INSERT INTO person_tags (person_id, tag)", "(?, ?)", ON_CONFLICT);
    conn.insert_all(ctx.backend, statement, &tags, |(id, tag), args| args.extend([Arg::from(*id), Arg::from(*tag)]))
        .await?;
    let statement = ("INSERT INTO person_skills (person_id, skill_id)", "(?, ?)", ON_CONFLICT);
    conn.insert_all(ctx.backend, statement, &skills, |(id, skill), args| {
        args.extend([Arg::from(*id), Arg::from(*skill)])
    })
    .await?;
    let mut others: Vec<(i64, &str, &str)> = Vec::new();
    let drafts = news.iter().enumerate().map(|(i, d)| (ids[i], d)).chain(stored.iter().map(|(id, d)| (*id, d)));
    for (id, d) in drafts {
        let (emails, phones) = d.stored_others;
        others.extend(d.other_emails[emails..].iter().map(|e| (id, "email", e.as_str())));
        others.extend(d.other_phones[phones..].iter().map(|p| (id, "phone", p.as_str())));
    }
    // Further addresses and phones; an address someone else took meanwhile is left to them.
    let tuple = format!("(?, {}, ?, ?, {t})", ctx.federation_id);
    let head = "INSERT INTO person_contacts (person_id, federation_id, kind, value, created_at)";
    conn.insert_all(ctx.backend, (head, &tuple, ON_CONFLICT), &others, |(id, kind, value), args| {
        args.extend([Arg::from(*id), Arg::from(*kind), Arg::from(*value)])
    })
    .await?;
    // Timeline: the completions in row order (a person's events stay in order). Additions are read from the new
    // people's origin (`people::timeline`).
    let completed: Vec<i64> = completed.into_iter().map(id_of).collect();
    let summary = format!("Complété par {}", options.origin);
    insert_events(conn, ctx.backend, &completed, &summary, options.actor, t).await?;

    // The people of this batch are stored now.
    ctx.created.extend_from_slice(&ids);
    if let Some(max) = ids.iter().max() {
        ctx.max_id = ctx.max_id.max(*max);
    }
    // Freed on a worker (where validation allocated most of it): a batch's people are a million small blocks, and
    // freeing them here kept the database waiting for the next batch.
    tokio::spawn(async move { drop((news, stored)) });
    Ok(outcomes)
}

fn json<T: Serialize>(rows: &T) -> Result<String> {
    Ok(serde_json::to_string(rows).map_err(anyhow::Error::from)?)
}

/// Tags, skills and further contacts a person already has are skipped.
const ON_CONFLICT: &str = " ON CONFLICT DO NOTHING";

/// Inserts new people; their ids, in order. Ids are chosen first and written with the rows, so that nothing
/// depends on the order the database inserts or returns rows in: under SQLite's write lock, the ones after the
/// largest; on PostgreSQL, taken from the table's sequence.
async fn insert_people(conn: &mut Link, ctx: &Known, options: &Options, news: &[Draft], t: i64) -> Result<Vec<i64>> {
    if news.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = match ctx.backend {
        Backend::Sqlite => {
            let max = conn.int("SELECT MAX(id) FROM people", &[]).await?.unwrap_or(0);
            (max + 1..=max + news.len() as i64).collect()
        }
        Backend::Postgres => {
            let text = conn
                .text(
                    // The sequence is looked up once (a sub-query), not for each id: 0.13 s instead of 0.85 s
                    // for 200,000 ids.
                    "SELECT COALESCE(json_agg(nextval((SELECT pg_get_serial_sequence('people', 'id')::regclass))), \
                     '[]')::text FROM generate_series(1, $1)",
                    &[Arg::from(news.len() as i64)],
                )
                .await?;
            serde_json::from_str(&text).map_err(anyhow::Error::from)?
        }
    };
    if ids.len() != news.len() {
        return Err(Error::Internal(anyhow::anyhow!("import: {} ids for {} people", ids.len(), news.len())));
    }
    let actor = options.actor.map_or("NULL".to_string(), |a| a.to_string());
    let tuple = format!(
        "(?, {}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'import', {actor}, ?, ?, {t}, {t}, {t}, ?, ?)",
        ctx.federation_id
    );
    let head = "INSERT INTO people (id, federation_id, section_id, commune_code, first_name, last_name, email, phone, \
                address, postcode, city, category, legal_basis, origin, origin_channel, collected_by, notes, external_id, \
                created_at, updated_at, last_activity_at, first_key, last_key)";
    let rows: Vec<(i64, &Draft, &str)> =
        ids.iter().zip(news).map(|(id, d)| (*id, d, options.origin.as_str())).collect();
    let n = conn
        .insert_all(ctx.backend, (head, &tuple, ""), &rows, |(id, d, origin), args| {
            args.extend([Arg::from(*id), Arg::from(d.section_id), Arg::from(d.commune_code.as_deref())]);
            args.extend(d.contact_args());
            args.extend([
                Arg::from(d.category),
                Arg::from(options.legal_basis.as_deref().unwrap_or(d.legal_basis)),
                Arg::from(*origin),
                Arg::from(&d.notes),
                Arg::from(&d.external_id),
                Arg::from(d.keys.as_ref().map(|k| k.0.as_str())),
                Arg::from(d.keys.as_ref().map(|k| k.1.as_str())),
            ])
        })
        .await?;
    if n != news.len() as u64 {
        return Err(Error::Internal(anyhow::anyhow!("import: {n} people inserted out of {}", news.len())));
    }
    Ok(ids)
}

/// Writes what merging filled in, never overwriting a value (even one written meanwhile by someone else).
async fn update_person(conn: &mut Link, d: &Draft, t: i64) -> Result<()> {
    let Some((id, updated_at)) = d.stored else { return Ok(()) };
    let keys = (super::search::name_key(&d.first_name), super::search::name_key(&d.last_name));
    let sql = "UPDATE people SET first_name = CASE WHEN first_name = '' THEN $1 ELSE first_name END, \
         last_name = CASE WHEN last_name = '' THEN $2 ELSE last_name END, email = COALESCE(email, $3), \
         first_key = CASE WHEN first_name = '' THEN $14 ELSE first_key END, \
         last_key = CASE WHEN last_name = '' THEN $15 ELSE last_key END, \
         phone = COALESCE(phone, $4), address = CASE WHEN address = '' THEN $5 ELSE address END, \
         postcode = CASE WHEN postcode = '' THEN $6 ELSE postcode END, city = CASE WHEN city = '' THEN $7 ELSE city END, \
         commune_code = COALESCE(commune_code, $8), notes = CASE WHEN notes = '' THEN $9 ELSE notes END, \
         external_id = CASE WHEN external_id = '' THEN $10 ELSE external_id END, \
         section_id = COALESCE(section_id, $11), updated_at = $12 WHERE id = $13";
    let mut args = d.contact_args().to_vec();
    args.extend([
        Arg::from(d.commune_code.as_deref()),
        Arg::from(&d.notes),
        Arg::from(&d.external_id),
        Arg::from(d.section_id),
        Arg::from(if d.changed { t } else { updated_at }),
        Arg::from(id),
        Arg::from(&keys.0),
        Arg::from(&keys.1),
    ]);
    conn.execute(sql, &args).await?;
    Ok(())
}

/// Appends an "imported" event with `summary` to the timeline of each person, in order.
async fn insert_events(
    conn: &mut Link,
    backend: Backend,
    ids: &[i64],
    summary: &str,
    actor: Option<i64>,
    t: i64,
) -> Result<()> {
    let actor = actor.map_or("NULL".to_string(), |a| a.to_string());
    let tuple = format!("(?, 'imported', ?, {actor}, {t})");
    let rows: Vec<(i64, &str)> = ids.iter().map(|id| (*id, summary)).collect();
    let head = "INSERT INTO person_events (person_id, kind, summary, actor_user_id, at)";
    conn.insert_all(backend, (head, &tuple, ""), &rows, |(id, summary), args| {
        args.extend([Arg::from(*id), Arg::from(*summary)])
    })
    .await?;
    Ok(())
}

/// An import row the caller may see (web imports run as jobs; their progress lives in this row).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ImportRow {
    pub id: i64,
    pub federation_id: i64,
    pub user_id: Option<i64>,
    pub filename: String,
    pub state: String,
    pub mapping: String,
    pub category: String,
    pub legal_basis: String,
    pub total_rows: i64,
    pub processed: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub suppressed: i64,
    pub rejected: i64,
    pub error: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const IMPORT_COLUMNS: &str = "i.id, i.federation_id, i.user_id, i.filename, i.state, i.mapping, i.category, i.legal_basis, \
     i.total_rows, i.processed, i.inserted, i.updated, i.unchanged, i.suppressed, i.rejected, i.error, i.created_at, i.finished_at";

pub async fn get(db: &Db, access: &Access, id: i64) -> Result<ImportRow> {
    let scope = access.filter(Perm::ManagePeople, "i.federation_id", None);
    let sql = format!("SELECT {IMPORT_COLUMNS} FROM imports i WHERE i.id = $1 AND {scope}");
    sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)
}

/// [`read`] on a thread for blocking work: parsing a 50 MB upload takes a fraction of a second that a worker of the
/// web server should spend answering requests.
async fn read_aside(bytes: Vec<u8>) -> Result<(Table, Preview)> {
    tokio::task::spawn_blocking(move || read(bytes))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("import: parsing task failed: {e}")))?
}

/// Stores an uploaded file (decoded text) for preview and a later job.
pub async fn stage(
    db: &Db,
    access: &Access,
    federation: &Federation,
    filename: &str,
    bytes: &[u8],
) -> Result<(i64, Preview)> {
    if !access.allows(Perm::ManagePeople, federation.scope()) {
        return Err(Error::Forbidden);
    }
    let (_, preview) = read_aside(bytes.to_vec()).await?;
    let text = csv_import::decode(bytes.to_vec()).text;
    let mapping = serde_json::to_string(&preview.mapping).map_err(anyhow::Error::from)?;
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO imports (federation_id, user_id, filename, state, mapping, category, legal_basis, total_rows, created_at) \
         VALUES ($1, $2, $3, 'pending', $4, 'sympathiser', '', $5, $6) RETURNING id",
    )
    .bind(federation.id)
    .bind(access.user_id)
    .bind(filename.chars().take(200).collect::<String>())
    .bind(mapping)
    .bind(preview.rows as i64)
    .bind(now())
    .fetch_one(&mut *tx)
    .await?;
    // The file lives in its own table: progress updates of `imports` must not rewrite a 50 MB row.
    sqlx::query("INSERT INTO import_files (import_id, content) VALUES ($1, $2)")
        .bind(id)
        .bind(text)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((id, preview))
}

/// The preview of a staged import, recomputed from the stored text.
pub async fn staged_preview(db: &Db, import: &ImportRow) -> Result<Option<Preview>> {
    let content: Option<String> = sqlx::query_scalar("SELECT content FROM import_files WHERE import_id = $1")
        .bind(import.id)
        .fetch_optional(&db.pool)
        .await?;
    match content {
        Some(text) => Ok(Some(read_aside(text.into_bytes()).await?.1)),
        None => Ok(None),
    }
}

/// Confirms a staged import with the chosen mapping; the job does the rest.
pub async fn confirm(
    db: &Db,
    import: &ImportRow,
    mapping: &[Field],
    category: Category,
    legal_basis: &str,
) -> Result<()> {
    if import.state != "pending" {
        return Err(Error::Conflict("Cet import a déjà été lancé.".into()));
    }
    if !legal_basis.is_empty() && !super::LEGAL_BASES.iter().any(|(c, _)| *c == legal_basis) {
        return Err(Error::Invalid("Base légale inconnue.".into()));
    }
    let n = sqlx::query("UPDATE imports SET state = 'running', mapping = $1, category = $2, legal_basis = $3 WHERE id = $4 AND state = 'pending'")
        .bind(serde_json::to_string(mapping).map_err(anyhow::Error::from)?)
        .bind(category.as_str())
        .bind(legal_basis)
        .bind(import.id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::Conflict("Cet import a déjà été lancé.".into()));
    }
    crate::jobs::enqueue(db, &crate::jobs::Job::ImportPeople { import_id: import.id }).await?;
    Ok(())
}

/// Runs a confirmed web import (job handler). Safe to run again after a crash: the import is idempotent.
pub async fn run_job(db: &Db, import_id: i64) -> anyhow::Result<()> {
    #[derive(sqlx::FromRow)]
    struct Job {
        federation_id: i64,
        user_id: Option<i64>,
        filename: String,
        mapping: String,
        category: String,
        legal_basis: String,
        content: Option<String>,
        state: String,
    }
    let row: Option<Job> = sqlx::query_as(
        "SELECT i.federation_id, i.user_id, i.filename, i.mapping, i.category, i.legal_basis, f.content, i.state \
         FROM imports i LEFT JOIN import_files f ON f.import_id = i.id WHERE i.id = $1",
    )
    .bind(import_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(Job { federation_id, user_id, filename, mapping, category, legal_basis, content, state }) = row else {
        return Ok(());
    };
    if state != "running" {
        return Ok(());
    }
    let fail = |msg: String| async move {
        sqlx::query("DELETE FROM import_files WHERE import_id = $1").bind(import_id).execute(&db.pool).await?;
        sqlx::query("UPDATE imports SET state = 'failed', error = $1, finished_at = $2 WHERE id = $3")
            .bind(msg)
            .bind(now())
            .bind(import_id)
            .execute(&db.pool)
            .await
            .map(|_| ())
    };
    // Permissions are checked again with the importer's current roles.
    let access = match user_id {
        Some(u) => crate::users::access_for(db, u).await?,
        None => Access::default(),
    };
    let federation = match crate::org::get_federation(db, &access, Perm::ManagePeople, federation_id).await {
        Ok(f) => f,
        Err(_) => return Ok(fail("Vos droits ne permettent plus cet import.".into()).await?),
    };
    let Some(content) = content else { return Ok(fail("Le fichier n'est plus disponible.".into()).await?) };
    let (table, _) = match read_aside(content.into_bytes()).await {
        Ok(t) => t,
        Err(e) => return Ok(fail(e.to_string()).await?),
    };
    let mapping: Vec<Field> = serde_json::from_str(&mapping)?;
    let options = Options {
        mapping,
        category: Category::parse_loose(&category).unwrap_or(Category::Sympathiser),
        legal_basis: Some(legal_basis).filter(|b| !b.is_empty()),
        origin: origin_label(&filename),
        actor: user_id,
        // Web imports commit batch by batch: the application keeps writing and the page follows the progress.
        exclusive: false,
    };
    let (tx, mut rx) = tokio::sync::watch::channel(0usize);
    let progress_db = db.clone();
    let updater = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let n = *rx.borrow_and_update() as i64;
            let _ = sqlx::query("UPDATE imports SET processed = $1 WHERE id = $2")
                .bind(n)
                .bind(import_id)
                .execute(&progress_db.pool)
                .await;
        }
    });
    let table = Arc::new(table);
    let result = run(db, &access, &federation, table.clone(), &options, |n| {
        let _ = tx.send(n);
    })
    .await;
    drop(tx);
    let _ = updater.await;
    match result {
        Ok(report) => {
            // Audited before the import shows as done: whoever sees it done finds it in the audit log.
            let meta = crate::audit::RequestMeta::default();
            crate::audit::record(
                db,
                &meta,
                crate::audit::Entry::new(user_id, "people_imported")
                    .target("import", import_id)
                    .federation(Some(federation_id))
                    .details(serde_json::json!({ "inserted": report.inserted, "updated": report.updated, "rejected": report.rejected.len() })),
            )
            .await?;
            let rejected_csv = if report.rejected.is_empty() {
                String::new()
            } else {
                csv_import::rejected_rows_csv(&table.headers, &report.rejected)
            };
            sqlx::query(
                "UPDATE imports SET state = 'done', processed = $1, inserted = $2, updated = $3, unchanged = $4, suppressed = $5, \
                 rejected = $6, rejected_csv = $7, finished_at = $8 WHERE id = $9",
            )
            .bind(report.total as i64)
            .bind(report.inserted as i64)
            .bind(report.updated as i64)
            .bind(report.unchanged as i64)
            .bind(report.suppressed as i64)
            .bind(report.rejected.len() as i64)
            .bind(rejected_csv)
            .bind(now())
            .bind(import_id)
            .execute(&db.pool)
            .await?;
            sqlx::query("DELETE FROM import_files WHERE import_id = $1").bind(import_id).execute(&db.pool).await?;
            Ok(())
        }
        Err(Error::Internal(e)) => Err(e),
        Err(e) => Ok(fail(e.to_string()).await?),
    }
}

/// The data origin recorded for imported people.
pub fn origin_label(filename: &str) -> String {
    let date = time::OffsetDateTime::now_utc();
    format!("import du fichier « {} » le {:02}/{:02}/{}", filename, date.day(), u8::from(date.month()), date.year())
}

pub async fn rejected_csv(db: &Db, import: &ImportRow) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT rejected_csv FROM imports WHERE id = $1").bind(import.id).fetch_one(&db.pool).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_without_foreign_key_checks_finds_references_gone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        db.migrate().await.unwrap();
        crate::seed::ensure_seeded(&db).await.unwrap();
        let mut conn = Link::direct(&db).unwrap().expect("a file");
        let federation: i64 = conn.int("SELECT MIN(id) FROM federations", &[]).await.unwrap().unwrap();
        let sql = "INSERT INTO sections (federation_id, name, created_at, updated_at) VALUES ($1, 'Centre', 0, 0)";
        conn.execute(sql, &[Arg::from(federation)]).await.unwrap();
        let section: i64 = conn.int("SELECT MIN(id) FROM sections", &[]).await.unwrap().unwrap();
        let skill: i64 = conn.int("SELECT MIN(id) FROM skills", &[]).await.unwrap().unwrap();
        let commune = conn.text("SELECT MIN(code) FROM communes", &[]).await.unwrap();
        let mut resolver = Resolver {
            federation_id: federation,
            suppression_mac: None,
            suppressed: HashSet::new(),
            communes: HashMap::from([("a".into(), Some(commune)), ("b".into(), None)]),
            sections: HashMap::from([("a".into(), Some(section)), ("b".into(), None)]),
            skills: HashMap::from([("x".into(), skill)]),
        };
        assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 0);
        assert_eq!(references_gone(&mut conn, &resolver, Some(987_654)).await.unwrap(), 1);
        resolver.skills.insert("gone".into(), 987_654);
        resolver.communes.insert("c".into(), Some("00000".into()));
        assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 2);
        resolver.federation_id = 987_654;
        resolver.sections.insert("c".into(), Some(987_654));
        assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 4);
    }

    fn options() -> Options {
        Options {
            mapping: Vec::new(),
            category: Category::Sympathiser,
            legal_basis: None,
            origin: "import de test".into(),
            actor: None,
            exclusive: false,
        }
    }

    fn item(c: Candidate, commune: Option<&str>, section: Option<i64>, skill_ids: &[i64]) -> Item {
        let keys = (super::super::search::name_key(&c.first_name), super::super::search::name_key(&c.last_name));
        Item { candidate: c, commune: commune.map(str::to_string), section, skill_ids: skill_ids.to_vec(), keys }
    }

    #[test]
    fn suppression_check_is_the_suppression_hash() {
        let pepper = "poivre";
        let listed = [
            super::super::suppression_hash(pepper, "email", "lucie@example.org"),
            super::super::suppression_hash(pepper, "phone", "+33601020304"),
        ];
        let resolver = Resolver {
            federation_id: 1,
            suppression_mac: Some(Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).unwrap()),
            suppressed: listed
                .iter()
                .map(|h| data_encoding::HEXLOWER.decode(h.as_bytes()).unwrap().try_into().unwrap())
                .collect(),
            communes: HashMap::new(),
            sections: HashMap::new(),
            skills: HashMap::new(),
        };
        let c = |email: Option<&str>, phone: Option<&str>| Candidate {
            email: email.map(str::to_string),
            phone: phone.map(str::to_string),
            ..Candidate::default()
        };
        assert!(is_suppressed(&resolver, &c(Some("lucie@example.org"), None)));
        assert!(is_suppressed(&resolver, &c(Some("autre@example.org"), Some("+33601020304"))));
        assert!(!is_suppressed(&resolver, &c(Some("autre@example.org"), Some("+33601020305"))));
        // The kind is part of the hash: an e-mail list entry does not match a phone.
        assert!(!is_suppressed(&resolver, &c(None, Some("lucie@example.org"))));
        let empty = Resolver { suppression_mac: None, suppressed: HashSet::new(), ..resolver };
        assert!(!is_suppressed(&empty, &c(Some("lucie@example.org"), None)));
    }

    #[test]
    fn merging_fills_only_what_is_empty_and_adds_tags_and_skills() {
        let first = Candidate {
            first_name: "Hélène".into(),
            email: Some("helene@example.org".into()),
            tags: vec!["marché".into()],
            ..Candidate::default()
        };
        let mut d = Draft::new(item(first.clone(), None, None, &[3]), &options());
        assert_eq!((d.category, d.legal_basis), ("sympathiser", "regular_contact"));
        let second = Candidate {
            first_name: "Helene".into(),
            last_name: "Dupré".into(),
            phone: Some("+33612345678".into()),
            tags: vec!["marché".into(), "Marché".into()],
            ..Candidate::default()
        };
        assert!(d.merge(&item(second.clone(), Some("69266"), Some(7), &[3, 5]), |_| true));
        assert_eq!(d.first_name, "Hélène", "never overwritten");
        assert_eq!(d.last_name, "Dupré");
        assert_eq!(d.phone.as_deref(), Some("+33612345678"));
        assert_eq!((d.commune_code.as_deref(), d.section_id), (Some("69266"), Some(7)));
        assert_eq!(d.tags, ["marché", "Marché"], "tags compare exactly, as the table's key does");
        assert_eq!(d.skills, [3, 5]);
        assert!(!d.merge(&item(second, Some("69123"), Some(8), &[5]), |_| true), "the same row again changes nothing");
        assert_eq!((d.commune_code.as_deref(), d.section_id), (Some("69266"), Some(7)));
    }

    #[test]
    fn merging_adds_further_addresses_and_phones_that_are_free() {
        let first = Candidate {
            email: Some("a@example.org".into()),
            phone: Some("+33612345678".into()),
            ..Candidate::default()
        };
        let mut d = Draft::new(item(first.clone(), None, None, &[]), &options());
        let second = Candidate {
            email: Some("a@example.org".into()),
            other_emails: vec!["b@example.org".into(), "taken@example.org".into()],
            phone: Some("+33123456789".into()),
            other_phones: vec!["+33612345678".into()],
            ..Candidate::default()
        };
        assert!(d.merge(&item(second.clone(), None, None, &[]), |e| e != "taken@example.org"));
        assert_eq!(d.email.as_deref(), Some("a@example.org"), "the first address stays first");
        assert_eq!(d.other_emails, ["b@example.org"], "someone else's address is left to them");
        assert_eq!(d.phone.as_deref(), Some("+33612345678"));
        assert_eq!(d.other_phones, ["+33123456789"]);
        assert!(!d.merge(&item(second, None, None, &[]), |e| e != "taken@example.org"), "nothing new the second time");
        // A person without an address gets the row's first free one as theirs.
        let bare = Candidate { last_name: "Martin".into(), ..Candidate::default() };
        let mut d = Draft::new(item(bare.clone(), None, None, &[]), &options());
        let row = Candidate {
            email: Some("taken@example.org".into()),
            other_emails: vec!["c@example.org".into()],
            ..Candidate::default()
        };
        assert!(d.merge(&item(row, None, None, &[]), |e| e != "taken@example.org"));
        assert_eq!((d.email.as_deref(), d.other_emails.len()), (Some("c@example.org"), 0));
    }

    #[test]
    fn the_section_follows_only_a_commune_filled_in_now() {
        let c = Candidate { last_name: "Martin".into(), ..Candidate::default() };
        let mut d = Draft::new(item(c.clone(), Some("69259"), None, &[]), &options());
        d.stored = Some((1, 0));
        assert!(!d.merge(&item(c, Some("69266"), Some(7), &[]), |_| true));
        assert_eq!((d.commune_code.as_deref(), d.section_id, d.dirty), (Some("69259"), None, false));
    }

    #[test]
    fn a_phone_belongs_to_its_first_person() {
        let mut known = Known {
            federation_id: 1,
            backend: Backend::Sqlite,
            emails: FastMap::default(),
            phones: FastMap::default(),
            max_id: 0,
            targeted: false,
            created: Vec::new(),
        };
        known.note_phone("+33612345678", Key::New(0));
        known.note_phone("+33612345678", Key::Stored(9));
        known.note_phone("+33612345678", Key::Stored(4));
        known.note_phone("+33612345678", Key::New(1));
        assert_eq!(known.phones["+33612345678"], Key::Stored(4));
        known.note_stored(12, 2, Some("x@example.org".into()), Some("+33600000000".into()));
        assert_eq!(known.max_id, 12);
        assert!(known.emails.is_empty(), "another federation's people are not candidates");
        let c = Candidate {
            email: Some("y@example.org".into()),
            phone: Some("+33612345678".into()),
            ..Candidate::default()
        };
        assert_eq!(known.lookup(&c), Some(Key::Stored(4)), "the phone when the e-mail is unknown");
        known.emails.insert("y@example.org".into(), Key::New(3));
        assert_eq!(known.lookup(&c), Some(Key::New(3)), "the e-mail first");
        // Once the batches that created them are written, created people are stored ones.
        known.created = vec![20, 21, 22, 23];
        assert_eq!(known.lookup(&c), Some(Key::Stored(23)));
        known.note_phone("+33612345678", Key::New(0));
        assert_eq!(known.phones["+33612345678"], Key::Stored(4), "4 is older than the 20th");
        known.note_phone("+33699999999", Key::New(2));
        known.note_phone("+33699999999", Key::Stored(30));
        assert_eq!(known.phones["+33699999999"], Key::Stored(22));
    }
}
