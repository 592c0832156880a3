//! Field pages (seed 002): the mission catalogue with its "for you" ranking, mission pages (sign-up, carpooling,
//! calendar, attendance, closing), the activist's profile, fiches militantes (phone page and PDF, versioned), fiches
//! d'observation (phone form, review of flagged ones) and "what works where".
//!
//! Browsing missions and sheets needs only a signed-in account; publishing and managing missions needs
//! `Perm::ManageMissions` at the mission's place (checked in `field::missions`). People to re-mobilise appear on a
//! sheet only within the reader's `ViewPeople` scope, and each such reading is audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::Viewer;
use super::error::WebResult;
use super::pages::{Layout, format_time, render, render_status};
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::field::fiche::{self, Fiche};
use crate::field::matching::{self, Score};
use crate::field::missions::{self, Mission, MissionInput, Signup};
use crate::field::reports::{self, MethodStats, NewContact, Report, ReportInput};
use crate::field::{Method, Turf, ical};
use crate::org;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/missions", get(catalogue).post(create))
        .route("/missions/nouvelle", get(new_form))
        .route("/missions/{id}", get(show))
        .route("/missions/{id}/modifier", get(edit_form).post(update))
        .route("/missions/{id}/inscription", post(sign_up))
        .route("/missions/{id}/desinscription", post(cancel_signup))
        .route("/missions/{id}/presence", post(attendance))
        .route("/missions/{id}/cloturer", post(close))
        .route("/missions/{id}/annuler", post(cancel))
        .route("/missions/{id}/candidats", get(candidates))
        .route("/missions/{id}/agenda.ics", get(mission_ics))
        .route("/missions/{id}/fiche", get(mission_fiche))
        .route("/missions/{id}/fiche.pdf", get(mission_fiche_pdf))
        .route("/agenda/{token}", get(feed))
        .route("/profil-militant", get(profile_form).post(save_profile))
        .route("/fiches", get(fiche_page))
        .route("/fiches/fiche.pdf", get(fiche_pdf))
        .route("/fiches/enjeux", post(add_issue))
        .route("/observations", get(report_list).post(file_report))
        .route("/observations/nouvelle", get(report_form))
        .route("/observations/{id}", get(report_page))
        .route("/observations/{id}/revue", post(review))
        .route("/ce-qui-marche", get(what_works))
}

type Pairs = Vec<(String, String)>;

fn values<'a>(pairs: &'a Pairs, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn first<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).unwrap_or("")
}

fn number(pairs: &Pairs, key: &str, label: &str) -> Result<i64, Error> {
    let v = first(pairs, key);
    if v.is_empty() {
        return Ok(0);
    }
    v.parse().map_err(|_| Error::Invalid(format!("{label} : un nombre entier.")))
}

fn opt_id(pairs: &Pairs, key: &str, label: &str) -> Result<Option<i64>, Error> {
    match first(pairs, key) {
        "" => Ok(None),
        v => v.parse().map(Some).map_err(|_| Error::Invalid(format!("{label} : choix invalide."))),
    }
}

fn ids(pairs: &Pairs, key: &str) -> Result<Vec<i64>, Error> {
    values(pairs, key).map(|v| v.parse().map_err(|_| Error::Invalid("Choix invalide.".into()))).collect()
}

/// "2026-11-28T10:00" (Paris time, from a datetime-local input) → unix seconds.
pub fn parse_local(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let naive = time::PrimitiveDateTime::parse(s.trim(), &fmt).ok()?.assume_utc().unix_timestamp();
    Some(naive - crate::paris::offset(naive - 3_600))
}

/// Unix seconds → "2026-11-28T10:00" in Paris time, for datetime-local inputs.
fn local_input(unix: i64) -> String {
    if unix == 0 {
        return String::new();
    }
    let local = time::OffsetDateTime::from_unix_timestamp(unix + crate::paris::offset(unix))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    local.format(&fmt).unwrap_or_default()
}

/// "samedi 28/11/2026 10:00 – 13:00".
fn when(m: &Mission) -> String {
    let start = format_time(m.starts_at);
    let end = format_time(m.ends_at);
    let same_day = start.get(..10) == end.get(..10);
    let weekday = time::OffsetDateTime::from_unix_timestamp(m.starts_at + crate::paris::offset(m.starts_at))
        .map(|t| match t.weekday() {
            time::Weekday::Monday => "lundi",
            time::Weekday::Tuesday => "mardi",
            time::Weekday::Wednesday => "mercredi",
            time::Weekday::Thursday => "jeudi",
            time::Weekday::Friday => "vendredi",
            time::Weekday::Saturday => "samedi",
            time::Weekday::Sunday => "dimanche",
        })
        .unwrap_or("");
    if same_day {
        format!("{weekday} {start} – {}", end.get(11..).unwrap_or(""))
    } else {
        format!("{weekday} {start} – {end}")
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn method_choices(selected: &str) -> Vec<Choice> {
    Method::ALL
        .iter()
        .map(|m| Choice { value: m.as_str().into(), label: m.label().into(), selected: m.as_str() == selected })
        .collect()
}

/// A mission as listed.
pub struct MissionCard {
    pub m: Mission,
    pub when: String,
    pub method: String,
    pub score: Option<Score>,
}

fn card(m: Mission, score: Option<Score>) -> MissionCard {
    MissionCard { when: when(&m), method: m.method().label().to_string(), m, score }
}

// ---------------------------------------------------------------------------------------------------
// Catalogue

#[derive(Template)]
#[template(path = "field/missions.html")]
struct CataloguePage {
    layout: Layout,
    for_you: Vec<MissionCard>,
    mine: Vec<MissionCard>,
    missions: Vec<MissionCard>,
    federations: Vec<Choice>,
    methods: Vec<Choice>,
    skills: Vec<Choice>,
    text: String,
    past: bool,
    can_publish: bool,
    has_profile: bool,
    feed_url: String,
}

async fn catalogue(State(app): State<App>, viewer: Viewer, Query(pairs): Query<Pairs>) -> WebResult<Response> {
    let filter = missions::Filter {
        federation_id: opt_id(&pairs, "federation", "Fédération")?,
        method: Method::parse(first(&pairs, "methode")),
        text: first(&pairs, "q").to_string(),
        skill_id: opt_id(&pairs, "competence", "Compétence")?,
        past: first(&pairs, "passees") == "1",
    };
    let listed = missions::list(&app.db, &filter, 200).await?;
    let for_you = matching::recommend(&app.db, viewer.user_id, 5).await?;
    let mine = missions::of_user(&app.db, viewer.user_id, false).await?;
    let profile = matching::profile(&app.db, viewer.user_id).await?;
    // Every federation is offered in the filter: missions are open to all.
    let all: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM federations ORDER BY code").fetch_all(&app.db.pool).await?;
    let chosen_fed = filter.federation_id;
    let skills = crate::people::skill_list(&app.db).await?;
    let key = ical::key(&app.db).await?;
    render(CataloguePage {
        layout: Layout::new(&app, &viewer, "Missions", "/missions"),
        for_you: for_you.into_iter().map(|(m, s)| card(m, Some(s))).collect(),
        mine: mine.into_iter().map(|m| card(m, None)).collect(),
        missions: listed.into_iter().map(|m| card(m, None)).collect(),
        federations: all
            .into_iter()
            .map(|(id, code, name)| Choice {
                value: id.to_string(),
                label: format!("{name} ({code})"),
                selected: Some(id) == chosen_fed,
            })
            .collect(),
        methods: method_choices(first(&pairs, "methode")),
        skills: skills
            .into_iter()
            .map(|(id, name)| Choice { selected: Some(id) == filter.skill_id, value: id.to_string(), label: name })
            .collect(),
        text: filter.text.clone(),
        past: filter.past,
        can_publish: viewer.access.allows_somewhere(Perm::ManageMissions),
        has_profile: profile.commune_code.is_some() || !profile.skills.is_empty(),
        feed_url: format!(
            "{}/agenda/{}",
            app.config.public_url.trim_end_matches('/'),
            ical::token(&key, viewer.user_id)
        ),
    })
}

// ---------------------------------------------------------------------------------------------------
// Create and edit

#[derive(Template)]
#[template(path = "field/mission_form.html")]
struct FormPage {
    layout: Layout,
    action: String,
    editing: bool,
    error: Option<String>,
    title: String,
    methods: Vec<Choice>,
    theme: String,
    description: String,
    places: String,
    meeting_point: String,
    commune: String,
    turf: String,
    starts: String,
    ends: String,
    places_fed: Vec<Choice>,
    sections: Vec<Choice>,
    skills: Vec<Choice>,
    causes: Vec<Choice>,
}

async fn form_page(
    app: &App,
    viewer: &Viewer,
    action: String,
    editing: bool,
    pairs: &Pairs,
    error: Option<String>,
) -> WebResult<Response> {
    let a = &viewer.access;
    if !a.allows_somewhere(Perm::ManageMissions) {
        return Err(Error::Forbidden.into());
    }
    let fed_chosen = first(pairs, "federation_id");
    let mut places_fed: Vec<Choice> = Vec::new();
    if a.allows(Perm::ManageMissions, Scope::National) {
        places_fed.push(Choice { value: String::new(), label: "National".into(), selected: fed_chosen.is_empty() });
    }
    let feds: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM federations ORDER BY code").fetch_all(&app.db.pool).await?;
    for (id, code, name) in feds {
        let scope = Scope::Federation { federation_id: id };
        let section_only = a.grants.iter().any(|g| {
            g.scope.federation_id() == Some(id)
                && matches!(g.scope, Scope::Section { .. })
                && a.allows(Perm::ManageMissions, g.scope)
        });
        if a.allows(Perm::ManageMissions, scope) || section_only {
            places_fed.push(Choice {
                selected: fed_chosen == id.to_string(),
                value: id.to_string(),
                label: format!("{name} ({code})"),
            });
        }
    }
    let sections = org::sections_in_scope(&app.db, a, Perm::ManageMissions)
        .await?
        .into_iter()
        .map(|s| Choice {
            selected: first(pairs, "section_id") == s.id.to_string(),
            value: s.id.to_string(),
            label: format!("{} — {}", s.name, s.federation_name),
        })
        .collect();
    let wanted: Vec<String> = values(pairs, "competence").map(str::to_string).collect();
    let (skills, causes) = curated_choices(app, &wanted).await?;
    let status =
        if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    render_status(
        status,
        FormPage {
            layout: Layout::new(
                app,
                viewer,
                if editing { "Modifier la mission" } else { "Nouvelle mission" },
                "/missions",
            ),
            action,
            editing,
            error,
            title: first(pairs, "titre").into(),
            methods: method_choices(first(pairs, "methode")),
            theme: first(pairs, "theme").into(),
            description: first(pairs, "description").into(),
            places: match first(pairs, "places") {
                "" => "10".into(),
                v => v.into(),
            },
            meeting_point: first(pairs, "rendez_vous").into(),
            commune: first(pairs, "commune").into(),
            turf: first(pairs, "secteur").into(),
            starts: first(pairs, "debut").into(),
            ends: first(pairs, "fin").into(),
            places_fed,
            sections,
            skills,
            causes,
        },
    )
}

/// The curated skills and professional domains, then the causes, as checkboxes (`chosen`: ids ticked).
async fn curated_choices(app: &App, chosen: &[String]) -> Result<(Vec<Choice>, Vec<Choice>), Error> {
    let curated: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, kind FROM skills ORDER BY name").fetch_all(&app.db.pool).await?;
    let pick = |kind: &str| {
        curated
            .iter()
            .filter(|(_, _, k)| k == kind)
            .map(|(id, name, _)| Choice {
                selected: chosen.contains(&id.to_string()),
                value: id.to_string(),
                label: name.clone(),
            })
            .collect()
    };
    Ok((pick("skill"), pick("cause")))
}

fn mission_input(pairs: &Pairs) -> Result<MissionInput, Error> {
    let starts =
        parse_local(first(pairs, "debut")).ok_or_else(|| Error::Invalid("Début : date et heure attendues.".into()))?;
    let ends =
        parse_local(first(pairs, "fin")).ok_or_else(|| Error::Invalid("Fin : date et heure attendues.".into()))?;
    Ok(MissionInput {
        federation_id: opt_id(pairs, "federation_id", "Fédération")?,
        section_id: opt_id(pairs, "section_id", "Section")?,
        title: first(pairs, "titre").into(),
        method: Method::parse(first(pairs, "methode")),
        theme: first(pairs, "theme").into(),
        description: first(pairs, "description").into(),
        starts_at: starts,
        ends_at: ends,
        places: number(pairs, "places", "Places")?,
        meeting_point: first(pairs, "rendez_vous").into(),
        commune_code: Some(first(pairs, "commune").to_string()),
        turf: Turf::parse(first(pairs, "secteur"))?,
        skills: ids(pairs, "competence")?,
    })
}

async fn new_form(State(app): State<App>, viewer: Viewer, Query(pairs): Query<Pairs>) -> WebResult<Response> {
    form_page(&app, &viewer, "/missions".into(), false, &pairs, None).await
}

async fn create(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    let result = match mission_input(&pairs) {
        Ok(input) => missions::create(&app.db, &viewer.access, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(id) => {
            audit::record(&app.db, &viewer.meta, viewer.audit("mission_created").target("mission", id)).await?;
            Ok(Redirect::to(&format!("/missions/{id}?msg=creee")).into_response())
        }
        Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => {
            form_page(&app, &viewer, "/missions".into(), false, &pairs, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

fn mission_pairs(m: &Mission, skills: &[(i64, String, String)]) -> Pairs {
    let mut p: Pairs = vec![
        ("titre".into(), m.title.clone()),
        ("methode".into(), m.method.clone()),
        ("theme".into(), m.theme.clone()),
        ("description".into(), m.description.clone()),
        ("places".into(), m.places.to_string()),
        ("rendez_vous".into(), m.meeting_point.clone()),
        ("commune".into(), m.commune_code.clone().unwrap_or_default()),
        ("secteur".into(), m.turf.clone()),
        ("debut".into(), local_input(m.starts_at)),
        ("fin".into(), local_input(m.ends_at)),
        ("federation_id".into(), m.federation_id.map(|f| f.to_string()).unwrap_or_default()),
        ("section_id".into(), m.section_id.map(|f| f.to_string()).unwrap_or_default()),
    ];
    p.extend(skills.iter().map(|(id, _, _)| ("competence".to_string(), id.to_string())));
    p
}

async fn edit_form(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get_managed(&app.db, &viewer.access, id).await?;
    let skills = missions::skills(&app.db, id).await?;
    form_page(&app, &viewer, format!("/missions/{id}/modifier"), true, &mission_pairs(&m, &skills), None).await
}

async fn update(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    missions::get_managed(&app.db, &viewer.access, id).await?;
    let result = match mission_input(&pairs) {
        Ok(input) => missions::update(&app.db, &viewer.access, id, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            audit::record(&app.db, &viewer.meta, viewer.audit("mission_updated").target("mission", id)).await?;
            Ok(Redirect::to(&format!("/missions/{id}?msg=modifiee")).into_response())
        }
        Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => {
            form_page(&app, &viewer, format!("/missions/{id}/modifier"), true, &pairs, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Mission page

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
struct Msg {
    #[serde(default)]
    msg: String,
}

fn flash(code: &str) -> Option<&'static str> {
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

async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    mission_page(&app, &viewer, id, &q.msg, None).await
}

async fn sign_up(
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

async fn cancel_signup(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    missions::get(&app.db, id).await?;
    missions::cancel_signup(&app.db, id, viewer.user_id).await?;
    Ok(Redirect::to(&format!("/missions/{id}?msg=desinscrit")).into_response())
}

async fn attendance(
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

async fn close(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

async fn cancel(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

async fn candidates(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

async fn mission_ics(State(app): State<App>, _viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let body =
        ical::calendar(&m.title, std::slice::from_ref(&m), &host(&app), &app.config.public_url, crate::db::now());
    Ok(ics(body, &format!("mission-{id}.ics")))
}

/// The private feed of an activist's missions (no session: calendar applications poll it).
async fn feed(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
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

// ---------------------------------------------------------------------------------------------------
// Profile

#[derive(Template)]
#[template(path = "field/profile.html")]
struct ProfilePage {
    layout: Layout,
    commune: String,
    commune_name: String,
    distance: i64,
    skills: Vec<Choice>,
    causes: Vec<Choice>,
    error: Option<String>,
}

async fn profile_page(app: &App, viewer: &Viewer, error: Option<String>, pairs: Option<&Pairs>) -> WebResult<Response> {
    let p = matching::profile(&app.db, viewer.user_id).await?;
    let mine: Vec<String> = match pairs {
        Some(pairs) => values(pairs, "competence").map(str::to_string).collect(),
        None => p.skills.iter().map(|s| s.0.to_string()).collect(),
    };
    let commune = match pairs {
        Some(pairs) => first(pairs, "commune").to_string(),
        None => p.commune_code.clone().unwrap_or_default(),
    };
    let commune_name: String = sqlx::query_scalar("SELECT name FROM communes WHERE code = $1")
        .bind(&commune)
        .fetch_optional(&app.db.pool)
        .await?
        .unwrap_or_default();
    let (skills, causes) = curated_choices(app, &mine).await?;
    let status =
        if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    render_status(
        status,
        ProfilePage {
            layout: Layout::new(app, viewer, "Mon profil militant", "/missions"),
            commune,
            commune_name,
            distance: p.max_distance_km,
            skills,
            causes,
            error,
        },
    )
}

async fn profile_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    profile_page(&app, &viewer, None, None).await
}

/// Accepts an INSEE code or "Name (code)" as typed in the commune field.
fn commune_code(text: &str) -> String {
    let t = text.trim();
    match (t.rfind('('), t.ends_with(')')) {
        (Some(i), true) => t[i + 1..t.len() - 1].trim().to_string(),
        _ => t.to_string(),
    }
}

async fn save_profile(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    let result = async {
        let skills = ids(&pairs, "competence")?;
        let distance = number(&pairs, "distance", "Distance")?;
        let code = commune_code(first(&pairs, "commune"));
        let code = if code.is_empty() || code.chars().all(|c| c.is_ascii_alphanumeric()) {
            code
        } else {
            // A name: the commune of that exact name, when there is only one.
            let found: Vec<String> =
                sqlx::query_scalar("SELECT code FROM communes WHERE LOWER(name) = LOWER($1) LIMIT 2")
                    .bind(&code)
                    .fetch_all(&app.db.pool)
                    .await?;
            match found.as_slice() {
                [one] => one.clone(),
                [] => return Err(Error::Invalid(format!("Commune « {code} » introuvable : indiquez son code Insee."))),
                _ => return Err(Error::Invalid(format!("Plusieurs communes « {code} » : indiquez le code Insee."))),
            }
        };
        matching::save_profile(&app.db, viewer.user_id, Some(&code), distance, &skills).await
    }
    .await;
    match result {
        Ok(()) => Ok(Redirect::to("/missions?msg=profil").into_response()),
        Err(Error::Invalid(m)) => profile_page(&app, &viewer, Some(m), Some(&pairs)).await,
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Fiches militantes

pub struct PersonLine {
    pub id: i64,
    pub name: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "field/fiche.html")]
struct FichePage {
    layout: Layout,
    fiche: Fiche,
    subtitle: String,
    created: String,
    map: Option<String>,
    people: Vec<PersonLine>,
    versions: Vec<(i64, String, String)>,
    pdf_url: String,
    report_url: String,
    can_add_issue: bool,
}

#[derive(Deserialize, Default)]
struct TurfQuery {
    #[serde(default)]
    secteur: String,
    #[serde(default)]
    msg: String,
}

/// Everything a sheet shows a reader: the current version, the map, and the people they may re-mobilise.
struct Sheet {
    fiche: Fiche,
    map: Option<String>,
    people: Vec<PersonLine>,
    federation_id: Option<i64>,
}

async fn sheet(app: &App, viewer: &Viewer, turf: &Turf) -> WebResult<Sheet> {
    let fiche = fiche::current(&app.db, turf, &app.config.charter.party_name).await?;
    let federation_id = crate::field::turf_federation(&app.db, turf).await?;
    let found = fiche::people_to_remobilise(&app.db, &viewer.access, turf, federation_id).await?;
    if !found.is_empty() {
        audit::record(
            &app.db,
            &viewer.meta,
            viewer
                .audit("fiche_people_viewed")
                .target("turf", turf.key())
                .federation(federation_id)
                .details(serde_json::json!({ "people": found.iter().map(|p| p.id).collect::<Vec<_>>() })),
        )
        .await?;
    }
    let people = found
        .into_iter()
        .map(|p| PersonLine {
            id: p.id,
            name: crate::people::display_name(&p.first_name, &p.last_name, None),
            detail: format!(
                "{}, dernière activité le {}",
                crate::people::category_label(&p.category),
                format_time(p.last_activity_at).get(..10).unwrap_or("")
            ),
        })
        .collect();
    let map = fiche::map_svg(&app.db, turf).await?;
    Ok(Sheet { fiche, map, people, federation_id })
}

async fn fiche_view(
    app: &App,
    viewer: &Viewer,
    turf: &Turf,
    mission: Option<&Mission>,
    msg: &str,
) -> WebResult<Response> {
    let s = sheet(app, viewer, turf).await?;
    let versions =
        fiche::versions(&app.db, turf).await?.into_iter().map(|(v, reason, at)| (v, reason, format_time(at))).collect();
    let turf_param = serde_urlencoded::to_string([("secteur", turf.key())]).unwrap_or_default();
    let (pdf_url, report_url, subtitle) = match mission {
        Some(m) => (
            format!("/missions/{}/fiche.pdf", m.id),
            format!("/observations/nouvelle?mission={}", m.id),
            format!("{} « {} » · {}", m.method().label(), m.title, when(m)),
        ),
        None => {
            (format!("/fiches/fiche.pdf?{turf_param}"), format!("/observations/nouvelle?{turf_param}"), String::new())
        }
    };
    let place = s.federation_id.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    let mut layout = Layout::new(app, viewer, &format!("Fiche militante — {}", s.fiche.content.name), "/missions");
    layout.flash = flash(msg);
    render(FichePage {
        layout,
        created: format_time(s.fiche.created_at),
        fiche: s.fiche,
        subtitle,
        map: s.map,
        people: s.people,
        versions,
        pdf_url,
        report_url,
        can_add_issue: viewer.access.allows(Perm::ManageTerritory, Scope::National)
            || viewer.access.allows(Perm::ManageMissions, place),
    })
}

fn turf_of(m: &Mission) -> Result<Turf, Error> {
    let turf = m.turf();
    if !turf.is_empty() {
        return Ok(turf);
    }
    match &m.commune_code {
        Some(c) => Turf::parse(&format!("commune:{c}")),
        None => Err(Error::NotFound),
    }
}

async fn fiche_page(State(app): State<App>, viewer: Viewer, Query(q): Query<TurfQuery>) -> WebResult<Response> {
    let turf = Turf::parse(&q.secteur)?;
    if turf.is_empty() {
        return Err(Error::Invalid("Indiquez un secteur, par exemple commune:69259.".into()).into());
    }
    fiche_view(&app, &viewer, &turf, None, &q.msg).await
}

async fn mission_fiche(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let turf = turf_of(&m)?;
    fiche_view(&app, &viewer, &turf, Some(&m), &q.msg).await
}

async fn pdf_response(app: &App, viewer: &Viewer, turf: &Turf, mission: Option<&Mission>) -> WebResult<Response> {
    let s = sheet(app, viewer, turf).await?;
    let subtitle = mission.map(|m| format!("{} « {} » · {}", m.method().label(), m.title, when(m))).unwrap_or_default();
    let people: Vec<(String, String)> = s.people.into_iter().map(|p| (p.name, p.detail)).collect();
    let bytes = fiche::pdf(&s.fiche, &subtitle, s.map.as_deref(), &people, &format_time(s.fiche.created_at))?;
    let name = format!("fiche-militante-v{}.pdf", s.fiche.version);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

async fn fiche_pdf(State(app): State<App>, viewer: Viewer, Query(q): Query<TurfQuery>) -> WebResult<Response> {
    let turf = Turf::parse(&q.secteur)?;
    if turf.is_empty() {
        return Err(Error::Invalid("Indiquez un secteur.".into()).into());
    }
    pdf_response(&app, &viewer, &turf, None).await
}

async fn mission_fiche_pdf(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let turf = turf_of(&m)?;
    pdf_response(&app, &viewer, &turf, Some(&m)).await
}

async fn add_issue(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    let turf = Turf::parse(first(&pairs, "secteur"))?;
    let (level, zone) = turf.0.first().cloned().ok_or_else(|| Error::Invalid("Secteur vide.".into()))?;
    let fed = crate::field::turf_federation(&app.db, &turf).await?;
    let place = fed.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    if !(viewer.access.allows(Perm::ManageTerritory, Scope::National)
        || viewer.access.allows(Perm::ManageMissions, place))
    {
        return Err(Error::Forbidden.into());
    }
    let title = first(&pairs, "titre");
    let detail = first(&pairs, "detail");
    if title.is_empty() || title.chars().count() > 200 || detail.chars().count() > 1_000 {
        return Err(Error::Invalid("Enjeu : un titre (200 caractères au plus) et un détail facultatif.".into()).into());
    }
    sqlx::query(
        "INSERT INTO zone_issues (level, zone, title, detail, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(level.as_str())
    .bind(&zone)
    .bind(title)
    .bind(detail)
    .bind(viewer.user_id)
    .bind(crate::db::now())
    .execute(&app.db.pool)
    .await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("zone_issue_added").target("turf", turf.key()).federation(fed))
        .await?;
    let back = first(&pairs, "retour");
    let back = if back.starts_with("/missions/") || back.starts_with("/fiches?") {
        back.to_string()
    } else {
        format!("/fiches?{}", serde_urlencoded::to_string([("secteur", turf.key())]).unwrap_or_default())
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}msg=enjeu")).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Fiches d'observation

#[derive(Template)]
#[template(path = "field/report_form.html")]
struct ReportFormPage {
    layout: Layout,
    mission: Option<Mission>,
    turf: String,
    turf_name: String,
    date: String,
    methods: Vec<Choice>,
    concerns: Vec<Choice>,
    reactions: Vec<Choice>,
    purposes: Vec<(&'static str, &'static str)>,
    pairs: Pairs,
    error: Option<String>,
}

impl ReportFormPage {
    fn v(&self, key: &str) -> String {
        first(&self.pairs, key).to_string()
    }
    fn worked(&self, value: &str) -> bool {
        first(&self.pairs, "methode_a_marche") == value
    }
    fn contact_checked(&self, i: &usize, purpose: &str) -> bool {
        values(&self.pairs, &format!("contact{i}_consentement")).any(|p| p == purpose)
    }
    fn cv(&self, i: &usize, field: &str) -> String {
        first(&self.pairs, &format!("contact{i}_{field}")).to_string()
    }
}

async fn report_form_page(app: &App, viewer: &Viewer, pairs: Pairs, error: Option<String>) -> WebResult<Response> {
    let mission = match opt_id(&pairs, "mission", "Mission")? {
        Some(id) => Some(missions::get(&app.db, id).await?),
        None => None,
    };
    let turf_text = match (&mission, first(&pairs, "secteur")) {
        (_, t) if !t.is_empty() => t.to_string(),
        (Some(m), _) => turf_of(m).map(|t| t.key()).unwrap_or_default(),
        _ => String::new(),
    };
    let turf = Turf::parse(&turf_text).unwrap_or_default();
    let turf_name = if turf.is_empty() { String::new() } else { crate::field::turf_name(&app.db, &turf).await? };
    let today = format_time(crate::db::now());
    let date = match first(&pairs, "date") {
        // The mission's day, or today when the form is opened before it.
        "" => match &mission {
            Some(m) if m.starts_at <= crate::db::now() => local_input(m.starts_at).get(..10).unwrap_or("").to_string(),
            _ => format!("{}-{}-{}", &today[6..10], &today[3..5], &today[..2]),
        },
        d => d.to_string(),
    };
    let method = match (first(&pairs, "methode"), &mission) {
        ("", Some(m)) => m.method.clone(),
        (v, _) => v.to_string(),
    };
    let chosen: Vec<&str> = values(&pairs, "preoccupation").collect();
    let concerns = reports::concern_list(&app.db)
        .await?
        .into_iter()
        .map(|(id, name)| Choice {
            selected: chosen.contains(&id.to_string().as_str()),
            value: id.to_string(),
            label: name,
        })
        .collect();
    let reaction = first(&pairs, "accueil");
    let status =
        if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    render_status(
        status,
        ReportFormPage {
            layout: Layout::new(app, viewer, "Fiche d'observation", "/missions"),
            mission,
            turf: turf_text,
            turf_name,
            date,
            methods: method_choices(&method),
            concerns,
            reactions: reports::REACTIONS
                .iter()
                .map(|(v, l)| Choice {
                    value: v.to_string(),
                    label: format!("{v} — {l}"),
                    selected: reaction == v.to_string(),
                })
                .collect(),
            purposes: reports::FIELD_PURPOSES.to_vec(),
            pairs,
            error,
        },
    )
}

async fn report_form(State(app): State<App>, viewer: Viewer, Query(pairs): Query<Pairs>) -> WebResult<Response> {
    report_form_page(&app, &viewer, pairs, None).await
}

fn report_input(pairs: &Pairs) -> Result<ReportInput, Error> {
    let mut contacts = Vec::new();
    for i in 0..3 {
        let f = |field: &str| first(pairs, &format!("contact{i}_{field}")).to_string();
        contacts.push(NewContact {
            first_name: f("prenom"),
            last_name: f("nom"),
            email: f("email"),
            phone: f("telephone"),
            postcode: f("code_postal"),
            purposes: values(pairs, &format!("contact{i}_consentement")).map(str::to_string).collect(),
        });
    }
    Ok(ReportInput {
        mission_id: opt_id(pairs, "mission", "Mission")?,
        turf: Turf::parse(first(pairs, "secteur"))?,
        action_date: first(pairs, "date").to_string(),
        method: Method::parse(first(pairs, "methode")),
        activists: number(pairs, "militants", "Militant·es présent·es")?,
        sympathisers: number(pairs, "sympathisants", "Sympathisant·es présent·es")?,
        doors: number(pairs, "portes", "Portes frappées")?,
        reached: number(pairs, "touchees", "Personnes touchées")?,
        conversations: number(pairs, "conversations", "Conversations")?,
        reaction: number(pairs, "accueil", "Accueil")?,
        concerns: ids(pairs, "preoccupation")?,
        concerns_text: first(pairs, "autres_preoccupations").to_string(),
        method_worked: match first(pairs, "methode_a_marche") {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        },
        worked: first(pairs, "a_marche").to_string(),
        not_worked: first(pairs, "pas_marche").to_string(),
        contacts,
    })
}

async fn file_report(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    let result = match report_input(&pairs) {
        Ok(input) => reports::file(&app.db, &viewer.access, input).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((id, contacts)) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("field_report_filed").target("field_report", id).details(serde_json::json!({
                    "contacts": contacts.len(),
                })),
            )
            .await?;
            let flagged: String = sqlx::query_scalar("SELECT review FROM field_reports WHERE id = $1")
                .bind(id)
                .fetch_one(&app.db.pool)
                .await?;
            let msg = if flagged == "flagged" { "a_verifier" } else { "observation" };
            Ok(Redirect::to(&format!("/observations/{id}?msg={msg}")).into_response())
        }
        Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => report_form_page(&app, &viewer, pairs, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

pub struct ReportRow {
    pub r: Report,
    pub method: String,
    pub reaction: &'static str,
    pub filed: String,
}

fn report_row(r: Report) -> ReportRow {
    ReportRow {
        method: crate::field::method_label(&r.method),
        reaction: reports::reaction_label(r.reaction),
        filed: format_time(r.filed_at),
        r,
    }
}

#[derive(Template)]
#[template(path = "field/reports.html")]
struct ReportsPage {
    layout: Layout,
    reports: Vec<ReportRow>,
    only_flagged: bool,
}

async fn report_list(State(app): State<App>, viewer: Viewer, Query(pairs): Query<Pairs>) -> WebResult<Response> {
    if !viewer.access.allows_somewhere(Perm::ManageMissions) {
        return Err(Error::Forbidden.into());
    }
    let only_flagged = first(&pairs, "a_verifier") == "1";
    let list = reports::list(&app.db, &viewer.access, only_flagged, 200).await?;
    render(ReportsPage {
        layout: Layout::new(&app, &viewer, "Fiches d'observation", "/missions"),
        reports: list.into_iter().map(report_row).collect(),
        only_flagged,
    })
}

#[derive(Template)]
#[template(path = "field/report.html")]
struct ReportPage {
    layout: Layout,
    row: ReportRow,
    concerns: Vec<String>,
    turf_name: String,
    flags: Vec<String>,
    can_review: bool,
    fiche_url: String,
}

async fn report_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    let r = reports::get(&app.db, &viewer.access, id).await?;
    let place = r.federation_id.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    let turf = Turf::parse(&r.turf).unwrap_or_default();
    let mut layout = Layout::new(&app, &viewer, &format!("Fiche d'observation n° {id}"), "/missions");
    layout.flash = flash(&q.msg);
    render(ReportPage {
        layout,
        concerns: reports::concerns_of(&app.db, id).await?,
        turf_name: crate::field::turf_name(&app.db, &turf).await?,
        flags: r.flags.lines().map(str::to_string).collect(),
        can_review: r.review == "flagged" && viewer.access.allows(Perm::ManageMissions, place),
        fiche_url: match r.mission_id {
            Some(m) => format!("/missions/{m}/fiche"),
            None => format!("/fiches?{}", serde_urlencoded::to_string([("secteur", &r.turf)]).unwrap_or_default()),
        },
        row: report_row(r),
    })
}

async fn review(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let accept = first(&pairs, "decision") == "accepter";
    reports::review(&app.db, &viewer.access, id, accept).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer
            .audit("field_report_reviewed")
            .target("field_report", id)
            .details(serde_json::json!({ "accepted": accept })),
    )
    .await?;
    Ok(Redirect::to(&format!("/observations/{id}?msg=revue")).into_response())
}

// ---------------------------------------------------------------------------------------------------
// What works where

#[derive(Template)]
#[template(path = "field/what_works.html")]
struct WhatWorksPage {
    layout: Layout,
    classes: Vec<(String, Vec<MethodStats>)>,
}

async fn what_works(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_round_trip_in_paris_time() {
        // 28 November: UTC+1; 1 July: UTC+2.
        let winter = parse_local("2026-11-28T10:00").unwrap();
        assert_eq!(winter, 1_795_856_400);
        assert_eq!(local_input(winter), "2026-11-28T10:00");
        let summer = parse_local("2026-07-01T10:00").unwrap();
        assert_eq!(local_input(summer), "2026-07-01T10:00");
        assert!(parse_local("28/11/2026").is_none());
    }

    #[test]
    fn commune_field_accepts_code_or_name_with_code() {
        assert_eq!(commune_code("Vénissieux (69259)"), "69259");
        assert_eq!(commune_code(" 69259 "), "69259");
    }
}
