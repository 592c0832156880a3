//! The web layer: HTML pages (French), the JSON API, and the middleware every response goes through.
pub mod api;
pub mod assets;
pub mod auth;
pub mod error;
pub mod field;
pub mod middleware;
pub mod newsletters;
pub mod pages;
pub mod people;
pub mod public;
pub mod segments;
pub mod territory;
pub mod tracking;

use axum::Router;
use std::time::Duration;

use axum::http::{HeaderName, StatusCode};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::App;

pub type AppState = App;

/// A CSV document offered as a download.
pub fn csv_attachment(filename: &str, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response()
}

/// A JSON document offered as a download (personal data exports).
pub fn json_attachment(
    filename: &str,
    value: &serde_json::Value,
) -> Result<axum::response::Response, crate::error::Error> {
    use axum::response::IntoResponse;
    let body = serde_json::to_string_pretty(value).map_err(anyhow::Error::from)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8".to_string()),
            (axum::http::header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
        .into_response())
}

pub fn router(app: App) -> Router {
    Router::new()
        .merge(auth::routes())
        .merge(pages::routes())
        .merge(people::routes())
        .merge(segments::routes())
        .merge(field::routes())
        .merge(newsletters::routes())
        .merge(territory::routes())
        .merge(tracking::routes())
        .merge(public::routes())
        .nest("/api/v1", api::routes())
        .merge(assets::routes())
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), middleware::csrf))
        .layer(axum::middleware::from_fn_with_state(app.clone(), middleware::security_headers))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(HeaderName::from_static(middleware::REQUEST_ID), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(middleware::request_span))
                .layer(PropagateRequestIdLayer::new(HeaderName::from_static(middleware::REQUEST_ID)))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30))),
        )
        .with_state(app)
}
