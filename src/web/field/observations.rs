//! Fiches d'observation: the phone form filed after an action, the list, one report and the review of flagged ones.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::fiches::turf_of;
use super::forms::{Choice, Pairs, first, ids, local_input, method_choices, number, opt_id, values};
use super::mission::{Msg, flash};
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::field::missions::{self, Mission};
use crate::field::reports::{self, NewContact, Report, ReportInput};
use crate::field::{Method, Turf};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_time, render, render_status};

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

pub(super) async fn report_form(
    State(app): State<App>,
    viewer: Viewer,
    Query(pairs): Query<Pairs>,
) -> WebResult<Response> {
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

pub(super) async fn file_report(
    State(app): State<App>,
    viewer: Viewer,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
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

pub(super) async fn report_list(
    State(app): State<App>,
    viewer: Viewer,
    Query(pairs): Query<Pairs>,
) -> WebResult<Response> {
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

pub(super) async fn report_page(
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

pub(super) async fn review(
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
