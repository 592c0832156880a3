//! A département's page (figures, classes, map, ranked sub-zones) and its map as an SVG document.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::views::{
    ClassView, FigureRow, MapView, RankedView, ZoneQuery, capitalise, count, map_view, pair_text, percent, ranked_view,
};
use super::{DOCUMENT_MAP, PAGE_MAP, require_view};
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::error::Error;
use crate::territory::atlas;
use crate::territory::zone::{self, Level, Within};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_int, render};
use crate::web::segments::Choice;

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

pub(super) async fn departement_page(
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
pub(super) async fn departement_svg(
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
