//! Socio-economic profiles: a commune's Insee indicators, and a circonscription's combined from its communes'.

use std::collections::HashMap;

use serde::Serialize;

use crate::db::Db;
use crate::error::Result;
use crate::territory::indicators;

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
pub(super) async fn circonscription_profile(db: &Db, code: &str) -> Result<Profile> {
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
