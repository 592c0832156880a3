//! Zones as pages and other modules see them: what a zone is (name, département, federation, parent zones), its
//! classification and its socio-economic profile ([`zone_info`]), the zones inside another ranked by priority
//! ([`ranked_zones`]), figures summed over a département or the whole country, and a map of a set of zones among
//! their neighbours for briefing sheets ([`turf_map_svg`]).
//!
//! Everything here is public data (results, Insee indicators, contours): no scope applies, but pages still require
//! a signed-in user allowed to view the organisation somewhere.
//!
//! Names: a commune is named from `communes` ("Vénissieux"), a circonscription from its département and number
//! ("Rhône, 2e circonscription"), a bureau from its commune and number ("Vénissieux, bureau 0101"). Codes that the
//! reference data does not know (consulates abroad `ZZ001`, merged communes) keep their code as a name.

mod classification;
mod elections;
mod info;
mod profile;
mod ranked;
mod summaries;
#[cfg(test)]
mod tests;

use serde::Serialize;

pub use super::classify::{Level, ZoneClass};
use crate::db::Db;
use crate::error::Result;
pub use classification::{Classification, classification};
pub use elections::{CurrentPair, Election, current_pair, election, elections};
pub use info::{ZoneInfo, zone_info};
pub use profile::{CommuneFacts, Indicator, Profile, circonscription_communes, commune_profile};
pub use ranked::{Within, ZoneRow, count_zones, ranked_zones};
pub use summaries::{DepartementSummary, Totals, class_counts, departement_summaries, totals};

/// Département code of the French abroad in results and classifications, and the federation that covers it.
pub const ABROAD_DEPARTEMENT: &str = "ZZ";
const ABROAD_FEDERATION: &str = "99";
const ABROAD_NAME: &str = "Français de l'étranger";

/// The page of a zone: `/territoire/bureaux/69123-0101`, `/territoire/communes/69123`,
/// `/territoire/circonscriptions/69-02`.
pub fn page_path(level: Level, code: &str) -> String {
    let section = match level {
        Level::Bureau => "bureaux",
        Level::Commune => "communes",
        Level::Circonscription => "circonscriptions",
    };
    format!("/territoire/{section}/{code}")
}

/// The page of a département: `/territoire/departements/69`.
pub fn departement_path(code: &str) -> String {
    format!("/territoire/departements/{code}")
}

/// "1re", "2e", "3e"…
pub fn ordinal(n: u32) -> String {
    if n == 1 { "1re".into() } else { format!("{n}e") }
}

/// "Rhône, 2e circonscription" from the département's name and the code "69-02".
pub fn circonscription_name(departement_name: &str, code: &str) -> String {
    match code.rsplit_once('-').and_then(|(_, n)| n.parse::<u32>().ok()) {
        Some(n) => format!("{departement_name}, {} circonscription", ordinal(n)),
        None => format!("Circonscription {code}"),
    }
}

/// A link to another zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneLink {
    /// "département", "circonscription", "commune".
    pub kind: &'static str,
    pub code: String,
    pub name: String,
    pub href: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Departement {
    pub code: String,
    pub name: String,
    pub federation_id: Option<i64>,
}

/// A département (or the French abroad, `ZZ`) with its federation; None when unknown.
pub async fn departement(db: &Db, code: &str) -> Result<Option<Departement>> {
    if code == ABROAD_DEPARTEMENT || code == ABROAD_FEDERATION {
        let federation_id: Option<i64> = sqlx::query_scalar("SELECT id FROM federations WHERE code = $1")
            .bind(ABROAD_FEDERATION)
            .fetch_optional(&db.pool)
            .await?;
        return Ok(Some(Departement { code: ABROAD_DEPARTEMENT.into(), name: ABROAD_NAME.into(), federation_id }));
    }
    let row: Option<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT code, name, federation_id FROM departements WHERE code = $1")
            .bind(code)
            .fetch_optional(&db.pool)
            .await?;
    Ok(row.map(|(code, name, federation_id)| Departement { code, name, federation_id }))
}

/// The département codes a federation covers in results (`ZZ` for the French abroad).
pub async fn federation_departements(db: &Db, federation_id: i64) -> Result<Vec<String>> {
    let mut codes: Vec<String> =
        sqlx::query_scalar("SELECT code FROM departements WHERE federation_id = $1 ORDER BY code")
            .bind(federation_id)
            .fetch_all(&db.pool)
            .await?;
    let code: Option<String> = sqlx::query_scalar("SELECT code FROM federations WHERE id = $1")
        .bind(federation_id)
        .fetch_optional(&db.pool)
        .await?;
    if code.as_deref() == Some(ABROAD_FEDERATION) {
        codes.push(ABROAD_DEPARTEMENT.into());
    }
    Ok(codes)
}

// -------------------------------------------------------------------------------------------------------------------
// Maps for briefing sheets

/// A map of the given zones for a briefing sheet (fiche militante), `width` px wide: the zones singled out (thick
/// black outline, black hatching over their colour) among their neighbours, every zone coloured by its class, with
/// a legend and the contours' attribution. Bureaux are drawn where bureau contours exist (Paris); elsewhere a
/// bureau is shown through its commune, and a commune without contours through nothing (the map leaves it out).
/// None when no contour exists for any of the zones.
pub async fn turf_map_svg(db: &Db, zones: &[(Level, String)], width: u32) -> Result<Option<String>> {
    super::atlas::turf_map(db, zones, width).await
}
