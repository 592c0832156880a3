//! Platform: health, security headers, storage guarantees, job queue, configuration errors, CLI.

use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use terrain::jobs::{Job, Runner};
use terrain::mail::OutgoingEmail;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let t = TestApp::spawn().await;
    let r = reqwest::get(t.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(reqwest::get(t.url("/readyz")).await.unwrap().status(), StatusCode::OK);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let paths = [
        "/".to_string(),
        "/connexion".into(),
        "/healthz".into(),
        "/federations".into(),
        format!("/federations/{fed}"),
        "/utilisateurs".into(),
        "/journal".into(),
        "/nowhere".into(),
        "/static/app.css".into(),
        "/charte.css".into(),
        "/api/v1/openapi.json".into(),
        "/api/v1/me".into(),
    ];
    for p in &paths {
        let r = c.get(t.url(p)).send().await.unwrap();
        let h = r.headers();
        let csp = h.get("content-security-policy").unwrap_or_else(|| panic!("{p}: no CSP")).to_str().unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline"),
            "{p}: {csp}"
        );
        assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff", "{p}");
        assert!(h.contains_key("referrer-policy"), "{p}");
        if !p.starts_with("/static/") {
            assert_eq!(h.get("cache-control").unwrap(), "no-store", "{p}");
        }
    }
    // French pages with labelled fields.
    let login = reqwest::get(t.url("/connexion")).await.unwrap().text().await.unwrap();
    assert!(login.contains("<html lang=\"fr\">"));
    assert!(login.contains("<label for=\"email\">Adresse e-mail</label>") && login.contains("id=\"email\""));
    assert!(!login.contains("<script"), "no inline scripts");
    let css = reqwest::get(t.url("/charte.css")).await.unwrap().text().await.unwrap();
    assert!(css.contains("--primary:#0b4f5c"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_has_all_migrations_and_an_append_only_audit_log() {
    let t = TestApp::spawn().await;
    let applied = t.app.db.applied_versions().await.unwrap();
    let embedded: Vec<i64> = t.app.db.migrations().iter().map(|m| m.version).collect();
    assert_eq!(applied, embedded);
    assert!(t.app.db.migrate().await.unwrap().is_empty(), "migrating twice applies nothing");
    assert_eq!(t.app.db.backend.name(), backend());

    terrain::audit::record(&t.app.db, &terrain::audit::RequestMeta::cli(), terrain::audit::Entry::new(None, "login"))
        .await
        .unwrap();
    assert!(sqlx::query("UPDATE audit_log SET action = 'x'").execute(&t.app.db.pool).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_log").execute(&t.app.db.pool).await.is_err());
    assert_eq!(t.audit_count("login").await, 1);

    // Constraints hold on both backends: a role needs a valid name, a section grant its federation.
    assert!(
        sqlx::query("INSERT INTO role_grants (user_id, role, created_at) VALUES (1, 'emperor', 0)")
            .execute(&t.app.db.pool)
            .await
            .is_err()
    );
    assert!(
        sqlx::query("INSERT INTO role_grants (user_id, role, section_id, created_at) VALUES (1, 'activist', 1, 0)")
            .execute(&t.app.db.pool)
            .await
            .is_err()
    );

    if t.app.db.backend == terrain::db::Backend::Sqlite {
        let mut conn = t.app.db.pool.acquire().await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&mut *conn).await.unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1), "WAL, synchronous=FULL, foreign keys on");
        // Migration 10 left no `CHECK (x IN (…))` (a temporary b-tree per row written), and its comparisons
        // still refuse what the lists refused.
        let in_checks: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK (% IN (%'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(in_checks, 0);
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut *conn).await.unwrap();
        assert_eq!(check, "ok");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_once_across_concurrent_workers_and_failures_back_off() {
    let t = TestApp::spawn_with(|c| c.workers = 0).await;
    let db = &t.app.db;
    for i in 0..40 {
        let email = OutgoingEmail { to: format!("p{i}@example.org"), subject: "Test".into(), text: "Bonjour".into() };
        terrain::jobs::enqueue(db, &Job::SendEmail(email)).await.unwrap();
    }
    // Four workers race for the same rows.
    let mut handles = Vec::new();
    for w in 0..4 {
        let runner = t.app.runner();
        handles.push(tokio::spawn(async move { while runner.run_one(&format!("w{w}")).await.unwrap() {} }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM outbox").await, 40);
    assert_eq!(t.count("SELECT COUNT(DISTINCT to_addr) FROM outbox").await, 40, "each job ran exactly once");
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE state = 'done'").await, 40);

    // A transient failure (SMTP unreachable) is retried later; a bad address fails at once.
    let broken = terrain::mail::Mailer::new(&{
        let mut c = config_for(t.db.url());
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = 1;
        c.smtp.timeout = 2;
        c
    })
    .unwrap();
    let runner = Runner { mailer: broken, ..t.app.runner() };
    let id = terrain::jobs::enqueue(
        db,
        &Job::SendEmail(OutgoingEmail { to: "x@example.org".into(), subject: "s".into(), text: "t".into() }),
    )
    .await
    .unwrap();
    assert!(runner.run_one("w").await.unwrap());
    let (state, attempts, run_after): (String, i64, i64) =
        sqlx::query_as("SELECT state, attempts, run_after FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), attempts), ("queued", 1));
    assert!(run_after >= terrain::db::now() + 25, "backoff before the next attempt");
    assert!(!runner.run_one("w").await.unwrap(), "not ready again before its backoff");
    let bad = terrain::jobs::enqueue(
        db,
        &Job::SendEmail(OutgoingEmail { to: "not an address".into(), subject: "s".into(), text: "t".into() }),
    )
    .await
    .unwrap();
    assert!(runner.run_one("w").await.unwrap());
    let state: String =
        sqlx::query_scalar("SELECT state FROM jobs WHERE id = $1").bind(bad).fetch_one(&db.pool).await.unwrap();
    assert_eq!(state, "failed");

    // A worker that died mid-job: its lease expires and another worker takes the job over.
    let lost = terrain::jobs::enqueue(db, &Job::Housekeeping).await.unwrap();
    sqlx::query("UPDATE jobs SET state = 'running', attempts = 1, locked_by = 'dead', locked_until = $1 WHERE id = $2")
        .bind(terrain::db::now() - 1)
        .bind(lost)
        .execute(&db.pool)
        .await
        .unwrap();
    let ok = t.app.runner();
    assert!(ok.run_one("rescuer").await.unwrap());
    let (state, attempts): (String, i64) =
        sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1").bind(lost).fetch_one(&db.pool).await.unwrap();
    assert_eq!((state.as_str(), attempts), ("done", 2));
    t.stop().await;
}

#[test]
fn a_bad_setting_stops_the_binary_with_one_clear_line() {
    let cases = [
        ("TERRAIN_SMTP_PORT", "abc", "smtp.port"),
        ("TERRAIN_DATABASE_URL", "mysql://localhost/x", "database_url"),
        ("TERRAIN_LISTEN", "here", "listen"),
    ];
    for (name, value, key) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_terrain"))
            .arg("serve")
            .env("TERRAIN_OUTBOX", "true")
            .env(name, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}={value} must not start");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(key) && err.contains("configuration error"), "{err}");
    }
    // No SMTP and no outbox: refused with the reason.
    let out = Command::new(env!("CARGO_BIN_EXE_terrain"))
        .arg("serve")
        .env_remove("TERRAIN_OUTBOX")
        .env_remove("TERRAIN_SMTP_HOST")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("smtp.host"));
    // Secrets never appear in what the binary prints.
    let out = Command::new(env!("CARGO_BIN_EXE_terrain"))
        .args(["check"])
        .env("TERRAIN_OUTBOX", "true")
        .env("TERRAIN_DATABASE_URL", "postgres://app:hunter2-secret@127.0.0.1:1/none")
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("hunter2-secret"), "{all}");
    assert!(all.contains("app:***@"), "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_users_grants_roles_and_migrates() {
    let t = TestApp::spawn().await;
    let run = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_terrain"))
            .args(args)
            .args(["--database-url", t.db.url()])
            .env_remove("TERRAIN_SMTP_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&["migrate"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(
        &[
            "user",
            "create",
            "--email",
            "Chef@Example.org",
            "--name",
            "Chef de file",
            "--role",
            "federation_staff",
            "--federation",
            "69",
        ],
        "une phrase de passe solide\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        t.post_login(&t.client(), "chef@example.org", "une phrase de passe solide").await.status(),
        StatusCode::SEE_OTHER
    );
    let out = run(
        &[
            "user",
            "grant",
            "--email",
            "chef@example.org",
            "--role",
            "section_secretary",
            "--federation",
            "69",
            "--section",
            "Lyon 1er",
        ],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["user", "grant", "--email", "chef@example.org", "--role", "emperor"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role 'emperor'"));
    let out = run(&["user", "create", "--email", "weak@example.org", "--name", "W"], "court\n");
    assert!(!out.status.success());
    assert_eq!(t.count("SELECT COUNT(*) FROM users WHERE email = 'weak@example.org'").await, 0);
    let out = run(&["user", "disable", "--email", "chef@example.org"], "");
    assert!(out.status.success());
    assert_eq!(
        t.post_login(&t.client(), "chef@example.org", "une phrase de passe solide").await.status(),
        StatusCode::UNAUTHORIZED
    );
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_exists_only_when_enabled() {
    let t = TestApp::spawn().await;
    let c = t.client();
    c.post(t.url("/mot-de-passe-oublie")).form(&[("email", COORD_69)]).send().await.unwrap();
    t.last_mail_to(COORD_69).await;
    let page = c.get(t.url("/boite-d-envoi")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Nouveau mot de passe") && page.contains("/mot-de-passe/"));
    t.stop().await;

    let sink = SmtpSink::start();
    let port = sink.port;
    let t = TestApp::spawn_with(move |c| {
        c.outbox = false;
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
    })
    .await;
    assert_eq!(reqwest::get(t.url("/boite-d-envoi")).await.unwrap().status(), StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_is_consistent() {
    let t = TestApp::spawn().await;
    if t.app.db.backend != terrain::db::Backend::Sqlite {
        let e = t.app.db.backup(std::path::Path::new("/tmp/never.db")).await.unwrap_err().to_string();
        assert!(e.contains("pg_dump"), "{e}");
        t.stop().await;
        return;
    }
    // Writers keep going while the backup runs.
    let db = t.app.db.clone();
    let writer = tokio::spawn(async move {
        for i in 0..300 {
            terrain::audit::record(
                &db,
                &terrain::audit::RequestMeta::cli(),
                terrain::audit::Entry::new(None, "login").target("n", i),
            )
            .await
            .unwrap();
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.db");
    let size = t.app.db.backup(&path).await.unwrap();
    writer.await.unwrap();
    assert!(size > 1_000_000, "the copy holds the reference data");
    let copy = terrain::db::Db::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert_eq!(copy.applied_versions().await.unwrap(), t.app.db.applied_versions().await.unwrap());
    let communes: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM communes").fetch_one(&copy.pool).await.unwrap();
    assert!(communes > 35_000);
    // Restoring is starting on the copy.
    let restored = terrain::app::App::init(config_for(&format!("sqlite://{}", path.display()))).await.unwrap();
    assert!(restored.db.ready().await);
    assert!(t.app.db.backup(&path).await.is_err(), "never overwrites");
    t.stop().await;
}
