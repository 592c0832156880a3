//! Importing people from a spreadsheet into one federation: parse (`csv_import`), then, row by row, validate,
//! refuse suppressed people, deduplicate on normalised e-mail then phone, merge into existing people without
//! losing data (only empty fields are filled, tags and skills are added), or insert. Re-importing the same file
//! changes nothing. Work is committed in batches; the whole import is idempotent, so a crashed import can
//! simply run again.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::csv_import::{self, Candidate, Category, Field, Row, Table};
use super::{Person, add_event, default_legal_basis, pepper, suppression_hash};
use crate::access::{Access, Perm};
use crate::db::{Db, now};
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
pub fn read(bytes: &[u8]) -> Result<(Table, Preview)> {
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
        sample: table.rows.iter().take(5).map(|r| r.cells.clone()).collect(),
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

/// Rows committed per transaction.
const BATCH: usize = 100_000;

enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

struct Context {
    federation_id: i64,
    pepper: String,
    suppressed: HashSet<String>,
    communes: HashMap<(String, String, String), Option<String>>,
    sections: HashMap<String, Option<i64>>,
    skills: Vec<(i64, String)>,
}

/// Imports `table` into `federation`. `progress` is called with the number of rows processed after each batch.
pub async fn run(
    db: &Db,
    access: &Access,
    federation: &Federation,
    table: &Table,
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
    let mut ctx = Context {
        federation_id: federation.id,
        pepper: pepper(db).await?,
        suppressed: sqlx::query_scalar("SELECT hash FROM suppressions")
            .fetch_all(&db.pool)
            .await?
            .into_iter()
            .collect(),
        communes: HashMap::new(),
        sections: HashMap::new(),
        skills: super::skill_list(db).await?,
    };
    let mut report = Report { total: table.rows.len(), ..Report::default() };
    for (batch_no, batch) in table.rows.chunks(BATCH).enumerate() {
        let mut tx = db.pool.begin().await?;
        for row in batch {
            let candidate = match csv_import::validate_row(&options.mapping, row) {
                Ok(c) => c,
                Err(reasons) => {
                    report.rejected.push((row.clone(), reasons));
                    continue;
                }
            };
            if is_suppressed(&ctx, &candidate) {
                report.suppressed += 1;
                continue;
            }
            match resolve(db, &mut ctx, &candidate).await? {
                Err(reasons) => report.rejected.push((row.clone(), reasons)),
                Ok((commune, section, skill_ids)) => {
                    match upsert(&mut tx, &ctx, options, &candidate, commune, section, &skill_ids).await? {
                        Outcome::Inserted => report.inserted += 1,
                        Outcome::Updated => report.updated += 1,
                        Outcome::Unchanged => report.unchanged += 1,
                    }
                }
            }
        }
        tx.commit().await?;
        progress((batch_no * BATCH + batch.len()).min(table.rows.len()));
    }
    Ok(report)
}

fn is_suppressed(ctx: &Context, c: &Candidate) -> bool {
    c.email.as_ref().is_some_and(|e| ctx.suppressed.contains(&suppression_hash(&ctx.pepper, "email", e)))
        || c.phone.as_ref().is_some_and(|p| ctx.suppressed.contains(&suppression_hash(&ctx.pepper, "phone", p)))
}

type Resolved = (Option<String>, Option<i64>, Vec<i64>);

/// Commune, section and skills of a candidate, or the reasons to reject the row.
async fn resolve(db: &Db, ctx: &mut Context, c: &Candidate) -> Result<std::result::Result<Resolved, Vec<String>>> {
    let mut reasons = Vec::new();
    let key = (c.commune_code.clone(), c.postcode.clone(), c.city.clone());
    let commune = match ctx.communes.get(&key) {
        Some(v) => v.clone(),
        None => {
            let v = super::resolve_commune(db, ctx.federation_id, &c.commune_code, &c.postcode, &c.city).await?;
            ctx.communes.insert(key, v.clone());
            v
        }
    };
    if !c.commune_code.is_empty() && commune.is_none() {
        reasons.push(format!("commune « {} » inconnue ou hors de cette fédération", c.commune_code));
    }
    let section = match &commune {
        Some(code) => match ctx.sections.get(code) {
            Some(s) => *s,
            None => {
                let s = super::section_for_commune(db, ctx.federation_id, code).await?;
                ctx.sections.insert(code.clone(), s);
                s
            }
        },
        None => None,
    };
    let mut skill_ids = Vec::new();
    for name in &c.skills {
        match ctx.skills.iter().find(|(_, s)| s.to_lowercase() == name.to_lowercase()) {
            Some((id, _)) if !skill_ids.contains(id) => skill_ids.push(*id),
            Some(_) => {}
            None => reasons.push(format!("compétence inconnue : « {name} »")),
        }
    }
    Ok(if reasons.is_empty() { Ok((commune, section, skill_ids)) } else { Err(reasons) })
}

const PERSON_COLUMNS: &str = "p.id, p.federation_id, p.section_id, p.commune_code, p.first_name, p.last_name, p.email, \
     p.phone, p.address, p.postcode, p.city, p.category, p.legal_basis, p.origin, p.origin_channel, p.notes, \
     p.availability, p.external_id, p.created_at, p.updated_at, p.last_activity_at";

async fn find_existing(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    federation_id: i64,
    c: &Candidate,
) -> Result<Option<Person>> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.federation_id = $1 AND p.email = $2");
    if let Some(email) = &c.email
        && let Some(p) =
            sqlx::query_as::<_, Person>(&sql).bind(federation_id).bind(email).fetch_optional(&mut **tx).await?
    {
        return Ok(Some(p));
    }
    if let Some(phone) = &c.phone {
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM people p WHERE p.federation_id = $1 AND p.phone = $2 ORDER BY p.id LIMIT 1"
        );
        return Ok(sqlx::query_as::<_, Person>(&sql).bind(federation_id).bind(phone).fetch_optional(&mut **tx).await?);
    }
    Ok(None)
}

/// Keeps what is there; fills what is empty.
fn fill(existing: &str, new: &str) -> Option<String> {
    (existing.is_empty() && !new.is_empty()).then(|| new.to_string())
}

async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ctx: &Context,
    options: &Options,
    c: &Candidate,
    commune: Option<String>,
    section: Option<i64>,
    skill_ids: &[i64],
) -> Result<Outcome> {
    let t = now();
    match find_existing(tx, ctx.federation_id, c).await? {
        None => {
            let category = c.category.unwrap_or(options.category);
            let basis = options.legal_basis.clone().unwrap_or_else(|| default_legal_basis(category).to_string());
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO people (federation_id, section_id, commune_code, first_name, last_name, email, phone, address, \
                 postcode, city, category, legal_basis, origin, origin_channel, collected_by, notes, external_id, created_at, \
                 updated_at, last_activity_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'import', $14, $15, $16, $17, $17, $17) RETURNING id",
            )
            .bind(ctx.federation_id)
            .bind(section)
            .bind(&commune)
            .bind(&c.first_name)
            .bind(&c.last_name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.address)
            .bind(&c.postcode)
            .bind(&c.city)
            .bind(category.as_str())
            .bind(&basis)
            .bind(&options.origin)
            .bind(options.actor)
            .bind(&c.notes)
            .bind(&c.external_id)
            .bind(t)
            .fetch_one(&mut **tx)
            .await?;
            add_tags_and_skills(tx, id, &c.tags, skill_ids).await?;
            add_event(&mut **tx, id, "imported", &format!("Ajout par {}", options.origin), options.actor).await?;
            Ok(Outcome::Inserted)
        }
        Some(p) => {
            let updates: Vec<(&str, Option<String>)> = vec![
                ("first_name", fill(&p.first_name, &c.first_name)),
                ("last_name", fill(&p.last_name, &c.last_name)),
                ("email", if p.email.is_none() { c.email.clone() } else { None }),
                ("phone", if p.phone.is_none() { c.phone.clone() } else { None }),
                ("address", fill(&p.address, &c.address)),
                ("postcode", fill(&p.postcode, &c.postcode)),
                ("city", fill(&p.city, &c.city)),
                ("commune_code", if p.commune_code.is_none() { commune.clone() } else { None }),
                ("notes", fill(&p.notes, &c.notes)),
                ("external_id", fill(&p.external_id, &c.external_id)),
            ];
            let mut changed = false;
            for (column, value) in updates {
                if let Some(v) = value {
                    // Column names come from the fixed list above, never from the file.
                    sqlx::query(&format!("UPDATE people SET {column} = $1 WHERE id = $2"))
                        .bind(v)
                        .bind(p.id)
                        .execute(&mut **tx)
                        .await?;
                    changed = true;
                }
            }
            if p.section_id.is_none() && section.is_some() && p.commune_code.is_none() {
                sqlx::query("UPDATE people SET section_id = $1 WHERE id = $2")
                    .bind(section)
                    .bind(p.id)
                    .execute(&mut **tx)
                    .await?;
            }
            changed |= add_tags_and_skills(tx, p.id, &c.tags, skill_ids).await?;
            if changed {
                sqlx::query("UPDATE people SET updated_at = $1 WHERE id = $2")
                    .bind(t)
                    .bind(p.id)
                    .execute(&mut **tx)
                    .await?;
                add_event(&mut **tx, p.id, "imported", &format!("Complété par {}", options.origin), options.actor)
                    .await?;
                Ok(Outcome::Updated)
            } else {
                Ok(Outcome::Unchanged)
            }
        }
    }
}

/// Adds the tags and skills a person does not have yet; true when something was added.
async fn add_tags_and_skills(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: i64,
    tags: &[String],
    skills: &[i64],
) -> Result<bool> {
    let mut added = false;
    for t in tags {
        let n = sqlx::query("INSERT INTO person_tags (person_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(t)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        added |= n > 0;
    }
    for s in skills {
        let n = sqlx::query("INSERT INTO person_skills (person_id, skill_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(s)
            .execute(&mut **tx)
            .await?
            .rows_affected();
        added |= n > 0;
    }
    Ok(added)
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
    let (_, preview) = read(bytes)?;
    let text = csv_import::decode(bytes).text;
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
        Some(text) => Ok(Some(read(text.as_bytes())?.1)),
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
    let (table, _) = match read(content.as_bytes()) {
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
    let result = run(db, &access, &federation, &table, &options, |n| {
        let _ = tx.send(n);
    })
    .await;
    drop(tx);
    let _ = updater.await;
    match result {
        Ok(report) => {
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
