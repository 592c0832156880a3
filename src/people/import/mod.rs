//! Importing people from a spreadsheet into one federation: parse (`csv_import`), then, row by row, validate,
//! refuse suppressed people, deduplicate on normalised e-mail then phone, merge into existing people without
//! losing data (only empty fields are filled, tags and skills are added), or insert. Re-importing the same file
//! changes nothing. Work is committed in batches; the whole import is idempotent, so a crashed import can
//! simply run again.
//!
//! Built for files of a million rows: deduplication looks people up in memory (the federation's e-mails and phones
//! are read once), rows are written with multi-row statements (a big load on SQLite talks to SQLite directly,
//! see `db::link`), and the next batch is validated while one is written.

mod dedupe;
mod job;
mod merge;
mod validate;
mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use super::csv_import::{self, Category, Field, Row, Table};
use super::pepper;
use crate::access::{Access, Perm};
use crate::db::link::{Arg, Link};
use crate::db::{Backend, Db};
use crate::error::{Error, Result};
use crate::org::Federation;
use dedupe::{FastMap, Known, TARGETED, load_people};
pub use job::{ImportRow, confirm, get, origin_label, rejected_csv, run_job, stage, staged_preview};
use validate::{Resolver, prepare};
use write::{Outcome, write_batch};

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

fn json<T: Serialize>(rows: &T) -> Result<String> {
    Ok(serde_json::to_string(rows).map_err(anyhow::Error::from)?)
}

#[cfg(test)]
mod tests;
