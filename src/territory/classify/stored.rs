//! Explanations rebuilt from stored `zone_classes` rows.

use std::collections::HashMap;

use super::write::{CLOSE, VOLATILE};
use super::{Assessment, Level, Shares, ZoneClass, explain};
use crate::db::Db;
use crate::error::Result;

/// What a stored zone_classes row holds to rebuild its explanation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stored {
    pub level: String,
    pub zone: String,
    pub left_share: f64,
    pub right_share: f64,
    pub extreme_droite_share: f64,
    pub abstention: f64,
    pub delta_left: Option<f64>,
    pub delta_right: Option<f64>,
    pub delta_abstention: Option<f64>,
    pub class: String,
    pub priority: f64,
    pub departement_abstention: f64,
    pub mobilisable: f64,
    pub flags: i64,
    /// Stored by classifications made before explanations were written on the fly ('' since).
    pub explanation: String,
    pub previous_label: String,
}

/// The explanation of a stored row, as [`explain`] wrote it at classification time.
pub fn explain_stored(r: &Stored) -> String {
    if !r.explanation.is_empty() {
        return r.explanation.clone();
    }
    let level = match r.level.as_str() {
        "bureau" => Level::Bureau,
        "commune" => Level::Commune,
        _ => Level::Circonscription,
    };
    let Some(class) = ZoneClass::parse(&r.class) else { return String::new() };
    let delta = match (r.delta_left, r.delta_right, r.delta_abstention) {
        (Some(left), Some(right), Some(abstention)) => Some(Shares { left, right, extreme_droite: 0.0, abstention }),
        _ => None,
    };
    let a = Assessment {
        shares: Shares {
            left: r.left_share,
            right: r.right_share,
            extreme_droite: r.extreme_droite_share,
            abstention: r.abstention,
        },
        delta,
        class,
        mobilisable: r.mobilisable,
        persuadable: (r.priority - r.mobilisable).max(0.0),
        priority: r.priority,
        abstention_gap: r.abstention - r.departement_abstention,
        volatile: r.flags & VOLATILE != 0,
        close: r.flags & CLOSE != 0,
    };
    explain(level, &a, r.departement_abstention, &r.previous_label)
}

/// Explanations of zones of one level, by zone code (zones not classified are absent).
pub async fn explanations(db: &Db, level: Level, zones: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(zones.len());
    for chunk in zones.chunks(200) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT z.level, z.zone, z.left_share, z.right_share, z.extreme_droite_share, z.abstention, z.delta_left, \
             z.delta_right, z.delta_abstention, z.class, z.priority, z.departement_abstention, z.mobilisable, \
             z.flags, z.explanation, COALESCE(e.label, '') AS previous_label FROM zone_classes z \
             LEFT JOIN elections e ON e.id = z.previous_election_id WHERE z.level = $1 AND z.zone IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_as::<_, Stored>(&sql).bind(level.as_str());
        for z in chunk {
            q = q.bind(z);
        }
        for r in q.fetch_all(&db.pool).await? {
            out.insert(r.zone.clone(), explain_stored(&r));
        }
    }
    Ok(out)
}

/// The explanation of one zone ('' when it is not classified).
pub async fn explanation(db: &Db, level: Level, zone: &str) -> Result<String> {
    Ok(explanations(db, level, &[zone.to_string()]).await?.remove(zone).unwrap_or_default())
}
