//! What a zone is: its name, département, federation, parent zones, classification and profile ([`zone_info`]).

use serde::Serialize;

use super::profile::{circonscription_profile, commune_profile};
use super::{
    ABROAD_DEPARTEMENT, Classification, Departement, Level, Profile, ZoneLink, circonscription_name, classification,
    departement, departement_path, page_path,
};
use crate::db::Db;
use crate::error::Result;

/// What pages and briefing sheets show about a zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ZoneInfo {
    pub level: Level,
    pub code: String,
    /// "Vénissieux", "Rhône, 2e circonscription", "Vénissieux, bureau 0101".
    pub name: String,
    pub departement: Option<Departement>,
    /// The federation the zone belongs to (through its commune or département).
    pub federation_id: Option<i64>,
    /// Larger zones it lies in: commune (for a bureau or an arrondissement), circonscription(s), département.
    pub parents: Vec<ZoneLink>,
    pub classification: Option<Classification>,
    pub profile: Profile,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(super) struct CommuneRow {
    pub(super) code: String,
    pub(super) name: String,
    pub(super) kind: String,
    pub(super) departement_code: String,
    pub(super) parent_code: Option<String>,
    pub(super) federation_id: Option<i64>,
}

pub(super) async fn commune_row(db: &Db, code: &str) -> Result<Option<CommuneRow>> {
    Ok(sqlx::query_as(
        "SELECT code, name, kind, departement_code, parent_code, federation_id FROM communes WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(&db.pool)
    .await?)
}

/// For a municipal arrondissement (Paris, Lyon, Marseille): its commune and the two-digit prefix of its bureaux
/// ("75056", "01" for Paris 1er): results are given for the whole commune, bureaux numbered by arrondissement.
pub(super) fn arrondissement_of(c: &CommuneRow) -> Option<(String, String)> {
    let parent = c.parent_code.as_ref().filter(|_| c.kind == "arrondissement-municipal")?;
    let number: u32 = c.code.get(3..5)?.parse().ok()?;
    Some((parent.clone(), format!("{number:02}")))
}

/// Everything known about a zone; None when the zone is unknown (no reference data, no result).
pub async fn zone_info(db: &Db, level: Level, code: &str) -> Result<Option<ZoneInfo>> {
    match level {
        Level::Commune => commune_info(db, code).await,
        Level::Bureau => bureau_info(db, code).await,
        Level::Circonscription => circonscription_info(db, code).await,
    }
}

async fn departement_link(db: &Db, code: &str) -> Result<(Option<Departement>, Option<ZoneLink>)> {
    let d = departement(db, code).await?;
    let link = d.as_ref().map(|d| ZoneLink {
        kind: "département",
        code: d.code.clone(),
        name: d.name.clone(),
        href: departement_path(&d.code),
    });
    Ok((d, link))
}

/// The circonscriptions of a commune's bureaux (optionally of one arrondissement), else those of the reference
/// overlay of contours.
async fn circonscriptions_of(db: &Db, commune: &str, prefix: Option<&str>) -> Result<Vec<String>> {
    let from_results: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT circonscription FROM bureaux WHERE commune_code = $1 AND circonscription IS NOT NULL \
         AND ($2 = '' OR SUBSTR(bureau, 1, 2) = $2) ORDER BY circonscription",
    )
    .bind(commune)
    .bind(prefix.unwrap_or(""))
    .fetch_all(&db.pool)
    .await?;
    if !from_results.is_empty() {
        return Ok(from_results);
    }
    Ok(sqlx::query_scalar(
        "SELECT circonscription FROM commune_circonscriptions WHERE commune_code = $1 \
         ORDER BY CASE rang WHEN 'principale' THEN 0 ELSE 1 END, circonscription",
    )
    .bind(commune)
    .fetch_all(&db.pool)
    .await?)
}

async fn circonscription_links(db: &Db, codes: &[String]) -> Result<Vec<ZoneLink>> {
    let mut out = Vec::with_capacity(codes.len());
    for code in codes {
        let departement_code = code.split('-').next().unwrap_or("");
        let name = match departement(db, departement_code).await? {
            Some(d) => circonscription_name(&d.name, code),
            None => format!("Circonscription {code}"),
        };
        out.push(ZoneLink {
            kind: "circonscription",
            code: code.clone(),
            name,
            href: page_path(Level::Circonscription, code),
        });
    }
    Ok(out)
}

async fn commune_info(db: &Db, code: &str) -> Result<Option<ZoneInfo>> {
    let commune = commune_row(db, code).await?;
    let classification = classification(db, Level::Commune, code).await?;
    let bureau_departement: Option<String> =
        sqlx::query_scalar("SELECT departement FROM bureaux WHERE commune_code = $1 LIMIT 1")
            .bind(code)
            .fetch_optional(&db.pool)
            .await?;
    if commune.is_none() && classification.is_none() && bureau_departement.is_none() {
        return Ok(None);
    }
    let departement_code = commune
        .as_ref()
        .map(|c| c.departement_code.clone())
        .or(bureau_departement)
        .unwrap_or_else(|| code.get(..2).unwrap_or("").to_string());
    let (departement, departement_link) = departement_link(db, &departement_code).await?;
    let arrondissement = commune.as_ref().and_then(arrondissement_of);
    let mut parents = Vec::new();
    // The commune of an arrondissement, or the commune nouvelle a commune déléguée has joined.
    if let Some(parent) = commune.as_ref().and_then(|c| c.parent_code.as_ref())
        && let Some(p) = commune_row(db, parent).await?
    {
        parents.push(ZoneLink {
            kind: "commune",
            href: page_path(Level::Commune, &p.code),
            code: p.code,
            name: p.name,
        });
    }
    let circonscriptions = match &arrondissement {
        Some((parent, prefix)) => circonscriptions_of(db, parent, Some(prefix)).await?,
        None => circonscriptions_of(db, code, None).await?,
    };
    parents.extend(circonscription_links(db, &circonscriptions).await?);
    parents.extend(departement_link);
    let mut profile = commune_profile(db, code).await?;
    if profile.indicators.is_empty()
        && let Some((parent, _)) = &arrondissement
    {
        profile = commune_profile(db, parent).await?;
        if !profile.indicators.is_empty() {
            profile.note = Some("Indicateurs de la commune entière (l'arrondissement n'a pas les siens).".into());
        }
    }
    Ok(Some(ZoneInfo {
        level: Level::Commune,
        code: code.to_string(),
        name: commune.as_ref().map_or_else(|| format!("Commune {code}"), |c| c.name.clone()),
        federation_id: commune
            .as_ref()
            .and_then(|c| c.federation_id)
            .or(departement.as_ref().and_then(|d| d.federation_id)),
        departement,
        parents,
        classification,
        profile,
    }))
}

async fn bureau_info(db: &Db, key: &str) -> Result<Option<ZoneInfo>> {
    let row: Option<(String, String, String, Option<String>)> =
        sqlx::query_as("SELECT commune_code, departement, bureau, circonscription FROM bureaux WHERE key = $1")
            .bind(key)
            .fetch_optional(&db.pool)
            .await?;
    let Some((commune_code, departement_code, bureau, circonscription)) = row else { return Ok(None) };
    let commune = commune_row(db, &commune_code).await?;
    let commune_name = commune.as_ref().map_or_else(|| format!("Commune {commune_code}"), |c| c.name.clone());
    let (departement, departement_link) = departement_link(db, &departement_code).await?;
    let mut parents = vec![ZoneLink {
        kind: "commune",
        code: commune_code.clone(),
        name: commune_name.clone(),
        href: page_path(Level::Commune, &commune_code),
    }];
    if let Some(c) = &circonscription {
        parents.extend(circonscription_links(db, std::slice::from_ref(c)).await?);
    }
    parents.extend(departement_link);
    let mut profile = commune_profile(db, &commune_code).await?;
    if !profile.indicators.is_empty() {
        profile.note = Some(format!(
            "Indicateurs de la commune ({commune_name}) : la statistique publique ne descend pas au bureau de vote."
        ));
    }
    Ok(Some(ZoneInfo {
        level: Level::Bureau,
        code: key.to_string(),
        name: format!("{commune_name}, bureau {bureau}"),
        federation_id: commune
            .as_ref()
            .and_then(|c| c.federation_id)
            .or(departement.as_ref().and_then(|d| d.federation_id)),
        departement,
        parents,
        classification: classification(db, Level::Bureau, key).await?,
        profile,
    }))
}

async fn circonscription_info(db: &Db, code: &str) -> Result<Option<ZoneInfo>> {
    let known: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM bureaux WHERE circonscription = $1 LIMIT 1) b) + \
         (SELECT COUNT(*) FROM (SELECT 1 FROM commune_circonscriptions WHERE circonscription = $1 LIMIT 1) c)",
    )
    .bind(code)
    .fetch_one(&db.pool)
    .await?;
    let classification = classification(db, Level::Circonscription, code).await?;
    if known == 0 && classification.is_none() {
        return Ok(None);
    }
    let departement_code = match code.split_once('-') {
        Some(("99", _)) => ABROAD_DEPARTEMENT,
        Some((d, _)) => d,
        None => code,
    };
    let (departement, departement_link) = departement_link(db, departement_code).await?;
    let name = match &departement {
        Some(d) => circonscription_name(&d.name, code),
        None => format!("Circonscription {code}"),
    };
    Ok(Some(ZoneInfo {
        level: Level::Circonscription,
        code: code.to_string(),
        name,
        federation_id: departement.as_ref().and_then(|d| d.federation_id),
        departement,
        parents: departement_link.into_iter().collect(),
        classification,
        profile: circonscription_profile(db, code).await?,
    }))
}
