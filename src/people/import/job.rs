//! Web imports: staging an uploaded file, confirming it, and running it as a job that records its progress and report.

use std::sync::Arc;

use serde::Serialize;

use super::{Options, Preview, read, run};
use crate::access::{Access, Perm};
use crate::db::{Db, now};
use crate::error::{Error, Result};
use crate::org::Federation;
use crate::people;
use crate::people::csv_import::{self, Category, Field, Table};

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
    if !legal_basis.is_empty() && !people::LEGAL_BASES.iter().any(|(c, _)| *c == legal_basis) {
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
