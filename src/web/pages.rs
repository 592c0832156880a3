//! The HTML pages of the signed-in shell: dashboard, organisation, users and roles, audit log, outbox,
//! charter, account. Handlers parse input, call the scoped repositories with the viewer's access, and
//! render a template; they never build scoped SQL themselves.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::Viewer;
use super::error::{WebError, WebResult};
use crate::access::{Perm, Role};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::jobs::{self, Job};
use crate::mail::OutgoingEmail;
use crate::org::{self, SectionInput};
use crate::users::{self, LinkPurpose};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(dashboard))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/federations", get(federations))
        .route("/federations/{id}", get(federation))
        .route("/federations/{id}/sections/nouvelle", get(new_section_form))
        .route("/federations/{id}/sections", post(create_section))
        .route("/sections/{id}", get(section).post(update_section))
        .route("/sections/{id}/modifier", get(edit_section_form))
        .route("/sections/{id}/supprimer", post(delete_section))
        .route("/utilisateurs", get(user_list))
        .route("/utilisateurs/inviter", get(invite_form).post(invite))
        .route("/utilisateurs/{id}", get(user_page))
        .route("/utilisateurs/{id}/roles", post(grant_role))
        .route("/utilisateurs/{id}/roles/{grant}/retirer", post(revoke_role))
        .route("/utilisateurs/{id}/desactiver", post(disable_user))
        .route("/utilisateurs/{id}/reactiver", post(enable_user))
        .route("/journal", get(audit_log))
        .route("/boite-d-envoi", get(outbox))
        .route("/charte", get(charter))
        .route("/sources", get(sources))
        .route("/compte", get(account))
        .route("/compte/mot-de-passe", post(change_password))
        .route("/compte/jetons", post(create_token))
        .route("/compte/jetons/{id}/revoquer", post(revoke_token))
}

// ---------------------------------------------------------------------------------------------------
// Layout

pub struct NavItem {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// What the base template needs on every page.
pub struct Layout {
    pub title: String,
    pub party: String,
    pub user_name: Option<String>,
    pub role_label: String,
    pub nav: Vec<NavItem>,
    pub flash: Option<&'static str>,
    /// Reload the page every few seconds (progress of a running job; no JavaScript needed).
    pub refresh: bool,
}

impl Layout {
    /// For pages seen before signing in, and error pages.
    pub fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_string(),
            party: crate::config::Charter::default().party_name,
            user_name: None,
            role_label: String::new(),
            nav: Vec::new(),
            flash: None,
            refresh: false,
        }
    }

    pub fn new(app: &App, viewer: &Viewer, title: &str, current: &str) -> Layout {
        let a = &viewer.access;
        let mut nav = vec![("/", "Tableau de bord"), ("/federations", "Fédérations")];
        if a.allows_somewhere(Perm::ViewPeople) {
            nav.push(("/personnes", "Personnes"));
        }
        if a.allows_somewhere(Perm::SendNewsletters) {
            nav.push(("/lettres", "Lettres"));
        }
        if a.allows_somewhere(Perm::ViewOrg) {
            nav.push(("/territoire", "Territoire"));
        }
        nav.push(("/missions", "Missions"));
        if a.allows_somewhere(Perm::ViewMembers) {
            nav.push(("/utilisateurs", "Utilisateurs"));
        }
        if a.allows_somewhere(Perm::ViewAudit) {
            nav.push(("/journal", "Journal"));
        }
        nav.push(("/charte", "Charte"));
        if app.config.outbox {
            nav.push(("/boite-d-envoi", "Boîte d'envoi"));
        }
        nav.push(("/compte", "Mon compte"));
        Layout {
            title: title.to_string(),
            party: app.config.charter.party_name.clone(),
            user_name: Some(viewer.display_name.clone()),
            role_label: a.top_role().map(Role::label).unwrap_or("Sans rôle").to_string(),
            nav: nav.into_iter().map(|(href, label)| NavItem { href, label, current: href == current }).collect(),
            flash: None,
            refresh: false,
        }
    }

    fn flash(mut self, code: &str) -> Layout {
        self.flash = match code {
            "section_creee" => Some("Section créée."),
            "section_modifiee" => Some("Section enregistrée."),
            "section_supprimee" => Some("Section supprimée."),
            "invitation" => Some("Invitation envoyée."),
            "role_attribue" => Some("Rôle attribué."),
            "role_retire" => Some("Rôle retiré."),
            "desactive" => Some("Compte désactivé : ses sessions sont fermées."),
            "reactive" => Some("Compte réactivé."),
            "mot_de_passe" => Some("Mot de passe changé."),
            "jeton_revoque" => Some("Jeton révoqué."),
            _ => None,
        };
        self
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_shown_in_paris_time() {
        // 2026-01-15 12:00 UTC is 13:00 in winter; 2026-07-15 12:00 UTC is 14:00 in summer.
        assert_eq!(super::format_time(1_768_478_400), "15/01/2026 13:00");
        assert_eq!(super::format_time(1_784_116_800), "15/07/2026 14:00");
        // The switch: 2026-03-29 01:00 UTC (02:00 CET becomes 03:00 CEST).
        assert_eq!(super::format_time(1_774_745_999), "29/03/2026 01:59");
        assert_eq!(super::format_time(1_774_746_000), "29/03/2026 03:00");
    }

    #[test]
    fn integers_are_grouped_the_french_way() {
        assert_eq!(super::format_int(1_914_667), "1\u{202f}914\u{202f}667");
        assert_eq!(super::format_int(266), "266");
        assert_eq!(super::format_int(-1000), "-1\u{202f}000");
    }
}

#[derive(Deserialize, Default)]
pub struct MsgQuery {
    #[serde(default)]
    pub msg: String,
}

#[derive(Deserialize, Default)]
struct PageQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    federation: String,
}

pub fn render(t: impl Template) -> WebResult<Response> {
    Ok(Html(t.render()?).into_response())
}

pub fn render_status(status: StatusCode, t: impl Template) -> WebResult<Response> {
    Ok((status, Html(t.render()?)).into_response())
}

/// Formats a Unix time as a French date and time, in Paris time.
pub fn format_time(unix: i64) -> String {
    let Ok(utc) = time::OffsetDateTime::from_unix_timestamp(unix) else { return String::new() };
    let local = utc + time::Duration::seconds(crate::paris::offset(utc.unix_timestamp()));
    let fmt = time::macros::format_description!("[day]/[month]/[year] [hour]:[minute]");
    local.format(&fmt).unwrap_or_default()
}

/// 1914667 → "1 914 667" (French grouping with narrow no-break spaces).
pub fn format_int(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn parse_opt_id(s: &str, what: &str) -> Result<Option<i64>, Error> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| Error::Invalid(format!("{what} : identifiant invalide.")))
}

/// Unknown paths get the French 404 page.
pub async fn not_found() -> WebError {
    WebError::App(Error::NotFound)
}

// ---------------------------------------------------------------------------------------------------
// Health

async fn healthz(State(app): State<App>) -> Response {
    if app.db.ping().await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

async fn readyz(State(app): State<App>) -> Response {
    if app.db.ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}

// ---------------------------------------------------------------------------------------------------
// Dashboard

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

async fn dashboard(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
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

// ---------------------------------------------------------------------------------------------------
// Federations and sections

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

async fn federations(State(app): State<App>, viewer: Viewer, Query(q): Query<PageQuery>) -> WebResult<Response> {
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

async fn federation(
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

async fn new_section_form(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

async fn create_section(
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

async fn section(
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

async fn edit_section_form(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

async fn update_section(
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

async fn delete_section(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
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

// ---------------------------------------------------------------------------------------------------
// Users and roles

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    users: Vec<users::UserRow>,
    can_invite: bool,
}

async fn user_list(State(app): State<App>, viewer: Viewer, Query(q): Query<PageQuery>) -> WebResult<Response> {
    let fed = parse_opt_id(&q.federation, "Fédération")?;
    if let Some(f) = fed {
        org::get_federation(&app.db, &viewer.access, Perm::ViewMembers, f).await?;
    }
    let list = users::list(&app.db, &viewer.access, fed, &q.q).await?;
    render(UsersPage {
        layout: Layout::new(&app, &viewer, "Utilisateurs", "/utilisateurs").flash(&q.msg),
        q: q.q,
        users: list,
        can_invite: viewer.access.allows_somewhere(Perm::ManageUsers),
    })
}

/// A place where the viewer may grant roles, for the selects of the invitation and grant forms.
pub struct PlaceOption {
    pub value: String,
    pub label: String,
}

struct GrantChoices {
    roles: Vec<(&'static str, &'static str)>,
    federations: Vec<PlaceOption>,
    sections: Vec<PlaceOption>,
}

async fn grant_choices(app: &App, viewer: &Viewer) -> WebResult<GrantChoices> {
    let a = &viewer.access;
    let roles = a.grantable_roles().into_iter().map(|r| (r.as_str(), r.label())).collect();
    let federations = org::list_federations(&app.db, a, "")
        .await?
        .into_iter()
        .map(|f| org::Federation { id: f.id, code: f.code, name: f.name })
        .filter(|f| a.allows(Perm::ManageUsers, f.scope()))
        .map(|f| PlaceOption { value: f.id.to_string(), label: f.label() })
        .collect();
    let sections = org::sections_in_scope(&app.db, a, Perm::ManageUsers)
        .await?
        .into_iter()
        .map(|s| PlaceOption { value: s.id.to_string(), label: format!("{} — {}", s.name, s.federation_name) })
        .collect();
    Ok(GrantChoices { roles, federations, sections })
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    layout: Layout,
    choices: GrantChoices,
    form: InviteForm,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    federation_id: String,
    #[serde(default)]
    section_id: String,
}

async fn invite_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    if !viewer.access.allows_somewhere(Perm::ManageUsers) {
        return Err(Error::Forbidden.into());
    }
    render(InvitePage {
        layout: Layout::new(&app, &viewer, "Inviter une personne", "/utilisateurs"),
        choices: grant_choices(&app, &viewer).await?,
        form: InviteForm::default(),
        error: None,
    })
}

async fn invite(State(app): State<App>, viewer: Viewer, Form(form): Form<InviteForm>) -> WebResult<Response> {
    if !viewer.access.allows_somewhere(Perm::ManageUsers) {
        return Err(Error::Forbidden.into());
    }
    match do_invite(&app, &viewer, &form).await {
        Ok(()) => Ok(Redirect::to("/utilisateurs?msg=invitation").into_response()),
        Err(WebError::App(Error::Invalid(m) | Error::Conflict(m))) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            InvitePage {
                layout: Layout::new(&app, &viewer, "Inviter une personne", "/utilisateurs"),
                choices: grant_choices(&app, &viewer).await?,
                form,
                error: Some(m),
            },
        ),
        Err(e) => Err(e),
    }
}

async fn do_invite(app: &App, viewer: &Viewer, form: &InviteForm) -> WebResult<()> {
    let email = crate::auth::normalise_email(&form.email)
        .ok_or_else(|| Error::Invalid("Indiquez une adresse e-mail valide.".into()))?;
    let name = form.display_name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(Error::Invalid("Indiquez le nom de la personne (120 caractères au plus).".into()).into());
    }
    let role = Role::parse(&form.role).ok_or_else(|| Error::Invalid("Choisissez un rôle.".into()))?;
    let fed = parse_opt_id(&form.federation_id, "Fédération")?;
    let sec = parse_opt_id(&form.section_id, "Section")?;
    let scope = users::resolve_scope(&app.db, &viewer.access, role, fed, sec).await.map_err(|e| match e {
        Error::NotFound => Error::Invalid("Fédération ou section inconnue, ou hors de votre périmètre.".into()),
        other => other,
    })?;
    let existing = users::credentials_by_email(&app.db, &email).await?;
    let (user_id, link) = match existing {
        Some(c) => (c.id, None),
        None => {
            let id = users::create(&app.db, &email, name, None).await?;
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("user_created").target("user", id).federation(scope.federation_id()),
            )
            .await?;
            (id, Some(users::create_link(&app.db, id, LinkPurpose::Invitation).await?))
        }
    };
    users::grant(&app.db, user_id, role, scope, Some(viewer.user_id)).await?;
    let party = &app.config.charter.party_name;
    let text = match link {
        Some(token) => format!(
            "Bonjour {name},\n\n{inviter} vous invite à rejoindre {party} avec le rôle « {role} ».\n\n\
             Pour choisir votre mot de passe et activer votre compte, ouvrez ce lien (valable 7 jours, une seule fois) :\n\
             {base}/invitation/{token}\n\nSi vous ne connaissez pas cette personne, ignorez ce message.\n",
            inviter = viewer.display_name,
            role = role.label(),
            base = app.config.base_url()
        ),
        None => format!(
            "Bonjour,\n\n{inviter} vous a attribué le rôle « {role} » dans {party}.\n\
             Connectez-vous comme d'habitude : {base}/connexion\n",
            inviter = viewer.display_name,
            role = role.label(),
            base = app.config.base_url()
        ),
    };
    jobs::enqueue(
        &app.db,
        &Job::SendEmail(OutgoingEmail { to: email, subject: format!("Invitation — {party}"), text }),
    )
    .await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer
            .audit("invitation_sent")
            .target("user", user_id)
            .federation(scope.federation_id())
            .details(serde_json::json!({ "role": role.as_str() })),
    )
    .await?;
    Ok(())
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    user: users::User,
    grants: Vec<users::GrantRow>,
    revocable: Vec<i64>,
    can_manage: bool,
    choices: Option<GrantChoices>,
    last_login: String,
}

async fn user_page(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
    let a = &viewer.access;
    if !a.allows_somewhere(Perm::ViewMembers) && id != viewer.user_id {
        return Err(Error::Forbidden.into());
    }
    let user = users::get(&app.db, a, id).await?;
    let grants = users::grants(&app.db, &user).await?;
    let revocable = grants
        .iter()
        .filter(|g| user.id != viewer.user_id && Role::parse(&g.role).is_some_and(|r| a.can_grant(r, g.scope())))
        .map(|g| g.id)
        .collect();
    let can_grant = a.allows_somewhere(Perm::ManageUsers) && user.id != viewer.user_id;
    render(UserPage {
        layout: Layout::new(&app, &viewer, &user.display_name, "/utilisateurs").flash(&q.msg),
        can_manage: users::can_manage(a, &user, &grants),
        choices: if can_grant { Some(grant_choices(&app, &viewer).await?) } else { None },
        last_login: user.last_login_at.map(format_time).unwrap_or_else(|| "jamais".into()),
        revocable,
        grants,
        user,
    })
}

#[derive(Deserialize)]
struct GrantForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    federation_id: String,
    #[serde(default)]
    section_id: String,
}

async fn grant_role(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<GrantForm>,
) -> WebResult<Response> {
    let user = users::get(&app.db, &viewer.access, id).await?;
    let fed = parse_opt_id(&form.federation_id, "Fédération")?;
    let sec = parse_opt_id(&form.section_id, "Section")?;
    let (role, scope) = users::assign(&app.db, &viewer.access, &user, &form.role, fed, sec).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer
            .audit("role_granted")
            .target("user", user.id)
            .federation(scope.federation_id())
            .details(serde_json::json!({ "role": role.as_str() })),
    )
    .await?;
    Ok(Redirect::to(&format!("/utilisateurs/{}?msg=role_attribue", user.id)).into_response())
}

async fn revoke_role(
    State(app): State<App>,
    viewer: Viewer,
    Path((id, grant)): Path<(i64, i64)>,
) -> WebResult<Response> {
    let user = users::get(&app.db, &viewer.access, id).await?;
    let g = users::revoke(&app.db, &viewer.access, &user, grant).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer
            .audit("role_revoked")
            .target("user", user.id)
            .federation(g.federation_id)
            .details(serde_json::json!({ "role": g.role })),
    )
    .await?;
    Ok(Redirect::to(&format!("/utilisateurs/{}?msg=role_retire", user.id)).into_response())
}

async fn set_disabled(app: &App, viewer: &Viewer, id: i64, disabled: bool) -> WebResult<Response> {
    let user = users::get(&app.db, &viewer.access, id).await?;
    let grants = users::grants(&app.db, &user).await?;
    if !users::can_manage(&viewer.access, &user, &grants) {
        return Err(Error::Forbidden.into());
    }
    users::set_disabled(&app.db, user.id, disabled).await?;
    let action = if disabled { "user_disabled" } else { "user_enabled" };
    let fed = grants.iter().find_map(|g| g.federation_id);
    audit::record(&app.db, &viewer.meta, viewer.audit(action).target("user", user.id).federation(fed)).await?;
    let msg = if disabled { "desactive" } else { "reactive" };
    Ok(Redirect::to(&format!("/utilisateurs/{}?msg={msg}", user.id)).into_response())
}

async fn disable_user(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    set_disabled(&app, &viewer, id, true).await
}

async fn enable_user(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    set_disabled(&app, &viewer, id, false).await
}

// ---------------------------------------------------------------------------------------------------
// Audit log, outbox, charter, sources

pub struct AuditLine {
    pub when: String,
    pub actor: String,
    pub action: &'static str,
    pub code: String,
    pub target: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    lines: Vec<AuditLine>,
    action: String,
}

async fn audit_log(State(app): State<App>, viewer: Viewer, Query(q): Query<PageQuery>) -> WebResult<Response> {
    if !viewer.access.allows_somewhere(Perm::ViewAudit) {
        return Err(Error::Forbidden.into());
    }
    let filter = q.action.trim();
    let rows = audit::list(&app.db, &viewer.access, (!filter.is_empty()).then_some(filter), 300).await?;
    let lines = rows
        .into_iter()
        .map(|r| AuditLine {
            when: format_time(r.at),
            actor: r.actor_email.unwrap_or_else(|| "—".into()),
            action: audit::action_label(&r.action),
            code: r.action,
            target: if r.target_type.is_empty() { String::new() } else { format!("{} {}", r.target_type, r.target_id) },
            ip: r.ip,
        })
        .collect();
    render(AuditPage {
        layout: Layout::new(&app, &viewer, "Journal d'audit", "/journal"),
        lines,
        action: filter.to_string(),
    })
}

pub struct OutboxLine {
    pub when: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "outbox.html")]
struct OutboxPage {
    layout: Layout,
    mails: Vec<OutboxLine>,
}

/// Demo only: the mail that was sent, so a newcomer can follow invitation and reset links without a
/// mail server. Reachable without signing in (a reset link must be readable before one can sign in).
async fn outbox(State(app): State<App>) -> WebResult<Response> {
    if !app.config.outbox {
        return Err(Error::NotFound.into());
    }
    let mails = crate::mail::outbox(&app.db, 50)
        .await?
        .into_iter()
        .map(|m| OutboxLine { when: format_time(m.created_at), to: m.to_addr, subject: m.subject, body: m.body_text })
        .collect();
    let mut layout = Layout::bare("Boîte d'envoi (démonstration)");
    layout.party = app.config.charter.party_name.clone();
    render(OutboxPage { layout, mails })
}

#[derive(Template)]
#[template(path = "charter.html")]
struct CharterPage {
    layout: Layout,
    charter: crate::config::Charter,
}

async fn charter(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
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

async fn sources() -> WebResult<Response> {
    render(SourcesPage { layout: Layout::bare("Sources des données") })
}

// ---------------------------------------------------------------------------------------------------
// Account

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    totp_enabled: bool,
    tokens: Vec<(i64, String, String)>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn account_page(
    app: &App,
    viewer: &Viewer,
    msg: &str,
    new_token: Option<String>,
    error: Option<String>,
) -> WebResult<AccountPage> {
    let creds = users::credentials_by_id(&app.db, viewer.user_id).await?.ok_or(Error::NotFound)?;
    let tokens = users::api_tokens(&app.db, viewer.user_id)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name, t.last_used_at.map(format_time).unwrap_or_else(|| "jamais utilisé".into())))
        .collect();
    Ok(AccountPage {
        layout: Layout::new(app, viewer, "Mon compte", "/compte").flash(msg),
        email: viewer.email.clone(),
        totp_enabled: creds.totp_enabled != 0,
        tokens,
        new_token,
        error,
    })
}

async fn account(State(app): State<App>, viewer: Viewer, Query(q): Query<PageQuery>) -> WebResult<Response> {
    render(account_page(&app, &viewer, &q.msg, None, None).await?)
}

#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn change_password(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<PasswordForm>,
) -> WebResult<Response> {
    let creds = users::credentials_by_id(&app.db, viewer.user_id).await?.ok_or(Error::NotFound)?;
    let stored = creds.password_hash.unwrap_or_default();
    let current = form.current.clone();
    let ok = tokio::task::spawn_blocking(move || crate::auth::password::verify(&current, &stored))
        .await
        .map_err(anyhow::Error::from)?;
    let problem = if !ok {
        Some("Le mot de passe actuel est incorrect.".to_string())
    } else if form.password != form.confirm {
        Some("Les deux nouveaux mots de passe ne sont pas identiques.".to_string())
    } else {
        crate::auth::password::check_policy(&form.password, &viewer.email).err().map(str::to_string)
    };
    if let Some(error) = problem {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&app, &viewer, "", None, Some(error)).await?,
        );
    }
    let pw = form.password;
    let hash =
        tokio::task::spawn_blocking(move || crate::auth::password::hash(&pw)).await.map_err(anyhow::Error::from)?;
    users::set_password_hash(&app.db, viewer.user_id, &hash).await?;
    // Other sessions end; this one stays.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(viewer.user_id)
        .bind(&viewer.session_hash)
        .execute(&app.db.pool)
        .await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("password_changed").target("user", viewer.user_id)).await?;
    Ok(Redirect::to("/compte?msg=mot_de_passe").into_response())
}

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    name: String,
}

async fn create_token(State(app): State<App>, viewer: Viewer, Form(form): Form<TokenForm>) -> WebResult<Response> {
    match users::create_api_token(&app.db, viewer.user_id, &form.name).await {
        Ok((id, token)) => {
            audit::record(&app.db, &viewer.meta, viewer.audit("api_token_created").target("api_token", id)).await?;
            // Shown once, on this response only.
            render(account_page(&app, &viewer, "", Some(token), None).await?)
        }
        Err(Error::Invalid(m)) => {
            render_status(StatusCode::UNPROCESSABLE_ENTITY, account_page(&app, &viewer, "", None, Some(m)).await?)
        }
        Err(e) => Err(e.into()),
    }
}

async fn revoke_token(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    users::revoke_api_token(&app.db, viewer.user_id, id).await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("api_token_revoked").target("api_token", id)).await?;
    Ok(Redirect::to("/compte?msg=jeton_revoque").into_response())
}
