//! The JSON API: bearer tokens, scoped answers, writes, the OpenAPI document.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_in_scope_with_a_token_and_only_with_one() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let token = t.api_token(&c).await;
    assert_eq!(t.audit_count("api_token_created").await, 1);
    let api = reqwest::Client::new();

    // No token, a wrong token, or a session cookie alone: 401.
    assert_eq!(api.get(t.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.get(t.url("/api/v1/me")).bearer_auth("trn_nope").send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(c.get(t.url("/api/v1/me")).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let me: Value = api.get(t.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["user"]["email"], COORD_69);
    assert_eq!(me["grants"][0]["role"], "federation_coordinator");

    let feds: Value =
        api.get(t.url("/api/v1/federations")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(feds["federations"].as_array().unwrap().len(), 1);
    let fed = feds["federations"][0]["id"].as_i64().unwrap();

    let r = api
        .post(t.url(&format!("/api/v1/federations/{fed}/sections")))
        .bearer_auth(&token)
        .json(&json!({ "name": "Tassin", "communes": "69244" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["section"]["id"].as_i64().unwrap();
    assert_eq!(created["communes"][0]["code"], "69244");

    let r = api
        .put(t.url(&format!("/api/v1/sections/{id}")))
        .bearer_auth(&token)
        .json(&json!({ "name": "Tassin", "communes": "nowhere" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"], "invalid");
    let r = api
        .post(t.url(&format!("/api/v1/federations/{fed}/sections")))
        .bearer_auth(&token)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());

    let r = api.delete(t.url(&format!("/api/v1/sections/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        api.get(t.url(&format!("/api/v1/sections/{id}"))).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let users: Value = api.get(t.url("/api/v1/users")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    let emails: Vec<&str> = users["users"].as_array().unwrap().iter().map(|u| u["email"].as_str().unwrap()).collect();
    assert!(emails.contains(&ACTIVIST_69) && !emails.contains(&COORD_29), "{emails:?}");

    // Role grants: within scope only.
    let activist = t.user_id(ACTIVIST_69).await;
    let lyon = t.section_id("Lyon 1er").await;
    let r = api
        .post(t.url(&format!("/api/v1/users/{activist}/grants")))
        .bearer_auth(&token)
        .json(&json!({ "role": "section_secretary", "section_id": lyon }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let grants: Value = r.json().await.unwrap();
    let added = grants["grants"].as_array().unwrap().iter().find(|g| g["role"] == "section_secretary").unwrap()["id"]
        .as_i64()
        .unwrap();
    let r = api
        .post(t.url(&format!("/api/v1/users/{activist}/grants")))
        .bearer_auth(&token)
        .json(&json!({ "role": "federation_coordinator", "federation_id": fed }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "no peer grants");
    let r = api
        .delete(t.url(&format!("/api/v1/users/{activist}/grants/{added}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.audit_count("role_granted").await, 1);
    assert_eq!(t.audit_count("role_revoked").await, 1);

    // Revoking the token ends it.
    let token_id: i64 = sqlx::query_scalar("SELECT id FROM api_tokens").fetch_one(&t.app.db.pool).await.unwrap();
    let r = c.post(t.url(&format!("/compte/jetons/{token_id}/revoquer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        api.get(t.url("/api/v1/me")).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served() {
    let t = TestApp::spawn().await;
    let r = reqwest::get(t.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/federations/{id}/sections"]["post"].is_object());
    let r = reqwest::get(t.url("/api/v1/nothing-here")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    t.stop().await;
}
