//! Federation and section pages: lists, a federation's page with its sign-up snippet, section create, edit, delete.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Layout, PageQuery, format_int, render, render_status};
use crate::access::Perm;
use crate::app::App;
use crate::error::Error;
use crate::org::{self, SectionInput};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::{audit, users};

/// Plain HTML a federation can paste into its own website: posts to our public sign-up route.
fn signup_snippet(base: &str, code: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{base}/inscription/{code}\">\n\
         <label>Adresse e-mail <input type=\"email\" name=\"email\" required></label>\n\
         <label>Code postal <input name=\"postcode\" inputmode=\"numeric\" maxlength=\"5\"></label>\n\
         <label><input type=\"checkbox\" name=\"newsletter_federation\" value=\"1\" checked> Recevoir la lettre de la fédération</label>\n\
         <input name=\"site\" tabindex=\"-1\" autocomplete=\"off\" style=\"position:absolute;left:-10000px\" aria-hidden=\"true\">\n\
         <button type=\"submit\">Je m'inscris</button>\n</form>"
    )
}

#[derive(Template)]
#[template(path = "federations.html")]
struct FederationsPage {
    layout: Layout,
    q: String,
    federations: Vec<org::FederationSummary>,
}

pub(super) async fn federations(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
    let list = org::list_federations(&app.db, &viewer.access, &q.q).await?;
    render(FederationsPage {
        layout: Layout::new(&app, &viewer, "Fédérations", "/federations"),
        q: q.q,
        federations: list,
    })
}

#[derive(Template)]
#[template(path = "federation.html")]
struct FederationPage {
    layout: Layout,
    federation: org::Federation,
    departements: Vec<org::Departement>,
    communes: String,
    population: String,
    sections: Vec<org::SectionSummary>,
    members: Option<Vec<users::UserRow>>,
    can_manage_sections: bool,
    can_invite: bool,
    /// The public sign-up form and its embeddable HTML, for those who manage the federation's people.
    signup_url: Option<String>,
    signup_snippet: String,
}

pub(super) async fn federation(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
    let a = &viewer.access;
    let f = org::get_federation(&app.db, a, Perm::ViewOrg, id).await?;
    let (communes, population) = org::commune_stats(&app.db, &f).await?;
    let members =
        if a.allows_somewhere(Perm::ViewMembers) { Some(users::list(&app.db, a, Some(f.id), "").await?) } else { None };
    let title = format!("Fédération {}", f.label());
    render(FederationPage {
        layout: Layout::new(&app, &viewer, &title, "/federations").flash(&q.msg),
        departements: org::departements(&app.db, &f).await?,
        communes: format_int(communes),
        population: format_int(population),
        sections: org::list_sections(&app.db, &f).await?,
        members,
        can_manage_sections: a.allows(Perm::ManageSections, f.scope()),
        can_invite: a.allows(Perm::ManageUsers, f.scope()),
        signup_url: a
            .allows(Perm::ManagePeople, f.scope())
            .then(|| format!("{}/inscription/{}", app.config.base_url(), f.code)),
        signup_snippet: signup_snippet(&app.config.base_url(), &f.code),
        federation: f,
    })
}

#[derive(Template)]
#[template(path = "section_form.html")]
struct SectionFormPage {
    layout: Layout,
    federation: org::Federation,
    action: String,
    input: SectionInput,
    editing: bool,
    error: Option<String>,
}

pub(super) async fn new_section_form(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> WebResult<Response> {
    let f = org::get_federation(&app.db, &viewer.access, Perm::ManageSections, id).await?;
    render(SectionFormPage {
        layout: Layout::new(&app, &viewer, "Nouvelle section", "/federations"),
        action: format!("/federations/{}/sections", f.id),
        federation: f,
        input: SectionInput::default(),
        editing: false,
        error: None,
    })
}

/// Re-shows a section form with the user's input and the reason it was refused.
fn section_form_error(
    app: &App,
    viewer: &Viewer,
    federation: org::Federation,
    action: String,
    input: SectionInput,
    editing: bool,
    e: Error,
) -> WebResult<Response> {
    match e {
        Error::Invalid(m) | Error::Conflict(m) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            SectionFormPage {
                layout: Layout::new(
                    app,
                    viewer,
                    if editing { "Modifier la section" } else { "Nouvelle section" },
                    "/federations",
                ),
                federation,
                action,
                input,
                editing,
                error: Some(m),
            },
        ),
        other => Err(other.into()),
    }
}

pub(super) async fn create_section(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(input): Form<SectionInput>,
) -> WebResult<Response> {
    let f = org::get_federation(&app.db, &viewer.access, Perm::ManageSections, id).await?;
    match org::create_section(&app.db, &viewer.access, &f, &input).await {
        Ok(s) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("section_created").target("section", s.id).federation(Some(f.id)),
            )
            .await?;
            Ok(Redirect::to(&format!("/sections/{}?msg=section_creee", s.id)).into_response())
        }
        Err(e) => {
            let action = format!("/federations/{}/sections", f.id);
            section_form_error(&app, &viewer, f, action, input, false, e)
        }
    }
}

#[derive(Template)]
#[template(path = "section.html")]
struct SectionPage {
    layout: Layout,
    section: org::Section,
    federation: org::Federation,
    communes: Vec<org::Commune>,
    members: Option<Vec<users::UserRow>>,
    can_manage: bool,
}

pub(super) async fn section(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
    let a = &viewer.access;
    let s = org::get_section(&app.db, a, Perm::ViewOrg, id).await?;
    let f = org::get_federation(&app.db, a, Perm::ViewOrg, s.federation_id).await?;
    let members = if a.allows(Perm::ViewMembers, s.scope()) {
        let all = users::list(&app.db, a, Some(f.id), "").await?;
        let in_section: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM role_grants WHERE section_id = $1")
            .bind(s.id)
            .fetch_all(&app.db.pool)
            .await?;
        Some(all.into_iter().filter(|u| in_section.contains(&u.id)).collect())
    } else {
        None
    };
    render(SectionPage {
        layout: Layout::new(&app, &viewer, &format!("Section {}", s.name), "/federations").flash(&q.msg),
        communes: org::section_communes(&app.db, &s).await?,
        can_manage: a.allows(Perm::ManageSections, s.scope()),
        members,
        federation: f,
        section: s,
    })
}

pub(super) async fn edit_section_form(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> WebResult<Response> {
    let s = org::get_section(&app.db, &viewer.access, Perm::ManageSections, id).await?;
    let f = org::get_federation(&app.db, &viewer.access, Perm::ViewOrg, s.federation_id).await?;
    let communes = org::section_communes(&app.db, &s).await?.into_iter().map(|c| c.code).collect::<Vec<_>>().join(", ");
    render(SectionFormPage {
        layout: Layout::new(&app, &viewer, "Modifier la section", "/federations"),
        federation: f,
        action: format!("/sections/{}", s.id),
        input: SectionInput { name: s.name, description: s.description, communes },
        editing: true,
        error: None,
    })
}

pub(super) async fn update_section(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(input): Form<SectionInput>,
) -> WebResult<Response> {
    let s = org::get_section(&app.db, &viewer.access, Perm::ManageSections, id).await?;
    match org::update_section(&app.db, &viewer.access, &s, &input).await {
        Ok(s) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("section_updated").target("section", s.id).federation(Some(s.federation_id)),
            )
            .await?;
            Ok(Redirect::to(&format!("/sections/{}?msg=section_modifiee", s.id)).into_response())
        }
        Err(e) => {
            let f = org::get_federation(&app.db, &viewer.access, Perm::ViewOrg, s.federation_id).await?;
            section_form_error(&app, &viewer, f, format!("/sections/{}", s.id), input, true, e)
        }
    }
}

pub(super) async fn delete_section(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let s = org::get_section(&app.db, &viewer.access, Perm::ManageSections, id).await?;
    org::delete_section(&app.db, &viewer.access, &s).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("section_deleted").target("section", s.id).federation(Some(s.federation_id)),
    )
    .await?;
    Ok(Redirect::to(&format!("/federations/{}?msg=section_supprimee", s.federation_id)).into_response())
}
