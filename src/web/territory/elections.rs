//! An election's choices and their blocs, as HQ reviews and changes them.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::require_hq;
use super::views::{capitalise, percent};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::territory::import::Bloc;
use crate::territory::zone;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, MsgQuery, format_int, render_status};
use crate::web::segments::Choice;

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

pub(super) async fn election_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(key): Path<String>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    election_render(&app, &viewer, &key, &q.msg, None).await
}

/// Saves the bloc of every choice (`bloc-IDX` fields) in one transaction; all or nothing.
pub(super) async fn save_blocs(
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
