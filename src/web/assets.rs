//! Static assets embedded in the binary (no CDN: the app works offline) and the charter stylesheet.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::app::App;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

pub fn routes() -> Router<App> {
    Router::new().route("/static/{*path}", get(asset)).route("/charte.css", get(charter_css_handler))
}

async fn asset(Path(path): Path<String>) -> Response {
    match Assets::get(&path) {
        Some(file) => {
            let mime = mime_guess::from_path(&path).first_or_octet_stream();
            let mut r = (StatusCode::OK, file.data.into_owned()).into_response();
            if let Ok(v) = HeaderValue::from_str(mime.as_ref()) {
                r.headers_mut().insert(header::CONTENT_TYPE, v);
            }
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            r
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// CSS custom properties from the configured charter (validated at start: colours are hex, the font
/// list has no CSS punctuation that could end the declaration).
pub fn charter_css(charter: &crate::config::Charter) -> String {
    format!(
        ":root{{--primary:{};--secondary:{};--accent:{};--background:{};--text:{};--font:{};}}\n",
        charter.primary, charter.secondary, charter.accent, charter.background, charter.text, charter.font_family
    )
}

async fn charter_css_handler(State(app): State<App>) -> Response {
    let mut r = charter_css(&app.config.charter).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    r
}
