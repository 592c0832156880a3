//! Public newsletter endpoints reached from the e-mails: the open pixel, the click redirect, and unsubscribing.
//! None needs a session: each carries a signed token (newsletter::tracking).
//!
//! - `GET /o/{token}`: a 1×1 GIF; the open is buffered and written in a batch.
//! - `GET /l/{token}`: 303 to the link stored at send time for that campaign and index; any other token is
//!   refused (no open redirect).
//! - `GET /d/{token}`: the unsubscribe page (link scanners fetch GETs: it never unsubscribes by itself).
//! - `POST /d/{token}`: RFC 8058 one-click unsubscribe (`List-Unsubscribe=One-Click`) or the page's button;
//!   idempotent, effective at once. Exempt from the CSRF origin check (mail clients post cross-site).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::auth::Meta;
use super::error::WebResult;
use super::pages::{Layout, render};
use crate::app::App;
use crate::newsletter::tracking::{self, CLICK, OPEN, UNSUBSCRIBE};
use crate::newsletter::unsubscribe;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/o/{token}", get(open))
        .route("/l/{token}", get(click))
        .route("/d/{token}", get(unsubscribe_page).post(unsubscribe_now))
        .route("/d/{token}/preferences", post(save_preferences))
        .route("/media/{key}", get(media))
}

/// An uploaded newsletter image (public: mail clients fetch it without a session).
async fn media(State(app): State<App>, Path(key): Path<String>) -> WebResult<Response> {
    match crate::newsletter::media::get(&app.db, &key).await? {
        Some((content_type, bytes)) => Ok((
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable".into()),
            ],
            bytes,
        )
            .into_response()),
        None => Ok((StatusCode::NOT_FOUND, "Image introuvable.").into_response()),
    }
}

/// One-click unsubscribe posts come from mail clients, on another origin.
pub fn is_one_click_unsubscribe(path: &str) -> bool {
    path.strip_prefix("/d/").is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The smallest transparent GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x02, 0x44, 0x01, 0x00, 0x3b,
];

async fn token(app: &App, token: &str, kind: u8) -> WebResult<Option<tracking::Token>> {
    let key = app.tracker.key(&app.db).await?;
    Ok(tracking::decode(key, token.trim_end_matches(".gif")).filter(|t| t.kind == kind))
}

async fn open(State(app): State<App>, Path(t): Path<String>) -> WebResult<Response> {
    // The image is served whatever the token: mail clients must not show a broken image.
    if let Some(t) = token(&app, &t, OPEN).await? {
        app.tracker.record(tracking::event(&t)).await;
    }
    Ok(([(header::CONTENT_TYPE, "image/gif"), (header::CACHE_CONTROL, "no-store, private")], PIXEL).into_response())
}

async fn click(State(app): State<App>, Path(t): Path<String>) -> WebResult<Response> {
    let refused = || (StatusCode::NOT_FOUND, "Lien inconnu ou expiré.").into_response();
    let Some(t) = token(&app, &t, CLICK).await? else { return Ok(refused()) };
    let links = app.tracker.links(&app.db, t.campaign).await?;
    let Some(url) = usize::try_from(t.link).ok().and_then(|i| links.get(i)) else { return Ok(refused()) };
    app.tracker.record(tracking::event(&t)).await;
    Ok(Redirect::to(url).into_response())
}

#[derive(Template)]
#[template(path = "newsletters/unsubscribe.html")]
struct UnsubscribePage {
    layout: Layout,
    valid: bool,
    token: String,
    list_name: String,
    message: Option<&'static str>,
    preferences: Vec<(&'static str, &'static str, bool)>,
}

async fn page(app: &App, token_text: String, message: Option<&'static str>) -> WebResult<Response> {
    let mut layout = Layout::bare("Vos abonnements");
    layout.party = app.config.charter.party_name.clone();
    let invalid = |layout| UnsubscribePage {
        layout,
        valid: false,
        token: String::new(),
        list_name: String::new(),
        message: None,
        preferences: Vec::new(),
    };
    let Some(t) = token(app, &token_text, UNSUBSCRIBE).await? else {
        return Ok((StatusCode::NOT_FOUND, render(invalid(layout))?).into_response());
    };
    let list_name: Option<String> = sqlx::query_scalar(
        "SELECT l.name FROM campaigns c JOIN mailing_lists l ON l.id = c.list_id WHERE c.id = $1 \
         AND EXISTS (SELECT 1 FROM people p WHERE p.id = $2)",
    )
    .bind(t.campaign)
    .bind(t.person)
    .fetch_optional(&app.db.pool)
    .await?;
    let Some(list_name) = list_name else {
        return Ok((StatusCode::NOT_FOUND, render(invalid(layout))?).into_response());
    };
    let preferences = unsubscribe::preferences(&app.db, t.person).await?;
    render(UnsubscribePage { layout, valid: true, token: token_text, list_name, message, preferences })
}

async fn unsubscribe_page(State(app): State<App>, Path(t): Path<String>) -> WebResult<Response> {
    page(&app, t, None).await
}

async fn unsubscribe_now(State(app): State<App>, Path(t): Path<String>) -> WebResult<Response> {
    // The body (`List-Unsubscribe=One-Click`, or the page's empty form) does not matter: the token decides.
    let Some(tok) = token(&app, &t, UNSUBSCRIBE).await? else {
        return Ok((StatusCode::NOT_FOUND, "Lien de désinscription invalide.").into_response());
    };
    match unsubscribe::apply(&app.db, tok.campaign, tok.person, "lien de la lettre").await {
        Ok(_) | Err(crate::error::Error::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    page(&app, t, Some("C'est fait : vous ne recevrez plus cette lettre.")).await
}

async fn save_preferences(
    State(app): State<App>,
    Meta(meta): Meta,
    Path(t): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let Some(tok) = token(&app, &t, UNSUBSCRIBE).await? else {
        return Ok((StatusCode::NOT_FOUND, "Lien invalide.").into_response());
    };
    let wanted: Vec<String> = form.into_iter().filter(|(k, _)| k == "purpose").map(|(_, v)| v).collect();
    unsubscribe::set_preferences(&app.db, tok.person, &wanted, &meta.ip).await?;
    page(&app, t, Some("Vos préférences sont enregistrées.")).await
}
