//! Reading people: the filtered, scoped list and search, one person's card, tags, skills and further contacts.

use super::search::{self};
use super::{PERSON_COLUMNS, Person, PersonRow, contacts, segments};
use crate::access::{Access, Perm};
use crate::db::Db;
use crate::error::{Error, Result};

/// Search and filters of the people list (and of exports).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub federation: String,
    /// A saved segment's id.
    #[serde(default)]
    pub segment: String,
}

/// Builds the WHERE clause of a filtered, scoped people query, with its bound values; the search text's match is
/// returned apart (see [`search`]).
async fn where_clause(
    db: &Db,
    access: &Access,
    perm: Perm,
    filter: &Filter,
) -> Result<(String, Option<search::Match>, segments::Sql)> {
    let mut sql = segments::Sql::default();
    let mut clauses = vec![access.filter(perm, "p.federation_id", Some("p.section_id"))];
    let matched = search::compile(&filter.q, &mut sql);
    if !filter.category.is_empty() {
        if !["member", "sympathiser", "curious"].contains(&filter.category.as_str()) {
            return Err(Error::Invalid("Catégorie inconnue.".into()));
        }
        clauses.push(format!("p.category = {}", sql.text(filter.category.clone())));
    }
    if !filter.tag.trim().is_empty() {
        let n = sql.text(filter.tag.trim().to_lowercase());
        clauses.push(format!("p.id IN (SELECT t.person_id FROM person_tags t WHERE t.tag = {n})"));
    }
    if !filter.federation.trim().is_empty() {
        let id: i64 = filter.federation.trim().parse().map_err(|_| Error::Invalid("Fédération invalide.".into()))?;
        clauses.push(format!("p.federation_id = {}", sql.int(id)));
    }
    if !filter.segment.trim().is_empty() {
        let id: i64 = filter.segment.trim().parse().map_err(|_| Error::Invalid("Segment invalide.".into()))?;
        let segment = segments::get(db, access, id).await?;
        clauses.push(segments::compile(db, access, &segment.definition, &mut sql).await?);
    }
    Ok((clauses.join(" AND "), matched, sql))
}

/// The whole condition of a filtered query, search text included (for exports: every match, in any order).
pub(super) async fn full_where_clause(
    db: &Db,
    access: &Access,
    perm: Perm,
    filter: &Filter,
) -> Result<(String, segments::Sql)> {
    let (cond, matched, sql) = where_clause(db, access, perm, filter).await?;
    Ok(match matched {
        None => (cond, sql),
        Some(m) => match m.second {
            None => (format!("{cond} AND ({})", m.first), sql),
            Some(second) => (format!("{cond} AND (({}) OR ({second}))", m.first), sql),
        },
    })
}

/// People the caller may see, with the total count (capped at [`search::COUNT_CAP`]). Without a search text, in name
/// order; with one, people whose last name matches first, then those whose first name does (see [`search`]).
pub async fn search(
    db: &Db,
    access: &Access,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PersonRow>, i64)> {
    if !access.allows_somewhere(Perm::ViewPeople) {
        return Err(Error::Forbidden);
    }
    let (cond, matched, sql) = where_clause(db, access, Perm::ViewPeople, filter).await?;
    let (limit, offset) = (limit.clamp(1, 500), offset.max(0));
    let (tier1, order1, tier2) = match &matched {
        None => (cond.clone(), "p.last_key, p.first_key, p.id", None),
        Some(m) => {
            (format!("{cond} AND {}", m.first), m.first_order, m.second.as_ref().map(|s| format!("{cond} AND {s}")))
        }
    };
    let count = |c: String| {
        let args = sql.arguments();
        async move {
            let q = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM people p WHERE {c} LIMIT {COUNT_CAP}) capped",
                COUNT_CAP = search::COUNT_CAP
            );
            Ok::<i64, Error>(sqlx::query_scalar_with(&q, args?).fetch_one(&db.pool).await?)
        }
    };
    let page = |c: &str, order: &str, limit: i64, offset: i64| {
        let q = format!(
            "SELECT p.id, p.first_name, p.last_name, p.email, p.category, p.city, f.name AS federation_name \
             FROM people p JOIN federations f ON f.id = p.federation_id WHERE {c} \
             ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let args = sql.arguments();
        async move { Ok::<Vec<PersonRow>, Error>(sqlx::query_as_with(&q, args?).fetch_all(&db.pool).await?) }
    };
    let count1 = count(tier1.clone()).await?;
    let mut rows = if offset < count1 { page(&tier1, order1, limit, offset).await? } else { Vec::new() };
    let mut total = count1;
    if let Some(tier2) = tier2 {
        total = (count1 + count(tier2.clone()).await?).min(search::COUNT_CAP);
        let missing = limit - rows.len() as i64;
        if missing > 0 && total > count1 {
            rows.extend(page(&tier2, search::BY_FIRST, missing, (offset - count1).max(0)).await?);
        }
    }
    Ok((rows, total))
}

/// A person the caller may see, with fields redacted for the caller's role; `NotFound` otherwise.
pub async fn get(db: &Db, access: &Access, perm: Perm, id: i64) -> Result<Person> {
    let scope = access.filter(perm, "p.federation_id", Some("p.section_id"));
    let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = $1 AND {scope}");
    let person: Person = sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)?;
    Ok(person.redact_for(access))
}

pub async fn tags(db: &Db, person: &Person) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT tag FROM person_tags WHERE person_id = $1 ORDER BY tag")
        .bind(person.id)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn skills(db: &Db, person: &Person) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT s.name FROM person_skills ps JOIN skills s ON s.id = ps.skill_id WHERE ps.person_id = $1 ORDER BY s.name",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?)
}

/// The further e-mail addresses and phones of a person; the phones only for roles that see contact details.
pub async fn others(db: &Db, access: &Access, person: &Person) -> Result<contacts::Others> {
    let mut others = contacts::of(&mut *db.pool.acquire().await?, person.id).await?;
    if !access.allows(Perm::ContactDetails, person.scope()) {
        others.phones.clear();
    }
    Ok(others)
}
