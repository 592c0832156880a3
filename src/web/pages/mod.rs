//! The HTML pages of the signed-in shell: dashboard, organisation, users and roles, audit log, outbox,
//! charter, account. Handlers parse input, call the scoped repositories with the viewer's access, and
//! render a template; they never build scoped SQL themselves.

mod account;
mod audit;
mod charter;
mod dashboard;
mod federations;
mod health;
#[cfg(test)]
mod tests;
mod users;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::auth::Viewer;
use super::error::{WebError, WebResult};
use crate::access::{Perm, Role};
use crate::app::App;
use crate::error::Error;

use account::{account, change_password, create_token, revoke_token};
use audit::{audit_log, outbox};
use charter::{charter, sources};
use dashboard::dashboard;
use federations::{
    create_section, delete_section, edit_section_form, federation, federations, new_section_form, section,
    update_section,
};
use health::{healthz, readyz};
use users::{disable_user, enable_user, grant_role, invite, invite_form, revoke_role, user_list, user_page};

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
