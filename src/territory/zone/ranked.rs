//! Ranked lists: the zones inside another, highest priority first.

use serde::Serialize;

use super::info::{arrondissement_of, commune_row};
use super::{ABROAD_DEPARTEMENT, ABROAD_NAME, Level, ZoneClass, circonscription_name, federation_departements};
use crate::db::Db;
use crate::error::Result;
use crate::territory::classify;

/// Where to look for zones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Within {
    National,
    Departement(String),
    /// Every département of a federation (by id).
    Federation(i64),
    Circonscription(String),
    Commune(String),
}

/// A zone in a ranked list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneRow {
    pub level: Level,
    pub code: String,
    pub name: String,
    pub departement: String,
    pub class: ZoneClass,
    pub inscrits: i64,
    pub exprimes: i64,
    pub left_share: f64,
    pub right_share: f64,
    pub abstention: f64,
    pub delta_left: Option<f64>,
    pub priority: f64,
    pub explanation: String,
}

/// The `WHERE` condition of a ranked list and its parameters, numbered from `$first`.
async fn within_condition(db: &Db, level: Level, within: &Within, first: usize) -> Result<(String, Vec<String>)> {
    let p = |i: usize| format!("${}", first + i);
    Ok(match within {
        Within::National => ("TRUE".into(), Vec::new()),
        Within::Departement(code) => (format!("z.departement = {}", p(0)), vec![code.clone()]),
        Within::Federation(id) => {
            let codes = federation_departements(db, *id).await?;
            if codes.is_empty() {
                return Ok(("FALSE".into(), Vec::new()));
            }
            let list: Vec<String> = (0..codes.len()).map(p).collect();
            (format!("z.departement IN ({})", list.join(", ")), codes)
        }
        Within::Circonscription(code) => match level {
            Level::Bureau => (format!("b.circonscription = {}", p(0)), vec![code.clone()]),
            Level::Commune => (
                format!("z.zone IN (SELECT commune_code FROM bureaux WHERE circonscription = {})", p(0)),
                vec![code.clone()],
            ),
            Level::Circonscription => (format!("z.zone = {}", p(0)), vec![code.clone()]),
        },
        Within::Commune(code) => {
            let commune = commune_row(db, code).await?;
            let (commune, prefix) = match commune.as_ref().and_then(arrondissement_of) {
                Some((parent, prefix)) => (parent, prefix),
                None => (code.clone(), String::new()),
            };
            match level {
                Level::Bureau => (
                    format!("b.commune_code = {} AND ({} = '' OR SUBSTR(b.bureau, 1, 2) = {})", p(0), p(1), p(1)),
                    vec![commune, prefix],
                ),
                Level::Commune => (format!("z.zone = {}", p(0)), vec![commune]),
                Level::Circonscription => (
                    format!(
                        "z.zone IN (SELECT circonscription FROM bureaux WHERE commune_code = {} \
                         AND ({} = '' OR SUBSTR(bureau, 1, 2) = {}))",
                        p(0),
                        p(1),
                        p(1)
                    ),
                    vec![commune, prefix],
                ),
            }
        }
    })
}

const RANKED_FROM: &str = "FROM zone_classes z \
     LEFT JOIN bureaux b ON z.level = 'bureau' AND b.key = z.zone \
     LEFT JOIN communes c ON c.code = (CASE WHEN z.level = 'bureau' THEN b.commune_code ELSE z.zone END) \
     LEFT JOIN departements d ON d.code = z.departement";

/// Zones of `level` within a larger zone, highest priority first, optionally of one class.
pub async fn ranked_zones(
    db: &Db,
    level: Level,
    within: Within,
    class_filter: Option<ZoneClass>,
    limit: i64,
    offset: i64,
) -> Result<Vec<ZoneRow>> {
    let (condition, binds) = within_condition(db, level, &within, 3).await?;
    let n = 3 + binds.len();
    let sql = format!(
        "SELECT z.zone, z.departement, z.class, z.inscrits, z.exprimes, z.left_share, z.right_share, z.abstention, \
         z.delta_left, z.priority, z.explanation, c.name, b.bureau, d.name {RANKED_FROM} \
         WHERE z.level = $1 AND ($2 = '' OR z.class = $2) AND {condition} \
         ORDER BY z.priority DESC, z.zone LIMIT ${n} OFFSET ${}",
        n + 1
    );
    type Row = (
        String,
        String,
        String,
        i64,
        i64,
        f64,
        f64,
        f64,
        Option<f64>,
        f64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut query =
        sqlx::query_as::<_, Row>(&sql).bind(level.as_str()).bind(class_filter.map_or("", ZoneClass::as_str));
    for b in &binds {
        query = query.bind(b);
    }
    let mut rows = query.bind(limit.max(0)).bind(offset.max(0)).fetch_all(&db.pool).await?;
    let unwritten: Vec<String> = rows.iter().filter(|r| r.10.is_empty()).map(|r| r.0.clone()).collect();
    if !unwritten.is_empty() {
        let mut written = classify::explanations(db, level, &unwritten).await?;
        for r in rows.iter_mut().filter(|r| r.10.is_empty()) {
            r.10 = written.remove(&r.0).unwrap_or_default();
        }
    }
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let (
                code,
                departement,
                class,
                inscrits,
                exprimes,
                left,
                right,
                abstention,
                delta_left,
                priority,
                explanation,
            ) = (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10);
            let name = match level {
                Level::Commune => r.11.unwrap_or_else(|| format!("Commune {code}")),
                Level::Bureau => format!(
                    "{}, bureau {}",
                    r.11.unwrap_or_else(|| code.split('-').next().unwrap_or("").to_string()),
                    r.12.unwrap_or_default()
                ),
                Level::Circonscription => {
                    let departement_name =
                        if departement == ABROAD_DEPARTEMENT { Some(ABROAD_NAME.to_string()) } else { r.13 };
                    match departement_name {
                        Some(d) => circonscription_name(&d, &code),
                        None => format!("Circonscription {code}"),
                    }
                }
            };
            Some(ZoneRow {
                level,
                class: ZoneClass::parse(&class)?,
                code,
                name,
                departement,
                inscrits,
                exprimes,
                left_share: left,
                right_share: right,
                abstention,
                delta_left,
                priority,
                explanation,
            })
        })
        .collect())
}

/// How many zones [`ranked_zones`] would list without limit.
pub async fn count_zones(db: &Db, level: Level, within: Within, class_filter: Option<ZoneClass>) -> Result<i64> {
    let (condition, binds) = within_condition(db, level, &within, 3).await?;
    let sql = format!(
        "SELECT COUNT(*) FROM zone_classes z LEFT JOIN bureaux b ON z.level = 'bureau' AND b.key = z.zone \
         WHERE z.level = $1 AND ($2 = '' OR z.class = $2) AND {condition}"
    );
    let mut query = sqlx::query_scalar(&sql).bind(level.as_str()).bind(class_filter.map_or("", ZoneClass::as_str));
    for b in &binds {
        query = query.bind(b);
    }
    Ok(query.fetch_one(&db.pool).await?)
}
