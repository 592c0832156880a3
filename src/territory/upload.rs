//! Files uploaded from HQ's territory page — election results by bureau de vote, Insee Filosofi indicators —
//! imported by a worker ([`crate::jobs::Job::ImportTerritory`]) with [`super::import`], all or nothing.
//!
//! The job row carries everything, and the page polls it: its payload ([`TerritoryImport`]) holds the file (gzip,
//! base64) while the import waits or runs, its progress (written back into the payload at most twice a second), then
//! its outcome — what was imported, or the refused lines with their numbers — once the file has been dropped from
//! it. Re-running the job after a crash imports the file again (imports replace an election wholesale: idempotent);
//! a job whose outcome is written does nothing.

use std::io::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::classify::format_count;
use super::import::{self, ElectionInfo, ElectionKind, ImportError};
use crate::access::Perm;
use crate::audit::{self, Entry, RequestMeta};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::jobs::{self, Job};

/// Refused lines kept in the outcome (the count says how many there were).
const KEPT_ERRORS: usize = 200;
/// Largest file accepted from the web (a national file is 5 MB uncompressed, 2 MB gzip).
pub const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// What a file is imported as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Target {
    /// One election round (see [`ElectionInfo`]).
    Results { key: String, label: String, kind: String, round: u32, year: u32 },
    /// Filosofi indicators by commune.
    Socio,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// Rows read and checked, then written (results: up to twice the rows).
    pub done: u64,
    pub total: u64,
}

impl Progress {
    pub fn percent(&self) -> u64 {
        (self.done * 100).checked_div(self.total).unwrap_or(0).min(100)
    }
}

/// A refused line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    pub line: u64,
    /// French, starting with "ligne N : ".
    pub message: String,
}

/// How an import ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Imported {
        /// French lines: what was imported.
        summary: Vec<String>,
        /// Codes of communes the reference data does not know (imported anyway): their number and a few.
        unmatched_count: usize,
        unmatched: Vec<String>,
    },
    /// Nothing was written.
    Refused {
        message: String,
        /// The first refused lines, in file order.
        errors: Vec<LineError>,
        total_errors: usize,
    },
}

/// The payload of an import job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TerritoryImport {
    /// Who uploaded it (rights are checked again when the job runs).
    pub user_id: i64,
    pub filename: String,
    pub target: Target,
    /// The file, gzip-compressed then base64; emptied once the import has ended.
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub progress: Progress,
    #[serde(default)]
    pub outcome: Option<Outcome>,
}

fn election_info(target: &Target, filename: &str) -> std::result::Result<Option<ElectionInfo>, String> {
    let Target::Results { key, label, kind, round, year } = target else { return Ok(None) };
    let kind = ElectionKind::parse(kind).ok_or_else(|| format!("type d'élection « {kind} » inconnu"))?;
    let info = ElectionInfo {
        key: key.trim().to_string(),
        label: label.trim().to_string(),
        kind,
        round: *round,
        year: *year,
        source_file: filename.to_string(),
    };
    info.check().map_err(|e| e.to_string())?;
    Ok(Some(info))
}

/// Checks the details, stores the file in a new job and queues it; returns the job id. [`Error::Invalid`] (French)
/// for bad details or an empty file: nothing is queued.
pub async fn enqueue(db: &Db, user_id: i64, filename: &str, target: Target, bytes: &[u8]) -> Result<i64> {
    if bytes.is_empty() {
        return Err(Error::Invalid("Le fichier est vide.".into()));
    }
    election_info(&target, filename).map_err(|m| Error::Invalid(format!("{}.", capitalise(&m))))?;
    let gzipped = if bytes.starts_with(&[0x1f, 0x8b]) {
        bytes.to_vec()
    } else {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).map_err(anyhow::Error::from)?;
        encoder.finish().map_err(anyhow::Error::from)?
    };
    let job = Job::ImportTerritory(TerritoryImport {
        user_id,
        filename: filename.to_string(),
        target,
        file: data_encoding::BASE64.encode(&gzipped),
        progress: Progress::default(),
        outcome: None,
    });
    Ok(jobs::enqueue(db, &job).await?)
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An import job as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportJob {
    pub id: i64,
    /// queued, running, done, failed (jobs' states).
    pub state: String,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub import: TerritoryImport,
}

impl ImportJob {
    /// Still to be imported (queued or running, no outcome yet).
    pub fn pending(&self) -> bool {
        self.import.outcome.is_none() && (self.state == "queued" || self.state == "running")
    }
}

type JobRow = (i64, String, String, Option<String>, i64, i64);

fn parse_row((id, state, payload, last_error, created_at, updated_at): JobRow) -> Option<ImportJob> {
    match serde_json::from_str::<Job>(&payload).ok()? {
        Job::ImportTerritory(mut import) => {
            import.file = String::new();
            Some(ImportJob { id, state, last_error, created_at, updated_at, import })
        }
        _ => None,
    }
}

/// One import job.
pub async fn get(db: &Db, id: i64) -> Result<Option<ImportJob>> {
    let row: Option<JobRow> = sqlx::query_as(
        "SELECT id, state, payload, last_error, created_at, updated_at FROM jobs WHERE id = $1 AND kind = $2",
    )
    .bind(id)
    .bind(KIND)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(parse_row))
}

/// The latest import jobs, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<ImportJob>> {
    let rows: Vec<JobRow> = sqlx::query_as(
        "SELECT id, state, payload, last_error, created_at, updated_at FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(KIND)
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().filter_map(parse_row).collect())
}

const KIND: &str = "import_territory";

async fn write_payload(db: &Db, id: i64, import: &TerritoryImport) -> anyhow::Result<()> {
    let payload = serde_json::to_string(&Job::ImportTerritory(import.clone()))?;
    sqlx::query("UPDATE jobs SET payload = $1 WHERE id = $2").bind(payload).bind(id).execute(&db.pool).await?;
    Ok(())
}

fn refused(e: ImportError) -> std::result::Result<Outcome, Error> {
    Ok(match e {
        ImportError::Db(e) => return Err(e),
        ImportError::Rows(errors) => {
            let total = errors.len();
            let s = if total > 1 { "s" } else { "" };
            Outcome::Refused {
                message: format!(
                    "{total} ligne{s} en erreur : rien n'a été importé. Corrigez le fichier puis envoyez-le à nouveau."
                ),
                errors: errors
                    .into_iter()
                    .take(KEPT_ERRORS)
                    .map(|e| LineError { line: e.line, message: e.message })
                    .collect(),
                total_errors: total,
            }
        }
        other => Outcome::Refused {
            message: format!("{} : rien n'a été importé.", capitalise(&other.to_string())),
            errors: Vec::new(),
            total_errors: 0,
        },
    })
}

/// Runs an import job (see the module documentation). An error means "try again later" (database trouble); a
/// refused file is an outcome, not an error.
pub async fn run(db: &Db, job_id: i64, payload: &TerritoryImport) -> anyhow::Result<()> {
    if payload.outcome.is_some() {
        return Ok(());
    }
    let mut import = payload.clone();
    let finish = |mut import: TerritoryImport, outcome: Outcome| async move {
        import.file = String::new();
        import.outcome = Some(outcome);
        write_payload(db, job_id, &import).await
    };
    let access = crate::users::access_for(db, import.user_id).await?;
    if !access.allows_somewhere(Perm::ManageTerritory) {
        let outcome = Outcome::Refused {
            message: "Vos droits ne permettent plus cet import : rien n'a été importé.".into(),
            errors: Vec::new(),
            total_errors: 0,
        };
        return finish(import, outcome).await;
    }
    let bytes = data_encoding::BASE64.decode(import.file.as_bytes())?;
    let info = match election_info(&import.target, &import.filename) {
        Ok(info) => info,
        Err(m) => {
            let outcome = Outcome::Refused { message: capitalise(&m), errors: Vec::new(), total_errors: 0 };
            return finish(import, outcome).await;
        }
    };
    let rows = import::count_lines(&bytes).saturating_sub(1).max(1);
    import.progress = Progress { done: 0, total: if info.is_some() { 2 * rows } else { rows } };
    write_payload(db, job_id, &import).await?;

    // Progress goes to the row from a task of its own, at most twice a second: on SQLite it waits while the import
    // holds the write lock, and the import never waits for it.
    let (tx, mut rx) = tokio::sync::watch::channel(0u64);
    let updater = {
        let (db, mut snapshot) = (db.clone(), import.clone());
        tokio::spawn(async move {
            let mut last = Instant::now() - Duration::from_secs(1);
            while rx.changed().await.is_ok() {
                let wait = Duration::from_millis(500).saturating_sub(last.elapsed());
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                snapshot.progress.done = *rx.borrow_and_update();
                last = Instant::now();
                let _ = write_payload(&db, job_id, &snapshot).await;
            }
        })
    };
    let result = match &info {
        Some(info) => import::import_results(db, &bytes, info, |n| {
            let _ = tx.send(n);
        })
        .await
        .map(Imported::Results),
        None => import::import_filosofi(db, &bytes).await.map(Imported::Socio),
    };
    drop(tx);
    let _ = updater.await;
    import.progress.done = import.progress.total;
    let outcome = match result {
        Ok(imported) => {
            record(db, import.user_id, &imported).await?;
            imported.outcome(info.as_ref())
        }
        Err(e) => refused(e)?,
    };
    finish(import, outcome).await
}

enum Imported {
    Results(import::Report),
    Socio(import::SocioReport),
}

impl Imported {
    fn outcome(&self, info: Option<&ElectionInfo>) -> Outcome {
        let n = |x: usize| format_count(x as u64);
        match (self, info) {
            (Imported::Results(r), Some(info)) => {
                let mut summary = vec![
                    format!(
                        "{} ({}) : {} bureaux de vote, {} candidats, listes ou nuances.",
                        info.label,
                        info.key,
                        n(r.bureaux),
                        n(r.choices)
                    ),
                    format!(
                        "{} inscrits, {} votants, {} exprimés.",
                        format_count(r.inscrits),
                        format_count(r.votants),
                        format_count(r.exprimes)
                    ),
                    format!(
                        "Format reconnu : {}, encodage {}.",
                        match r.layout {
                            super::results::Layout::NationalWide => "fichier national (une colonne par candidat)",
                            super::results::Layout::Official2017 => "fichier officiel jusqu'en 2017",
                            super::results::Layout::Official2024 => "fichier officiel depuis 2024",
                        },
                        match r.encoding {
                            super::results::TextEncoding::Utf8 => "UTF-8",
                            super::results::TextEncoding::Windows1252 => "Latin-1 (Windows-1252)",
                        }
                    ),
                ];
                if r.replaced {
                    summary.push(format!(
                        "L'import précédent de « {} » est remplacé ; {} regroupement(s) en blocs modifiés par le QG sont conservés. Le classement qui l'utilisait est à relancer.",
                        info.key,
                        n(r.blocs_kept)
                    ));
                }
                Outcome::Imported {
                    summary,
                    unmatched_count: r.unmatched_communes,
                    unmatched: r.unmatched_examples.clone(),
                }
            }
            (Imported::Socio(r), _) => Outcome::Imported {
                summary: vec![
                    format!("{} : {} communes, {} indicateurs.", r.source, n(r.communes), n(r.indicators)),
                    format!("{} valeurs, dont {} sous secret statistique ou manquantes.", n(r.values), n(r.secret)),
                ],
                unmatched_count: r.unmatched_communes,
                unmatched: r.unmatched_examples.clone(),
            },
            (Imported::Results(_), None) => {
                Outcome::Imported { summary: Vec::new(), unmatched_count: 0, unmatched: Vec::new() }
            }
        }
    }
}

/// The audit entry of a finished import, in the uploader's name.
async fn record(db: &Db, user_id: i64, imported: &Imported) -> anyhow::Result<()> {
    let entry = match imported {
        Imported::Results(r) => Entry::new(Some(user_id), "election_imported")
            .target("election", r.election_id)
            .details(serde_json::json!({ "key": r.key, "bureaux": r.bureaux, "replaced": r.replaced, "from": "web" })),
        Imported::Socio(r) => Entry::new(Some(user_id), "indicators_imported")
            .details(serde_json::json!({ "communes": r.communes, "indicators": r.indicators, "source": r.source })),
    };
    audit::record(db, &RequestMeta::default(), entry).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_keeps_its_kind() {
        let job = Job::ImportTerritory(TerritoryImport {
            user_id: 1,
            filename: "a.csv".into(),
            target: Target::Results {
                key: "k".into(),
                label: "L".into(),
                kind: "presidentielle".into(),
                round: 1,
                year: 2017,
            },
            file: "AAAA".into(),
            progress: Progress { done: 3, total: 10 },
            outcome: None,
        });
        assert_eq!(job.kind(), KIND);
        let json = serde_json::to_string(&job).unwrap();
        assert!(json.contains("\"kind\":\"import_territory\""), "{json}");
        assert_eq!(serde_json::from_str::<Job>(&json).unwrap(), job);
        assert_eq!(Progress { done: 3, total: 10 }.percent(), 30);
        assert_eq!(Progress::default().percent(), 0);
    }

    #[test]
    fn bad_details_are_refused_in_french() {
        let target = |key: &str, kind: &str| Target::Results {
            key: key.into(),
            label: "Libellé".into(),
            kind: kind.into(),
            round: 1,
            year: 2017,
        };
        assert!(election_info(&target("pres2017t1", "presidentielle"), "f.csv").unwrap().is_some());
        assert!(election_info(&target("Pres 2017", "presidentielle"), "f.csv").unwrap_err().contains("clé d'élection"));
        assert!(election_info(&target("p", "inconnu"), "f.csv").unwrap_err().contains("type d'élection"));
        assert!(election_info(&Target::Socio, "f.csv").unwrap().is_none());
    }
}
