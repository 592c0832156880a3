//! Tunable classification thresholds, checked and stored in the `settings` table.

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::{Error, Result};

/// Settings key of the thresholds (JSON).
const SETTINGS_KEY: &str = "territory_thresholds";

/// Tunable thresholds, as fractions (0.05 = 5 points).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// A zone whose left share moved by at least this much is volatile (hésitant). Default 0.05 (5 points).
    pub volatility: f64,
    /// A zone where |gauche − droite| is at most this is close (hésitant). Default 0.05 (5 points).
    pub closeness: f64,
    /// Abstention must exceed the département's by at least this to be mobilisable. Default 0.05 (5 points).
    pub abstention_gap: f64,
    /// Minimum left share of the exprimés for abstention to be mobilisable. Default 0.35 (35 %).
    pub abstention_left_min: f64,
    /// Share of the voters of a tied zone counted as persuadable in the priority score. Default 0.10.
    pub persuadable_share: f64,
    /// Gap |gauche − droite| at which a zone no longer counts any persuadable voter. Default 0.20 (20 points).
    pub closeness_scale: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            volatility: 0.05,
            closeness: 0.05,
            abstention_gap: 0.05,
            abstention_left_min: 0.35,
            persuadable_share: 0.10,
            closeness_scale: 0.20,
        }
    }
}

impl Thresholds {
    /// French message for the first value out of range.
    pub fn check(&self) -> std::result::Result<(), String> {
        let fields = [
            ("volatilité", self.volatility),
            ("écart serré", self.closeness),
            ("écart d'abstention", self.abstention_gap),
            ("part minimale de la gauche", self.abstention_left_min),
            ("part d'électeurs persuadables", self.persuadable_share),
            ("écart où plus personne n'est persuadable", self.closeness_scale),
        ];
        for (name, value) in fields {
            if !value.is_finite() || !(0.0..=1.0).contains(&value) {
                return Err(format!("seuil « {name} » invalide : entre 0 et 1 (0,05 = 5 points)"));
            }
        }
        if self.closeness_scale <= 0.0 {
            return Err("l'écart où plus personne n'est persuadable doit être positif".into());
        }
        Ok(())
    }
}

/// The thresholds HQ saved, or the defaults (missing fields take their default too).
pub async fn load_thresholds(db: &Db) -> Result<Thresholds> {
    let stored: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(SETTINGS_KEY)
        .fetch_optional(&db.pool)
        .await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
}

/// Saves thresholds after checking them (French message in [`Error::Invalid`]). Classifications already computed are
/// not changed: run [`classify_all`](super::classify_all) again.
pub async fn save_thresholds(db: &Db, thresholds: &Thresholds) -> Result<()> {
    thresholds.check().map_err(Error::Invalid)?;
    let value = serde_json::to_string(thresholds).map_err(anyhow::Error::from)?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(SETTINGS_KEY)
    .bind(value)
    .execute(&db.pool)
    .await?;
    Ok(())
}
