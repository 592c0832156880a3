//! View models shared by the territory pages (classes, figures, maps, ranked lists, profiles) and their builders.

use serde::Deserialize;

use super::PAGE_SIZE;
use crate::app::App;
use crate::territory::atlas::{self, Metric, PageMap};
use crate::territory::classify::{format_percent, format_points};
use crate::territory::zone::{self, Level, Within, ZoneClass, ZoneRow};
use crate::web::error::WebResult;
use crate::web::pages::{format_int, format_time};
use crate::web::segments::Choice;

/// A class as pages show it: a coloured swatch (CSS class `cls-…`) and its label.
pub struct ClassView {
    pub code: &'static str,
    pub label: &'static str,
}

impl ClassView {
    pub(super) fn of(class: ZoneClass) -> ClassView {
        ClassView { code: class.as_str(), label: class.label() }
    }
}

/// One line of a zone's figures: label, value in the reference election, change since the previous one.
pub struct FigureRow {
    pub label: &'static str,
    pub value: String,
    pub change: String,
}

/// A map with the form that chooses what it shows.
pub struct MapView {
    pub svg: String,
    pub metrics: Vec<Choice>,
    /// The page's path, and the other parameters the form keeps.
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub note: Option<String>,
    pub zones: usize,
    pub with_data: usize,
    pub legend_title: String,
    /// (label, CSS class of the swatch or "", fill colour for an inline swatch or "").
    pub legend: Vec<(String, &'static str, String)>,
    pub attribution: &'static str,
}

/// A ranked list of zones with its filters and pages.
pub struct RankedView {
    pub title: String,
    pub action: String,
    pub hidden: Vec<(String, String)>,
    pub classes: Vec<Choice>,
    /// Levels to choose from (empty: the page lists one level only).
    pub levels: Vec<Choice>,
    pub rows: Vec<RankedRow>,
    pub total: String,
    pub page: i64,
    pub pages: i64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

pub struct RankedRow {
    pub rank: i64,
    pub href: String,
    pub name: String,
    pub class: ClassView,
    pub abstention: String,
    pub left: String,
    pub right: String,
    pub delta_left: String,
    pub inscrits: String,
    pub priority: String,
}

/// Socio-economic profile: key indicators first, the others in details.
pub struct ProfileView {
    pub source: String,
    pub note: Option<String>,
    pub main: Vec<(String, String)>,
    pub more: Vec<(String, String)>,
    pub communes: Vec<CommuneLine>,
}

pub struct CommuneLine {
    pub href: String,
    pub name: String,
    pub population: String,
    pub median_income: String,
    pub poverty_rate: String,
}

#[derive(Deserialize, Default)]
pub(super) struct ZoneQuery {
    #[serde(default)]
    carte: String,
    #[serde(default)]
    classe: String,
    #[serde(default)]
    pub(super) niveau: String,
    #[serde(default)]
    page: String,
}

impl ZoneQuery {
    pub(super) fn metric(&self) -> Metric {
        Metric::parse(&self.carte).unwrap_or(Metric::Class)
    }

    fn class(&self) -> Option<ZoneClass> {
        ZoneClass::parse(&self.classe)
    }

    fn page(&self) -> i64 {
        self.page.trim().parse::<i64>().unwrap_or(1).max(1)
    }
}

fn query_string(pairs: &[(&str, String)]) -> String {
    let kept: Vec<(&str, &str)> = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (*k, v.as_str())).collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}

pub(super) fn href_with(path: &str, pairs: &[(&str, String)]) -> String {
    let q = query_string(pairs);
    if q.is_empty() { path.to_string() } else { format!("{path}?{q}") }
}

pub(super) fn percent(x: f64) -> String {
    format_percent(x)
}

fn points(x: Option<f64>) -> String {
    x.map(format_points).unwrap_or_else(|| "—".into())
}

pub(super) fn count(x: f64) -> String {
    format_int(x.round() as i64)
}

pub(super) fn map_view(map: Option<PageMap>, path: &str, q: &ZoneQuery) -> Option<MapView> {
    let map = map?;
    let metric = q.metric();
    Some(MapView {
        svg: map.svg,
        metrics: Metric::ALL
            .iter()
            .map(|m| Choice { value: m.as_str().into(), label: m.label().into(), selected: *m == metric })
            .collect(),
        action: path.to_string(),
        hidden: [("classe", q.classe.clone()), ("niveau", q.niveau.clone())]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        note: map.note,
        zones: map.zones,
        with_data: map.with_data,
        legend_title: map.legend_title,
        legend: map
            .legend
            .into_iter()
            .map(|(label, swatch)| match swatch {
                atlas::Swatch::Colour(c) => (label, "", c),
                atlas::Swatch::Missing => (label, "swatch-missing", String::new()),
                atlas::Swatch::Highlight => (label, "swatch-turf", String::new()),
            })
            .collect(),
        attribution: map.attribution,
    })
}

fn class_choices(selected: Option<ZoneClass>) -> Vec<Choice> {
    let mut out =
        vec![Choice { value: String::new(), label: "Toutes les classes".into(), selected: selected.is_none() }];
    out.extend(ZoneClass::ALL.iter().map(|c| Choice {
        value: c.as_str().into(),
        label: c.label().into(),
        selected: Some(*c) == selected,
    }));
    out
}

fn ranked_row(rank: i64, z: ZoneRow) -> RankedRow {
    RankedRow {
        rank,
        href: zone::page_path(z.level, &z.code),
        class: ClassView::of(z.class),
        abstention: percent(z.abstention),
        left: percent(z.left_share),
        right: percent(z.right_share),
        delta_left: points(z.delta_left),
        inscrits: format_int(z.inscrits),
        priority: count(z.priority),
        name: z.name,
    }
}

/// A page of zones of `level` within a zone, by priority, with the class filter of the query.
pub(super) async fn ranked_view(
    app: &App,
    level: Level,
    within: Within,
    levels: Vec<Choice>,
    path: &str,
    q: &ZoneQuery,
) -> WebResult<RankedView> {
    let class = q.class();
    let total = zone::count_zones(&app.db, level, within.clone(), class).await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = q.page().min(pages);
    let offset = (page - 1) * PAGE_SIZE;
    let rows = zone::ranked_zones(&app.db, level, within, class, PAGE_SIZE, offset).await?;
    let base = [("carte", q.carte.clone()), ("classe", q.classe.clone()), ("niveau", q.niveau.clone())];
    let page_href = |p: i64| {
        let mut pairs = base.to_vec();
        pairs.push(("page", p.to_string()));
        format!("{}#classement", href_with(path, &pairs))
    };
    Ok(RankedView {
        title: format!("{} par priorité", capitalise(level.plural_label())),
        action: path.to_string(),
        hidden: [("carte", q.carte.clone())]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        classes: class_choices(class),
        levels,
        rows: rows.into_iter().enumerate().map(|(i, z)| ranked_row(offset + i as i64 + 1, z)).collect(),
        total: format_int(total),
        page,
        pages,
        previous: (page > 1).then(|| page_href(page - 1)),
        next: (page < pages).then(|| page_href(page + 1)),
    })
}

pub(super) fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

pub(super) fn figures(c: &zone::Classification) -> Vec<FigureRow> {
    vec![
        FigureRow { label: "Abstention", value: percent(c.abstention), change: points(c.delta_abstention) },
        FigureRow { label: "Gauche (exprimés)", value: percent(c.left_share), change: points(c.delta_left) },
        FigureRow {
            label: "Droite et extrême droite (exprimés)",
            value: percent(c.right_share),
            change: points(c.delta_right),
        },
        FigureRow { label: "dont extrême droite", value: percent(c.extreme_droite_share), change: "—".into() },
        FigureRow { label: "Inscrits", value: format_int(c.inscrits), change: "—".into() },
        FigureRow { label: "Votants", value: format_int(c.votants), change: "—".into() },
        FigureRow { label: "Exprimés", value: format_int(c.exprimes), change: "—".into() },
    ]
}

pub(super) fn profile_view(p: &zone::Profile) -> ProfileView {
    let (main, more): (Vec<_>, Vec<_>) = p.indicators.iter().partition(|i| i.main);
    ProfileView {
        source: p.source.clone().unwrap_or_default(),
        note: p.note.clone(),
        main: main.into_iter().map(|i| (i.label.clone(), i.display.clone())).collect(),
        more: more.into_iter().map(|i| (i.label.clone(), i.display.clone())).collect(),
        communes: p
            .communes
            .iter()
            .map(|c| CommuneLine {
                href: zone::page_path(Level::Commune, &c.code),
                name: c.name.clone(),
                population: c.population.map(format_int).unwrap_or_else(|| "—".into()),
                median_income: c.median_income.clone(),
                poverty_rate: c.poverty_rate.clone(),
            })
            .collect(),
    }
}

/// "Européennes 2019 comparées à Présidentielle 2017, 1er tour (calculé le …)".
pub(super) async fn pair_text(app: &App) -> WebResult<Option<String>> {
    let Some(pair) = zone::current_pair(&app.db).await? else { return Ok(None) };
    let label =
        |e: &Option<zone::Election>| e.as_ref().map_or_else(|| "élection supprimée".into(), |e| e.label.clone());
    Ok(Some(format!(
        "{} comparées à {} (calculé le {})",
        label(&pair.reference),
        label(&pair.previous),
        format_time(pair.computed_at)
    )))
}
