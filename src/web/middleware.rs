//! Middleware applied to every route: request ids and tracing, security headers, CSRF protection.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::App;

pub const REQUEST_ID: &str = "x-request-id";

/// The tracing span of a request: method, path (never the query string, which may carry tokens) and the
/// request id set by `SetRequestIdLayer`.
pub fn request_span(req: &Request) -> tracing::Span {
    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info_span!("http", method = %req.method(), path = %loggable_path(req.uri().path()), request_id = %id)
}

/// Paths that carry a secret (single-use links) are logged without it.
pub fn loggable_path(path: &str) -> &str {
    for prefix in ["/mot-de-passe/", "/invitation/", "/inscription/confirmer/", "/mes-donnees/"] {
        if path.starts_with(prefix) {
            return prefix;
        }
    }
    path
}

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
     connect-src 'self'; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Newsletter previews are shown in a frame of the composer: a sandboxed document whose inline styles (the
/// e-mail's own) are allowed, and nothing else.
pub const PREVIEW_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: http: data:; \
     frame-ancestors 'self'; sandbox";

pub fn is_preview(path: &str) -> bool {
    path.starts_with("/lettres/") && path.ends_with("/apercu")
}

/// Security headers on every response (OWASP ASVS 3.4): CSP without inline scripts, no framing,
/// no MIME sniffing, a strict referrer policy, and no caching of anything but static assets.
pub async fn security_headers(State(app): State<App>, req: Request, next: Next) -> Response {
    let is_static = req.uri().path().starts_with("/static/");
    let preview = is_preview(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(if preview { PREVIEW_CSP } else { CSP }));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static(if preview { "SAMEORIGIN" } else { "DENY" }));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    if app.config.secure_cookies() {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    if !is_static {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Is this state-changing request from another site? Modelled on Go 1.25's CrossOriginProtection:
/// `Sec-Fetch-Site` when the browser sends it, else `Origin` against `Host` (and the public URL).
/// Requests with neither come from non-browser clients (scripts, the API) and carry no ambient cookie risk.
pub fn is_cross_origin(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if origin == "null" {
        return true;
    }
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let public_host = public_url.split_once("://").map(|(_, h)| h.trim_end_matches('/')).unwrap_or("");
    !(origin_host.eq_ignore_ascii_case(host)
        || (!public_host.is_empty() && origin_host.eq_ignore_ascii_case(public_host)))
}

/// CSRF protection: every method but GET/HEAD/OPTIONS is refused when it comes from another origin.
/// GET handlers never change state.
pub async fn csrf(State(app): State<App>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let exempt = super::public::is_public_cross_site_form(req.uri().path())
        || super::tracking::is_one_click_unsubscribe(req.uri().path());
    if !safe && !exempt && is_cross_origin(req.headers(), &app.config.public_url) {
        tracing::warn!(path = %req.uri().path(), "cross-origin request refused");
        return (StatusCode::FORBIDDEN, "Requête refusée : elle ne vient pas de ce site (protection CSRF).")
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn link_tokens_stay_out_of_logs() {
        assert_eq!(loggable_path("/mot-de-passe/abcdef"), "/mot-de-passe/");
        assert_eq!(loggable_path("/invitation/abcdef"), "/invitation/");
        assert_eq!(loggable_path("/federations/3"), "/federations/3");
    }

    #[test]
    fn cross_origin_detection() {
        assert!(!is_cross_origin(&headers(&[]), ""));
        assert!(!is_cross_origin(&headers(&[("sec-fetch-site", "same-origin")]), ""));
        assert!(is_cross_origin(&headers(&[("sec-fetch-site", "cross-site")]), ""));
        assert!(is_cross_origin(&headers(&[("sec-fetch-site", "same-site")]), ""));
        assert!(!is_cross_origin(&headers(&[("origin", "http://127.0.0.1:8080"), ("host", "127.0.0.1:8080")]), ""));
        assert!(is_cross_origin(&headers(&[("origin", "https://evil.example"), ("host", "127.0.0.1:8080")]), ""));
        assert!(is_cross_origin(&headers(&[("origin", "null"), ("host", "a")]), ""));
        assert!(!is_cross_origin(
            &headers(&[("origin", "https://terrain.example.org"), ("host", "10.0.0.5:8080")]),
            "https://terrain.example.org/"
        ));
    }
}
