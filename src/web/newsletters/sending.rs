//! Sending (now or scheduled) and control of a sending campaign: pause, resume, cancel.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::blocks::{draft_of, field};
use super::composer::{NOT_SENT, composer_page};
use super::{Pairs, audit_campaign, campaign};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::newsletter::analytics;
use crate::newsletter::campaigns;
use crate::newsletter::{self as nl};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;

pub(super) async fn send(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let at = match field(&pairs, "when") {
        "later" => match analytics::parse_paris(field(&pairs, "date"), field(&pairs, "time")) {
            Some(t) => Some(t),
            None => {
                let errors = vec!["Indiquez une date et une heure d'envoi valides (heure de Paris).".to_string()];
                return composer_page(&app, &viewer, &c, &draft_of(&c), (NOT_SENT, errors), None, "").await;
            }
        },
        _ => None,
    };
    let sender = nl::sender_identity(&app.db, &app.config, &c).await?;
    match campaigns::launch(&app.db, &viewer.access, &c, &sender, app.config.newsletter.shards, at).await {
        Ok(n) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer
                    .audit("campaign_send")
                    .target("campaign", c.id)
                    .federation(c.federation_id)
                    .details(serde_json::json!({ "count": n, "scheduled_at": at })),
            )
            .await?;
            let msg = if at.is_some() { "programmee" } else { "envoyee" };
            Ok(Redirect::to(&format!("/lettres/{id}/statistiques?msg={msg}")).into_response())
        }
        Err(Error::Invalid(m)) if c.editable() => {
            composer_page(
                &app,
                &viewer,
                &c,
                &draft_of(&c),
                (NOT_SENT, m.lines().map(str::to_string).collect()),
                None,
                "",
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn control(app: &App, viewer: &Viewer, id: i64, action: &str, audit_action: &'static str) -> WebResult<Response> {
    let c = campaign(app, viewer, id).await?;
    campaigns::control(&app.db, &viewer.access, &c, action, app.config.newsletter.shards).await?;
    audit_campaign(app, viewer, audit_action, &c).await?;
    let target = match action {
        "cancel" if c.editable() => "/lettres?msg=annulee".to_string(),
        "cancel" => format!("/lettres/{id}/statistiques?msg=annulee"),
        "pause" => format!("/lettres/{id}/statistiques?msg=pause"),
        _ => format!("/lettres/{id}/statistiques?msg=reprise"),
    };
    Ok(Redirect::to(&target).into_response())
}

pub(super) async fn pause(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "pause", "campaign_pause").await
}

pub(super) async fn resume(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "resume", "campaign_resume").await
}

pub(super) async fn cancel(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "cancel", "campaign_cancel").await
}
