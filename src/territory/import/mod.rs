//! Importing election results by bureau de vote and Insee indicators by commune (parsed by [`super::results`]).
//!
//! An election is imported all or nothing ("never leave a half-imported election"):
//!
//! 1. every row of the file is read and checked first (numbers, totals, one row per bureau); if any row fails,
//!    the import is refused with every failing line ([`ImportError::Rows`]) and nothing is written;
//! 2. then everything is written in **one transaction**: the election, its choices (candidates, lists or nuances,
//!    with their default [`Bloc`]), the bureaux, their turnout, their votes by bloc (what the classification reads)
//!    and their vote counts. Rows go to the database in chunks
//!    of thousands, each chunk as one JSON parameter (`json_each($n)` on SQLite, `jsonb_array_elements($n::jsonb)`
//!    on PostgreSQL), which is what makes ≈70,000 bureaux and ≈700,000 vote counts take seconds, not minutes.
//!
//! Re-importing an election key replaces that election inside the same transaction (its rows are deleted, then
//! written again; the election keeps its id): totals are unchanged by a second import of the same file, and readers
//! see either the old or the new election, never a mix. Blocs HQ changed by hand are kept when the choice
//! (label and nuance) is still there. The classification (`zone_classes`) is emptied if it was computed from the
//! election (derived data: run it again).
//!
//! Commune codes missing from the `communes` table (merged communes, consulates abroad `ZZ…`, Wallis-et-Futuna) are
//! counted and a few are shown, but their bureaux are imported.
//!
//! Only non-zero vote counts are stored: a choice absent from a bureau's rows got no vote there.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use serde::Serialize;

use super::results::{self, BureauRow, Choice, Layout, ParseError, Parser, RowError, TextEncoding};
use crate::db::{Backend, Db, now};
use crate::error::Error;

/// Political grouping of a choice, used by the classification. Defaults come from [`default_bloc`]; HQ may change
/// them (`election_choices.bloc`). The discriminant is the bloc's place in per-bloc arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bloc {
    Gauche = 0,
    Centre = 1,
    Droite = 2,
    ExtremeDroite = 3,
    Autre = 4,
}

impl Bloc {
    pub const ALL: [Bloc; 5] = [Bloc::Gauche, Bloc::Centre, Bloc::Droite, Bloc::ExtremeDroite, Bloc::Autre];

    pub fn as_str(self) -> &'static str {
        match self {
            Bloc::Gauche => "gauche",
            Bloc::Centre => "centre",
            Bloc::Droite => "droite",
            Bloc::ExtremeDroite => "extreme_droite",
            Bloc::Autre => "autre",
        }
    }

    pub fn parse(s: &str) -> Option<Bloc> {
        Bloc::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// French label for pages.
    pub fn label(self) -> &'static str {
        match self {
            Bloc::Gauche => "gauche",
            Bloc::Centre => "centre",
            Bloc::Droite => "droite",
            Bloc::ExtremeDroite => "extrême droite",
            Bloc::Autre => "autres",
        }
    }
}

/// Kind of election (`elections.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectionKind {
    Presidentielle,
    Legislatives,
    Europeennes,
    Municipales,
    Regionales,
    Departementales,
    Referendum,
    Autre,
}

impl ElectionKind {
    pub const ALL: [ElectionKind; 8] = [
        ElectionKind::Presidentielle,
        ElectionKind::Legislatives,
        ElectionKind::Europeennes,
        ElectionKind::Municipales,
        ElectionKind::Regionales,
        ElectionKind::Departementales,
        ElectionKind::Referendum,
        ElectionKind::Autre,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ElectionKind::Presidentielle => "presidentielle",
            ElectionKind::Legislatives => "legislatives",
            ElectionKind::Europeennes => "europeennes",
            ElectionKind::Municipales => "municipales",
            ElectionKind::Regionales => "regionales",
            ElectionKind::Departementales => "departementales",
            ElectionKind::Referendum => "referendum",
            ElectionKind::Autre => "autre",
        }
    }

    /// Accepts the stored names, with or without accents and in any case ("Présidentielle", "europeennes").
    pub fn parse(s: &str) -> Option<ElectionKind> {
        let s = fold(s).to_ascii_lowercase();
        ElectionKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What the file does not say about the election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElectionInfo {
    /// Stable name, lower-case letters, digits, `-` and `_`: "pres2017t1".
    pub key: String,
    /// "Présidentielle 2017, 1er tour".
    pub label: String,
    pub kind: ElectionKind,
    pub round: u32,
    pub year: u32,
    /// Name of the imported file, for the record.
    pub source_file: String,
}

impl ElectionInfo {
    /// Checks the details (key, label, round, year) before anything is read; French message.
    pub fn check(&self) -> Result<(), ImportError> {
        let key_ok = !self.key.is_empty()
            && self.key.len() <= 64
            && self.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !key_ok {
            return Err(ImportError::Invalid(format!(
                "clé d'élection « {} » invalide : lettres minuscules, chiffres, - et _ (64 au plus), par exemple \
                 pres2017t1",
                self.key
            )));
        }
        if self.label.trim().is_empty() {
            return Err(ImportError::Invalid("le libellé de l'élection est vide".into()));
        }
        if !(1..=3).contains(&self.round) {
            return Err(ImportError::Invalid(format!("tour {} invalide (1 ou 2)", self.round)));
        }
        if !(1900..=2200).contains(&self.year) {
            return Err(ImportError::Invalid(format!("année {} invalide", self.year)));
        }
        Ok(())
    }
}

/// Why an import was refused. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read at all (format not recognised, no header…).
    #[error("{0}")]
    File(#[from] ParseError),
    /// Rows failed their checks: every one of them, in file order.
    #[error("{}", rows_message(.0))]
    Rows(Vec<RowError>),
    /// Bad election details or an empty file; French message.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] Error),
}

impl From<sqlx::Error> for ImportError {
    fn from(e: sqlx::Error) -> Self {
        ImportError::Db(e.into())
    }
}

impl From<ImportError> for Error {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Db(e) => e,
            other => Error::Invalid(other.to_string()),
        }
    }
}

fn rows_message(errors: &[RowError]) -> String {
    let shown: Vec<&str> = errors.iter().take(5).map(|e| e.message.as_str()).collect();
    let more =
        if errors.len() > shown.len() { format!(" ; et {} autres", errors.len() - shown.len()) } else { "".into() };
    let n = errors.len();
    let s = if n > 1 { "s" } else { "" };
    format!("{n} ligne{s} en erreur, rien n'a été importé : {}{more}", shown.join(" ; "))
}

/// What an election import did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub election_id: i64,
    pub key: String,
    pub layout: Layout,
    pub encoding: TextEncoding,
    /// Bureaux (one per row).
    pub bureaux: usize,
    pub choices: usize,
    /// Non-zero vote counts stored.
    pub votes: usize,
    pub inscrits: u64,
    pub votants: u64,
    pub exprimes: u64,
    /// Distinct commune codes that are not in `communes` (their bureaux are imported anyway).
    pub unmatched_communes: usize,
    /// Up to ten of them, sorted.
    pub unmatched_examples: Vec<String>,
    /// The key existed: the previous import of it was replaced.
    pub replaced: bool,
    /// Choices whose bloc was kept from the previous import (HQ's edits survive a re-import).
    pub blocs_kept: usize,
}

/// Rows per bulk statement for vote counts (small rows) and for the other tables.
const VOTE_CHUNK: usize = 50_000;
const CHUNK: usize = 10_000;
/// Rows read between two calls to `progress` (and two yields to other tasks).
const READ_STEP: usize = 2_000;

/// `commune-bureau`: the `bureaux.key` of a row.
pub fn bureau_key(commune: &str, bureau: &str) -> String {
    let mut key = String::with_capacity(commune.len() + bureau.len() + 1);
    key.push_str(commune);
    key.push('-');
    key.push_str(bureau);
    key
}

/// Number of lines of a file (decompressed if gzip): a cheap estimate of its rows + 1, to size a progress bar.
pub fn count_lines(bytes: &[u8]) -> u64 {
    let mut reader: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut buf = vec![0u8; 256 * 1024];
    let (mut lines, mut last) = (0u64, b'\n');
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                last = buf[n - 1];
            }
        }
    }
    lines + u64::from(last != b'\n')
}

/// Imports an election result file (any layout [`results`] reads) under `info.key`, replacing an earlier import of
/// the same key. `progress` is called with a count that grows from 0 to twice the number of rows: rows read and
/// checked, then rows written (use [`count_lines`] to size a bar).
pub async fn import_results(
    db: &Db,
    bytes: &[u8],
    info: &ElectionInfo,
    mut progress: impl FnMut(u64),
) -> Result<Report, ImportError> {
    info.check()?;
    // 1. Read and check everything; nothing is written unless every row is valid.
    let mut parser = Parser::from_bytes(bytes)?;
    let (layout, encoding) = (parser.layout(), parser.encoding());
    let mut rows: Vec<(String, BureauRow)> = Vec::new();
    let mut errors: Vec<RowError> = Vec::new();
    let mut lines_of: HashMap<String, u64> = HashMap::new();
    let mut read = 0usize;
    while let Some(row) = parser.next_row() {
        match row {
            Ok(row) => {
                let key = bureau_key(&row.commune, &row.bureau);
                match lines_of.get(&key) {
                    Some(first) => errors.push(RowError {
                        line: row.line,
                        message: format!(
                            "ligne {} : le bureau {} ({}) figure déjà ligne {first}",
                            row.line, row.bureau, row.commune
                        ),
                    }),
                    None => {
                        lines_of.insert(key.clone(), row.line);
                        rows.push((key, row));
                    }
                }
            }
            Err(e) => errors.push(e),
        }
        read += 1;
        if read.is_multiple_of(READ_STEP) {
            progress(read as u64);
            tokio::task::yield_now().await;
        }
    }
    let choices: Vec<Choice> = parser.choices().to_vec();
    drop(parser);
    drop(lines_of);
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(ImportError::Invalid("le fichier ne contient aucun bureau de vote".into()));
    }
    let total = rows.len() as u64;
    progress(total);

    // Rows in key order: the tables are clustered on (election, bureau), so writing in that order appends.
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut voix = vec![0u64; choices.len()];
    // (row, choice, voix) for every non-zero count.
    let mut votes: Vec<(u32, u32, u32)> = Vec::new();
    let mut cells: Vec<(u32, u32)> = Vec::new();
    for (n, (_, row)) in rows.iter().enumerate() {
        // Official layouts may name a candidate twice in a row: one count per choice.
        cells.clear();
        cells.extend(row.votes.iter().copied());
        cells.sort_unstable_by_key(|&(c, _)| c);
        let mut i = 0;
        while i < cells.len() {
            let (choice, mut v) = cells[i];
            while i + 1 < cells.len() && cells[i + 1].0 == choice {
                i += 1;
                v += cells[i].1;
            }
            i += 1;
            voix[choice as usize] += u64::from(v);
            if v > 0 {
                votes.push((n as u32, choice, v));
            }
        }
    }
    let sum = |f: fn(&BureauRow) -> u64| rows.iter().map(|(_, r)| f(r)).sum::<u64>();
    let (inscrits, votants, exprimes) =
        (sum(|r| r.inscrits.into()), sum(|r| r.votants.into()), sum(|r| r.exprimes.into()));
    let (blancs, nuls) = (sum(|r| r.blancs.unwrap_or(0).into()), sum(|r| r.nuls.unwrap_or(0).into()));

    let known: HashSet<String> =
        sqlx::query_scalar("SELECT code FROM communes").fetch_all(&db.pool).await?.into_iter().collect();
    let mut unmatched: Vec<&str> =
        rows.iter().map(|(_, r)| r.commune.as_str()).filter(|c| !known.contains(*c)).collect();
    unmatched.sort_unstable();
    unmatched.dedup();

    // 2. Write everything in one transaction, on a connection of its own (closed afterwards: its settings are for
    // bulk writing only, and after an error closing it rolls the transaction back).
    let mut conn = db.pool.acquire().await?;
    conn.close_on_drop();
    if db.backend == Backend::Sqlite {
        // A page cache that holds the whole transaction (instead of spilling pages to the log mid-way), temporary
        // b-trees in memory, and no zero-filling of the pages freed by replacing an election (public results, unlike
        // the people data secure_delete protects).
        for pragma in ["cache_size = -262144", "temp_store = MEMORY", "secure_delete = OFF"] {
            sqlx::query(&format!("PRAGMA {pragma}")).execute(&mut *conn).await?;
        }
    }
    // SQLite: take the write lock at once, so that another writer waits for the import instead of failing.
    let begin = if db.backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" };
    sqlx::query(begin).execute(&mut *conn).await?;
    let written = async {
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM elections WHERE key = $1")
            .bind(&info.key)
            .fetch_optional(&mut *conn)
            .await?;
        // Blocs: HQ's choice when the election was imported before, else the default.
        let mut kept: HashMap<(String, Option<String>), String> = HashMap::new();
        if let Some(id) = existing {
            let old: Vec<(String, Option<String>, String)> =
                sqlx::query_as("SELECT label, nuance, bloc FROM election_choices WHERE election_id = $1")
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
            kept.extend(old.into_iter().map(|(label, nuance, bloc)| ((label, nuance), bloc)));
        }
        let mut blocs_kept = 0;
        let blocs: Vec<Bloc> = choices
            .iter()
            .map(|c| match kept.get(&(c.label.clone(), c.nuance.clone())).and_then(|b| Bloc::parse(b)) {
                Some(b) => {
                    blocs_kept += 1;
                    b
                }
                None => default_bloc(&c.label, c.nuance.as_deref()),
            })
            .collect();
        let blocs_list = blocs.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(",");
        // Votes by bloc of each bureau (gauche, centre, droite, extreme_droite, autre).
        let mut by_bloc = vec![[0u64; 5]; rows.len()];
        for &(n, choice, v) in &votes {
            by_bloc[n as usize][blocs[choice as usize] as usize] += u64::from(v);
        }

        let t = now();
        let election_id = match existing {
            Some(id) => {
                sqlx::query("DELETE FROM zone_classes WHERE reference_election_id = $1 OR previous_election_id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                for table in ["bureau_votes", "bureau_results", "election_choices"] {
                    sqlx::query(&format!("DELETE FROM {table} WHERE election_id = $1"))
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                }
                sqlx::query(
                    "UPDATE elections SET label = $1, kind = $2, round = $3, year = $4, source_file = $5, layout = $6, \
                     imported_at = $7, bureaux = $8, inscrits = $9, votants = $10, blancs = $11, nuls = $12, \
                     exprimes = $13, blocs = $14 WHERE id = $15",
                )
                .bind(info.label.trim())
                .bind(info.kind.as_str())
                .bind(i64::from(info.round))
                .bind(i64::from(info.year))
                .bind(&info.source_file)
                .bind(format!("{layout:?}"))
                .bind(t)
                .bind(total as i64)
                .bind(inscrits as i64)
                .bind(votants as i64)
                .bind(blancs as i64)
                .bind(nuls as i64)
                .bind(exprimes as i64)
                .bind(&blocs_list)
                .bind(id)
                .execute(&mut *conn)
                .await?;
                id
            }
            None => {
                sqlx::query_scalar(
                    "INSERT INTO elections (key, label, kind, round, year, source_file, layout, imported_at, bureaux, \
                     inscrits, votants, blancs, nuls, exprimes, blocs) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id",
                )
                .bind(&info.key)
                .bind(info.label.trim())
                .bind(info.kind.as_str())
                .bind(i64::from(info.round))
                .bind(i64::from(info.year))
                .bind(&info.source_file)
                .bind(format!("{layout:?}"))
                .bind(t)
                .bind(total as i64)
                .bind(inscrits as i64)
                .bind(votants as i64)
                .bind(blancs as i64)
                .bind(nuls as i64)
                .bind(exprimes as i64)
                .bind(&blocs_list)
                .fetch_one(&mut *conn)
                .await?
            }
        };

        let choice_rows: Vec<(usize, &str, Option<&str>, &str, u64)> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.label.as_str(), c.nuance.as_deref(), blocs[i].as_str(), voix[i]))
            .collect();
        let sql = format!(
            "INSERT INTO election_choices (election_id, idx, label, nuance, bloc, voix) SELECT $1, \
             CAST(e.value ->> 0 AS BIGINT), e.value ->> 1, e.value ->> 2, e.value ->> 3, CAST(e.value ->> 4 AS BIGINT) \
             FROM {}",
            json_rows(db.backend, 2)
        );
        sqlx::query(&sql).bind(election_id).bind(json(&choice_rows)?).execute(&mut *conn).await?;

        // Bureaux: new ones are added; a known one gets the circonscription of this file when it gives one.
        let sql = format!(
            "INSERT INTO bureaux (key, commune_code, departement, bureau, circonscription) SELECT e.value ->> 0, \
             e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4 FROM {} WHERE TRUE \
             ON CONFLICT (key) DO UPDATE SET circonscription = COALESCE(excluded.circonscription, bureaux.circonscription)",
            json_rows(db.backend, 1)
        );
        for chunk in rows.chunks(CHUNK) {
            let chunk: Vec<_> = chunk
                .iter()
                .map(|(k, r)| (k, &r.commune, &r.departement, &r.bureau, r.circonscription.as_deref()))
                .collect();
            sqlx::query(&sql).bind(json(&chunk)?).execute(&mut *conn).await?;
        }
        let sql = format!(
            "INSERT INTO bureau_results (election_id, bureau_key, inscrits, votants, blancs, nuls, exprimes, gauche, \
             centre, droite, extreme_droite, autre) SELECT $1, e.value ->> 0, {} FROM {}",
            (1..11).map(|i| format!("CAST(e.value ->> {i} AS BIGINT)")).collect::<Vec<_>>().join(", "),
            json_rows(db.backend, 2)
        );
        for (chunk, sums) in rows.chunks(CHUNK).zip(by_bloc.chunks(CHUNK)) {
            let chunk: Vec<_> = chunk
                .iter()
                .zip(sums)
                .map(|((k, r), b)| (k, r.inscrits, r.votants, r.blancs, r.nuls, r.exprimes, b[0], b[1], b[2], b[3], b[4]))
                .collect();
            sqlx::query(&sql).bind(election_id).bind(json(&chunk)?).execute(&mut *conn).await?;
        }
        let sql = format!(
            "INSERT INTO bureau_votes (election_id, bureau_key, choice_idx, voix) SELECT $1, e.value ->> 0, \
             CAST(e.value ->> 1 AS BIGINT), CAST(e.value ->> 2 AS BIGINT) FROM {}",
            json_rows(db.backend, 2)
        );
        let mut done = 0usize;
        for chunk in votes.chunks(VOTE_CHUNK) {
            let chunk: Vec<(&str, u32, u32)> =
                chunk.iter().map(|&(n, choice, v)| (rows[n as usize].0.as_str(), choice, v)).collect();
            sqlx::query(&sql).bind(election_id).bind(json(&chunk)?).execute(&mut *conn).await?;
            done += chunk.len();
            progress(total + (total as f64 * done as f64 / votes.len() as f64) as u64);
        }
        Ok::<_, ImportError>((election_id, existing.is_some(), blocs_kept))
    }
    .await;
    let (election_id, replaced, blocs_kept) = match written {
        Ok(v) => v,
        Err(e) => {
            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            return Err(e);
        }
    };
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    match db.backend {
        // Leave a short write-ahead log behind, so that the next writer does not pay for copying this one's.
        Backend::Sqlite => {
            let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut *conn).await;
        }
        // Fresh statistics: without them PostgreSQL takes these tables for small ones and joins them row by row
        // (the classification's queries would take minutes instead of a fraction of a second).
        Backend::Postgres => {
            sqlx::query("ANALYZE bureaux, bureau_results, bureau_votes, election_choices").execute(&mut *conn).await?;
        }
    }
    progress(2 * total);
    Ok(Report {
        election_id,
        key: info.key.clone(),
        layout,
        encoding,
        bureaux: rows.len(),
        choices: choices.len(),
        votes: votes.len(),
        inscrits,
        votants,
        exprimes,
        unmatched_communes: unmatched.len(),
        unmatched_examples: unmatched.iter().take(10).map(|s| s.to_string()).collect(),
        replaced,
        blocs_kept,
    })
}

/// What an indicator import did.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SocioReport {
    pub communes: usize,
    /// Indicator columns ("MED21", "TP6021"…).
    pub indicators: usize,
    /// Values written, secret ones included.
    pub values: usize,
    /// Values under statistical secret or missing, stored as NULL.
    pub secret: usize,
    /// "Insee, Filosofi 2021".
    pub source: String,
    pub unmatched_communes: usize,
    pub unmatched_examples: Vec<String>,
}

/// Imports an Insee file keyed by commune (Filosofi…) into `commune_indicators`, all or nothing: a file with a bad
/// row or cell is refused with its lines. Values of a re-imported file overwrite the stored ones; the statistical
/// secret `s` is stored as NULL.
pub async fn import_filosofi(db: &Db, bytes: &[u8]) -> Result<SocioReport, ImportError> {
    let (rows, mut errors) = results::parse_filosofi(bytes)?;
    let mut first_line: HashMap<&str, u64> = HashMap::new();
    for row in &rows {
        if let Some(first) = first_line.insert(&row.commune, row.line) {
            errors.push(RowError {
                line: row.line,
                message: format!("ligne {} : la commune {} figure déjà ligne {first}", row.line, row.commune),
            });
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        return Err(ImportError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(ImportError::Invalid("le fichier ne contient aucune commune".into()));
    }
    let indicators: Vec<&str> = rows[0].values.iter().map(|(code, _)| code.as_str()).collect();
    // Filosofi codes end with the year of the data: MED21 → 2021.
    let years: HashSet<&str> = indicators
        .iter()
        .filter_map(|c| c.get(c.len().saturating_sub(2)..))
        .filter(|y| y.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let source = match (years.len(), years.iter().next(), indicators.len()) {
        (1, Some(y), n) if n > 1 && indicators.iter().all(|c| c.ends_with(*y)) => format!("Insee, Filosofi 20{y}"),
        _ => "Insee, Filosofi".to_string(),
    };
    let known: HashSet<String> =
        sqlx::query_scalar("SELECT code FROM communes").fetch_all(&db.pool).await?.into_iter().collect();
    let mut unmatched: Vec<&str> = rows.iter().map(|r| r.commune.as_str()).filter(|c| !known.contains(*c)).collect();
    unmatched.sort_unstable();
    let cells: Vec<(&str, &str, Option<f64>)> = rows
        .iter()
        .flat_map(|r| r.values.iter().map(move |(code, value)| (r.commune.as_str(), code.as_str(), *value)))
        .collect();
    let secret = cells.iter().filter(|c| c.2.is_none()).count();
    let float = match db.backend {
        Backend::Sqlite => "REAL",
        Backend::Postgres => "DOUBLE PRECISION",
    };
    let sql = format!(
        "INSERT INTO commune_indicators (commune_code, indicator, value, source, imported_at) SELECT e.value ->> 0, \
         e.value ->> 1, CAST(e.value ->> 2 AS {float}), $1, $2 FROM {} WHERE TRUE \
         ON CONFLICT (commune_code, indicator) DO UPDATE SET value = excluded.value, source = excluded.source, \
         imported_at = excluded.imported_at",
        json_rows(db.backend, 3)
    );
    let t = now();
    let mut tx = db.pool.begin().await?;
    for chunk in cells.chunks(CHUNK) {
        sqlx::query(&sql).bind(&source).bind(t).bind(json(&chunk)?).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(SocioReport {
        communes: rows.len(),
        indicators: indicators.len(),
        values: cells.len(),
        secret,
        source,
        unmatched_communes: unmatched.len(),
        unmatched_examples: unmatched.iter().take(10).map(|s| s.to_string()).collect(),
    })
}

/// The rows of a JSON array of arrays given as parameter `$n`, as a table `e` whose column `value` is the row (read
/// with `e.value ->> i`): one parameter for thousands of rows.
fn json_rows(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("json_each(${n}) AS e"),
        Backend::Postgres => format!("jsonb_array_elements(${n}::jsonb) AS e(value)"),
    }
}

fn json<T: Serialize + ?Sized>(rows: &T) -> Result<String, ImportError> {
    serde_json::to_string(rows).map_err(|e| ImportError::Db(Error::Internal(e.into())))
}

/// Upper case without accents, single spaces: "Mélenchon  Jean-Luc" → "MELENCHON JEAN-LUC".
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim().chars() {
        let c = match c {
            'à' | 'â' | 'ä' | 'á' | 'À' | 'Â' | 'Ä' | 'Á' => 'A',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'E',
            'î' | 'ï' | 'í' | 'Î' | 'Ï' | 'Í' => 'I',
            'ô' | 'ö' | 'ó' | 'Ô' | 'Ö' | 'Ó' => 'O',
            'ù' | 'û' | 'ü' | 'ú' | 'Ù' | 'Û' | 'Ü' | 'Ú' => 'U',
            'ç' | 'Ç' => 'C',
            '’' => '\'',
            c => c.to_ascii_uppercase(),
        };
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Ministry nuance codes (legislative 2017, 2022 and 2024; municipal codes start with `L`).
///
/// - gauche: far left, communists, La France insoumise, socialists, radicals of the left, ecologists (`ECO`, `VEC`),
///   various left, the NUPES (2022) and the Union de la gauche / Nouveau Front populaire (2024, `UG`);
/// - centre: La République en marche / Renaissance / Ensemble, MoDem, Horizons, UDI (a centrist party, although
///   allied with LR in 2017) and various centre;
/// - droite: Les Républicains and various right;
/// - extreme_droite: FN / RN, Reconquête, other far right, the RN's allies of 2024 (`UXD`), and Debout la France
///   (`DLF`, allied with the FN from the second round of the 2017 presidential election) with the other
///   "droite souverainiste" candidates of 2022 (`DSV`);
/// - autre: regionalists (`REG`) and miscellaneous (`DIV`), and anything unknown.
const NUANCES: &[(&str, Bloc)] = &[
    ("EXG", Bloc::Gauche),
    ("DXG", Bloc::Gauche),
    ("COM", Bloc::Gauche),
    ("FI", Bloc::Gauche),
    ("SOC", Bloc::Gauche),
    ("RDG", Bloc::Gauche),
    ("DVG", Bloc::Gauche),
    ("ECO", Bloc::Gauche),
    ("VEC", Bloc::Gauche),
    ("NUP", Bloc::Gauche),
    ("UG", Bloc::Gauche),
    ("FG", Bloc::Gauche),
    ("REM", Bloc::Centre),
    ("REN", Bloc::Centre),
    ("ENS", Bloc::Centre),
    ("MDM", Bloc::Centre),
    ("HOR", Bloc::Centre),
    ("UDI", Bloc::Centre),
    ("DVC", Bloc::Centre),
    ("LR", Bloc::Droite),
    ("DVD", Bloc::Droite),
    ("UMP", Bloc::Droite),
    ("FN", Bloc::ExtremeDroite),
    ("RN", Bloc::ExtremeDroite),
    ("EXD", Bloc::ExtremeDroite),
    ("DXD", Bloc::ExtremeDroite),
    ("REC", Bloc::ExtremeDroite),
    ("UXD", Bloc::ExtremeDroite),
    ("DLF", Bloc::ExtremeDroite),
    ("DSV", Bloc::ExtremeDroite),
    ("REG", Bloc::Autre),
    ("DIV", Bloc::Autre),
    // Municipal elections.
    ("LEXG", Bloc::Gauche),
    ("LCOM", Bloc::Gauche),
    ("LFI", Bloc::Gauche),
    ("LSOC", Bloc::Gauche),
    ("LRDG", Bloc::Gauche),
    ("LDVG", Bloc::Gauche),
    ("LUG", Bloc::Gauche),
    ("LVEC", Bloc::Gauche),
    ("LECO", Bloc::Gauche),
    ("LREM", Bloc::Centre),
    ("LMDM", Bloc::Centre),
    ("LUDI", Bloc::Centre),
    ("LUC", Bloc::Centre),
    ("LDVC", Bloc::Centre),
    ("LLR", Bloc::Droite),
    ("LUD", Bloc::Droite),
    ("LDVD", Bloc::Droite),
    ("LDLF", Bloc::ExtremeDroite),
    ("LFN", Bloc::ExtremeDroite),
    ("LRN", Bloc::ExtremeDroite),
    ("LREC", Bloc::ExtremeDroite),
    ("LEXD", Bloc::ExtremeDroite),
    ("LDIV", Bloc::Autre),
    ("LREG", Bloc::Autre),
    ("LGJ", Bloc::Autre),
];

/// Presidential candidates by surname (the label is "SURNAME" or "SURNAME First name").
///
/// 2017: Mélenchon, Hamon, Poutou, Arthaud → gauche; Macron → centre; Fillon → droite; Dupont-Aignan → droite (a
/// gaullist, sovereignist candidacy in the first round: his alliance with Marine Le Pen came after it, which is why
/// the June 2017 DLF nuance counts as extrême droite); Le Pen → extrême droite; Asselineau (UPR, "neither left nor
/// right", for leaving the EU), Cheminade and Lassalle (independents outside both camps) → autre. Earlier and later
/// candidates are listed too.
const CANDIDATES: &[(&str, Bloc)] = &[
    ("MELENCHON", Bloc::Gauche),
    ("HAMON", Bloc::Gauche),
    ("POUTOU", Bloc::Gauche),
    ("ARTHAUD", Bloc::Gauche),
    ("ROUSSEL", Bloc::Gauche),
    ("JADOT", Bloc::Gauche),
    ("HIDALGO", Bloc::Gauche),
    ("HOLLANDE", Bloc::Gauche),
    ("JOLY", Bloc::Gauche),
    ("ROYAL", Bloc::Gauche),
    ("BESANCENOT", Bloc::Gauche),
    ("BUFFET", Bloc::Gauche),
    ("MACRON", Bloc::Centre),
    ("BAYROU", Bloc::Centre),
    ("FILLON", Bloc::Droite),
    ("DUPONT-AIGNAN", Bloc::Droite),
    ("PECRESSE", Bloc::Droite),
    ("SARKOZY", Bloc::Droite),
    ("LE PEN", Bloc::ExtremeDroite),
    ("ZEMMOUR", Bloc::ExtremeDroite),
    ("ASSELINEAU", Bloc::Autre),
    ("CHEMINADE", Bloc::Autre),
    ("LASSALLE", Bloc::Autre),
];

/// European lists of 2019 by their short name in the national file: La France insoumise, Europe Écologie,
/// PS–Place publique ("Envie d'Europe"), PCF ("Pour l'Europe des gens"), Génération.s ("Liste citoyenne"),
/// Lutte ouvrière, the Parti révolutionnaire Communistes, Urgence écologie and Décroissance → gauche; Renaissance and
/// UDI ("Les Européens") → centre; LR ("Union droite-centre") → droite; RN ("Prenez le pouvoir"), Debout la France,
/// Les Patriotes ("Ensemble Patriotes"), "La Ligne claire" and "Liste de la reconquête" → extrême droite; the UPR
/// ("Ensemble pour le Frexit"), gilets jaunes, animalist, pirate, federalist, royalist and the other small lists →
/// autre.
const LISTS: &[(&str, Bloc)] = &[
    ("LA FRANCE INSOUMISE", Bloc::Gauche),
    ("EUROPE ECOLOGIE", Bloc::Gauche),
    ("ENVIE D'EUROPE", Bloc::Gauche),
    ("POUR L'EUROPE DES GENS", Bloc::Gauche),
    ("LISTE CITOYENNE", Bloc::Gauche),
    ("LUTTE OUVRIERE", Bloc::Gauche),
    ("REVOLUTIONNAIRE", Bloc::Gauche),
    ("URGENCE ECOLOGIE", Bloc::Gauche),
    ("DECROISSANCE 2019", Bloc::Gauche),
    ("RENAISSANCE", Bloc::Centre),
    ("LES EUROPEENS", Bloc::Centre),
    ("UNION DROITE-CENTRE", Bloc::Droite),
    ("PRENEZ LE POUVOIR", Bloc::ExtremeDroite),
    ("DEBOUT LA FRANCE", Bloc::ExtremeDroite),
    ("ENSEMBLE PATRIOTES", Bloc::ExtremeDroite),
    ("LA LIGNE CLAIRE", Bloc::ExtremeDroite),
    ("LISTE DE LA RECONQUETE", Bloc::ExtremeDroite),
];

/// The bloc a choice belongs to by default: by nuance when the file gives a known one, else by list name, else by
/// candidate surname; `autre` when nothing matches. The tables are [`NUANCES`], [`LISTS`] and [`CANDIDATES`].
pub fn default_bloc(label: &str, nuance: Option<&str>) -> Bloc {
    let lookup = |table: &[(&str, Bloc)], key: &str| table.iter().find(|(k, _)| *k == key).map(|(_, b)| *b);
    if let Some(bloc) = nuance.and_then(|n| lookup(NUANCES, &fold(n))) {
        return bloc;
    }
    let label = fold(label);
    if let Some(bloc) = lookup(LISTS, &label).or_else(|| lookup(NUANCES, &label)) {
        return bloc;
    }
    CANDIDATES
        .iter()
        .find(|(surname, _)| label.strip_prefix(surname).is_some_and(|rest| rest.is_empty() || rest.starts_with(' ')))
        .map_or(Bloc::Autre, |(_, b)| *b)
}

#[cfg(test)]
mod tests;
