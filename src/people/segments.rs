//! Segments: saved audiences built by coordinators from simple criteria (category, tags, skills, section,
//! communes, consent state, dates, other segments to include or exclude). A definition compiles to one
//! parameterised SQL condition on `people p` that runs on both backends; it is always ANDed with the caller's
//! scope, and counting `people` rows gives an exact count (someone in two included segments counts once).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sqlx::Arguments;
use sqlx::any::AnyArguments;

use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result, is_unique_violation};

/// A bound value of a dynamic query.
#[derive(Clone, Debug, PartialEq)]
pub enum Bind {
    Text(String),
    Int(i64),
}

/// Collects SQL fragments and their bound values, numbering placeholders `$1`, `$2`…
#[derive(Default)]
pub struct Sql {
    pub binds: Vec<Bind>,
}

impl Sql {
    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.binds.push(Bind::Text(v.into()));
        format!("${}", self.binds.len())
    }
    pub fn int(&mut self, v: i64) -> String {
        self.push(Bind::Int(v))
    }
    pub fn push(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }
    pub fn arguments(&self) -> Result<AnyArguments<'static>> {
        let mut args = AnyArguments::default();
        for b in &self.binds {
            match b {
                Bind::Text(s) => args.add(s.clone()),
                Bind::Int(i) => args.add(*i),
            }
            .map_err(|e| Error::Internal(anyhow::anyhow!("bind: {e}")))?;
        }
        Ok(args)
    }
}

/// What a segment selects. Criteria that are set are all required; inside a list, any value matches.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Definition {
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub skills: Vec<i64>,
    #[serde(default)]
    pub sections: Vec<i64>,
    /// INSEE codes.
    #[serde(default)]
    pub communes: Vec<String>,
    /// Legislative circonscriptions (`69-06`): communes lying mainly or partly in them.
    #[serde(default)]
    pub circonscriptions: Vec<String>,
    /// Current consent state for a purpose: (purpose, granted).
    #[serde(default)]
    pub consent: Option<(String, bool)>,
    #[serde(default)]
    pub created_after: Option<i64>,
    #[serde(default)]
    pub created_before: Option<i64>,
    #[serde(default)]
    pub active_after: Option<i64>,
    #[serde(default)]
    pub active_before: Option<i64>,
    /// Opened or clicked one of the last N newsletters sent within the caller's scope (1–20). Individual
    /// opens and clicks are known only for people who allowed that tracking.
    #[serde(default)]
    pub engaged_last: Option<i64>,
    /// In any of these segments.
    #[serde(default)]
    pub include: Vec<i64>,
    /// In none of these segments.
    #[serde(default)]
    pub exclude: Vec<i64>,
}

impl Definition {
    pub fn is_empty(&self) -> bool {
        *self == Definition::default()
    }
}

/// Nested segments are followed this deep at most (and never in a cycle).
const MAX_DEPTH: usize = 4;

/// Compiles a definition into a condition on `people p`. Nested segments are read through the scope gate.
pub async fn compile(db: &Db, access: &Access, def: &Definition, sql: &mut Sql) -> Result<String> {
    let mut seen = HashSet::new();
    compile_inner(db, access, def, sql, &mut seen, 0).await
}

fn compile_inner<'a>(
    db: &'a Db,
    access: &'a Access,
    def: &'a Definition,
    sql: &'a mut Sql,
    seen: &'a mut HashSet<i64>,
    depth: usize,
) -> std::pin::Pin<Box<dyn Future<Output = Result<String>> + Send + 'a>> {
    Box::pin(async move {
        let mut parts: Vec<String> = Vec::new();
        if !def.categories.is_empty() {
            let mut values = Vec::new();
            for c in &def.categories {
                if !["member", "sympathiser", "curious"].contains(&c.as_str()) {
                    return Err(Error::Invalid(format!("Catégorie inconnue : {c}.")));
                }
                values.push(sql.text(c.clone()));
            }
            parts.push(format!("p.category IN ({})", values.join(", ")));
        }
        // Tags and skills: SQLite reads the people of the first `p.id IN (…)` list and checks the rest for each, so
        // when both are set the smaller goes first and the other is probed per person (`EXISTS` on its primary key).
        // Its statistics cannot tell which is smaller; a capped count of each index says so (a few ms).
        let mut lists: Vec<(&str, &str, Vec<Bind>)> = Vec::new();
        if !def.tags.is_empty() {
            lists.push(("person_tags", "tag", def.tags.iter().map(|t| Bind::Text(t.trim().to_lowercase())).collect()));
        }
        if !def.skills.is_empty() {
            lists.push(("person_skills", "skill_id", def.skills.iter().map(|s| Bind::Int(*s)).collect()));
        }
        if lists.len() == 2 {
            let tags = estimate(db, lists[0].0, lists[0].1, &lists[0].2).await?;
            let skills = estimate(db, lists[1].0, lists[1].1, &lists[1].2).await?;
            if skills < tags {
                lists.swap(0, 1);
            }
        }
        for (i, (table, column, binds)) in lists.into_iter().enumerate() {
            let values: Vec<String> = binds.into_iter().map(|b| sql.push(b)).collect();
            let values = values.join(", ");
            parts.push(if i == 0 {
                format!("p.id IN (SELECT x.person_id FROM {table} x WHERE x.{column} IN ({values}))")
            } else {
                format!("EXISTS (SELECT 1 FROM {table} x WHERE x.person_id = p.id AND x.{column} IN ({values}))")
            });
        }
        if !def.sections.is_empty() {
            let values: Vec<String> = def.sections.iter().map(|s| sql.int(*s)).collect();
            parts.push(format!("p.section_id IN ({})", values.join(", ")));
        }
        if !def.communes.is_empty() {
            let values: Vec<String> = def.communes.iter().map(|c| sql.text(c.trim().to_string())).collect();
            parts.push(format!("p.commune_code IN ({})", values.join(", ")));
        }
        if !def.circonscriptions.is_empty() {
            let values: Vec<String> = def.circonscriptions.iter().map(|c| sql.text(c.trim().to_uppercase())).collect();
            parts.push(format!(
                "p.commune_code IN (SELECT cc.commune_code FROM commune_circonscriptions cc WHERE cc.circonscription IN ({}) \
                 AND cc.rang IN ('principale', 'secondaire'))",
                values.join(", ")
            ));
        }
        if let Some((purpose, granted)) = &def.consent {
            if !super::consent::PURPOSES.iter().any(|(p, _)| p == purpose) {
                return Err(Error::Invalid("Finalité de consentement inconnue.".into()));
            }
            let p1 = sql.text(purpose.clone());
            // The latest decision for the purpose is a grant (consent_state follows the ledger, see migration 4).
            let granted_now = format!(
                "p.id IN (SELECT cs.person_id FROM consent_state cs WHERE cs.purpose = {p1} AND cs.granted = 1)"
            );
            parts.push(if *granted { granted_now } else { format!("NOT {granted_now}") });
        }
        for (value, column, op) in [
            (def.created_after, "p.created_at", ">="),
            (def.created_before, "p.created_at", "<"),
            (def.active_after, "p.last_activity_at", ">="),
            (def.active_before, "p.last_activity_at", "<"),
        ] {
            if let Some(v) = value {
                parts.push(format!("{column} {op} {}", sql.int(v)));
            }
        }
        if let Some(n) = def.engaged_last {
            if !(1..=20).contains(&n) {
                return Err(Error::Invalid("« Engagement » : indiquez entre 1 et 20 lettres.".into()));
            }
            // The last N campaigns the caller could send (national ones only for national scope).
            let national = if access.allows(Perm::SendNewsletters, Scope::National) { "1=1" } else { "1=0" };
            let federations = access.filter(Perm::SendNewsletters, "c.federation_id", None);
            parts.push(format!(
                "p.id IN (SELECT e.person_id FROM campaign_events e WHERE e.kind IN ('open', 'click') \
                 AND e.campaign_id IN (SELECT c.id FROM campaigns c WHERE c.state = 'sent' \
                 AND (CASE WHEN c.federation_id IS NULL THEN ({national}) ELSE {federations} END) \
                 ORDER BY c.started_at DESC, c.id DESC LIMIT {}))",
                sql.int(n)
            ));
        }
        if !def.include.is_empty() || !def.exclude.is_empty() {
            if depth >= MAX_DEPTH {
                return Err(Error::Invalid("Trop de segments imbriqués les uns dans les autres.".into()));
            }
            let mut included = Vec::new();
            for id in &def.include {
                included.push(nested(db, access, *id, sql, seen, depth).await?);
            }
            if !included.is_empty() {
                parts.push(format!("({})", included.join(" OR ")));
            }
            for id in &def.exclude {
                let cond = nested(db, access, *id, sql, seen, depth).await?;
                parts.push(format!("NOT ({cond})"));
            }
        }
        Ok(if parts.is_empty() { "(1=1)".into() } else { format!("({})", parts.join(" AND ")) })
    })
}

/// How many rows of `table` have one of these values in `column` (an indexed column), counted up to a cap: enough to
/// tell a selective filter from a broad one.
async fn estimate(db: &Db, table: &str, column: &str, values: &[Bind]) -> Result<i64> {
    let mut sql = Sql::default();
    let list: Vec<String> = values.iter().map(|b| sql.push(b.clone())).collect();
    let q = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE {column} IN ({}) LIMIT 200000) capped",
        list.join(", ")
    );
    Ok(sqlx::query_scalar_with(&q, sql.arguments()?).fetch_one(&db.pool).await?)
}

async fn nested(
    db: &Db,
    access: &Access,
    id: i64,
    sql: &mut Sql,
    seen: &mut HashSet<i64>,
    depth: usize,
) -> Result<String> {
    if !seen.insert(id) {
        return Err(Error::Invalid("Un segment ne peut pas s'inclure lui-même.".into()));
    }
    let segment = get(db, access, id).await?;
    let cond = compile_inner(db, access, &segment.definition, sql, seen, depth + 1).await?;
    seen.remove(&id);
    Ok(cond)
}

/// Exact number of people the caller may see in a definition.
pub async fn count(db: &Db, access: &Access, def: &Definition) -> Result<i64> {
    if !access.allows_somewhere(Perm::ViewPeople) {
        return Err(Error::Forbidden);
    }
    let mut sql = Sql::default();
    let cond = compile(db, access, def, &mut sql).await?;
    let scope = access.filter(Perm::ViewPeople, "p.federation_id", Some("p.section_id"));
    let q = format!("SELECT COUNT(*) FROM people p WHERE {scope} AND {cond}");
    Ok(sqlx::query_scalar_with(&q, sql.arguments()?).fetch_one(&db.pool).await?)
}

#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    pub id: i64,
    pub federation_id: Option<i64>,
    pub name: String,
    pub definition: Definition,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Segment {
    pub fn scope(&self) -> Scope {
        match self.federation_id {
            Some(federation_id) => Scope::Federation { federation_id },
            None => Scope::National,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SegmentRow {
    id: i64,
    federation_id: Option<i64>,
    name: String,
    definition: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SegmentRow> for Segment {
    type Error = Error;
    fn try_from(r: SegmentRow) -> Result<Segment> {
        Ok(Segment {
            id: r.id,
            federation_id: r.federation_id,
            name: r.name,
            definition: serde_json::from_str(&r.definition).map_err(anyhow::Error::from)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Segments are visible where their federation is (national segments to national roles).
fn visible(access: &Access) -> String {
    let fed = access.filter(Perm::ViewPeople, "s.federation_id", None);
    if access.grants.iter().any(|g| g.scope == Scope::National) {
        "(1=1)".into()
    } else {
        format!("(s.federation_id IS NOT NULL AND {fed})")
    }
}

pub async fn get(db: &Db, access: &Access, id: i64) -> Result<Segment> {
    let sql = format!(
        "SELECT s.id, s.federation_id, s.name, s.definition, s.created_at, s.updated_at FROM segments s \
         WHERE s.id = $1 AND {}",
        visible(access)
    );
    let row: SegmentRow = sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)?;
    row.try_into()
}

pub async fn list(db: &Db, access: &Access) -> Result<Vec<Segment>> {
    if !access.allows_somewhere(Perm::ViewPeople) {
        return Err(Error::Forbidden);
    }
    let sql = format!(
        "SELECT s.id, s.federation_id, s.name, s.definition, s.created_at, s.updated_at FROM segments s \
         WHERE {} ORDER BY s.name",
        visible(access)
    );
    let rows: Vec<SegmentRow> = sqlx::query_as(&sql).fetch_all(&db.pool).await?;
    rows.into_iter().map(Segment::try_from).collect()
}

/// Saves a segment for a federation (or nationally, for national roles). Checks it compiles first.
pub async fn save(
    db: &Db,
    access: &Access,
    federation_id: Option<i64>,
    name: &str,
    def: &Definition,
) -> Result<Segment> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(Error::Invalid("Donnez au segment un nom de 1 à 120 caractères.".into()));
    }
    let scope = match federation_id {
        Some(federation_id) => Scope::Federation { federation_id },
        None => Scope::National,
    };
    if !access.allows(Perm::ManagePeople, scope) {
        return Err(Error::Forbidden);
    }
    compile(db, access, def, &mut Sql::default()).await?;
    let t = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO segments (federation_id, name, definition, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(federation_id)
    .bind(name)
    .bind(serde_json::to_string(def).map_err(anyhow::Error::from)?)
    .bind(access.user_id)
    .bind(t)
    .fetch_one(&db.pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) { Error::Conflict("Un segment porte déjà ce nom.".into()) } else { e.into() }
    })?;
    get(db, access, id).await
}

pub async fn delete(db: &Db, access: &Access, segment: &Segment) -> Result<()> {
    if !access.allows(Perm::ManagePeople, segment.scope()) {
        return Err(Error::Forbidden);
    }
    sqlx::query("DELETE FROM segments WHERE id = $1").bind(segment.id).execute(&db.pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::default();
        assert_eq!(sql.text("a"), "$1");
        assert_eq!(sql.int(3), "$2");
        assert_eq!(sql.binds, vec![Bind::Text("a".into()), Bind::Int(3)]);
    }

    #[test]
    fn definitions_round_trip_as_json() {
        let d = Definition {
            categories: vec!["member".into()],
            consent: Some(("sms".into(), true)),
            ..Definition::default()
        };
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Definition>(&json).unwrap(), d);
        assert!(Definition::default().is_empty());
        assert_eq!(serde_json::from_str::<Definition>("{}").unwrap(), Definition::default());
    }
}
