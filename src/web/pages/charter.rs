//! The charter and data sources pages.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{Layout, render};
use crate::app::App;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;

#[derive(Template)]
#[template(path = "charter.html")]
struct CharterPage {
    layout: Layout,
    charter: crate::config::Charter,
}

pub(super) async fn charter(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    render(CharterPage {
        layout: Layout::new(&app, &viewer, "Charte graphique", "/charte"),
        charter: app.config.charter.clone(),
    })
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesPage {
    layout: Layout,
}

pub(super) async fn sources() -> WebResult<Response> {
    render(SourcesPage { layout: Layout::bare("Sources des données") })
}
