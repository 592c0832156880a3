//! The audit log and the demo outbox of sent mail.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::{Layout, PageQuery, format_time, render};
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;

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

pub(super) async fn audit_log(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<PageQuery>,
) -> WebResult<Response> {
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
pub(super) async fn outbox(State(app): State<App>) -> WebResult<Response> {
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
