//! Newsletter pages: campaigns list, composer with live preview, test send, audience and sending, analytics.

use axum::Router;

use crate::app::App;

pub fn routes() -> Router<App> {
    Router::new()
}
