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

use std::collections::HashMap;

use serde::Serialize;

pub use super::classify::{Level, ZoneClass};
use super::{classify, indicators};
use crate::db::Db;
use crate::error::Result;

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

/// One socio-economic indicator of a zone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Indicator {
    /// As in the file: "MED21".
    pub code: String,
    /// "Revenu médian disponible par UC (2021)".
    pub label: String,
    /// None under statistical secret or when missing.
    pub value: Option<f64>,
    /// "25 430 €", "16,0 %", « secret statistique ».
    pub display: String,
    /// Shown first; the others go in the details.
    pub main: bool,
}

/// A commune of a circonscription, with its own key figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CommuneFacts {
    pub code: String,
    pub name: String,
    pub population: Option<i64>,
    pub median_income: String,
    pub poverty_rate: String,
}

/// The socio-economic profile of a zone.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Profile {
    /// "Insee, Filosofi 2021"; None when no indicator is known.
    pub source: Option<String>,
    /// How the figures relate to the zone when they are not its own.
    pub note: Option<String>,
    pub indicators: Vec<Indicator>,
    /// For a circonscription: its most populated communes.
    pub communes: Vec<CommuneFacts>,
}

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
struct CommuneRow {
    code: String,
    name: String,
    kind: String,
    departement_code: String,
    parent_code: Option<String>,
    federation_id: Option<i64>,
}

async fn commune_row(db: &Db, code: &str) -> Result<Option<CommuneRow>> {
    Ok(sqlx::query_as(
        "SELECT code, name, kind, departement_code, parent_code, federation_id FROM communes WHERE code = $1",
    )
    .bind(code)
    .fetch_optional(&db.pool)
    .await?)
}

/// For a municipal arrondissement (Paris, Lyon, Marseille): its commune and the two-digit prefix of its bureaux
/// ("75056", "01" for Paris 1er): results are given for the whole commune, bureaux numbered by arrondissement.
fn arrondissement_of(c: &CommuneRow) -> Option<(String, String)> {
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

fn indicator(code: String, value: Option<f64>) -> Indicator {
    let (label, unit) = (indicators::label(&code), indicators::unit(&code));
    let main = indicators::definition(&code).is_some_and(|(_, d)| d.main);
    Indicator { display: indicators::format_value(value, unit), label, value, code, main }
}

fn sort_indicators(list: &mut [Indicator]) {
    list.sort_by_key(|i| indicators::sort_key(&i.code));
}

/// The indicators of one commune.
pub async fn commune_profile(db: &Db, code: &str) -> Result<Profile> {
    let rows: Vec<(String, Option<f64>, String)> =
        sqlx::query_as("SELECT indicator, value, source FROM commune_indicators WHERE commune_code = $1")
            .bind(code)
            .fetch_all(&db.pool)
            .await?;
    let source = rows.first().map(|r| r.2.clone());
    let mut list: Vec<Indicator> = rows.into_iter().map(|(c, v, _)| indicator(c, v)).collect();
    sort_indicators(&mut list);
    Ok(Profile { source, note: None, indicators: list, communes: Vec::new() })
}

/// The communes of a circonscription: those of its bureaux when results are imported, else the reference overlay.
pub async fn circonscription_communes(db: &Db, code: &str) -> Result<Vec<String>> {
    let from_results: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT commune_code FROM bureaux WHERE circonscription = $1 ORDER BY commune_code",
    )
    .bind(code)
    .fetch_all(&db.pool)
    .await?;
    if !from_results.is_empty() {
        return Ok(from_results);
    }
    Ok(sqlx::query_scalar(
        "SELECT commune_code FROM commune_circonscriptions WHERE circonscription = $1 ORDER BY commune_code",
    )
    .bind(code)
    .fetch_all(&db.pool)
    .await?)
}

/// Indicators of a circonscription from those of its communes: counts summed, the rest averaged with the communes'
/// populations as weights, and its most populated communes with their own figures.
async fn circonscription_profile(db: &Db, code: &str) -> Result<Profile> {
    let communes = circonscription_communes(db, code).await?;
    if communes.is_empty() {
        return Ok(Profile::default());
    }
    let placeholders: Vec<String> = (1..=communes.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT c.code, c.name, c.population, i.indicator, i.value, i.source FROM communes c \
         LEFT JOIN commune_indicators i ON i.commune_code = c.code WHERE c.code IN ({})",
        placeholders.join(", ")
    );
    let mut query =
        sqlx::query_as::<_, (String, String, Option<i64>, Option<String>, Option<f64>, Option<String>)>(&sql);
    for c in &communes {
        query = query.bind(c);
    }
    let rows = query.fetch_all(&db.pool).await?;
    // Per commune: name, population, indicators.
    /// A commune's name, population and indicators.
    type Commune = (String, Option<i64>, HashMap<String, Option<f64>>);
    let mut by_commune: HashMap<String, Commune> = HashMap::new();
    let mut source = None;
    for (code, name, population, indicator, value, src) in rows {
        let entry = by_commune.entry(code).or_insert_with(|| (name, population, HashMap::new()));
        if let Some(ind) = indicator {
            entry.2.insert(ind, value);
        }
        if source.is_none() {
            source = src;
        }
    }
    let mut codes: Vec<String> = by_commune.values().flat_map(|(_, _, m)| m.keys().cloned()).collect();
    codes.sort();
    codes.dedup();
    let people_code = codes.iter().find(|c| indicators::split_year(c).0 == "NBPERSMENFISC").cloned();
    let weight = |population: Option<i64>, values: &HashMap<String, Option<f64>>| {
        people_code
            .as_ref()
            .and_then(|p| values.get(p).copied().flatten())
            .or(population.map(|p| p as f64))
            .unwrap_or(1.0)
    };
    let mut list: Vec<Indicator> = codes
        .into_iter()
        .map(|ind| {
            let values: Vec<(Option<f64>, f64)> = by_commune
                .values()
                .map(|(_, population, values)| (values.get(&ind).copied().flatten(), weight(*population, values)))
                .collect();
            let value = indicators::combine(indicators::unit(&ind), &values);
            indicator(ind, value)
        })
        .collect();
    sort_indicators(&mut list);
    let find = |values: &HashMap<String, Option<f64>>, base: &str| {
        values.iter().find(|(k, _)| indicators::split_year(k).0 == base).map(|(k, v)| (k.clone(), *v))
    };
    let mut main: Vec<(&String, &Commune)> = by_commune.iter().collect();
    main.sort_by(|a, b| b.1.1.unwrap_or(0).cmp(&a.1.1.unwrap_or(0)).then(a.0.cmp(b.0)));
    let facts = main
        .into_iter()
        .take(8)
        .map(|(code, (name, population, values))| {
            let show = |base: &str| match find(values, base) {
                Some((k, v)) => indicators::format_value(v, indicators::unit(&k)),
                None => "—".to_string(),
            };
            CommuneFacts {
                code: code.clone(),
                name: name.clone(),
                population: *population,
                median_income: show("MED"),
                poverty_rate: show("TP60"),
            }
        })
        .collect();
    let note = (!list.is_empty()).then(|| {
        format!(
            "Calculés à partir des {} communes de la circonscription : effectifs additionnés, autres indicateurs en \
             moyenne pondérée par la population (une approximation ; une commune partagée entre plusieurs \
             circonscriptions compte en entier).",
            by_commune.len()
        )
    });
    Ok(Profile { source, note, indicators: list, communes: facts })
}

// -------------------------------------------------------------------------------------------------------------------
// Ranked lists

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

// -------------------------------------------------------------------------------------------------------------------
// Totals and summaries

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

/// An imported election, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct Election {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub kind: String,
    pub round: i64,
    pub year: i64,
    pub source_file: String,
    pub layout: String,
    pub imported_at: i64,
    pub bureaux: i64,
    pub inscrits: i64,
    pub votants: i64,
    pub exprimes: i64,
    /// The bloc of each choice that the bureaux' sums were computed with (see `classify::refresh_bloc_sums`).
    pub blocs: String,
}

const ELECTION_COLUMNS: &str =
    "id, key, label, kind, round, year, source_file, layout, imported_at, bureaux, inscrits, votants, exprimes, blocs";

/// Imported elections, most recent first.
pub async fn elections(db: &Db) -> Result<Vec<Election>> {
    Ok(sqlx::query_as(&format!("SELECT {ELECTION_COLUMNS} FROM elections ORDER BY year DESC, kind, round DESC, key"))
        .fetch_all(&db.pool)
        .await?)
}

pub async fn election(db: &Db, key: &str) -> Result<Option<Election>> {
    Ok(sqlx::query_as(&format!("SELECT {ELECTION_COLUMNS} FROM elections WHERE key = $1"))
        .bind(key)
        .fetch_optional(&db.pool)
        .await?)
}

/// The pair of elections the current classification was computed from, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurrentPair {
    pub reference: Option<Election>,
    pub previous: Option<Election>,
    pub computed_at: i64,
}

pub async fn current_pair(db: &Db) -> Result<Option<CurrentPair>> {
    let row: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT reference_election_id, previous_election_id, computed_at FROM zone_classes LIMIT 1")
            .fetch_optional(&db.pool)
            .await?;
    let Some((reference, previous, computed_at)) = row else { return Ok(None) };
    let by_id = |id: i64| async move {
        sqlx::query_as::<_, Election>(&format!("SELECT {ELECTION_COLUMNS} FROM elections WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await
    };
    Ok(Some(CurrentPair { reference: by_id(reference).await?, previous: by_id(previous).await?, computed_at }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circonscriptions_are_named_the_french_way() {
        assert_eq!(circonscription_name("Rhône", "69-02"), "Rhône, 2e circonscription");
        assert_eq!(circonscription_name("Ain", "01-01"), "Ain, 1re circonscription");
        assert_eq!(circonscription_name("Guadeloupe", "971-04"), "Guadeloupe, 4e circonscription");
        assert_eq!(circonscription_name("X", "bad"), "Circonscription bad");
        assert_eq!(page_path(Level::Bureau, "69123-0101"), "/territoire/bureaux/69123-0101");
        assert_eq!(departement_path("2A"), "/territoire/departements/2A");
    }

    #[test]
    fn arrondissements_map_to_their_commune_and_bureau_prefix() {
        let row = |code: &str, kind: &str, parent: Option<&str>| CommuneRow {
            code: code.into(),
            name: String::new(),
            kind: kind.into(),
            departement_code: String::new(),
            parent_code: parent.map(Into::into),
            federation_id: None,
        };
        assert_eq!(
            arrondissement_of(&row("75101", "arrondissement-municipal", Some("75056"))),
            Some(("75056".into(), "01".into()))
        );
        assert_eq!(
            arrondissement_of(&row("13216", "arrondissement-municipal", Some("13055"))),
            Some(("13055".into(), "16".into()))
        );
        assert_eq!(arrondissement_of(&row("69259", "commune-actuelle", None)), None);
    }
}
