//! JSON API under `/api/v1`, authenticated by bearer tokens (created on the account page). It goes through
//! the same scoped repositories as the pages; the OpenAPI document is `openapi.json` beside this file.

use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::access::{Access, Perm};
use crate::app::App;
use crate::audit::{self, Entry, RequestMeta};
use crate::error::Error;
use crate::org::{self, SectionInput};
use crate::users;

pub const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> Router<App> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/me", get(me))
        .route("/federations", get(federations))
        .route("/federations/{id}", get(federation))
        .route("/federations/{id}/sections", get(sections).post(create_section))
        .route("/sections/{id}", get(section).put(update_section).delete(delete_section))
        .route("/users", get(user_list))
        .route("/users/{id}", get(user))
        .route("/users/{id}/grants", post(add_grant))
        .route("/users/{id}/grants/{grant}", delete(remove_grant))
        .route("/people", get(people_list))
        .route("/people/{id}", get(person))
        .route("/segments", get(segment_list))
        .route("/segments/{id}", get(segment))
        .route("/bounces", post(report_bounce))
        .fallback(|| async { ApiError(Error::NotFound) })
}

/// The caller of an API route: the user behind a valid bearer token.
pub struct ApiCaller {
    pub user_id: i64,
    pub access: Access,
    pub meta: RequestMeta,
}

impl ApiCaller {
    fn audit(&self, action: &'static str) -> Entry {
        Entry::new(Some(self.user_id), action)
    }
}

pub struct Unauthorized;

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "unauthorized", "message": "send Authorization: Bearer <token>" })),
        )
            .into_response()
    }
}

impl FromRequestParts<App> for ApiCaller {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| Unauthorized.into_response())?;
        let user_id = users::authenticate_api_token(&app.db, token)
            .await
            .map_err(|e| ApiError(e).into_response())?
            .ok_or_else(|| Unauthorized.into_response())?;
        let access = users::access_for(&app.db, user_id).await.map_err(|e| ApiError(e).into_response())?;
        Ok(ApiCaller { user_id, access, meta: super::auth::request_meta(parts, app) })
    }
}

type ApiResult = Result<Response, ApiError>;

/// A bounce or complaint forwarded by the mail system (for installations that do not use the Maildir).
async fn report_bounce(
    State(app): State<App>,
    caller: ApiCaller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !caller.access.allows(Perm::SendNewsletters, crate::access::Scope::National) {
        return Err(ApiError(Error::Forbidden));
    }
    if body.is_empty() || body.len() > 1_000_000 {
        return Err(ApiError(Error::Invalid("send the raw message (at most 1 MB) as the request body".into())));
    }
    let applied = crate::newsletter::bounces::apply(&app.db, &app.config, &body).await?;
    Ok(Json(json!({ "applied": format!("{applied:?}") })).into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn me(State(app): State<App>, caller: ApiCaller) -> ApiResult {
    let user = users::get(&app.db, &caller.access, caller.user_id).await?;
    let grants = users::grants(&app.db, &user).await?;
    Ok(Json(json!({ "user": user, "grants": grants })).into_response())
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
    #[serde(default)]
    federation_id: Option<i64>,
}

async fn federations(State(app): State<App>, caller: ApiCaller, Query(s): Query<Search>) -> ApiResult {
    Ok(Json(json!({ "federations": org::list_federations(&app.db, &caller.access, &s.q).await? })).into_response())
}

async fn federation(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let f = org::get_federation(&app.db, &caller.access, Perm::ViewOrg, id).await?;
    let (communes, population) = org::commune_stats(&app.db, &f).await?;
    let departements = org::departements(&app.db, &f).await?;
    Ok(Json(json!({ "federation": f, "departements": departements, "communes": communes, "population": population }))
        .into_response())
}

async fn sections(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let f = org::get_federation(&app.db, &caller.access, Perm::ViewOrg, id).await?;
    Ok(Json(json!({ "sections": org::list_sections(&app.db, &f).await? })).into_response())
}

fn section_json(section: &org::Section, communes: &[org::Commune]) -> Value {
    json!({ "section": section, "communes": communes })
}

async fn create_section(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    Json(input): Json<SectionInput>,
) -> ApiResult {
    let f = org::get_federation(&app.db, &caller.access, Perm::ManageSections, id).await?;
    let s = org::create_section(&app.db, &caller.access, &f, &input).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller.audit("section_created").target("section", s.id).federation(Some(f.id)),
    )
    .await?;
    let communes = org::section_communes(&app.db, &s).await?;
    Ok((StatusCode::CREATED, Json(section_json(&s, &communes))).into_response())
}

async fn section(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let s = org::get_section(&app.db, &caller.access, Perm::ViewOrg, id).await?;
    let communes = org::section_communes(&app.db, &s).await?;
    Ok(Json(section_json(&s, &communes)).into_response())
}

async fn update_section(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    Json(input): Json<SectionInput>,
) -> ApiResult {
    let s = org::get_section(&app.db, &caller.access, Perm::ManageSections, id).await?;
    let s = org::update_section(&app.db, &caller.access, &s, &input).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller.audit("section_updated").target("section", s.id).federation(Some(s.federation_id)),
    )
    .await?;
    let communes = org::section_communes(&app.db, &s).await?;
    Ok(Json(section_json(&s, &communes)).into_response())
}

async fn delete_section(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let s = org::get_section(&app.db, &caller.access, Perm::ManageSections, id).await?;
    org::delete_section(&app.db, &caller.access, &s).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller.audit("section_deleted").target("section", s.id).federation(Some(s.federation_id)),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn user_list(State(app): State<App>, caller: ApiCaller, Query(s): Query<Search>) -> ApiResult {
    if let Some(f) = s.federation_id {
        org::get_federation(&app.db, &caller.access, Perm::ViewMembers, f).await?;
    }
    Ok(Json(json!({ "users": users::list(&app.db, &caller.access, s.federation_id, &s.q).await? })).into_response())
}

async fn user(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    if !caller.access.allows_somewhere(Perm::ViewMembers) && id != caller.user_id {
        return Err(Error::Forbidden.into());
    }
    let u = users::get(&app.db, &caller.access, id).await?;
    let grants = users::grants(&app.db, &u).await?;
    Ok(Json(json!({ "user": u, "grants": grants })).into_response())
}

#[derive(Deserialize)]
struct PeopleQuery {
    #[serde(flatten)]
    filter: crate::people::Filter,
    #[serde(default)]
    offset: i64,
}

async fn people_list(State(app): State<App>, caller: ApiCaller, Query(q): Query<PeopleQuery>) -> ApiResult {
    let (rows, total) = crate::people::search(&app.db, &caller.access, &q.filter, 100, q.offset).await?;
    Ok(Json(json!({ "total": total, "offset": q.offset, "people": rows })).into_response())
}

async fn person(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let p = crate::people::get(&app.db, &caller.access, Perm::ViewPeople, id).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller.audit("person_viewed").target("person", p.id).federation(Some(p.federation_id)),
    )
    .await?;
    let consents: Vec<Value> = crate::people::consent::current(&crate::people::consent::ledger(&app.db, &p).await?)
        .into_iter()
        .map(|s| json!({ "purpose": s.purpose, "granted": s.granted, "at": s.at }))
        .collect();
    let others = crate::people::others(&app.db, &caller.access, &p).await?;
    Ok(Json(json!({
        "person": p,
        "other_emails": others.emails,
        "other_phones": others.phones,
        "tags": crate::people::tags(&app.db, &p).await?,
        "skills": crate::people::skills(&app.db, &p).await?,
        "consents": consents,
    }))
    .into_response())
}

async fn segment_list(State(app): State<App>, caller: ApiCaller) -> ApiResult {
    Ok(Json(json!({ "segments": crate::people::segments::list(&app.db, &caller.access).await? })).into_response())
}

async fn segment(State(app): State<App>, caller: ApiCaller, Path(id): Path<i64>) -> ApiResult {
    let s = crate::people::segments::get(&app.db, &caller.access, id).await?;
    let count = crate::people::segments::count(&app.db, &caller.access, &s.definition).await?;
    Ok(Json(json!({ "segment": s, "count": count })).into_response())
}

#[derive(Deserialize)]
struct GrantInput {
    role: String,
    #[serde(default)]
    federation_id: Option<i64>,
    #[serde(default)]
    section_id: Option<i64>,
}

async fn add_grant(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<i64>,
    Json(input): Json<GrantInput>,
) -> ApiResult {
    let u = users::get(&app.db, &caller.access, id).await?;
    let (role, scope) =
        users::assign(&app.db, &caller.access, &u, &input.role, input.federation_id, input.section_id).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller
            .audit("role_granted")
            .target("user", u.id)
            .federation(scope.federation_id())
            .details(json!({ "role": role.as_str() })),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "grants": users::grants(&app.db, &u).await? }))).into_response())
}

async fn remove_grant(State(app): State<App>, caller: ApiCaller, Path((id, grant)): Path<(i64, i64)>) -> ApiResult {
    let u = users::get(&app.db, &caller.access, id).await?;
    let g = users::revoke(&app.db, &caller.access, &u, grant).await?;
    audit::record(
        &app.db,
        &caller.meta,
        caller
            .audit("role_revoked")
            .target("user", u.id)
            .federation(g.federation_id)
            .details(json!({ "role": g.role })),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).expect("openapi.json is valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let source = include_str!("api.rs");
        for line in source.lines().filter(|l| l.trim_start().starts_with(".route(\"")) {
            let path = line.split('"').nth(1).unwrap();
            assert!(paths.contains_key(path), "route {path} is missing from openapi.json");
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}
