//! Federation isolation: every route, as every federation-level role, with ids from another federation,
//! answers 404 (or 403 for a page the role may never use) and shows nothing from elsewhere.

use reqwest::{Method, StatusCode};

use crate::helpers::*;

/// Words that only appear in the other federation's data (Finistère, its section and its coordinator).
const FOREIGN_MARKERS: &[&str] = &["Finistère", "Brest", "coordination.29", "Yann Coordinateur"];

struct Foreign {
    federation: i64,
    section: i64,
    user: i64,
    grant: i64,
    /// A mission of the other federation (missions are browsable by all: only managing it is refused) and a field
    /// report filed on it.
    mission: i64,
    report: i64,
}

async fn foreign(t: &TestApp) -> Foreign {
    let user = t.user_id(COORD_29).await;
    let grant = sqlx::query_scalar("SELECT id FROM role_grants WHERE user_id = $1")
        .bind(user)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let federation = t.federation_id("29").await;
    let mission: i64 = sqlx::query_scalar(
        "INSERT INTO missions (federation_id, title, method, starts_at, ends_at, places, commune_code, turf, state, \
         created_by, created_at, updated_at) VALUES ($1, 'Tractage à Brest', 'tractage', 1, 2, 5, '29019', \
         'commune:29019', 'published', $2, 0, 0) RETURNING id",
    )
    .bind(federation)
    .bind(user)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO mission_signups (mission_id, user_id, state, signed_at, updated_at) VALUES ($1, $2, 'signed', 0, 0)")
        .bind(mission)
        .bind(user)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let report: i64 = sqlx::query_scalar(
        "INSERT INTO field_reports (mission_id, federation_id, turf, action_date, method, activists, reaction, \
         method_worked, concerns_text, review, flags, filed_by, filed_at) VALUES ($1, $2, 'commune:29019', '2026-01-01', \
         'tractage', 2, 3, 1, 'Brest', 'flagged', 'Action de plus de 90 jours.', $3, 0) RETURNING id",
    )
    .bind(mission)
    .bind(federation)
    .bind(user)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    Foreign { federation, section: t.section_id("Brest").await, user, grant, mission, report }
}

fn html_routes(f: &Foreign) -> Vec<(Method, String)> {
    let (fed, sec, user, grant, mission, report) = (f.federation, f.section, f.user, f.grant, f.mission, f.report);
    vec![
        (Method::GET, format!("/missions/{mission}/modifier")),
        (Method::POST, format!("/missions/{mission}/modifier")),
        (Method::POST, format!("/missions/{mission}/presence?user_id={user}")),
        (Method::POST, format!("/missions/{mission}/cloturer")),
        (Method::POST, format!("/missions/{mission}/annuler")),
        (Method::GET, format!("/missions/{mission}/candidats")),
        (Method::GET, format!("/observations/{report}")),
        (Method::POST, format!("/observations/{report}/revue")),
        (Method::GET, format!("/federations/{fed}")),
        (Method::GET, format!("/federations/{fed}/sections/nouvelle")),
        (Method::POST, format!("/federations/{fed}/sections")),
        (Method::GET, format!("/sections/{sec}")),
        (Method::GET, format!("/sections/{sec}/modifier")),
        (Method::POST, format!("/sections/{sec}")),
        (Method::POST, format!("/sections/{sec}/supprimer")),
        (Method::GET, format!("/utilisateurs/{user}")),
        (Method::GET, format!("/utilisateurs?federation={fed}")),
        (Method::POST, format!("/utilisateurs/{user}/roles")),
        (Method::POST, format!("/utilisateurs/{user}/roles/{grant}/retirer")),
        (Method::POST, format!("/utilisateurs/{user}/desactiver")),
        (Method::POST, format!("/utilisateurs/{user}/reactiver")),
        // HQ's territory tools: national only (territory pages themselves are public data, shown to every role).
        (Method::GET, "/territoire/gestion".to_string()),
        (Method::POST, "/territoire/gestion/seuils".to_string()),
        (Method::POST, "/territoire/gestion/classement".to_string()),
    ]
}

fn api_routes(f: &Foreign) -> Vec<(Method, String)> {
    let (fed, sec, user) = (f.federation, f.section, f.user);
    vec![
        (Method::GET, format!("/api/v1/federations/{fed}")),
        (Method::GET, format!("/api/v1/federations/{fed}/sections")),
        (Method::POST, format!("/api/v1/federations/{fed}/sections")),
        (Method::GET, format!("/api/v1/sections/{sec}")),
        (Method::PUT, format!("/api/v1/sections/{sec}")),
        (Method::DELETE, format!("/api/v1/sections/{sec}")),
        (Method::GET, format!("/api/v1/users/{user}")),
        (Method::GET, format!("/api/v1/users?federation_id={fed}")),
        (Method::POST, format!("/api/v1/users/{user}/grants")),
        (Method::DELETE, format!("/api/v1/users/{user}/grants/{}", f.grant)),
    ]
}

async fn foreign_state(t: &TestApp, f: &Foreign) -> (i64, i64, i64, String, String) {
    let sections = t.count(&format!("SELECT COUNT(*) FROM sections WHERE federation_id = {}", f.federation)).await;
    let grants = t.count(&format!("SELECT COUNT(*) FROM role_grants WHERE user_id = {}", f.user)).await;
    let disabled = t.count(&format!("SELECT disabled FROM users WHERE id = {}", f.user)).await;
    let name: String = sqlx::query_scalar("SELECT name FROM sections WHERE id = $1")
        .bind(f.section)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let mission: String = sqlx::query_scalar(
        "SELECT m.state || m.title || (SELECT r.review FROM field_reports r WHERE r.id = $2) || \
         (SELECT s.state FROM mission_signups s WHERE s.mission_id = m.id) FROM missions m WHERE m.id = $1",
    )
    .bind(f.mission)
    .bind(f.report)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    (sections, grants, disabled, name, mission)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_reveals_or_changes_another_federation() {
    let t = TestApp::spawn().await;
    let f = foreign(&t).await;
    let before = foreign_state(&t, &f).await;
    let form = [("name", "Piratée"), ("communes", ""), ("role", "activist"), ("federation_id", ""), ("section_id", "")];
    let body =
        serde_json::json!({ "name": "Piratée", "communes": "", "role": "activist", "federation_id": f.federation });
    let mut checked = 0;
    for role in [COORD_69, STAFF_69, SECRETARY_LYON1, ACTIVIST_69] {
        let c = t.login(role).await;
        let token = t.api_token(&c).await;
        for (method, path) in html_routes(&f) {
            let mut req = c.request(method.clone(), t.url(&path));
            if method == Method::POST {
                req = req.form(&form);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{role} {method} {path} answered {status}"
            );
            for marker in FOREIGN_MARKERS {
                assert!(!text.contains(marker), "{role} {method} {path} shows {marker}");
            }
            checked += 1;
        }
        for (method, path) in api_routes(&f) {
            let mut req = c.request(method.clone(), t.url(&path)).bearer_auth(&token);
            if method == Method::POST || method == Method::PUT {
                req = req.json(&body);
            }
            let r = req.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
                "{role} API {method} {path} answered {status}: {text}"
            );
            for marker in FOREIGN_MARKERS {
                assert!(!text.contains(marker), "{role} API {method} {path} shows {marker}");
            }
            checked += 1;
        }
        // Lists never include the other federation.
        for path in ["/", "/federations", "/federations?q=finis", "/utilisateurs", "/utilisateurs?q=yann"] {
            let text = c.get(t.url(path)).send().await.unwrap().text().await.unwrap();
            for marker in FOREIGN_MARKERS {
                assert!(!text.contains(marker), "{role} {path} lists {marker}");
            }
        }
        let text = c.get(t.url("/api/v1/federations")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["federations"].as_array().unwrap().len(), 1, "{role} sees one federation: {text}");
    }
    assert_eq!(checked, 4 * (24 + 10));
    assert_eq!(foreign_state(&t, &f).await, before, "nothing changed in the other federation");

    // National roles do see it.
    let admin = t.login(ADMIN).await;
    let page = admin.get(t.url(&format!("/federations/{}", f.federation))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Finistère"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pages_are_forbidden_to_roles_without_them() {
    let t = TestApp::spawn().await;
    let activist = t.login(ACTIVIST_69).await;
    for path in ["/utilisateurs", "/utilisateurs/inviter", "/journal"] {
        let r = activist.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "activist {path}");
        assert!(r.text().await.unwrap().contains("Accès refusé"));
    }
    // An activist sees their federation and section, but not who is in them.
    let fed = t.federation_id("69").await;
    let page = activist.get(t.url(&format!("/federations/{fed}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Rhône") && page.contains("Villeurbanne"));
    assert!(!page.contains("coordination.69") && !page.contains("Louise Coordinatrice"));
    // Their own account stays reachable.
    let me = t.user_id(ACTIVIST_69).await;
    assert_eq!(activist.get(t.url(&format!("/utilisateurs/{me}"))).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(activist.get(t.url("/compte")).send().await.unwrap().status(), StatusCode::OK);

    for role in [COORD_69, STAFF_69, SECRETARY_LYON1] {
        let c = t.login(role).await;
        assert_eq!(c.get(t.url("/journal")).send().await.unwrap().status(), StatusCode::FORBIDDEN, "{role} audit log");
        assert_eq!(c.get(t.url("/utilisateurs")).send().await.unwrap().status(), StatusCode::OK, "{role} users");
    }
    // Staff pages redirect anonymous visitors to the login page.
    let anon = t.client();
    for path in ["/", "/utilisateurs", "/journal", "/federations"] {
        let r = anon.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert!(location(&r).starts_with("/connexion"), "{path}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_section_secretary_sees_only_their_section_people() {
    let t = TestApp::spawn().await;
    let c = t.login(SECRETARY_LYON1).await;
    let list = c.get(t.url("/utilisateurs")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("Jules Secrétaire"));
    assert!(!list.contains("Malik Militant"), "the Villeurbanne activist is in another section");
    assert!(!list.contains("Louise Coordinatrice"), "federation-level accounts are not section members");
    let other = t.user_id(ACTIVIST_69).await;
    assert_eq!(c.get(t.url(&format!("/utilisateurs/{other}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    t.stop().await;
}
