//! "What works where": the reported methods' results by class of zone.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use crate::app::App;
use crate::field::reports::{self, MethodStats};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render};

#[derive(Template)]
#[template(path = "field/what_works.html")]
struct WhatWorksPage {
    layout: Layout,
    classes: Vec<(String, Vec<MethodStats>)>,
}

pub(super) async fn what_works(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    let classes = reports::what_works_where(&app.db)
        .await?
        .into_iter()
        .map(|(class, stats)| {
            let label = crate::territory::classify::ZoneClass::parse(&class)
                .map(|c| c.label().to_string())
                .unwrap_or_else(|| "Zones non classées".into());
            (label, stats)
        })
        .collect();
    render(WhatWorksPage { layout: Layout::new(&app, &viewer, "Ce qui marche où", "/missions"), classes })
}
