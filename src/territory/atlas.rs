//! Maps of zones from the database: which shipped contour layer draws a zone, which zones surround it, and the value
//! of each zone from `zone_classes` (class, abstention, bloc shares, priority), rendered by [`super::map`].
//!
//! - Layers: communes of the départements whose contours are shipped (`communes-69`…), circonscriptions (all of
//!   France), Paris bureaux de vote. A département map shows its communes, else its circonscriptions; a
//!   circonscription map its Paris bureaux, else its communes, else itself among the neighbouring circonscriptions;
//!   a commune map Paris's bureaux for Paris, else the commune singled out among its neighbours; a bureau map the
//!   Paris bureau among its neighbours, else its commune among the neighbouring communes.
//! - Neighbours are the zones of the layer whose bounding box meets the singled-out zones' box, widened until the map
//!   shows a dozen zones or so.
//! - Contours are parsed once per process and kept in memory (a few MB for every layer). Paris bureaux are keyed as
//!   in `bureaux.key` ("75056-1905", where the contour file says `75056_1905`).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use super::classify::{Level, ZoneClass};
use super::map::{self, Category, Frame, Layer, Legend, MapOptions, Zone};
use super::zone;
use crate::db::Db;
use crate::error::{Error, Result};

/// What a map colours zones by (`?carte=` on pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    Class,
    Abstention,
    Left,
    Right,
    Priority,
}

impl Metric {
    pub const ALL: [Metric; 5] = [Metric::Class, Metric::Abstention, Metric::Left, Metric::Right, Metric::Priority];

    /// Query value: "classe", "abstention", "gauche", "droite", "priorite".
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Class => "classe",
            Metric::Abstention => "abstention",
            Metric::Left => "gauche",
            Metric::Right => "droite",
            Metric::Priority => "priorite",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Legend title.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Class => "Classement",
            Metric::Abstention => "Abstention",
            Metric::Left => "Part de la gauche (exprimés)",
            Metric::Right => "Part de la droite et de l'extrême droite (exprimés)",
            Metric::Priority => "Priorité (électeurs à gagner)",
        }
    }
}

/// Fill of each class: distinct hues of distinct lightness (they stay apart in grey too).
pub fn class_colour(class: ZoneClass) -> &'static str {
    match class {
        ZoneClass::AcquisGauche => "#c0392b",
        ZoneClass::AcquisDroite => "#2f6fae",
        ZoneClass::Hesitant => "#c2a5dd",
        ZoneClass::Abstention => "#f0a030",
    }
}

/// Layer keys (see [`map::SHIPPED`]).
const PARIS_BUREAUX: &str = "bureaux-paris-2017";
const CIRCONSCRIPTIONS: &str = "circonscriptions";
/// The circonscriptions with overseas territories moved into insets, for the national map.
const FRANCE: &str = "circonscriptions-france";
const PARIS: &str = "75056";

/// A parsed contour layer.
struct Contours {
    zones: Vec<Zone>,
    /// (min lon, min lat, max lon, max lat) of each zone.
    boxes: Vec<(f64, f64, f64, f64)>,
    index: HashMap<String, usize>,
    frames: Vec<Frame>,
    attribution: &'static str,
}

fn bounding_box(zone: &Zone) -> (f64, f64, f64, f64) {
    zone.rings
        .iter()
        .flatten()
        .flatten()
        .fold((f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY), |(a, b, c, d), &(x, y)| {
            (a.min(x), b.min(y), c.max(x), d.max(y))
        })
}

/// The contours of a layer, parsed on first use.
fn contours(key: &str) -> Result<Arc<Contours>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Contours>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().map_err(|_| anyhow::anyhow!("contour cache poisoned"))?.get(key) {
        return Ok(found.clone());
    }
    let shipped_key = if key == FRANCE { CIRCONSCRIPTIONS } else { key };
    let layer = map::SHIPPED
        .iter()
        .find(|l| l.key == shipped_key)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown contour layer {key}")))?;
    let mut zones = map::load_geojson(layer.bytes, layer.code_prop, layer.name_prop)
        .map_err(|e| Error::Internal(anyhow::anyhow!("contours {key}: {e}")))?;
    let mut frames = Vec::new();
    if key == FRANCE {
        let insets = map::inset_overseas(&zones);
        zones = insets.zones;
        frames = insets.frames;
    }
    if key == PARIS_BUREAUX {
        for z in &mut zones {
            z.code = z.code.replacen('_', "-", 1);
        }
    }
    let boxes = zones.iter().map(bounding_box).collect();
    let index = zones.iter().enumerate().map(|(i, z)| (z.code.clone(), i)).collect();
    let parsed = Arc::new(Contours { zones, boxes, index, frames, attribution: layer.attribution });
    cache.lock().map_err(|_| anyhow::anyhow!("contour cache poisoned"))?.insert(key.to_string(), parsed.clone());
    Ok(parsed)
}

/// The shipped layer of a département's communes, if any ("communes-69").
pub fn communes_layer(departement: &str) -> Option<&'static str> {
    let key = format!("communes-{departement}");
    map::SHIPPED.iter().find(|l| l.key == key).map(|l| l.key)
}

/// The figures of a zone that maps colour by.
#[derive(Clone, Copy, Debug)]
struct Figures {
    class: ZoneClass,
    abstention: f64,
    left: f64,
    right: f64,
    priority: f64,
}

impl Figures {
    fn of(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Class => 0.0,
            Metric::Abstention => self.abstention,
            Metric::Left => self.left,
            Metric::Right => self.right,
            Metric::Priority => self.priority,
        }
    }
}

/// Figures of the zones of `level` among `codes`.
async fn figures(db: &Db, level: Level, codes: &[&str]) -> Result<HashMap<String, Figures>> {
    let mut out = HashMap::with_capacity(codes.len());
    for chunk in codes.chunks(500) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT zone, class, abstention, left_share, right_share, priority FROM zone_classes \
             WHERE level = $1 AND zone IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String, String, f64, f64, f64, f64)>(&sql).bind(level.as_str());
        for code in chunk {
            query = query.bind(*code);
        }
        for (zone, class, abstention, left, right, priority) in query.fetch_all(&db.pool).await? {
            if let Some(class) = ZoneClass::parse(&class) {
                out.insert(zone, Figures { class, abstention, left, right, priority });
            }
        }
    }
    Ok(out)
}

/// The legend of a metric and the category of every zone with figures.
fn categorize(metric: Metric, figures: &HashMap<String, Figures>) -> (Legend, HashMap<String, Category>) {
    let missing_label = "Non classé (pas de résultats)".to_string();
    if metric == Metric::Class {
        let entries = ZoneClass::ALL.iter().map(|c| (c.label().to_string(), class_colour(*c).to_string())).collect();
        let values = figures
            .iter()
            .map(|(code, f)| {
                let i = ZoneClass::ALL.iter().position(|c| *c == f.class).unwrap_or(0);
                (code.clone(), Category::Class(i))
            })
            .collect();
        return (Legend { title: metric.label().into(), entries, missing_label }, values);
    }
    let values: Vec<f64> = figures.values().map(|f| f.of(metric)).collect();
    let breaks = map::classes(&values, 5);
    let (from, to) = match metric {
        Metric::Abstention => ("#fdf0e1", "#9c3d05"),
        Metric::Left => ("#fde3dc", "#a11a1d"),
        Metric::Right => ("#e0ecf7", "#0d4c8f"),
        _ => ("#efedf5", "#54278f"),
    };
    let colours = map::ramp(breaks.len() + 1, from, to);
    let labels = if metric == Metric::Priority {
        map::break_labels(&breaks, 0, "")
    } else {
        map::break_labels(&breaks.iter().map(|b| b * 100.0).collect::<Vec<_>>(), 1, "%")
    };
    let entries = labels.into_iter().zip(colours).collect();
    let categories =
        figures.iter().map(|(code, f)| (code.clone(), Category::Class(map::class_of(f.of(metric), &breaks)))).collect();
    (Legend { title: metric.label().into(), entries, missing_label }, categories)
}

/// How a map is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// Width in px.
    pub width: u32,
    /// Legend and attribution inside the SVG (a document of its own); otherwise the page shows them as HTML
    /// ([`PageMap::legend`], [`PageMap::attribution`]), readable on a phone whatever the map's scale.
    pub standalone: bool,
}

/// A legend entry for pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Swatch {
    /// A fill colour (`#rrggbb`).
    Colour(String),
    /// Hatched: zones without figures.
    Missing,
    /// Outlined and hatched: zones singled out.
    Highlight,
}

/// A map ready to inline into a page.
#[derive(Clone, Debug, PartialEq)]
pub struct PageMap {
    pub svg: String,
    /// The level of the zones drawn (a commune's map may draw bureaux, or communes).
    pub level: Level,
    /// Zones drawn, and how many have figures.
    pub zones: usize,
    pub with_data: usize,
    /// What the map shows when it is not what the page is about ("La commune du bureau…").
    pub note: Option<String>,
    pub legend_title: String,
    pub legend: Vec<(String, Swatch)>,
    /// Credit of the contours, to show with the map.
    pub attribution: &'static str,
}

/// How a map is drawn.
struct Drawing<'a> {
    layer: &'a str,
    level: Level,
    /// Indices into the layer's zones.
    selected: Vec<usize>,
    highlight: Vec<String>,
    highlight_label: String,
    metric: Metric,
    title: String,
    links: bool,
    style: Style,
    id_prefix: &'a str,
}

async fn draw(db: &Db, d: Drawing<'_>) -> Result<PageMap> {
    let contours = contours(d.layer)?;
    let all = d.selected.len() == contours.zones.len();
    let owned: Vec<Zone>;
    let zones: &[Zone] = if all {
        &contours.zones
    } else {
        owned = d.selected.iter().map(|&i| contours.zones[i].clone()).collect();
        &owned
    };
    let codes: Vec<&str> = zones.iter().map(|z| z.code.as_str()).collect();
    let figures = figures(db, d.level, &codes).await?;
    let (legend, values) = categorize(d.metric, &figures);
    let mut entries: Vec<(String, Swatch)> =
        legend.entries.iter().map(|(label, colour)| (label.clone(), Swatch::Colour(colour.clone()))).collect();
    if zones.iter().any(|z| !values.contains_key(&z.code)) {
        entries.push((legend.missing_label.clone(), Swatch::Missing));
    }
    let highlighted = zones.iter().any(|z| d.highlight.contains(&z.code));
    if highlighted {
        entries.push((d.highlight_label.clone(), Swatch::Highlight));
    }
    let options = MapOptions {
        width: d.style.width,
        title: d.title,
        link_prefix: d.links.then(|| zone::page_path(d.level, "")),
        id_prefix: d.id_prefix.to_string(),
        labels: zones.len() <= map::LABEL_MAX_ZONES,
        attribution: d.style.standalone.then(|| contours.attribution.to_string()),
        frames: if all { contours.frames.clone() } else { Vec::new() },
        highlight: d.highlight,
        highlight_label: d.highlight_label,
        legend: d.style.standalone,
    };
    let svg = map::render_svg(&Layer { zones, values: &values }, &legend, &options);
    Ok(PageMap {
        svg,
        level: d.level,
        zones: zones.len(),
        with_data: zones.iter().filter(|z| values.contains_key(&z.code)).count(),
        note: None,
        legend_title: legend.title,
        legend: entries,
        attribution: contours.attribution,
    })
}

/// Zones of the layer around the targets: those whose box meets the targets' box widened until at least
/// `min_zones` are found (or the whole layer).
fn neighbourhood(contours: &Contours, targets: &[usize], min_zones: usize) -> Vec<usize> {
    let Some(bbox) = targets
        .iter()
        .map(|&i| contours.boxes[i])
        .reduce(|a, b| (a.0.min(b.0), a.1.min(b.1), a.2.max(b.2), a.3.max(b.3)))
    else {
        return Vec::new();
    };
    let size = (bbox.2 - bbox.0).max(bbox.3 - bbox.1).max(1e-4);
    let mut margin = size * 0.35;
    let want = min_zones.min(contours.zones.len());
    let mut selected = Vec::new();
    for _ in 0..8 {
        let (x0, y0, x1, y1) = (bbox.0 - margin, bbox.1 - margin, bbox.2 + margin, bbox.3 + margin);
        selected = (0..contours.zones.len())
            .filter(|&i| {
                let b = contours.boxes[i];
                b.0 <= x1 && b.2 >= x0 && b.1 <= y1 && b.3 >= y0
            })
            .collect();
        if selected.len() >= want {
            break;
        }
        margin *= 1.8;
    }
    selected
}

fn names(contours: &Contours, targets: &[usize]) -> String {
    let mut out = String::new();
    for (n, &i) in targets.iter().enumerate() {
        if n == 3 {
            let _ = write!(out, " et {} autres", targets.len() - 3);
            break;
        }
        if n > 0 {
            out.push_str(", ");
        }
        out.push_str(&contours.zones[i].name);
    }
    out
}

/// The national map: circonscriptions, overseas in insets.
pub async fn national_map(db: &Db, metric: Metric, style: Style) -> Result<Option<PageMap>> {
    let contours = contours(FRANCE)?;
    let selected = (0..contours.zones.len()).collect();
    let map = draw(
        db,
        Drawing {
            layer: FRANCE,
            level: Level::Circonscription,
            selected,
            highlight: Vec::new(),
            highlight_label: String::new(),
            metric,
            title: format!("France, circonscriptions législatives : {}", metric.label().to_lowercase()),
            links: true,
            style,
            id_prefix: "carte-",
        },
    )
    .await?;
    Ok(Some(map))
}

/// A département's communes (where shipped), else its circonscriptions.
pub async fn departement_map(db: &Db, code: &str, name: &str, metric: Metric, style: Style) -> Result<Option<PageMap>> {
    let (layer, level, selected, what) = match communes_layer(code) {
        Some(layer) => {
            let c = contours(layer)?;
            (layer, Level::Commune, (0..c.zones.len()).collect::<Vec<_>>(), "communes")
        }
        None => {
            let c = contours(CIRCONSCRIPTIONS)?;
            let prefix = format!("{code}-");
            let selected: Vec<usize> = (0..c.zones.len()).filter(|&i| c.zones[i].code.starts_with(&prefix)).collect();
            (CIRCONSCRIPTIONS, Level::Circonscription, selected, "circonscriptions")
        }
    };
    if selected.is_empty() {
        return Ok(None);
    }
    let map = draw(
        db,
        Drawing {
            layer,
            level,
            selected,
            highlight: Vec::new(),
            highlight_label: String::new(),
            metric,
            title: format!("{name}, {what} : {}", metric.label().to_lowercase()),
            links: true,
            style,
            id_prefix: "carte-",
        },
    )
    .await?;
    Ok(Some(map))
}

/// A zone singled out among its neighbours of the same layer; None when the layer does not have it.
async fn around(
    db: &Db,
    layer: &str,
    level: Level,
    codes: &[String],
    metric: Metric,
    title: &str,
    style: Style,
) -> Result<Option<PageMap>> {
    let contours = contours(layer)?;
    let targets: Vec<usize> = codes.iter().filter_map(|c| contours.index.get(c).copied()).collect();
    if targets.is_empty() {
        return Ok(None);
    }
    let selected = neighbourhood(&contours, &targets, 12);
    let highlight: Vec<String> = targets.iter().map(|&i| contours.zones[i].code.clone()).collect();
    let label = if highlight.len() > 1 { "Zones présentées" } else { "Zone présentée" };
    let map = draw(
        db,
        Drawing {
            layer,
            level,
            selected,
            highlight,
            highlight_label: label.into(),
            metric,
            title: format!("{title} et ses voisines : {}", metric.label().to_lowercase()),
            links: true,
            style,
            id_prefix: "carte-",
        },
    )
    .await?;
    Ok(Some(map))
}

/// Paris bureaux of a circonscription, else its communes (where shipped), else the circonscription among its
/// neighbours.
pub async fn circonscription_map(
    db: &Db,
    code: &str,
    name: &str,
    metric: Metric,
    style: Style,
) -> Result<Option<PageMap>> {
    let departement = code.split('-').next().unwrap_or("");
    if departement == "75" {
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT key FROM bureaux WHERE circonscription = $1 AND commune_code = $2")
                .bind(code)
                .bind(PARIS)
                .fetch_all(&db.pool)
                .await?;
        let contours = contours(PARIS_BUREAUX)?;
        let mut selected: Vec<usize> = keys.iter().filter_map(|k| contours.index.get(k).copied()).collect();
        selected.sort_unstable();
        if !selected.is_empty() {
            let drawing = Drawing {
                layer: PARIS_BUREAUX,
                level: Level::Bureau,
                selected,
                highlight: Vec::new(),
                highlight_label: String::new(),
                metric,
                title: format!("{name}, bureaux de vote : {}", metric.label().to_lowercase()),
                links: true,
                style,
                id_prefix: "carte-",
            };
            return Ok(Some(draw(db, drawing).await?));
        }
    }
    if let Some(layer) = communes_layer(departement) {
        let communes = zone::circonscription_communes(db, code).await?;
        let contours = contours(layer)?;
        let mut selected: Vec<usize> = communes.iter().filter_map(|c| contours.index.get(c).copied()).collect();
        selected.sort_unstable();
        if !selected.is_empty() {
            let drawing = Drawing {
                layer,
                level: Level::Commune,
                selected,
                highlight: Vec::new(),
                highlight_label: String::new(),
                metric,
                title: format!("{name}, communes : {}", metric.label().to_lowercase()),
                links: true,
                style,
                id_prefix: "carte-",
            };
            return Ok(Some(draw(db, drawing).await?));
        }
    }
    around(db, CIRCONSCRIPTIONS, Level::Circonscription, &[code.to_string()], metric, name, style).await
}

/// Paris: its bureaux (those of an arrondissement for an arrondissement); elsewhere the commune among its
/// neighbours where the département's communes are shipped.
pub async fn commune_map(db: &Db, code: &str, name: &str, metric: Metric, style: Style) -> Result<Option<PageMap>> {
    let arrondissement: Option<(String, String)> =
        sqlx::query_as("SELECT parent_code, kind FROM communes WHERE code = $1 AND parent_code IS NOT NULL")
            .bind(code)
            .fetch_optional(&db.pool)
            .await?;
    // An arrondissement, or a commune merged since into a commune nouvelle: the contours have the whole commune.
    let is_arrondissement = arrondissement.as_ref().is_some_and(|(_, kind)| kind == "arrondissement-municipal");
    let parent = arrondissement.map(|(p, _)| p);
    if code == PARIS || (is_arrondissement && parent.as_deref() == Some(PARIS)) {
        let contours = contours(PARIS_BUREAUX)?;
        let prefix = parent.as_ref().and_then(|_| code.get(3..5)).map(|n| format!("{PARIS}-{n}"));
        let selected: Vec<usize> = (0..contours.zones.len())
            .filter(|&i| prefix.as_ref().is_none_or(|p| contours.zones[i].code.starts_with(p.as_str())))
            .collect();
        if !selected.is_empty() {
            let drawing = Drawing {
                layer: PARIS_BUREAUX,
                level: Level::Bureau,
                selected,
                highlight: Vec::new(),
                highlight_label: String::new(),
                metric,
                title: format!("{name}, bureaux de vote : {}", metric.label().to_lowercase()),
                links: true,
                style,
                id_prefix: "carte-",
            };
            return Ok(Some(draw(db, drawing).await?));
        }
    }
    let drawn = parent.clone().unwrap_or_else(|| code.to_string());
    let departement: Option<String> = sqlx::query_scalar("SELECT departement_code FROM communes WHERE code = $1")
        .bind(&drawn)
        .fetch_optional(&db.pool)
        .await?;
    let Some(layer) = departement.as_deref().and_then(communes_layer) else { return Ok(None) };
    let drawn = if contours(layer)?.index.contains_key(code) { code.to_string() } else { drawn };
    let whole = drawn != code;
    let mut map = around(db, layer, Level::Commune, &[drawn], metric, name, style).await?;
    if let Some(m) = map.as_mut().filter(|_| whole) {
        m.note = Some(if is_arrondissement {
            "Les contours des arrondissements ne sont pas fournis : la commune entière est mise en évidence.".into()
        } else {
            "Commune fusionnée depuis dans une commune nouvelle : la commune nouvelle est mise en évidence.".into()
        });
    }
    Ok(map)
}

/// A Paris bureau among its neighbours; elsewhere its commune among the neighbouring communes.
pub async fn bureau_map(db: &Db, key: &str, name: &str, metric: Metric, style: Style) -> Result<Option<PageMap>> {
    if let Some(map) = around(db, PARIS_BUREAUX, Level::Bureau, &[key.to_string()], metric, name, style).await? {
        return Ok(Some(map));
    }
    let commune: Option<(String, String)> =
        sqlx::query_as("SELECT commune_code, departement FROM bureaux WHERE key = $1")
            .bind(key)
            .fetch_optional(&db.pool)
            .await?;
    let Some((commune, departement)) = commune else { return Ok(None) };
    let Some(layer) = communes_layer(&departement) else { return Ok(None) };
    let commune_name: String = sqlx::query_scalar("SELECT name FROM communes WHERE code = $1")
        .bind(&commune)
        .fetch_optional(&db.pool)
        .await?
        .unwrap_or_else(|| commune.clone());
    let mut map = around(db, layer, Level::Commune, &[commune], metric, &commune_name, style).await?;
    if let Some(m) = map.as_mut() {
        m.note = Some(format!(
            "Les contours des bureaux de vote ne sont fournis que pour Paris : la commune du bureau ({commune_name}) \
             est mise en évidence parmi ses voisines."
        ));
    }
    Ok(map)
}

/// Where a zone can be drawn: (layer, code in the layer), finest first.
async fn candidates(db: &Db, level: Level, code: &str) -> Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    let commune_candidates = |commune: String, departement: String| async move {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let parent: Option<Option<String>> = sqlx::query_scalar("SELECT parent_code FROM communes WHERE code = $1")
            .bind(&commune)
            .fetch_optional(&db.pool)
            .await?;
        let drawn = parent.flatten().unwrap_or(commune);
        if let Some(layer) = communes_layer(&departement) {
            out.push((layer, drawn.clone()));
        }
        let circonscriptions: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT circonscription FROM bureaux WHERE commune_code = $1 AND circonscription IS NOT NULL",
        )
        .bind(&drawn)
        .fetch_all(&db.pool)
        .await?;
        let circonscriptions = if circonscriptions.is_empty() {
            sqlx::query_scalar(
                "SELECT circonscription FROM commune_circonscriptions WHERE commune_code = $1 AND rang = 'principale'",
            )
            .bind(&drawn)
            .fetch_all(&db.pool)
            .await?
        } else {
            circonscriptions
        };
        out.extend(circonscriptions.into_iter().map(|c| (CIRCONSCRIPTIONS, c)));
        Ok::<_, Error>(out)
    };
    match level {
        Level::Bureau => {
            let row: Option<(String, String, Option<String>)> =
                sqlx::query_as("SELECT commune_code, departement, circonscription FROM bureaux WHERE key = $1")
                    .bind(code)
                    .fetch_optional(&db.pool)
                    .await?;
            let Some((commune, departement, circonscription)) = row else { return Ok(out) };
            if commune == PARIS {
                out.push((PARIS_BUREAUX, code.to_string()));
            }
            let mut more = commune_candidates(commune, departement).await?;
            if let Some(c) = circonscription {
                // The bureau's own circonscription rather than every one of its commune.
                more.retain(|(layer, _)| *layer != CIRCONSCRIPTIONS);
                more.push((CIRCONSCRIPTIONS, c));
            }
            out.extend(more);
        }
        Level::Commune => {
            let departement: Option<String> = sqlx::query_scalar(
                "SELECT departement_code FROM communes WHERE code = $1 UNION SELECT departement FROM bureaux \
                 WHERE commune_code = $1",
            )
            .bind(code)
            .fetch_optional(&db.pool)
            .await?;
            if let Some(departement) = departement {
                out.extend(commune_candidates(code.to_string(), departement).await?);
            }
        }
        Level::Circonscription => out.push((CIRCONSCRIPTIONS, code.to_string())),
    }
    Ok(out)
}

fn layer_level(layer: &str) -> Level {
    match layer {
        PARIS_BUREAUX => Level::Bureau,
        CIRCONSCRIPTIONS => Level::Circonscription,
        _ => Level::Commune,
    }
}

/// See [`zone::turf_map_svg`].
pub async fn turf_map(db: &Db, zones: &[(Level, String)], width: u32) -> Result<Option<String>> {
    // Each zone's possible drawings, keeping only those the layers really have.
    let mut per_zone: Vec<Vec<(&'static str, usize)>> = Vec::with_capacity(zones.len());
    for (level, code) in zones {
        let mut drawable = Vec::new();
        for (layer, code) in candidates(db, *level, code).await? {
            if let Some(&i) = contours(layer)?.index.get(&code) {
                drawable.push((layer, i));
            }
        }
        per_zone.push(drawable);
    }
    // The finest layer that draws every zone, else the one that draws the most.
    let mut layers: Vec<&'static str> = Vec::new();
    for drawable in &per_zone {
        for (layer, _) in drawable {
            if !layers.contains(layer) {
                layers.push(layer);
            }
        }
    }
    let rank = |layer: &str| match layer_level(layer) {
        Level::Bureau => 0,
        Level::Commune => 1,
        Level::Circonscription => 2,
    };
    layers.sort_by_key(|l| rank(l));
    let covered = |layer: &str| per_zone.iter().filter(|d| d.iter().any(|(l, _)| *l == layer)).count();
    let Some(layer) = layers
        .iter()
        .copied()
        .find(|l| covered(l) == zones.len())
        .or_else(|| layers.iter().copied().max_by_key(|l| (covered(l), std::cmp::Reverse(rank(l)))))
    else {
        return Ok(None);
    };
    let mut targets: Vec<usize> =
        per_zone.iter().flat_map(|d| d.iter().filter(|(l, _)| *l == layer).map(|(_, i)| *i)).collect();
    targets.sort_unstable();
    targets.dedup();
    let contours = contours(layer)?;
    let selected = neighbourhood(&contours, &targets, 12);
    let title = format!("Secteur : {}", names(&contours, &targets));
    let highlight: Vec<String> = targets.iter().map(|&i| contours.zones[i].code.clone()).collect();
    let unique: HashSet<&String> = highlight.iter().collect();
    let label = if unique.len() > 1 { "Zones du secteur" } else { "Zone du secteur" };
    let map = draw(
        db,
        Drawing {
            layer,
            level: layer_level(layer),
            selected,
            highlight,
            highlight_label: label.into(),
            metric: Metric::Class,
            title,
            links: false,
            style: Style { width, standalone: true },
            id_prefix: "secteur-",
        },
    )
    .await?;
    Ok(Some(map.svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(m));
        }
        assert_eq!(Metric::parse("autre"), None);
    }

    #[test]
    fn neighbours_surround_the_target() {
        let c = contours("communes-69").unwrap();
        let lyon = c.index["69123"];
        let around = neighbourhood(&c, &[lyon], 12);
        assert!(around.contains(&lyon));
        assert!(around.len() >= 12 && around.len() < c.zones.len(), "{}", around.len());
        // Villeurbanne borders Lyon.
        assert!(around.contains(&c.index["69266"]));
        let paris = contours(PARIS_BUREAUX).unwrap();
        assert!(paris.index.contains_key("75056-1905"));
    }

    #[test]
    fn legends_follow_the_metric() {
        let f = |class, x: f64| Figures { class, abstention: x, left: x, right: 1.0 - x, priority: x * 1000.0 };
        let figures: HashMap<String, Figures> =
            (0..10).map(|i| (format!("z{i}"), f(ZoneClass::ALL[i % 4], i as f64 / 10.0))).collect();
        let (legend, values) = categorize(Metric::Class, &figures);
        assert_eq!(legend.entries.len(), 4);
        assert_eq!(values["z2"], Category::Class(2));
        let (legend, values) = categorize(Metric::Abstention, &figures);
        assert_eq!(legend.entries.len(), 5);
        assert!(legend.entries[0].0.starts_with("Moins de 20,0"), "{:?}", legend.entries);
        assert_eq!(values["z0"], Category::Class(0));
        assert_eq!(values["z9"], Category::Class(4));
    }
}
