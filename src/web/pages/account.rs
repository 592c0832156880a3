//! The account page: password change and API tokens.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Layout, PageQuery, format_time, render, render_status};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::users;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    totp_enabled: bool,
    tokens: Vec<(i64, String, String)>,
    new_token: Option<String>,
    error: Option<String>,
}

async fn account_page(
    app: &App,
    viewer: &Viewer,
    msg: &str,
    new_token: Option<String>,
    error: Option<String>,
) -> WebResult<AccountPage> {
    let creds = users::credentials_by_id(&app.db, viewer.user_id).await?.ok_or(Error::NotFound)?;
    let tokens = users::api_tokens(&app.db, viewer.user_id)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name, t.last_used_at.map(format_time).unwrap_or_else(|| "jamais utilisé".into())))
        .collect();
    Ok(AccountPage {
        layout: Layout::new(app, viewer, "Mon compte", "/compte").flash(msg),
        email: viewer.email.clone(),
        totp_enabled: creds.totp_enabled != 0,
        tokens,
        new_token,
        error,
    })
}

pub(super) async fn account(State(app): State<App>, viewer: Viewer, Query(q): Query<PageQuery>) -> WebResult<Response> {
    render(account_page(&app, &viewer, &q.msg, None, None).await?)
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn change_password(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<PasswordForm>,
) -> WebResult<Response> {
    let creds = users::credentials_by_id(&app.db, viewer.user_id).await?.ok_or(Error::NotFound)?;
    let stored = creds.password_hash.unwrap_or_default();
    let current = form.current.clone();
    let ok = tokio::task::spawn_blocking(move || crate::auth::password::verify(&current, &stored))
        .await
        .map_err(anyhow::Error::from)?;
    let problem = if !ok {
        Some("Le mot de passe actuel est incorrect.".to_string())
    } else if form.password != form.confirm {
        Some("Les deux nouveaux mots de passe ne sont pas identiques.".to_string())
    } else {
        crate::auth::password::check_policy(&form.password, &viewer.email).err().map(str::to_string)
    };
    if let Some(error) = problem {
        return render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            account_page(&app, &viewer, "", None, Some(error)).await?,
        );
    }
    let pw = form.password;
    let hash =
        tokio::task::spawn_blocking(move || crate::auth::password::hash(&pw)).await.map_err(anyhow::Error::from)?;
    users::set_password_hash(&app.db, viewer.user_id, &hash).await?;
    // Other sessions end; this one stays.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
        .bind(viewer.user_id)
        .bind(&viewer.session_hash)
        .execute(&app.db.pool)
        .await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("password_changed").target("user", viewer.user_id)).await?;
    Ok(Redirect::to("/compte?msg=mot_de_passe").into_response())
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    name: String,
}

pub(super) async fn create_token(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<TokenForm>,
) -> WebResult<Response> {
    match users::create_api_token(&app.db, viewer.user_id, &form.name).await {
        Ok((id, token)) => {
            audit::record(&app.db, &viewer.meta, viewer.audit("api_token_created").target("api_token", id)).await?;
            // Shown once, on this response only.
            render(account_page(&app, &viewer, "", Some(token), None).await?)
        }
        Err(Error::Invalid(m)) => {
            render_status(StatusCode::UNPROCESSABLE_ENTITY, account_page(&app, &viewer, "", None, Some(m)).await?)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn revoke_token(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    users::revoke_api_token(&app.db, viewer.user_id, id).await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("api_token_revoked").target("api_token", id)).await?;
    Ok(Redirect::to("/compte?msg=jeton_revoque").into_response())
}
