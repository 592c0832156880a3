//! Signing in and out, second factor, password reset and invitations; and the [`Viewer`] extractor
//! that every signed-in page takes (it yields the caller's [`Access`], the input of the scope gate).

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::error::{WebError, WebResult, safe_next};
use super::pages::Layout;
use crate::access::Access;
use crate::app::App;
use crate::audit::{self, Entry, RequestMeta};
use crate::auth::{normalise_email, password, session, throttle, totp};
use crate::db::now;
use crate::jobs::{self, Job};
use crate::mail::OutgoingEmail;
use crate::users::{self, LinkPurpose};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/connexion", get(login_form).post(login))
        .route("/connexion/totp", get(totp_form).post(totp_submit))
        .route("/deconnexion", post(logout))
        .route("/mot-de-passe-oublie", get(forgot_form).post(forgot))
        .route("/mot-de-passe/{token}", get(reset_form).post(reset))
        .route("/invitation/{token}", get(invitation_form).post(accept_invitation))
}

/// Where the request comes from: client IP (from the proxy header only when configured) and request id.
pub fn request_meta(parts: &Parts, app: &App) -> RequestMeta {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded = if app.config.trust_proxy {
        parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    } else {
        None
    };
    let ip = forwarded.or(peer).map(|ip| ip.to_string()).unwrap_or_default();
    let request_id =
        parts.headers.get(super::middleware::REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    RequestMeta { ip, request_id }
}

/// Request metadata as an extractor.
pub struct Meta(pub RequestMeta);

impl FromRequestParts<App> for Meta {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(parts, app)))
    }
}

fn ip_key(meta: &RequestMeta) -> String {
    meta.ip.parse::<IpAddr>().map(throttle::ip_key).unwrap_or_else(|_| meta.ip.clone())
}

fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = session::cookie_name(secure);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// The signed-in person: who, what they may do, and their session.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub access: Access,
    pub session_hash: String,
    pub meta: RequestMeta,
}

impl Viewer {
    pub fn audit(&self, action: &'static str) -> Entry {
        Entry::new(Some(self.user_id), action)
    }
}

fn totp_required(app: &App, access: &Access) -> bool {
    app.config.require_totp_for_national && access.is_national()
}

impl FromRequestParts<App> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let login = || WebError::Login { next: next.clone() };
        let token = session_token(&parts.headers, app.config.secure_cookies()).ok_or_else(login)?;
        let s = session::lookup(&app.db, &token, app.config.session_idle_minutes).await?.ok_or_else(login)?;
        if s.pending_totp {
            return Err(WebError::SecondFactor);
        }
        let (email, display_name, totp_enabled): (String, String, i64) =
            sqlx::query_as("SELECT email, display_name, totp_enabled FROM users WHERE id = $1")
                .bind(s.user_id)
                .fetch_optional(&app.db.pool)
                .await?
                .ok_or_else(login)?;
        let access = users::access_for(&app.db, s.user_id).await?;
        if totp_required(app, &access) && totp_enabled == 0 {
            // A national role was granted after this session began: set up the second factor first.
            return Err(WebError::SecondFactor);
        }
        Ok(Viewer {
            user_id: s.user_id,
            email,
            display_name,
            access,
            session_hash: s.id_hash,
            meta: request_meta(parts, app),
        })
    }
}

/// A session that exists, second factor done or not (for the TOTP page).
struct AnySession {
    session: session::Session,
}

impl FromRequestParts<App> for AnySession {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let login = || WebError::Login { next: "/".into() };
        let token = session_token(&parts.headers, app.config.secure_cookies()).ok_or_else(login)?;
        let session = session::lookup(&app.db, &token, app.config.session_idle_minutes).await?.ok_or_else(login)?;
        Ok(AnySession { session })
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

// ---------------------------------------------------------------------------------------------------
// Login

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: String,
}

async fn login_form(Query(q): Query<NextQuery>) -> WebResult<Html<String>> {
    Ok(Html(
        LoginPage { layout: Layout::bare("Connexion"), email: String::new(), next: safe_next(&q.next), error: None }
            .render()?,
    ))
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

fn login_page(status: StatusCode, email: &str, next: &str, error: &str) -> WebResult<Response> {
    let page = LoginPage {
        layout: Layout::bare("Connexion"),
        email: email.to_string(),
        next: safe_next(next),
        error: Some(error.to_string()),
    };
    Ok((status, Html(page.render()?)).into_response())
}

async fn login(
    State(app): State<App>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let email = normalise_email(&form.email).unwrap_or_else(|| form.email.trim().to_lowercase());
    let ip = ip_key(&meta);
    let account = throttle::account_key("login", &email);
    if !throttle::login_allowed(&app.db, &ip, &account).await? {
        audit::record(&app.db, &meta, Entry::new(None, "login_throttled")).await?;
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            &email,
            &form.next,
            "Trop de tentatives ont échoué. Patientez quelques minutes avant de réessayer.",
        );
    }
    let creds = users::credentials_by_email(&app.db, &email).await?;
    let candidate = creds.clone().filter(|c| c.disabled == 0).and_then(|c| c.password_hash.map(|h| (c.id, h)));
    let password = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || match &candidate {
        Some((_, hash)) => password::verify(&password, hash),
        None => {
            password::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(anyhow::Error::from)?;
    throttle::record(&app.db, &ip, &account, verified).await?;
    let Some(creds) = creds.filter(|_| verified) else {
        let actor = users::credentials_by_email(&app.db, &email).await?.map(|c| c.id);
        audit::record(&app.db, &meta, Entry::new(actor, "login_failed")).await?;
        return login_page(StatusCode::UNAUTHORIZED, &email, &form.next, "Adresse e-mail ou mot de passe incorrect.");
    };
    // Session rotation: whatever session the browser had before is ended.
    if let Some(old) = session_token(&headers, app.config.secure_cookies()) {
        session::delete(&app.db, &crate::auth::sha256_hex(&old)).await?;
    }
    let access = users::access_for(&app.db, creds.id).await?;
    let needs_totp = creds.totp_enabled != 0 || totp_required(&app, &access);
    let token = session::create(&app.db, creds.id, needs_totp, app.config.session_idle_minutes).await?;
    let target = if needs_totp {
        "/connexion/totp".to_string()
    } else {
        users::touch_login(&app.db, creds.id).await?;
        audit::record(&app.db, &meta, Entry::new(Some(creds.id), "login")).await?;
        safe_next(&form.next)
    };
    Ok(with_cookie(Redirect::to(&target).into_response(), &session::set_cookie(&token, app.config.secure_cookies())))
}

async fn logout(State(app): State<App>, headers: HeaderMap, Meta(meta): Meta) -> WebResult<Response> {
    if let Some(token) = session_token(&headers, app.config.secure_cookies()) {
        let hash = crate::auth::sha256_hex(&token);
        let user: Option<i64> = sqlx::query_scalar("SELECT user_id FROM sessions WHERE id_hash = $1")
            .bind(&hash)
            .fetch_optional(&app.db.pool)
            .await?;
        session::delete(&app.db, &hash).await?;
        if let Some(user) = user {
            audit::record(&app.db, &meta, Entry::new(Some(user), "logout")).await?;
        }
    }
    Ok(with_cookie(Redirect::to("/connexion").into_response(), &session::clear_cookie(app.config.secure_cookies())))
}

// ---------------------------------------------------------------------------------------------------
// Second factor

#[derive(Template)]
#[template(path = "totp.html")]
struct TotpPage {
    layout: Layout,
    /// Set when the user must first add Terrain to an authenticator app.
    enrol_secret: Option<String>,
    enrol_uri: String,
    error: Option<String>,
}

async fn totp_page(app: &App, user_id: i64, error: Option<String>) -> WebResult<TotpPage> {
    let creds = users::credentials_by_id(&app.db, user_id).await?.ok_or(WebError::Login { next: "/".into() })?;
    let (enrol_secret, enrol_uri) = if creds.totp_enabled != 0 {
        (None, String::new())
    } else {
        let secret = match creds.totp_secret {
            Some(s) => s,
            None => {
                let s = totp::new_secret();
                users::set_totp(&app.db, user_id, Some(&s), false).await?;
                s
            }
        };
        let uri = totp::provisioning_uri(&secret, &creds.email, &app.config.charter.party_name);
        (Some(secret), uri)
    };
    Ok(TotpPage { layout: Layout::bare("Double authentification"), enrol_secret, enrol_uri, error })
}

async fn totp_form(State(app): State<App>, s: AnySession) -> WebResult<Response> {
    if !s.session.pending_totp {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(Html(totp_page(&app, s.session.user_id, None).await?.render()?).into_response())
}

#[derive(Deserialize)]
struct TotpForm {
    #[serde(default)]
    code: String,
}

async fn totp_submit(
    State(app): State<App>,
    s: AnySession,
    Meta(meta): Meta,
    Form(form): Form<TotpForm>,
) -> WebResult<Response> {
    if !s.session.pending_totp {
        return Ok(Redirect::to("/").into_response());
    }
    let user_id = s.session.user_id;
    let ip = ip_key(&meta);
    let account = throttle::account_key("totp", &user_id.to_string());
    if !throttle::login_allowed(&app.db, &ip, &account).await? {
        return Err(WebError::Throttled);
    }
    let creds = users::credentials_by_id(&app.db, user_id).await?.ok_or(WebError::Login { next: "/".into() })?;
    let step = creds.totp_secret.as_deref().and_then(|secret| totp::verify_step(secret, &form.code, now()));
    let ok = match step {
        Some(step) => users::use_totp_step(&app.db, user_id, step).await?,
        None => false,
    };
    throttle::record(&app.db, &ip, &account, ok).await?;
    if !ok {
        audit::record(&app.db, &meta, Entry::new(Some(user_id), "totp_failed")).await?;
        let page = totp_page(
            &app,
            user_id,
            Some("Code incorrect ou expiré. Saisissez le code à 6 chiffres affiché par votre application.".into()),
        )
        .await?;
        return Ok((StatusCode::UNAUTHORIZED, Html(page.render()?)).into_response());
    }
    if creds.totp_enabled == 0 {
        users::set_totp(&app.db, user_id, creds.totp_secret.as_deref(), true).await?;
        audit::record(&app.db, &meta, Entry::new(Some(user_id), "totp_enabled").target("user", user_id)).await?;
    }
    // Rotate again: the fully authenticated session gets a new id.
    session::delete(&app.db, &s.session.id_hash).await?;
    let token = session::create(&app.db, user_id, false, app.config.session_idle_minutes).await?;
    users::touch_login(&app.db, user_id).await?;
    audit::record(&app.db, &meta, Entry::new(Some(user_id), "login")).await?;
    Ok(with_cookie(Redirect::to("/").into_response(), &session::set_cookie(&token, app.config.secure_cookies())))
}

// ---------------------------------------------------------------------------------------------------
// Password reset and invitations

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    layout: Layout,
    sent: bool,
}

async fn forgot_form() -> WebResult<Html<String>> {
    Ok(Html(ForgotPage { layout: Layout::bare("Mot de passe oublié"), sent: false }.render()?))
}

#[derive(Deserialize)]
struct ForgotForm {
    #[serde(default)]
    email: String,
}

async fn forgot(State(app): State<App>, Meta(meta): Meta, Form(form): Form<ForgotForm>) -> WebResult<Response> {
    let Some(email) = normalise_email(&form.email) else {
        return Err(crate::error::Error::Invalid("Indiquez une adresse e-mail valide.".into()).into());
    };
    let account = throttle::account_key("reset", &email);
    if !throttle::reset_allowed(&app.db, &account).await? {
        return Err(WebError::Throttled);
    }
    throttle::record(&app.db, &ip_key(&meta), &account, true).await?;
    if let Some(c) = users::credentials_by_email(&app.db, &email).await?.filter(|c| c.disabled == 0) {
        let token = users::create_link(&app.db, c.id, LinkPurpose::PasswordReset).await?;
        let link = format!("{}/mot-de-passe/{token}", app.config.base_url());
        let text = format!(
            "Bonjour,\n\nUne demande de nouveau mot de passe a été faite pour votre compte {party}.\n\n\
             Pour choisir un nouveau mot de passe, ouvrez ce lien (valable une heure, une seule fois) :\n{link}\n\n\
             Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : votre mot de passe reste inchangé.\n",
            party = app.config.charter.party_name
        );
        jobs::enqueue(
            &app.db,
            &Job::SendEmail(OutgoingEmail { to: email.clone(), subject: "Nouveau mot de passe".into(), text }),
        )
        .await?;
        audit::record(&app.db, &meta, Entry::new(Some(c.id), "password_reset_requested").target("user", c.id)).await?;
    }
    // Same answer whether or not the address has an account.
    Ok(Html(ForgotPage { layout: Layout::bare("Mot de passe oublié"), sent: true }.render()?).into_response())
}

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    layout: Layout,
    action: String,
    invitation: bool,
    display_name: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    layout: Layout,
    heading: String,
    message: String,
    link: Option<(String, String)>,
}

fn invalid_link() -> WebResult<Response> {
    let page = MessagePage {
        layout: Layout::bare("Lien invalide"),
        heading: "Lien invalide ou expiré".into(),
        message: "Ce lien a déjà servi ou n'est plus valable. Demandez-en un nouveau.".into(),
        link: Some(("/mot-de-passe-oublie".into(), "Demander un nouveau lien".into())),
    };
    Ok((StatusCode::GONE, Html(page.render()?)).into_response())
}

async fn link_form(app: &App, token: &str, purpose: LinkPurpose) -> WebResult<Response> {
    let Some(user_id) = users::peek_link(&app.db, token, purpose).await? else {
        return invalid_link();
    };
    let invitation = purpose == LinkPurpose::Invitation;
    let display_name: String = sqlx::query_scalar("SELECT display_name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&app.db.pool)
        .await?;
    let page = SetPasswordPage {
        layout: Layout::bare(if invitation { "Invitation" } else { "Nouveau mot de passe" }),
        action: format!("/{}/{token}", if invitation { "invitation" } else { "mot-de-passe" }),
        invitation,
        display_name,
        error: None,
    };
    Ok(Html(page.render()?).into_response())
}

async fn reset_form(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    link_form(&app, &token, LinkPurpose::PasswordReset).await
}

async fn invitation_form(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    link_form(&app, &token, LinkPurpose::Invitation).await
}

#[derive(Deserialize)]
struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    display_name: String,
}

async fn use_link(
    app: &App,
    meta: &RequestMeta,
    token: &str,
    purpose: LinkPurpose,
    form: SetPasswordForm,
) -> WebResult<Response> {
    let invitation = purpose == LinkPurpose::Invitation;
    let Some(user_id) = users::peek_link(&app.db, token, purpose).await? else {
        return invalid_link();
    };
    let email: String =
        sqlx::query_scalar("SELECT email FROM users WHERE id = $1").bind(user_id).fetch_one(&app.db.pool).await?;
    let name = form.display_name.trim().to_string();
    let problem = if form.password != form.confirm {
        Some("Les deux mots de passe ne sont pas identiques.".to_string())
    } else if invitation && (name.is_empty() || name.chars().count() > 120) {
        Some("Indiquez votre nom (120 caractères au plus).".to_string())
    } else {
        password::check_policy(&form.password, &email).err().map(str::to_string)
    };
    if let Some(error) = problem {
        let page = SetPasswordPage {
            layout: Layout::bare("Nouveau mot de passe"),
            action: format!("/{}/{token}", if invitation { "invitation" } else { "mot-de-passe" }),
            invitation,
            display_name: name,
            error: Some(error),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(page.render()?)).into_response());
    }
    // Single use: the UPDATE … WHERE used_at IS NULL lets only one request through.
    if users::consume_link(&app.db, token, purpose).await? != Some(user_id) {
        return invalid_link();
    }
    let pw = form.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await.map_err(anyhow::Error::from)?;
    users::set_password_hash(&app.db, user_id, &hash).await?;
    if invitation {
        users::set_display_name(&app.db, user_id, &name).await?;
    }
    session::delete_for_user(&app.db, user_id).await?;
    let action = if invitation { "invitation_accepted" } else { "password_changed" };
    audit::record(&app.db, meta, Entry::new(Some(user_id), action).target("user", user_id)).await?;
    let page = MessagePage {
        layout: Layout::bare("Mot de passe enregistré"),
        heading: "Mot de passe enregistré".into(),
        message: "Vous pouvez maintenant vous connecter avec votre nouveau mot de passe.".into(),
        link: Some(("/connexion".into(), "Se connecter".into())),
    };
    Ok(Html(page.render()?).into_response())
}

async fn reset(
    State(app): State<App>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> WebResult<Response> {
    use_link(&app, &meta, &token, LinkPurpose::PasswordReset, form).await
}

async fn accept_invitation(
    State(app): State<App>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> WebResult<Response> {
    use_link(&app, &meta, &token, LinkPurpose::Invitation, form).await
}
