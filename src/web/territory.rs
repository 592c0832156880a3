//! Territory pages: the national overview, a page per département, circonscription, commune and bureau de vote
//! (classification and its explanation, figures and changes, socio-economic profile, a choropleth map where contours
//! exist, sub-zones ranked by priority), and HQ's tools (import of results and indicators as a job, blocs of each
//! election, thresholds, classification).
//!
//! The data is public (official results, Insee, IGN): any signed-in user allowed to view the organisation somewhere
//! reads the pages; HQ's tools need `Perm::ManageTerritory` (403 otherwise) and are audited.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::Viewer;
use super::error::WebResult;
use super::pages::{Layout, MsgQuery, format_int, format_time, render, render_status};
use super::segments::Choice;
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::territory::atlas::{self, Metric, PageMap};
use crate::territory::classify::{self, Thresholds, format_percent, format_points};
use crate::territory::import::{Bloc, ElectionKind};
use crate::territory::upload::{self, Outcome, Target};
use crate::territory::zone::{self, Level, Within, ZoneClass, ZoneInfo, ZoneRow};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/territoire", get(overview))
        .route("/territoire/departements/{code}", get(departement_page))
        .route("/territoire/departements/{code}/carte.svg", get(departement_svg))
        .route("/territoire/circonscriptions/{code}", get(circonscription_page))
        .route("/territoire/communes/{code}", get(commune_page))
        .route("/territoire/bureaux/{key}", get(bureau_page))
        .route("/territoire/gestion", get(admin))
        .route("/territoire/gestion/seuils", post(save_thresholds))
        .route("/territoire/gestion/classement", post(classify_zones))
        .route("/territoire/gestion/elections/{key}", get(election_page).post(save_blocs))
        .route(
            "/territoire/gestion/imports",
            post(upload).layer(DefaultBodyLimit::max(upload::MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/territoire/gestion/imports/{id}", get(import_page))
}

/// Maps of pages: 640 px wide, scaled to the screen by the stylesheet, legend and credit as HTML under them.
const PAGE_MAP: atlas::Style = atlas::Style { width: 640, standalone: false };
/// The same map as a document of its own (download, print): legend and credit inside.
const DOCUMENT_MAP: atlas::Style = atlas::Style { width: 800, standalone: true };
/// Zones per page of a ranked list.
const PAGE_SIZE: i64 = 25;

fn require_view(viewer: &Viewer) -> Result<(), Error> {
    if viewer.access.allows_somewhere(Perm::ViewOrg) { Ok(()) } else { Err(Error::Forbidden) }
}

fn require_hq(viewer: &Viewer) -> Result<(), Error> {
    if viewer.access.allows_somewhere(Perm::ManageTerritory) { Ok(()) } else { Err(Error::Forbidden) }
}

fn is_hq(viewer: &Viewer) -> bool {
    viewer.access.allows_somewhere(Perm::ManageTerritory)
}

// ---------------------------------------------------------------------------------------------------
// View models shared by the pages

/// A class as pages show it: a coloured swatch (CSS class `cls-…`) and its label.
pub struct ClassView {
    pub code: &'static str,
    pub label: &'static str,
}

impl ClassView {
    fn of(class: ZoneClass) -> ClassView {
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
struct ZoneQuery {
    #[serde(default)]
    carte: String,
    #[serde(default)]
    classe: String,
    #[serde(default)]
    niveau: String,
    #[serde(default)]
    page: String,
}

impl ZoneQuery {
    fn metric(&self) -> Metric {
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

fn href_with(path: &str, pairs: &[(&str, String)]) -> String {
    let q = query_string(pairs);
    if q.is_empty() { path.to_string() } else { format!("{path}?{q}") }
}

fn percent(x: f64) -> String {
    format_percent(x)
}

fn points(x: Option<f64>) -> String {
    x.map(format_points).unwrap_or_else(|| "—".into())
}

fn count(x: f64) -> String {
    format_int(x.round() as i64)
}

fn map_view(map: Option<PageMap>, path: &str, q: &ZoneQuery) -> Option<MapView> {
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
async fn ranked_view(
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

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

fn figures(c: &zone::Classification) -> Vec<FigureRow> {
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

fn profile_view(p: &zone::Profile) -> ProfileView {
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
async fn pair_text(app: &App) -> WebResult<Option<String>> {
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

// ---------------------------------------------------------------------------------------------------
// Overview

pub struct ElectionView {
    pub key: String,
    pub label: String,
    pub bureaux: String,
    pub inscrits: String,
    pub votants: String,
    pub exprimes: String,
    pub abstention: String,
    pub imported: String,
}

fn election_view(e: &zone::Election) -> ElectionView {
    ElectionView {
        key: e.key.clone(),
        label: e.label.clone(),
        bureaux: format_int(e.bureaux),
        inscrits: format_int(e.inscrits),
        votants: format_int(e.votants),
        exprimes: format_int(e.exprimes),
        abstention: if e.inscrits > 0 { percent(1.0 - e.votants as f64 / e.inscrits as f64) } else { "—".into() },
        imported: format_time(e.imported_at),
    }
}

pub struct LevelCounts {
    pub label: &'static str,
    pub counts: Vec<(ClassView, String)>,
    pub total: String,
}

pub struct DepartementRow {
    pub code: String,
    pub name: String,
    pub href: String,
    pub communes: String,
    pub abstention: String,
    pub left: String,
    pub priority: String,
    pub classes: Vec<String>,
}

#[derive(Template)]
#[template(path = "territory/index.html")]
struct OverviewPage {
    layout: Layout,
    hq: bool,
    elections: Vec<ElectionView>,
    pair: Option<String>,
    counts: Vec<LevelCounts>,
    class_headers: Vec<ClassView>,
    map: Option<MapView>,
    departements: Vec<DepartementRow>,
}

async fn overview(State(app): State<App>, viewer: Viewer, Query(q): Query<ZoneQuery>) -> WebResult<Response> {
    require_view(&viewer)?;
    let elections = zone::elections(&app.db).await?;
    let pair = pair_text(&app).await?;
    let counts = zone::class_counts(&app.db)
        .await?
        .into_iter()
        .map(|(level, counts)| LevelCounts {
            label: level.plural_label(),
            total: format_int(counts.iter().map(|(_, n)| n).sum()),
            counts: counts.into_iter().map(|(c, n)| (ClassView::of(c), format_int(n))).collect(),
        })
        .collect();
    let map = if pair.is_some() {
        map_view(atlas::national_map(&app.db, q.metric(), PAGE_MAP).await?, "/territoire", &q)
    } else {
        None
    };
    let departements = zone::departement_summaries(&app.db)
        .await?
        .into_iter()
        .map(|d| DepartementRow {
            href: zone::departement_path(&d.code),
            communes: format_int(d.communes),
            abstention: d.abstention.map(percent).unwrap_or_else(|| "—".into()),
            left: d.left_share.map(percent).unwrap_or_else(|| "—".into()),
            priority: if d.communes > 0 { count(d.priority) } else { "—".into() },
            classes: d.classes.iter().map(|n| format_int(*n)).collect(),
            code: d.code,
            name: d.name,
        })
        .collect();
    render(OverviewPage {
        layout: Layout::new(&app, &viewer, "Territoire", "/territoire"),
        hq: is_hq(&viewer),
        elections: elections.iter().map(election_view).collect(),
        pair,
        counts,
        class_headers: ZoneClass::ALL.into_iter().map(ClassView::of).collect(),
        map,
        departements,
    })
}

// ---------------------------------------------------------------------------------------------------
// Département

#[derive(Template)]
#[template(path = "territory/departement.html")]
struct DepartementPage {
    layout: Layout,
    code: String,
    name: String,
    federation: Option<(i64, String)>,
    pair: Option<String>,
    totals: Vec<FigureRow>,
    counts: Vec<(ClassView, String)>,
    map: Option<MapView>,
    ranked: RankedView,
}

async fn departement_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let d = zone::departement(&app.db, &code).await?.ok_or(Error::NotFound)?;
    let path = zone::departement_path(&d.code);
    let totals = zone::totals(&app.db, Level::Commune, Some(&d.code)).await?;
    let map = if totals.is_some() || atlas::communes_layer(&d.code).is_some() {
        atlas::departement_map(&app.db, &d.code, &d.name, q.metric(), PAGE_MAP).await?
    } else {
        None
    };
    let level = match q.niveau.as_str() {
        "circonscriptions" => Level::Circonscription,
        "bureaux" => Level::Bureau,
        _ => Level::Commune,
    };
    let levels =
        [("communes", Level::Commune), ("circonscriptions", Level::Circonscription), ("bureaux", Level::Bureau)]
            .into_iter()
            .map(|(value, l)| Choice { value: value.into(), label: capitalise(l.plural_label()), selected: l == level })
            .collect();
    let ranked = ranked_view(&app, level, Within::Departement(d.code.clone()), levels, &path, &q).await?;
    let federation = match d.federation_id {
        Some(id) if viewer.access.allows(Perm::ViewOrg, Scope::Federation { federation_id: id }) => {
            let name: Option<String> = sqlx::query_scalar("SELECT name FROM federations WHERE id = $1")
                .bind(id)
                .fetch_optional(&app.db.pool)
                .await?;
            name.map(|n| (id, n))
        }
        _ => None,
    };
    let (figures, counts) = match &totals {
        Some(t) => (
            vec![
                FigureRow { label: "Abstention", value: percent(t.abstention), change: String::new() },
                FigureRow { label: "Gauche (exprimés)", value: percent(t.left_share), change: String::new() },
                FigureRow {
                    label: "Droite et extrême droite (exprimés)",
                    value: percent(t.right_share),
                    change: String::new(),
                },
                FigureRow {
                    label: "dont extrême droite",
                    value: percent(t.extreme_droite_share),
                    change: String::new(),
                },
                FigureRow { label: "Inscrits", value: format_int(t.inscrits), change: String::new() },
                FigureRow {
                    label: "Électeurs à gagner (somme des communes)",
                    value: count(t.priority),
                    change: String::new(),
                },
            ],
            t.classes.iter().map(|(c, n)| (ClassView::of(*c), format_int(*n))).collect(),
        ),
        None => (Vec::new(), Vec::new()),
    };
    let title = format!("{} ({})", d.name, d.code);
    render(DepartementPage {
        layout: Layout::new(&app, &viewer, &title, "/territoire"),
        map: map_view(map, &path, &q),
        pair: pair_text(&app).await?,
        code: d.code,
        name: d.name,
        federation,
        totals: figures,
        counts,
        ranked,
    })
}

/// The département's map alone, as an SVG document (to download or print).
async fn departement_svg(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let d = zone::departement(&app.db, &code).await?.ok_or(Error::NotFound)?;
    let map =
        atlas::departement_map(&app.db, &d.code, &d.name, q.metric(), DOCUMENT_MAP).await?.ok_or(Error::NotFound)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], map.svg).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Circonscription, commune, bureau

pub struct ZoneView {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub parents: Vec<zone::ZoneLink>,
    pub class: Option<ClassView>,
    pub explanation: String,
    pub priority: String,
    pub figures: Vec<FigureRow>,
    pub profile: ProfileView,
}

fn zone_view(info: &ZoneInfo) -> ZoneView {
    let c = info.classification.as_ref();
    ZoneView {
        code: info.code.clone(),
        name: info.name.clone(),
        kind: match info.level {
            Level::Bureau => "Bureau de vote",
            Level::Commune => "Commune",
            Level::Circonscription => "Circonscription législative",
        },
        parents: info.parents.clone(),
        class: c.map(|c| ClassView::of(c.class)),
        explanation: c.map(|c| c.explanation.clone()).unwrap_or_default(),
        priority: c.map(|c| count(c.priority)).unwrap_or_default(),
        figures: c.map(figures).unwrap_or_default(),
        profile: profile_view(&info.profile),
    }
}

#[derive(Template)]
#[template(path = "territory/zone.html")]
struct ZonePage {
    layout: Layout,
    zone: ZoneView,
    pair: Option<String>,
    map: Option<MapView>,
    ranked: Option<RankedView>,
    /// Shown when a commune has no bureau contours: why the bureaux come as a list.
    list_note: Option<String>,
    /// The zone's fiche militante (briefing sheet), and the form of a mission on this zone.
    fiche_url: String,
    mission_url: Option<String>,
}

async fn zone_page(app: &App, viewer: &Viewer, info: ZoneInfo, q: &ZoneQuery) -> WebResult<Response> {
    let path = zone::page_path(info.level, &info.code);
    let metric = q.metric();
    let (map, ranked, list_note) = match info.level {
        Level::Circonscription => {
            let map = atlas::circonscription_map(&app.db, &info.code, &info.name, metric, PAGE_MAP).await?;
            let level = if q.niveau == "bureaux" { Level::Bureau } else { Level::Commune };
            let levels = [("communes", Level::Commune), ("bureaux", Level::Bureau)]
                .into_iter()
                .map(|(value, l)| Choice {
                    value: value.into(),
                    label: capitalise(l.plural_label()),
                    selected: l == level,
                })
                .collect();
            let ranked = ranked_view(app, level, Within::Circonscription(info.code.clone()), levels, &path, q).await?;
            (map, Some(ranked), None)
        }
        Level::Commune => {
            let map = atlas::commune_map(&app.db, &info.code, &info.name, metric, PAGE_MAP).await?;
            let ranked =
                ranked_view(app, Level::Bureau, Within::Commune(info.code.clone()), Vec::new(), &path, q).await?;
            let has_bureau_map = map.as_ref().is_some_and(|m| m.level == Level::Bureau);
            let note = (!has_bureau_map && !ranked.rows.is_empty()).then(|| {
                "Les contours des bureaux de vote ne sont disponibles que pour Paris : les bureaux de la commune sont \
                 classés ci-dessous, du plus prioritaire au moins prioritaire."
                    .to_string()
            });
            (map, Some(ranked), note)
        }
        Level::Bureau => (atlas::bureau_map(&app.db, &info.code, &info.name, metric, PAGE_MAP).await?, None, None),
    };
    let title = info.name.clone();
    let turf = serde_urlencoded::to_string([("secteur", format!("{}:{}", info.level.as_str(), info.code))])
        .unwrap_or_default();
    render(ZonePage {
        layout: Layout::new(app, viewer, &title, "/territoire"),
        zone: zone_view(&info),
        pair: pair_text(app).await?,
        map: map_view(map, &path, q),
        ranked,
        list_note,
        fiche_url: format!("/fiches?{turf}"),
        mission_url: viewer
            .access
            .allows_somewhere(crate::access::Perm::ManageMissions)
            .then(|| format!("/missions/nouvelle?{turf}")),
    })
}

async fn circonscription_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Circonscription, &code).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}

async fn commune_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Commune, &code).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}

async fn bureau_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Bureau, &key).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}

// ---------------------------------------------------------------------------------------------------
// HQ: imports, blocs, thresholds, classification

/// A threshold as the form shows it: in points or percent (the settings store fractions).
pub struct ThresholdField {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub value: String,
}

const THRESHOLD_FIELDS: [(&str, &str, &str); 6] = [
    (
        "volatility",
        "Volatilité (points)",
        "Une zone dont la part de la gauche a bougé d'au moins autant entre les deux élections est hésitante.",
    ),
    ("closeness", "Écart serré (points)", "Gauche et droite à au plus autant d'écart : la zone est hésitante."),
    (
        "abstention_gap",
        "Surcroît d'abstention (points)",
        "Foyer d'abstention : abstention supérieure d'au moins autant à celle du département…",
    ),
    ("abstention_left_min", "Part minimale de la gauche (%)", "… et gauche à au moins autant des exprimés."),
    (
        "persuadable_share",
        "Électeurs persuadables d'une zone à égalité (%)",
        "Part des votants d'une zone où gauche et droite sont à égalité comptés comme persuadables dans la priorité.",
    ),
    (
        "closeness_scale",
        "Écart sans persuadables (points)",
        "À partir de cet écart entre gauche et droite, plus aucun votant n'est compté persuadable.",
    ),
];

fn threshold_values(t: &Thresholds) -> [f64; 6] {
    [t.volatility, t.closeness, t.abstention_gap, t.abstention_left_min, t.persuadable_share, t.closeness_scale]
}

/// 0.05 → "5", 0.025 → "2,5".
fn as_points(x: f64) -> String {
    let text = format!("{:.2}", x * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').replace('.', ",")
}

fn threshold_fields(values: &[String; 6]) -> Vec<ThresholdField> {
    THRESHOLD_FIELDS
        .iter()
        .zip(values)
        .map(|((name, label, help), value)| ThresholdField { name, label, help, value: value.clone() })
        .collect()
}

/// Reads the form (points and percents, decimal comma or point) into thresholds; French message on bad input.
fn parse_thresholds(form: &[(String, String)]) -> Result<Thresholds, String> {
    let mut values = [0.0; 6];
    for (i, (name, label, _)) in THRESHOLD_FIELDS.iter().enumerate() {
        let raw = form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
        let number: f64 = raw
            .replace(',', ".")
            .replace(['\u{202f}', '\u{a0}', ' '], "")
            .parse()
            .map_err(|_| format!("« {label} » : un nombre est attendu (par exemple 5 ou 2,5)."))?;
        if !number.is_finite() || !(0.0..=100.0).contains(&number) {
            return Err(format!("« {label} » : entre 0 et 100."));
        }
        values[i] = number / 100.0;
    }
    let t = Thresholds {
        volatility: values[0],
        closeness: values[1],
        abstention_gap: values[2],
        abstention_left_min: values[3],
        persuadable_share: values[4],
        closeness_scale: values[5],
    };
    t.check().map_err(|m| format!("{} ; rien n'a été changé.", capitalise(&m)))?;
    Ok(t)
}

pub struct ElectionAdminRow {
    pub key: String,
    pub label: String,
    pub bureaux: String,
    pub imported: String,
    /// HQ changed blocs since the bureaux' sums were computed (the next classification recomputes them).
    pub stale: bool,
}

pub struct ImportRow {
    pub href: String,
    pub filename: String,
    pub what: String,
    pub state: &'static str,
    pub when: String,
}

fn import_state(job: &upload::ImportJob) -> &'static str {
    match (&job.import.outcome, job.state.as_str()) {
        (Some(Outcome::Imported { .. }), _) => "importé",
        (Some(Outcome::Refused { .. }), _) => "refusé",
        (None, "queued") => "en attente",
        (None, "running") => "en cours",
        (None, "failed") => "échoué",
        (None, _) => "terminé",
    }
}

fn import_what(target: &Target) -> String {
    match target {
        Target::Results { label, key, .. } => format!("Résultats : {label} ({key})"),
        Target::Socio => "Indicateurs Filosofi".into(),
    }
}

fn kind_label(kind: ElectionKind) -> &'static str {
    match kind {
        ElectionKind::Presidentielle => "Présidentielle",
        ElectionKind::Legislatives => "Législatives",
        ElectionKind::Europeennes => "Européennes",
        ElectionKind::Municipales => "Municipales",
        ElectionKind::Regionales => "Régionales",
        ElectionKind::Departementales => "Départementales",
        ElectionKind::Referendum => "Référendum",
        ElectionKind::Autre => "Autre",
    }
}

/// What the upload form keeps when it comes back with an error.
#[derive(Default)]
pub struct UploadFields {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub round: String,
    pub year: String,
}

#[derive(Template)]
#[template(path = "territory/admin.html")]
struct AdminPage {
    layout: Layout,
    elections: Vec<ElectionAdminRow>,
    pair: Option<String>,
    references: Vec<Choice>,
    previouses: Vec<Choice>,
    classify_error: Option<String>,
    thresholds: Vec<ThresholdField>,
    thresholds_error: Option<String>,
    imports: Vec<ImportRow>,
    kinds: Vec<Choice>,
    upload: UploadFields,
    upload_error: Option<String>,
}

/// Errors and entered values of the forms of the HQ page.
#[derive(Default)]
struct AdminState {
    flash: String,
    classify_error: Option<String>,
    thresholds: Option<[String; 6]>,
    thresholds_error: Option<String>,
    upload: UploadFields,
    upload_error: Option<String>,
}

async fn admin_page(app: &App, viewer: &Viewer, state: AdminState) -> WebResult<Response> {
    require_hq(viewer)?;
    let elections = zone::elections(&app.db).await?;
    let mut rows = Vec::with_capacity(elections.len());
    for e in &elections {
        let current: Vec<String> =
            sqlx::query_scalar("SELECT bloc FROM election_choices WHERE election_id = $1 ORDER BY idx")
                .bind(e.id)
                .fetch_all(&app.db.pool)
                .await?;
        rows.push(ElectionAdminRow {
            key: e.key.clone(),
            label: e.label.clone(),
            bureaux: format_int(e.bureaux),
            imported: format_time(e.imported_at),
            stale: current.join(",") != e.blocs,
        });
    }
    let pair = zone::current_pair(&app.db).await?;
    let (reference_id, previous_id) = pair
        .as_ref()
        .map(|p| (p.reference.as_ref().map(|e| e.id), p.previous.as_ref().map(|e| e.id)))
        .unwrap_or((None, None));
    let choices = |selected: Option<i64>, fallback: usize| -> Vec<Choice> {
        elections
            .iter()
            .enumerate()
            .map(|(i, e)| Choice {
                value: e.key.clone(),
                label: e.label.clone(),
                selected: selected.map_or(i == fallback, |id| id == e.id),
            })
            .collect()
    };
    let thresholds = match state.thresholds {
        Some(values) => values,
        None => threshold_values(&classify::load_thresholds(&app.db).await?).map(as_points),
    };
    let imports = upload::recent(&app.db, 10)
        .await?
        .into_iter()
        .map(|j| ImportRow {
            href: format!("/territoire/gestion/imports/{}", j.id),
            state: import_state(&j),
            what: import_what(&j.import.target),
            when: format_time(j.created_at),
            filename: j.import.filename,
        })
        .collect();
    let kinds = ElectionKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().into(),
            label: kind_label(*k).into(),
            selected: state.upload.kind == k.as_str(),
        })
        .collect();
    let mut layout = Layout::new(app, viewer, "Territoire : gestion", "/territoire");
    layout.flash = match state.flash.as_str() {
        "seuils" => Some("Seuils enregistrés. Relancez le classement pour les appliquer."),
        "classement" => Some("Classement recalculé."),
        _ => None,
    };
    let failed = state.classify_error.is_some() || state.thresholds_error.is_some() || state.upload_error.is_some();
    render_status(
        if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK },
        AdminPage {
            layout,
            elections: rows,
            pair: pair_text(app).await?,
            references: choices(reference_id, 0),
            previouses: choices(previous_id, 1.min(elections.len().saturating_sub(1))),
            classify_error: state.classify_error,
            thresholds: threshold_fields(&thresholds),
            thresholds_error: state.thresholds_error,
            imports,
            kinds,
            upload: state.upload,
            upload_error: state.upload_error,
        },
    )
}

async fn admin(State(app): State<App>, viewer: Viewer, Query(q): Query<MsgQuery>) -> WebResult<Response> {
    admin_page(&app, &viewer, AdminState { flash: q.msg, ..AdminState::default() }).await
}

async fn save_thresholds(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    require_hq(&viewer)?;
    let thresholds = match parse_thresholds(&form) {
        Ok(t) => t,
        Err(message) => {
            let entered = THRESHOLD_FIELDS
                .map(|(name, _, _)| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default());
            let state =
                AdminState { thresholds: Some(entered), thresholds_error: Some(message), ..AdminState::default() };
            return admin_page(&app, &viewer, state).await;
        }
    };
    match classify::save_thresholds(&app.db, &thresholds).await {
        Ok(()) => {}
        Err(Error::Invalid(m)) => {
            let state = AdminState { thresholds_error: Some(m), ..AdminState::default() };
            return admin_page(&app, &viewer, state).await;
        }
        Err(e) => return Err(e.into()),
    }
    let details = serde_json::to_value(thresholds).map_err(anyhow::Error::from)?;
    audit::record(&app.db, &viewer.meta, viewer.audit("territory_thresholds_changed").details(details)).await?;
    Ok(Redirect::to("/territoire/gestion?msg=seuils#seuils").into_response())
}

#[derive(Deserialize)]
struct ClassifyForm {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    previous: String,
}

async fn classify_zones(State(app): State<App>, viewer: Viewer, Form(form): Form<ClassifyForm>) -> WebResult<Response> {
    require_hq(&viewer)?;
    match classify::classify_all(&app.db, form.reference.trim(), form.previous.trim()).await {
        Ok(summary) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("territory_classified").details(serde_json::json!({
                    "reference": summary.reference, "previous": summary.previous,
                    "bureaux": summary.bureaux, "communes": summary.communes,
                    "circonscriptions": summary.circonscriptions,
                })),
            )
            .await?;
            Ok(Redirect::to("/territoire/gestion?msg=classement#classement").into_response())
        }
        Err(Error::Invalid(m)) => {
            admin_page(&app, &viewer, AdminState { classify_error: Some(capitalise(&m)), ..AdminState::default() })
                .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn upload(State(app): State<App>, viewer: Viewer, mut multipart: Multipart) -> WebResult<Response> {
    require_hq(&viewer)?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| Error::Invalid(format!("Envoi incomplet : {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| Error::Invalid(format!("Fichier illisible : {e}")))?;
            file = Some((filename, bytes.to_vec()));
        } else {
            let text = field.text().await.map_err(|e| Error::Invalid(e.to_string()))?;
            fields.push((name, text));
        }
    }
    let value =
        |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let entered = UploadFields {
        key: value("key"),
        label: value("label"),
        kind: value("kind"),
        round: value("round"),
        year: value("year"),
    };
    let socio = value("what") == "socio";
    let fail = |message: String, entered: UploadFields| {
        let app = app.clone();
        let viewer = &viewer;
        async move {
            admin_page(
                &app,
                viewer,
                AdminState { upload: entered, upload_error: Some(message), ..AdminState::default() },
            )
            .await
        }
    };
    let Some((filename, bytes)) = file.filter(|(n, b)| !(n.is_empty() && b.is_empty())) else {
        return fail("Choisissez un fichier.".into(), entered).await;
    };
    let target = if socio {
        Target::Socio
    } else {
        let (Ok(round), Ok(year)) = (entered.round.parse::<u32>(), entered.year.parse::<u32>()) else {
            return fail("Le tour et l'année sont des nombres (par exemple 1 et 2017).".into(), entered).await;
        };
        Target::Results {
            key: entered.key.clone(),
            label: entered.label.clone(),
            kind: entered.kind.clone(),
            round,
            year,
        }
    };
    match upload::enqueue(&app.db, viewer.user_id, &filename, target.clone(), &bytes).await {
        Ok(id) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("territory_import_queued").target("job", id).details(serde_json::json!({
                    "what": import_what(&target), "bytes": bytes.len(),
                })),
            )
            .await?;
            Ok(Redirect::to(&format!("/territoire/gestion/imports/{id}")).into_response())
        }
        Err(Error::Invalid(m)) => fail(m, entered).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "territory/import.html")]
struct ImportPage {
    layout: Layout,
    id: i64,
    filename: String,
    what: String,
    state: &'static str,
    pending: bool,
    percent: u64,
    /// Lines of the summary of a successful import.
    summary: Vec<String>,
    unmatched: Option<String>,
    refused: Option<String>,
    errors: Vec<upload::LineError>,
    more_errors: usize,
    failure: Option<String>,
}

async fn import_page(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    require_hq(&viewer)?;
    let job = upload::get(&app.db, id).await?.ok_or(Error::NotFound)?;
    let pending = job.pending();
    let mut page = ImportPage {
        layout: Layout::new(&app, &viewer, "Import de données territoriales", "/territoire"),
        id: job.id,
        state: import_state(&job),
        what: import_what(&job.import.target),
        pending,
        percent: job.import.progress.percent(),
        summary: Vec::new(),
        unmatched: None,
        refused: None,
        errors: Vec::new(),
        more_errors: 0,
        failure: None,
        filename: job.import.filename.clone(),
    };
    page.layout.refresh = pending;
    match job.import.outcome {
        Some(Outcome::Imported { summary, unmatched_count, unmatched }) => {
            page.summary = summary;
            if unmatched_count > 0 {
                page.unmatched = Some(format!(
                    "{} code(s) de commune absent(s) du référentiel (consulats, communes fusionnées…), importé(s) \
                     quand même : {}{}.",
                    format_int(unmatched_count as i64),
                    unmatched.join(", "),
                    if unmatched_count > unmatched.len() { "…" } else { "" }
                ));
            }
        }
        Some(Outcome::Refused { message, errors, total_errors }) => {
            page.more_errors = total_errors.saturating_sub(errors.len());
            page.refused = Some(message);
            page.errors = errors;
        }
        None if job.state == "failed" => {
            page.failure = Some(
                "L'import n'a pas pu aboutir après plusieurs essais. Réessayez plus tard ; si le \
                problème persiste, contactez l'équipe technique."
                    .into(),
            );
        }
        None => {}
    }
    render(page)
}

pub struct ChoiceRow {
    pub idx: i64,
    pub label: String,
    pub nuance: String,
    pub voix: String,
    pub share: String,
    pub blocs: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "territory/election.html")]
struct ElectionPage {
    layout: Layout,
    key: String,
    label: String,
    exprimes: String,
    stale: bool,
    choices: Vec<ChoiceRow>,
    totals: Vec<(String, String, String)>,
    error: Option<String>,
}

async fn election_render(
    app: &App,
    viewer: &Viewer,
    key: &str,
    flash: &str,
    error: Option<String>,
) -> WebResult<Response> {
    require_hq(viewer)?;
    let e = zone::election(&app.db, key).await?.ok_or(Error::NotFound)?;
    let rows: Vec<(i64, String, Option<String>, String, i64)> = sqlx::query_as(
        "SELECT idx, label, nuance, bloc, voix FROM election_choices WHERE election_id = $1 ORDER BY voix DESC, idx",
    )
    .bind(e.id)
    .fetch_all(&app.db.pool)
    .await?;
    let share = |v: i64| if e.exprimes > 0 { percent(v as f64 / e.exprimes as f64) } else { "—".into() };
    let mut per_bloc = [0i64; 5];
    for (_, _, _, bloc, voix) in &rows {
        if let Some(b) = Bloc::parse(bloc) {
            per_bloc[b as usize] += voix;
        }
    }
    let mut current: Vec<(i64, String)> = rows.iter().map(|r| (r.0, r.3.clone())).collect();
    current.sort();
    let stale = current.iter().map(|(_, b)| b.as_str()).collect::<Vec<_>>().join(",") != e.blocs;
    let choices = rows
        .into_iter()
        .map(|(idx, label, nuance, bloc, voix)| ChoiceRow {
            idx,
            label,
            nuance: nuance.unwrap_or_default(),
            voix: format_int(voix),
            share: share(voix),
            blocs: Bloc::ALL
                .iter()
                .map(|b| Choice {
                    value: b.as_str().into(),
                    label: capitalise(b.label()),
                    selected: b.as_str() == bloc,
                })
                .collect(),
        })
        .collect();
    let totals = Bloc::ALL
        .iter()
        .map(|b| (capitalise(b.label()), format_int(per_bloc[*b as usize]), share(per_bloc[*b as usize])))
        .collect();
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut layout = Layout::new(app, viewer, &format!("Blocs : {}", e.label), "/territoire");
    if flash == "blocs" {
        layout.flash = Some("Blocs enregistrés : le prochain classement recalculera les votes par bloc.");
    }
    render_status(
        status,
        ElectionPage {
            layout,
            key: e.key,
            label: e.label,
            exprimes: format_int(e.exprimes),
            stale,
            choices,
            totals,
            error,
        },
    )
}

async fn election_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    election_render(&app, &viewer, &key, &q.msg, None).await
}

/// Saves the bloc of every choice (`bloc-IDX` fields) in one transaction; all or nothing.
async fn save_blocs(
    State(app): State<App>,
    viewer: Viewer,
    Path(key): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    require_hq(&viewer)?;
    let e = zone::election(&app.db, &key).await?.ok_or(Error::NotFound)?;
    let existing: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT idx, label, bloc FROM election_choices WHERE election_id = $1 ORDER BY idx")
            .bind(e.id)
            .fetch_all(&app.db.pool)
            .await?;
    let mut changes: Vec<(i64, Bloc)> = Vec::new();
    for (name, value) in &form {
        let Some(idx) = name.strip_prefix("bloc-").and_then(|i| i.parse::<i64>().ok()) else { continue };
        let Some((_, label, bloc)) = existing.iter().find(|(i, _, _)| *i == idx) else {
            return election_render(&app, &viewer, &key, "", Some("Choix inconnu : rechargez la page.".into())).await;
        };
        let Some(new) = Bloc::parse(value) else {
            let m = format!("Bloc « {value} » inconnu pour « {label} » : rien n'a été changé.");
            return election_render(&app, &viewer, &key, "", Some(m)).await;
        };
        if new.as_str() != bloc {
            changes.push((idx, new));
        }
    }
    if !changes.is_empty() {
        let mut tx = app.db.pool.begin().await?;
        for (idx, bloc) in &changes {
            sqlx::query("UPDATE election_choices SET bloc = $1 WHERE election_id = $2 AND idx = $3")
                .bind(bloc.as_str())
                .bind(e.id)
                .bind(idx)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        audit::record(
            &app.db,
            &viewer.meta,
            viewer.audit("election_blocs_changed").target("election", e.id).details(serde_json::json!({
                "key": e.key, "changed": changes.len(),
            })),
        )
        .await?;
    }
    Ok(Redirect::to(&format!("/territoire/gestion/elections/{}?msg=blocs", e.key)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(values: [&str; 6]) -> Vec<(String, String)> {
        THRESHOLD_FIELDS.iter().zip(values).map(|((n, _, _), v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn thresholds_are_read_in_points() {
        let t = parse_thresholds(&form(["5", "2,5", "5", "35", "10", "20"])).unwrap();
        assert!((t.closeness - 0.025).abs() < 1e-12 && (t.abstention_left_min - 0.35).abs() < 1e-12);
        assert_eq!(threshold_values(&Thresholds::default()).map(as_points), ["5", "5", "5", "35", "10", "20"]);
        assert_eq!(as_points(0.025), "2,5");
        let err = parse_thresholds(&form(["5", "abc", "5", "35", "10", "20"])).unwrap_err();
        assert!(err.contains("Écart serré") && err.contains("nombre"), "{err}");
        assert!(parse_thresholds(&form(["150", "5", "5", "35", "10", "20"])).unwrap_err().contains("entre 0 et 100"));
        // The domain's own check: no persuadable scale.
        let err = parse_thresholds(&form(["5", "5", "5", "35", "10", "0"])).unwrap_err();
        assert!(err.contains("positif") && err.contains("rien n'a été changé"), "{err}");
    }

    #[test]
    fn query_strings_drop_empty_values() {
        assert_eq!(href_with("/t", &[("carte", "".into()), ("page", "2".into())]), "/t?page=2");
        assert_eq!(href_with("/t", &[("classe", "".into())]), "/t");
    }
}
