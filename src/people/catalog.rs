//! The curated list of skills, professional domains and causes of interest, and people's curated items.

use super::Person;
use crate::access::{Access, Perm, Scope};
use crate::db::Db;
use crate::error::{Error, Result, is_unique_violation};

/// The curated list of skills, professional domains and causes of interest (all of them).
pub async fn skill_list(db: &Db) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, name FROM skills ORDER BY name").fetch_all(&db.pool).await?)
}

/// The curated names of one kind: `skill` (skills and professional domains) or `cause` (causes of interest).
pub async fn curated(db: &Db, kind: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM skills WHERE kind = $1 ORDER BY name")
        .bind(kind)
        .fetch_all(&db.pool)
        .await?)
}

/// A person's curated items of one kind.
pub async fn person_curated(db: &Db, person: &Person, kind: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT s.name FROM person_skills ps JOIN skills s ON s.id = ps.skill_id WHERE ps.person_id = $1 \
         AND s.kind = $2 ORDER BY s.name",
    )
    .bind(person.id)
    .bind(kind)
    .fetch_all(&db.pool)
    .await?)
}

/// Ids of curated skills by name (case-insensitive); unknown names are an error listing them.
pub async fn skill_ids(db: &Db, names: &[String]) -> Result<Vec<i64>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = skill_list(db).await?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match all.iter().find(|(_, s)| s.to_lowercase() == n.to_lowercase()) {
            Some((id, _)) if !ids.contains(id) => ids.push(*id),
            Some(_) => {}
            None => unknown.push(n.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(Error::Invalid(format!(
            "compétence ou cause inconnue : {} (la liste est tenue par le national)",
            unknown.join(", ")
        )))
    }
}

/// HQ curates the list of skills and professional domains (national administrators).
pub async fn add_skill(db: &Db, access: &Access, name: &str, kind: &str) -> Result<()> {
    if !["skill", "cause"].contains(&kind) {
        return Err(Error::Invalid("Type inconnu : compétence ou cause.".into()));
    }
    if !access.allows(Perm::ManagePeople, Scope::National) {
        return Err(Error::Forbidden);
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 60 || name.contains([',', ';', '|']) {
        return Err(Error::Invalid("Un nom de 1 à 60 caractères, sans virgule ni point-virgule.".into()));
    }
    if skill_list(db).await?.iter().any(|(_, s)| s.to_lowercase() == name.to_lowercase()) {
        return Err(Error::Conflict("Cette compétence existe déjà.".into()));
    }
    sqlx::query("INSERT INTO skills (name, kind) VALUES ($1, $2)")
        .bind(&name)
        .bind(kind)
        .execute(&db.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) { Error::Conflict("Cette compétence existe déjà.".into()) } else { e.into() }
        })?;
    Ok(())
}
