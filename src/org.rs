//! The organisation tree: federations, their départements and communes, and sections.
//!
//! Scoped repository: every function that reads or writes a federation or a section takes the caller's
//! [`Access`] and appends its [`Access::filter`] to the query. A [`Federation`] or [`Section`] value can only
//! be obtained through these functions, so functions that take one (`&Federation`) act on a row the caller
//! was allowed to see.

use serde::Serialize;

use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result, is_unique_violation};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Federation {
    pub id: i64,
    pub code: String,
    pub name: String,
}

impl Federation {
    pub fn scope(&self) -> Scope {
        Scope::Federation { federation_id: self.id }
    }
    /// "Rhône (69)", as shown in lists.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.code)
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct FederationSummary {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub sections: i64,
    pub members: i64,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Section {
    pub id: i64,
    pub federation_id: i64,
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Section {
    pub fn scope(&self) -> Scope {
        Scope::Section { federation_id: self.federation_id, section_id: self.id }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct SectionSummary {
    pub id: i64,
    pub name: String,
    pub communes: i64,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Commune {
    pub code: String,
    pub name: String,
    pub population: Option<i64>,
    pub postcodes: String,
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Departement {
    pub code: String,
    pub name: String,
    pub population: Option<i64>,
}

/// Federations the caller may see, optionally filtered by a search on name or code.
pub async fn list_federations(db: &Db, access: &Access, search: &str) -> Result<Vec<FederationSummary>> {
    let scope = access.filter(Perm::ViewOrg, "f.id", None);
    let sql = format!(
        "SELECT f.id, f.code, f.name, \
         (SELECT COUNT(*) FROM sections s WHERE s.federation_id = f.id) AS sections, \
         (SELECT COUNT(DISTINCT g.user_id) FROM role_grants g WHERE g.federation_id = f.id) AS members \
         FROM federations f WHERE {scope} AND ($1 = '' OR LOWER(f.name) LIKE $2 OR LOWER(f.code) = $1) \
         ORDER BY f.code = '{abroad}', f.code",
        abroad = crate::seed::ABROAD_CODE
    );
    let q = search.trim().to_lowercase();
    Ok(sqlx::query_as(&sql).bind(&q).bind(format!("%{}%", escape_like(&q))).fetch_all(&db.pool).await?)
}

fn escape_like(s: &str) -> String {
    s.replace(['%', '_'], "")
}

/// A federation by id, or `NotFound` when absent or out of the caller's scope.
pub async fn get_federation(db: &Db, access: &Access, perm: Perm, id: i64) -> Result<Federation> {
    let scope = access.filter(perm, "id", None);
    let sql = format!("SELECT id, code, name FROM federations WHERE id = $1 AND {scope}");
    sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)
}

pub async fn departements(db: &Db, federation: &Federation) -> Result<Vec<Departement>> {
    Ok(sqlx::query_as("SELECT code, name, population FROM departements WHERE federation_id = $1 ORDER BY code")
        .bind(federation.id)
        .fetch_all(&db.pool)
        .await?)
}

/// Number of communes and total population of a federation.
pub async fn commune_stats(db: &Db, federation: &Federation) -> Result<(i64, i64)> {
    let (n, pop): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(population) AS BIGINT) FROM communes WHERE federation_id = $1 AND kind = 'commune-actuelle'",
    )
    .bind(federation.id)
    .fetch_one(&db.pool)
    .await?;
    Ok((n, pop.unwrap_or(0)))
}

pub async fn list_sections(db: &Db, federation: &Federation) -> Result<Vec<SectionSummary>> {
    Ok(sqlx::query_as(
        "SELECT s.id, s.name, (SELECT COUNT(*) FROM section_communes sc WHERE sc.section_id = s.id) AS communes \
         FROM sections s WHERE s.federation_id = $1 ORDER BY s.name",
    )
    .bind(federation.id)
    .fetch_all(&db.pool)
    .await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct SectionPlace {
    pub id: i64,
    pub name: String,
    pub federation_id: i64,
    pub federation_name: String,
}

/// Every section where the caller holds `perm`, with its federation's name (one query).
pub async fn sections_in_scope(db: &Db, access: &Access, perm: Perm) -> Result<Vec<SectionPlace>> {
    let scope = access.filter(perm, "s.federation_id", Some("s.id"));
    let sql = format!(
        "SELECT s.id, s.name, s.federation_id, f.name AS federation_name FROM sections s \
         JOIN federations f ON f.id = s.federation_id WHERE {scope} ORDER BY f.code, s.name"
    );
    Ok(sqlx::query_as(&sql).fetch_all(&db.pool).await?)
}

/// A section by id, or `NotFound` when absent or out of the caller's scope for `perm`.
pub async fn get_section(db: &Db, access: &Access, perm: Perm, id: i64) -> Result<Section> {
    let scope = access.filter(perm, "federation_id", Some("id"));
    let sql = format!(
        "SELECT id, federation_id, name, description, created_at, updated_at FROM sections WHERE id = $1 AND {scope}"
    );
    sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)
}

pub async fn section_communes(db: &Db, section: &Section) -> Result<Vec<Commune>> {
    Ok(sqlx::query_as(
        "SELECT c.code, c.name, c.population, c.postcodes FROM section_communes sc JOIN communes c ON c.code = sc.commune_code \
         WHERE sc.section_id = $1 ORDER BY c.name",
    )
    .bind(section.id)
    .fetch_all(&db.pool)
    .await?)
}

/// What a form or an API call gives to create or edit a section, before validation.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SectionInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// INSEE codes or exact names of communes of the federation, separated by commas, semicolons or lines.
    #[serde(default)]
    pub communes: String,
}

struct ValidSection {
    name: String,
    description: String,
    communes: Vec<String>,
}

async fn validate(db: &Db, federation_id: i64, input: &SectionInput) -> Result<ValidSection> {
    let name = input.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::Invalid("Le nom de la section est obligatoire.".into()));
    }
    if name.chars().count() > 120 {
        return Err(Error::Invalid("Le nom de la section ne doit pas dépasser 120 caractères.".into()));
    }
    let description = input.description.trim().to_string();
    if description.chars().count() > 2000 {
        return Err(Error::Invalid("La description ne doit pas dépasser 2 000 caractères.".into()));
    }
    let mut codes = Vec::new();
    let mut unknown = Vec::new();
    for item in input.communes.split([',', ';', '\n']).map(str::trim).filter(|s| !s.is_empty()) {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT code FROM communes WHERE federation_id = $1 AND (code = $2 OR LOWER(name) = LOWER($2)) ORDER BY kind LIMIT 1",
        )
        .bind(federation_id)
        .bind(item)
        .fetch_optional(&db.pool)
        .await?;
        match found {
            Some(code) if !codes.contains(&code) => codes.push(code),
            Some(_) => {}
            None => unknown.push(item.to_string()),
        }
    }
    if !unknown.is_empty() {
        return Err(Error::Invalid(format!(
            "Communes inconnues dans cette fédération : {}. Indiquez le code INSEE ou le nom exact.",
            unknown.join(", ")
        )));
    }
    Ok(ValidSection { name, description, communes: codes })
}

fn duplicate_name(e: sqlx::Error) -> Error {
    if is_unique_violation(&e) {
        Error::Conflict("Une section porte déjà ce nom dans cette fédération.".into())
    } else {
        e.into()
    }
}

pub async fn create_section(
    db: &Db,
    access: &Access,
    federation: &Federation,
    input: &SectionInput,
) -> Result<Section> {
    if !access.allows(Perm::ManageSections, federation.scope()) {
        return Err(Error::Forbidden);
    }
    let v = validate(db, federation.id, input).await?;
    let t = now();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO sections (federation_id, name, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(federation.id)
    .bind(&v.name)
    .bind(&v.description)
    .bind(t)
    .fetch_one(&mut *tx)
    .await
    .map_err(duplicate_name)?;
    for code in &v.communes {
        sqlx::query("INSERT INTO section_communes (section_id, commune_code) VALUES ($1, $2)")
            .bind(id)
            .bind(code)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get_section(db, access, Perm::ManageSections, id).await
}

pub async fn update_section(db: &Db, access: &Access, section: &Section, input: &SectionInput) -> Result<Section> {
    if !access.allows(Perm::ManageSections, section.scope()) {
        return Err(Error::Forbidden);
    }
    let v = validate(db, section.federation_id, input).await?;
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE sections SET name = $1, description = $2, updated_at = $3 WHERE id = $4")
        .bind(&v.name)
        .bind(&v.description)
        .bind(now())
        .bind(section.id)
        .execute(&mut *tx)
        .await
        .map_err(duplicate_name)?;
    sqlx::query("DELETE FROM section_communes WHERE section_id = $1").bind(section.id).execute(&mut *tx).await?;
    for code in &v.communes {
        sqlx::query("INSERT INTO section_communes (section_id, commune_code) VALUES ($1, $2)")
            .bind(section.id)
            .bind(code)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    get_section(db, access, Perm::ManageSections, section.id).await
}

pub async fn delete_section(db: &Db, access: &Access, section: &Section) -> Result<()> {
    if !access.allows(Perm::ManageSections, section.scope()) {
        return Err(Error::Forbidden);
    }
    sqlx::query("DELETE FROM sections WHERE id = $1").bind(section.id).execute(&db.pool).await?;
    Ok(())
}

/// Headline counts for the caller's dashboard, within scope.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub federations: i64,
    pub sections: i64,
    pub members: i64,
}

pub async fn counts(db: &Db, access: &Access) -> Result<Counts> {
    let fed = access.filter(Perm::ViewOrg, "id", None);
    let sec = access.filter(Perm::ViewOrg, "federation_id", Some("id"));
    let mem = access.filter(Perm::ViewMembers, "g.federation_id", Some("g.section_id"));
    let federations =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM federations WHERE {fed}")).fetch_one(&db.pool).await?;
    let sections =
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM sections WHERE {sec}")).fetch_one(&db.pool).await?;
    let members = sqlx::query_scalar(&format!("SELECT COUNT(DISTINCT g.user_id) FROM role_grants g WHERE {mem}"))
        .fetch_one(&db.pool)
        .await?;
    Ok(Counts { federations, sections, members })
}
