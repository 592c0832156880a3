//! Users and roles: the list, invitations, a user's page, granting and revoking roles, disabling accounts.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, PageQuery, format_time, parse_opt_id, render, render_status};
use crate::access::{Perm, Role};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::jobs::{self, Job};
use crate::mail::OutgoingEmail;
use crate::org;
use crate::users::{self, LinkPurpose};
use crate::web::auth::Viewer;
use crate::web::error::{WebError, WebResult};

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    q: String,
    users: Vec<users::UserRow>,
    can_invite: bool,
}

pub(super) async fn user_list(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
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
pub(super) struct InviteForm {
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

pub(super) async fn invite_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
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

pub(super) async fn invite(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<InviteForm>,
) -> WebResult<Response> {
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

pub(super) async fn user_page(
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
pub(super) struct GrantForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    federation_id: String,
    #[serde(default)]
    section_id: String,
}

pub(super) async fn grant_role(
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

pub(super) async fn revoke_role(
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

pub(super) async fn disable_user(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    set_disabled(&app, &viewer, id, true).await
}

pub(super) async fn enable_user(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    set_disabled(&app, &viewer, id, false).await
}
