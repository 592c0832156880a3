//! Totals and summaries: figures summed over a département or the whole country, and class counts.

use std::collections::HashMap;

use serde::Serialize;

use super::{ABROAD_DEPARTEMENT, ABROAD_NAME, Level, ZoneClass, departement};
use crate::db::Db;
use crate::error::Result;

/// Reference figures summed over several zones, and the number of zones of each class.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Totals {
    pub inscrits: i64,
    pub votants: i64,
    pub exprimes: i64,
    pub left_share: f64,
    pub right_share: f64,
    pub extreme_droite_share: f64,
    pub abstention: f64,
    /// Sum of the zones' priorities.
    pub priority: f64,
    /// Zones of each class, in [`ZoneClass::ALL`] order.
    pub classes: Vec<(ZoneClass, i64)>,
    pub zones: i64,
}

/// Figures of the communes of a département (or of the whole country with None), summed; None when no commune is
/// classified there.
pub async fn totals(db: &Db, level: Level, departement: Option<&str>) -> Result<Option<Totals>> {
    let sql = "SELECT COUNT(*), CAST(COALESCE(SUM(inscrits), 0) AS BIGINT), CAST(COALESCE(SUM(votants), 0) AS BIGINT), \
         CAST(COALESCE(SUM(exprimes), 0) AS BIGINT), COALESCE(SUM(left_share * exprimes), 0.0), \
         COALESCE(SUM(right_share * exprimes), 0.0), COALESCE(SUM(extreme_droite_share * exprimes), 0.0), \
         COALESCE(SUM(priority), 0.0) FROM zone_classes WHERE level = $1 AND ($2 = '' OR departement = $2)";
    let (zones, inscrits, votants, exprimes, left, right, xd, priority): (i64, i64, i64, i64, f64, f64, f64, f64) =
        sqlx::query_as(sql).bind(level.as_str()).bind(departement.unwrap_or("")).fetch_one(&db.pool).await?;
    if zones == 0 {
        return Ok(None);
    }
    let per = |x: f64, d: i64| if d > 0 { x / d as f64 } else { 0.0 };
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT class, COUNT(*) FROM zone_classes WHERE level = $1 AND ($2 = '' OR departement = $2) GROUP BY class",
    )
    .bind(level.as_str())
    .bind(departement.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    let classes = ZoneClass::ALL
        .into_iter()
        .map(|c| (c, counts.iter().find(|(k, _)| k == c.as_str()).map_or(0, |(_, n)| *n)))
        .collect();
    Ok(Some(Totals {
        inscrits,
        votants,
        exprimes,
        left_share: per(left, exprimes),
        right_share: per(right, exprimes),
        extreme_droite_share: per(xd, exprimes),
        abstention: if inscrits > 0 { 1.0 - votants as f64 / inscrits as f64 } else { 0.0 },
        priority,
        classes,
        zones,
    }))
}

/// A département's line in the national overview.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DepartementSummary {
    pub code: String,
    pub name: String,
    pub federation_id: Option<i64>,
    pub communes: i64,
    pub inscrits: i64,
    pub abstention: Option<f64>,
    pub left_share: Option<f64>,
    pub priority: f64,
    /// Communes of each class, in [`ZoneClass::ALL`] order.
    pub classes: Vec<i64>,
}

/// Every département (and the French abroad) with the summed figures of its classified communes.
pub async fn departement_summaries(db: &Db) -> Result<Vec<DepartementSummary>> {
    /// Département, communes, inscrits, votants, exprimés, gauche × exprimés, priority, communes of each class.
    type Row = (String, i64, i64, i64, i64, f64, f64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT departement, COUNT(*), CAST(SUM(inscrits) AS BIGINT), CAST(SUM(votants) AS BIGINT), \
         CAST(SUM(exprimes) AS BIGINT), SUM(left_share * exprimes), SUM(priority), \
         CAST(SUM(CASE WHEN class = 'acquis_gauche' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN class = 'acquis_droite' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN class = 'hesitant' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN class = 'abstention' THEN 1 ELSE 0 END) AS BIGINT) \
         FROM zone_classes WHERE level = 'commune' GROUP BY departement",
    )
    .fetch_all(&db.pool)
    .await?;
    let figures: HashMap<String, _> = rows.into_iter().map(|r| (r.0.clone(), r)).collect();
    let mut list: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT code, name, federation_id FROM departements ORDER BY code").fetch_all(&db.pool).await?;
    if figures.contains_key(ABROAD_DEPARTEMENT) {
        let abroad = departement(db, ABROAD_DEPARTEMENT).await?;
        list.push((ABROAD_DEPARTEMENT.into(), ABROAD_NAME.into(), abroad.and_then(|d| d.federation_id)));
    }
    Ok(list
        .into_iter()
        .map(|(code, name, federation_id)| match figures.get(&code) {
            Some(&(_, communes, inscrits, votants, exprimes, left, priority, g, d, h, a)) => DepartementSummary {
                abstention: (inscrits > 0).then(|| 1.0 - votants as f64 / inscrits as f64),
                left_share: (exprimes > 0).then(|| left / exprimes as f64),
                code,
                name,
                federation_id,
                communes,
                inscrits,
                priority,
                classes: vec![g, d, h, a],
            },
            None => DepartementSummary {
                code,
                name,
                federation_id,
                communes: 0,
                inscrits: 0,
                abstention: None,
                left_share: None,
                priority: 0.0,
                classes: vec![0; 4],
            },
        })
        .collect())
}

/// Counts of classified zones by level and class, for the overview.
pub async fn class_counts(db: &Db) -> Result<Vec<(Level, Vec<(ZoneClass, i64)>)>> {
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT level, class, COUNT(*) FROM zone_classes GROUP BY level, class")
            .fetch_all(&db.pool)
            .await?;
    Ok([Level::Circonscription, Level::Commune, Level::Bureau]
        .into_iter()
        .map(|level| {
            let counts = ZoneClass::ALL
                .into_iter()
                .map(|c| {
                    let n = rows.iter().find(|r| r.0 == level.as_str() && r.1 == c.as_str()).map_or(0, |r| r.2);
                    (c, n)
                })
                .collect();
            (level, counts)
        })
        .collect())
}
