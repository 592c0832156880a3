//! A mission's page: sign-up and carpooling, attendance, closing and cancelling, candidates, calendar files.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::forms::{Pairs, first, number, opt_id, when};
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::field::ical;
use crate::field::matching::{self, Score};
use crate::field::missions::{self, Mission, Signup};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render, render_status};

pub struct SignupRow {
    pub s: Signup,
    pub state: &'static str,
}

#[derive(Template)]
#[template(path = "field/mission.html")]
struct MissionPage {
    layout: Layout,
    m: Mission,
    when: String,
    method: String,
    skills: Vec<String>,
    causes: Vec<String>,
    turf_name: String,
    mine: Option<Signup>,
    /// The viewer holds a place.
    active: bool,
    can_manage: bool,
    signups: Vec<SignupRow>,
    seats_offered: i64,
    seats_needed: i64,
    open: bool,
    error: Option<String>,
    reported: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct Msg {
    #[serde(default)]
    pub(super) msg: String,
}

pub(super) fn flash(code: &str) -> Option<&'static str> {
    Some(match code {
        "creee" => "Mission publiée.",
        "modifiee" => "Mission enregistrée.",
        "inscrit" => "Vous êtes inscrit·e. Ajoutez la mission à votre agenda !",
        "desinscrit" => "Inscription annulée.",
        "presence" => "Présence enregistrée.",
        "cloturee" => "Mission close : les participant·es sont invité·es à remplir leur fiche d'observation.",
        "annulee" => "Mission annulée.",
        "profil" => "Profil enregistré : vos recommandations sont à jour.",
        "observation" => "Merci ! Votre fiche d'observation est enregistrée.",
        "a_verifier" => "Merci ! Des chiffres semblent inhabituels : un·e coordinateur·rice va vérifier la fiche.",
        "enjeu" => "Enjeu local ajouté : la fiche militante est mise à jour.",
        "revue" => "Fiche vérifiée.",
        _ => return None,
    })
}

async fn mission_page(app: &App, viewer: &Viewer, id: i64, msg: &str, error: Option<String>) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let can_manage = viewer.access.allows(Perm::ManageMissions, m.scope());
    let wanted = missions::skills(&app.db, id).await?;
    let signups = if can_manage { missions::signups(&app.db, id).await? } else { Vec::new() };
    let active = |s: &&Signup| s.state == "signed" || s.state == "attended";
    let turf = m.turf();
    let reported: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM field_reports WHERE mission_id = $1 AND filed_by = $2")
            .bind(id)
            .bind(viewer.user_id)
            .fetch_one(&app.db.pool)
            .await?;
    let mine = missions::signup_of(&app.db, id, viewer.user_id).await?;
    let mut layout = Layout::new(app, viewer, &m.title, "/missions");
    layout.flash = flash(msg);
    let status = if error.is_some() { axum::http::StatusCode::CONFLICT } else { axum::http::StatusCode::OK };
    render_status(
        status,
        MissionPage {
            layout,
            when: when(&m),
            method: m.method().label().into(),
            skills: wanted.iter().filter(|s| s.2 == "skill").map(|s| s.1.clone()).collect(),
            causes: wanted.iter().filter(|s| s.2 == "cause").map(|s| s.1.clone()).collect(),
            turf_name: if turf.is_empty() { String::new() } else { crate::field::turf_name(&app.db, &turf).await? },
            active: mine.as_ref().is_some_and(|s| s.state == "signed" || s.state == "attended"),
            mine,
            can_manage,
            seats_offered: signups.iter().filter(active).map(|s| s.seats_offered).sum(),
            seats_needed: signups.iter().filter(active).map(|s| s.needs_seat).sum(),
            signups: signups
                .into_iter()
                .map(|s| SignupRow { state: missions::signup_state_label(&s.state), s })
                .collect(),
            open: m.is_open(),
            error,
            reported: reported > 0,
            m,
        },
    )
}

pub(super) async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    mission_page(&app, &viewer, id, &q.msg, None).await
}

pub(super) async fn sign_up(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let seats = number(&pairs, "places_voiture", "Places proposées");
    let result = match seats {
        Ok(seats) => missions::sign_up(&app.db, id, viewer.user_id, seats, first(&pairs, "besoin_place") == "1").await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/missions/{id}?msg=inscrit")).into_response()),
        Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => mission_page(&app, &viewer, id, "", Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn cancel_signup(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    missions::get(&app.db, id).await?;
    missions::cancel_signup(&app.db, id, viewer.user_id).await?;
    Ok(Redirect::to(&format!("/missions/{id}?msg=desinscrit")).into_response())
}

pub(super) async fn attendance(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    missions::get_managed(&app.db, &viewer.access, id).await?;
    let user = opt_id(&pairs, "user_id", "Participant·e")?.ok_or_else(|| Error::Invalid("Participant·e ?".into()))?;
    missions::set_attendance(&app.db, &viewer.access, id, user, first(&pairs, "present") == "1").await?;
    Ok(Redirect::to(&format!("/missions/{id}?msg=presence")).into_response())
}

pub(super) async fn close(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    match missions::close(&app.db, &viewer.access, id, &app.config.public_url).await {
        Ok(n) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("mission_closed").target("mission", id).details(serde_json::json!({ "asked": n })),
            )
            .await?;
            Ok(Redirect::to(&format!("/missions/{id}?msg=cloturee")).into_response())
        }
        Err(Error::Conflict(m)) => mission_page(&app, &viewer, id, "", Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn cancel(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    match missions::cancel(&app.db, &viewer.access, id).await {
        Ok(()) => {
            audit::record(&app.db, &viewer.meta, viewer.audit("mission_cancelled").target("mission", id)).await?;
            Ok(Redirect::to(&format!("/missions/{id}?msg=annulee")).into_response())
        }
        Err(Error::Conflict(m)) => mission_page(&app, &viewer, id, "", Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "field/candidates.html")]
struct CandidatesPage {
    layout: Layout,
    m: Mission,
    candidates: Vec<(matching::Profile, Score)>,
}

pub(super) async fn candidates(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get_managed(&app.db, &viewer.access, id).await?;
    let candidates = matching::candidates(&app.db, &m, 50).await?;
    render(CandidatesPage { layout: Layout::new(&app, &viewer, "Qui solliciter ?", "/missions"), m, candidates })
}

fn ics(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

fn host(app: &App) -> String {
    app.config
        .public_url
        .split("://")
        .nth(1)
        .map(|h| h.split('/').next().unwrap_or(h).to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "terrain.local".into())
}

pub(super) async fn mission_ics(State(app): State<App>, _viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let body =
        ical::calendar(&m.title, std::slice::from_ref(&m), &host(&app), &app.config.public_url, crate::db::now());
    Ok(ics(body, &format!("mission-{id}.ics")))
}

/// The private feed of an activist's missions (no session: calendar applications poll it).
pub(super) async fn feed(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    let key = ical::key(&app.db).await?;
    let token = token.trim_end_matches(".ics");
    let user = ical::verify(&key, token).ok_or(Error::NotFound)?;
    let active: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND disabled = 0")
        .bind(user)
        .fetch_optional(&app.db.pool)
        .await?;
    if active.is_none() {
        return Err(Error::NotFound.into());
    }
    let list = missions::of_user(&app.db, user, true).await?;
    let name = format!("Missions — {}", app.config.charter.party_name);
    Ok(ics(ical::calendar(&name, &list, &host(&app), &app.config.public_url, crate::db::now()), "missions.ics"))
}
