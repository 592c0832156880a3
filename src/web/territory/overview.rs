//! The national overview: elections, classes per level, national map, départements.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::views::{ClassView, MapView, ZoneQuery, count, map_view, pair_text, percent};
use super::{PAGE_MAP, is_hq, require_view};
use crate::app::App;
use crate::territory::atlas;
use crate::territory::zone::{self, ZoneClass};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_int, format_time, render};

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

pub(super) async fn overview(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
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
