//! The dashboard: the signed-in user's home page.

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::{Layout, render};
use crate::access::Perm;
use crate::app::App;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::{org, users};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    counts: org::Counts,
    national: bool,
    federations: Vec<org::FederationSummary>,
    grants: Vec<String>,
    can_invite: bool,
}

pub(super) async fn dashboard(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    let a = &viewer.access;
    let counts = org::counts(&app.db, a).await?;
    let mut federations = org::list_federations(&app.db, a, "").await?;
    // National roles get the busiest federations first; others see theirs.
    if a.is_national() {
        federations.sort_by_key(|f| std::cmp::Reverse((f.members, f.sections)));
        federations.truncate(10);
    }
    let me = users::get(&app.db, a, viewer.user_id).await?;
    let grants = users::grants(&app.db, &me)
        .await?
        .iter()
        .map(|g| format!("{} — {}", g.role_label(), g.scope_label()))
        .collect();
    render(DashboardPage {
        layout: Layout::new(&app, &viewer, "Tableau de bord", "/"),
        counts,
        national: a.is_national(),
        federations,
        grants,
        can_invite: a.allows_somewhere(Perm::ManageUsers),
    })
}
