//! Health and readiness probes for the load balancer and the orchestrator: plain text, no sign-in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::App;

pub(super) async fn healthz(State(app): State<App>) -> Response {
    if app.db.ping().await {
        (StatusCode::OK, "ok").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
    }
}

pub(super) async fn readyz(State(app): State<App>) -> Response {
    if app.db.ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
    }
}
