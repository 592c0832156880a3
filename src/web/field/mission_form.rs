//! Publishing and editing a mission: the form, its curated checkboxes, and reading it back.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::forms::{Choice, Pairs, first, ids, local_input, method_choices, number, opt_id, parse_local, values};
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::field::missions::{self, Mission, MissionInput};
use crate::field::{Method, Turf};
use crate::org;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render_status};

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
pub(super) async fn curated_choices(app: &App, chosen: &[String]) -> Result<(Vec<Choice>, Vec<Choice>), Error> {
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

pub(super) async fn new_form(
    State(app): State<App>,
    viewer: Viewer,
    Query(pairs): Query<Pairs>,
) -> WebResult<Response> {
    form_page(&app, &viewer, "/missions".into(), false, &pairs, None).await
}

pub(super) async fn create(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
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

pub(super) async fn edit_form(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let m = missions::get_managed(&app.db, &viewer.access, id).await?;
    let skills = missions::skills(&app.db, id).await?;
    form_page(&app, &viewer, format!("/missions/{id}/modifier"), true, &mission_pairs(&m, &skills), None).await
}

pub(super) async fn update(
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
