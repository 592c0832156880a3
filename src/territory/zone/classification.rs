//! A zone's classification: its row of `zone_classes`.

use serde::Serialize;

use super::{Level, ZoneClass};
use crate::db::Db;
use crate::error::Result;
use crate::territory::classify;

/// A zone's row of `zone_classes`: the figures of the reference election, changes since the previous one, class,
/// priority and explanation. Shares are fractions (0.583 = 58.3 %), deltas in the same unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    pub reference_election_id: i64,
    pub previous_election_id: i64,
    pub class: ZoneClass,
    pub inscrits: i64,
    pub votants: i64,
    pub exprimes: i64,
    pub left_share: f64,
    pub right_share: f64,
    pub extreme_droite_share: f64,
    pub abstention: f64,
    pub delta_left: Option<f64>,
    pub delta_right: Option<f64>,
    pub delta_abstention: Option<f64>,
    pub priority: f64,
    /// Plain French: « Abstention mobilisable : l'abstention dépasse de… ».
    pub explanation: String,
    pub computed_at: i64,
}

#[derive(sqlx::FromRow)]
struct ClassificationRow {
    reference_election_id: i64,
    previous_election_id: i64,
    class: String,
    inscrits: i64,
    votants: i64,
    exprimes: i64,
    left_share: f64,
    right_share: f64,
    extreme_droite_share: f64,
    abstention: f64,
    delta_left: Option<f64>,
    delta_right: Option<f64>,
    delta_abstention: Option<f64>,
    priority: f64,
    explanation: String,
    computed_at: i64,
}

/// The classification of one zone, if computed.
pub async fn classification(db: &Db, level: Level, code: &str) -> Result<Option<Classification>> {
    let row: Option<ClassificationRow> = sqlx::query_as(
        "SELECT reference_election_id, previous_election_id, class, inscrits, votants, exprimes, left_share, \
         right_share, extreme_droite_share, abstention, delta_left, delta_right, delta_abstention, priority, \
         explanation, computed_at FROM zone_classes WHERE level = $1 AND zone = $2",
    )
    .bind(level.as_str())
    .bind(code)
    .fetch_optional(&db.pool)
    .await?;
    let explanation = match &row {
        Some(r) if r.explanation.is_empty() => classify::explanation(db, level, code).await?,
        Some(r) => r.explanation.clone(),
        None => String::new(),
    };
    Ok(row.and_then(|r| {
        Some(Classification {
            class: ZoneClass::parse(&r.class)?,
            reference_election_id: r.reference_election_id,
            previous_election_id: r.previous_election_id,
            inscrits: r.inscrits,
            votants: r.votants,
            exprimes: r.exprimes,
            left_share: r.left_share,
            right_share: r.right_share,
            extreme_droite_share: r.extreme_droite_share,
            abstention: r.abstention,
            delta_left: r.delta_left,
            delta_right: r.delta_right,
            delta_abstention: r.delta_abstention,
            priority: r.priority,
            explanation,
            computed_at: r.computed_at,
        })
    }))
}
