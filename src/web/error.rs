//! Errors of the web layer, mapped to responses in one place: an HTML page for the browser routes,
//! JSON for the API. Internal errors are logged with their cause and shown as a generic message.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::error::Error;

#[derive(Debug)]
pub enum WebError {
    App(Error),
    /// Not signed in: go to the login page, then come back to `next`.
    Login {
        next: String,
    },
    /// Signed in with a password, second factor still owed (or to be set up).
    SecondFactor,
    /// Too many attempts.
    Throttled,
}

macro_rules! from_errors {
    ($target:ident, $wrap:expr) => {
        impl From<Error> for $target {
            fn from(e: Error) -> Self {
                $wrap(e)
            }
        }
        impl From<sqlx::Error> for $target {
            fn from(e: sqlx::Error) -> Self {
                $wrap(e.into())
            }
        }
        impl From<anyhow::Error> for $target {
            fn from(e: anyhow::Error) -> Self {
                $wrap(Error::Internal(e))
            }
        }
        impl From<askama::Error> for $target {
            fn from(e: askama::Error) -> Self {
                $wrap(e.into())
            }
        }
    };
}
from_errors!(WebError, WebError::App);
from_errors!(ApiError, ApiError);

impl From<askama::Error> for Error {
    fn from(e: askama::Error) -> Self {
        Error::Internal(anyhow::anyhow!("template: {e}"))
    }
}

pub type WebResult<T> = Result<T, WebError>;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: super::pages::Layout,
    heading: &'static str,
    message: String,
}

fn page(status: StatusCode, heading: &'static str, message: String) -> Response {
    let body = ErrorPage { layout: super::pages::Layout::bare(heading), heading, message }
        .render()
        .unwrap_or_else(|_| heading.to_string());
    (status, axum::response::Html(body)).into_response()
}

/// Only local paths are accepted as a place to return to (no open redirect).
pub fn safe_next(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.contains(['\r', '\n']) {
        next.to_string()
    } else {
        "/".to_string()
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::Login { next } => {
                let next = safe_next(&next);
                let target = if next == "/" {
                    "/connexion".to_string()
                } else {
                    format!("/connexion?next={}", urlencode(&next))
                };
                Redirect::to(&target).into_response()
            }
            WebError::SecondFactor => Redirect::to("/connexion/totp").into_response(),
            WebError::Throttled => {
                let mut r = page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Trop de tentatives",
                    "Trop de tentatives ont échoué. Patientez quelques minutes avant de réessayer.".into(),
                );
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
                r
            }
            WebError::App(e) => match e {
                Error::NotFound => page(
                    StatusCode::NOT_FOUND,
                    "Page introuvable",
                    "Cette page n'existe pas ou ne vous est pas accessible.".into(),
                ),
                Error::Forbidden => page(
                    StatusCode::FORBIDDEN,
                    "Accès refusé",
                    "Votre rôle ne permet pas d'accéder à cette page.".into(),
                ),
                Error::Invalid(m) => page(StatusCode::UNPROCESSABLE_ENTITY, "Demande invalide", m),
                Error::Conflict(m) => page(StatusCode::CONFLICT, "Conflit", m),
                Error::Internal(e) => {
                    tracing::error!(error = %format!("{e:#}"), "internal error");
                    page(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Erreur interne",
                        "Une erreur est survenue. Réessayez ; si elle persiste, contactez l'équipe nationale.".into(),
                    )
                }
            },
        }
    }
}

/// Errors of the JSON API.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self.0 {
            Error::NotFound => (StatusCode::NOT_FOUND, "not_found", "not found".to_string()),
            Error::Forbidden => (StatusCode::FORBIDDEN, "forbidden", "your role does not allow this".to_string()),
            Error::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            Error::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            Error::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error".to_string())
            }
        };
        (status, axum::Json(serde_json::json!({ "error": code, "message": message }))).into_response()
    }
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
