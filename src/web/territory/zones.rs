//! The page of a circonscription, commune or bureau de vote: classification, figures, profile, map, sub-zones.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;

use super::views::{
    ClassView, FigureRow, MapView, ProfileView, RankedView, ZoneQuery, capitalise, count, figures, map_view, pair_text,
    profile_view, ranked_view,
};
use super::{PAGE_MAP, require_view};
use crate::app::App;
use crate::error::Error;
use crate::territory::atlas;
use crate::territory::zone::{self, Level, Within, ZoneInfo};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render};
use crate::web::segments::Choice;

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

pub(super) async fn circonscription_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Circonscription, &code).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}

pub(super) async fn commune_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Commune, &code).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}

pub(super) async fn bureau_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> WebResult<Response> {
    require_view(&viewer)?;
    let info = zone::zone_info(&app.db, Level::Bureau, &key).await?.ok_or(Error::NotFound)?;
    zone_page(&app, &viewer, info, &q).await
}
