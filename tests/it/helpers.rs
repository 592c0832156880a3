//! Test harness: starts the real application on a random port, on SQLite or on PostgreSQL
//! (`TERRAIN_TEST_BACKEND=postgres` with `TERRAIN_TEST_PG_URL`, as `scripts/test` sets them), with the demo
//! accounts, and drops its database afterwards.
//!
//! Loading 35,000 communes for every test would dominate the suite, so the first test process builds a
//! template database (migrated and seeded) and every test starts from a copy of it: a file copy on SQLite,
//! `CREATE DATABASE … TEMPLATE` on PostgreSQL.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use sha2::{Digest, Sha256};
use terrain::app::App;
use terrain::config::{Config, Overrides};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const PASSWORD: &str = "mot de passe de test 2026";

pub const ADMIN: &str = "admin@demo.terrain.test";
pub const NATIONAL_STAFF: &str = "permanent@demo.terrain.test";
pub const COORD_69: &str = "coordination.69@demo.terrain.test";
pub const STAFF_69: &str = "equipe.69@demo.terrain.test";
pub const SECRETARY_LYON1: &str = "secretariat.lyon1@demo.terrain.test";
pub const ACTIVIST_69: &str = "militant.69@demo.terrain.test";
pub const COORD_29: &str = "coordination.29@demo.terrain.test";

pub fn backend() -> String {
    std::env::var("TERRAIN_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into())
}

fn template_key() -> String {
    let mut h = Sha256::new();
    for m in terrain::db::SQLITE_MIGRATIONS.iter().chain(terrain::db::POSTGRES_MIGRATIONS) {
        h.update(m.sql.as_bytes());
    }
    h.update(include_bytes!("../../data/reference/communes.csv.gz"));
    // A change in how the reference data is loaded must rebuild the template too.
    h.update(include_str!("../../src/seed.rs").as_bytes());
    data_encoding::HEXLOWER.encode(&h.finalize())[..16].to_string()
}

/// A database for one test, removed when dropped.
pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { admin_url: String, name: String, url: String },
}

impl TestDb {
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub async fn new() -> TestDb {
        match backend().as_str() {
            "postgres" => Self::postgres().await,
            _ => Self::sqlite().await,
        }
    }

    async fn sqlite() -> TestDb {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("templates");
        std::fs::create_dir_all(&dir).unwrap();
        let template = dir.join(format!("sqlite-{}.db", template_key()));
        if !template.exists() {
            // Built under a unique name, then renamed: concurrent test processes never see half a file.
            let tmp = dir.join(format!("building-{}-{}.db", std::process::id(), rand_suffix()));
            let url = format!("sqlite://{}", tmp.display());
            let app = App::init(config_for(&url)).await.expect("template database");
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&app.db.pool).await.unwrap();
            app.db.pool.close().await;
            std::fs::rename(&tmp, &template).unwrap();
            for ext in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{ext}", tmp.display()));
            }
        }
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("terrain.db");
        std::fs::copy(&template, &path).unwrap();
        TestDb::Sqlite { url: format!("sqlite://{}", path.display()), _dir: d }
    }

    async fn postgres() -> TestDb {
        let admin_url = std::env::var("TERRAIN_TEST_PG_URL")
            .expect("TERRAIN_TEST_PG_URL must point at a PostgreSQL server (scripts/test starts one)");
        sqlx::any::install_default_drivers();
        let mut admin =
            <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await.expect("connect to PostgreSQL");
        sqlx::query("SELECT pg_advisory_lock(7302202)").execute(&mut admin).await.unwrap();
        let template = format!("terrain_tpl_{}", template_key());
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1::BIGINT FROM pg_database WHERE datname = $1")
            .bind(&template)
            .fetch_optional(&mut admin)
            .await
            .unwrap();
        if exists.is_none() {
            let building = format!("{template}_building");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {building}")).execute(&mut admin).await.unwrap();
            sqlx::query(&format!("CREATE DATABASE {building}")).execute(&mut admin).await.unwrap();
            let app = App::init(config_for(&replace_db(&admin_url, &building))).await.expect("template database");
            app.db.pool.close().await;
            drop(app);
            // A closed session can linger a moment on the server side: end it, then rename (retrying briefly).
            for attempt in 0.. {
                sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                    .bind(&building)
                    .execute(&mut admin)
                    .await
                    .unwrap();
                match sqlx::query(&format!("ALTER DATABASE {building} RENAME TO {template}")).execute(&mut admin).await
                {
                    Ok(_) => break,
                    Err(e) if attempt < 50 => {
                        eprintln!("template rename retried: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("template rename: {e}"),
                }
            }
        }
        let name = format!("terrain_t_{}_{}", std::process::id(), rand_suffix());
        sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}")).execute(&mut admin).await.unwrap();
        sqlx::query("SELECT pg_advisory_unlock(7302202)").execute(&mut admin).await.unwrap();
        let url = replace_db(&admin_url, &name);
        TestDb::Postgres { admin_url, name, url }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin_url, name, .. } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside any runtime guarantee: use a thread with its own small runtime.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    if let Ok(mut c) = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                    }
                });
            })
            .join();
        }
    }
}

fn replace_db(url: &str, db: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database URL with a database name");
    format!("{base}/{db}")
}

pub fn rand_suffix() -> String {
    terrain::auth::random_token()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(10)
        .collect::<String>()
        .to_lowercase()
}

/// The test configuration: outbox on (mail readable in the database), one worker.
pub fn config_for(url: &str) -> Config {
    // Sender journals of tests go to the system's temporary directory, not into the repository.
    let spool = std::env::temp_dir().join("terrain-test-spool").display().to_string();
    let env = vec![
        ("TERRAIN_OUTBOX".to_string(), "true".to_string()),
        ("TERRAIN_WORKERS".to_string(), "1".to_string()),
        ("TERRAIN_NEWSLETTER_SPOOL_DIR".to_string(), spool),
    ];
    Config::load_from(None, &env, &Overrides { listen: Some("127.0.0.1:0".into()), database_url: Some(url.into()) })
        .unwrap()
}

pub struct TestApp {
    pub base: String,
    pub app: App,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the app with the demo data, after `adjust` has changed the configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        if std::env::var("TERRAIN_TEST_LOG").is_ok() {
            let _ =
                tracing_subscriber::fmt().with_env_filter("debug,sqlx=warn,hyper=warn").with_test_writer().try_init();
        }
        let db = TestDb::new().await;
        let mut config = config_for(db.url());
        adjust(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        config.listen = addr.to_string();
        let app = App::init(config).await.unwrap();
        terrain::demo::prepare(&app, PASSWORD).await.unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let served = app.clone();
        let server = tokio::spawn(async move {
            served
                .serve(listener, async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        TestApp { base: format!("http://{addr}"), app, db, shutdown: Some(tx), server: Some(server) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: cookies kept, redirects not followed (tests look at them).
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
    }

    pub async fn user_id(&self, email: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }

    pub async fn federation_id(&self, code: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM federations WHERE code = $1")
            .bind(code)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }

    pub async fn section_id(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM sections WHERE name = $1")
            .bind(name)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.app.db.pool).await.unwrap()
    }

    pub async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap()
    }

    /// Posts the login form; returns the response (303 on success).
    pub async fn post_login(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        client
            .post(self.url("/connexion"))
            .form(&[("email", email), ("password", password), ("next", "/")])
            .send()
            .await
            .unwrap()
    }

    /// A client signed in as `email` (second factor done for national accounts).
    pub async fn login(&self, email: &str) -> reqwest::Client {
        let client = self.client();
        let r = self.post_login(&client, email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "login of {email} failed");
        if location(&r) == "/connexion/totp" {
            let code = self.totp_code(email).await;
            let r = client.post(self.url("/connexion/totp")).form(&[("code", code.as_str())]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "second factor of {email} failed");
            assert_eq!(location(&r), "/");
        }
        client
    }

    pub async fn totp_code(&self, email: &str) -> String {
        let secret: String = sqlx::query_scalar("SELECT totp_secret FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&self.app.db.pool)
            .await
            .unwrap();
        terrain::auth::totp::code_at(&secret, terrain::db::now()).unwrap()
    }

    /// Runs queued jobs until none is ready (workers also run in the background; this makes tests exact).
    pub async fn drain_jobs(&self) {
        let runner = self.app.runner();
        while runner.run_one("test-drain").await.unwrap() {}
    }

    /// The newest outbox message to `to`, waiting for the workers to send it.
    pub async fn last_mail_to(&self, to: &str) -> String {
        for _ in 0..100 {
            self.drain_jobs().await;
            let body: Option<String> =
                sqlx::query_scalar("SELECT body_text FROM outbox WHERE to_addr = $1 ORDER BY id DESC LIMIT 1")
                    .bind(to)
                    .fetch_optional(&self.app.db.pool)
                    .await
                    .unwrap();
            if let Some(b) = body {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no mail to {to}");
    }

    /// Creates an API token for a signed-in client through the account page; returns the token.
    pub async fn api_token(&self, client: &reqwest::Client) -> String {
        let html = client
            .post(self.url("/compte/jetons"))
            .form(&[("name", "tests")])
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let start = html.find("trn_").expect("token shown once on the account page");
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = s.await;
        }
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// A real SMTP server process (aiosmtpd) writing what it receives into a Maildir.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().unwrap();
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        // Debian's python3 has python3-aiosmtpd; another python3 may come first on PATH.
        let python = ["/usr/bin/python3", "python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .expect("python3 with aiosmtpd is needed (scripts/install-deps installs python3-aiosmtpd)");
        let mut child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            // A path that does not exist yet: the handler creates the Maildir (cur, new, tmp) itself.
            .arg(dir.path().join("maildir"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return SmtpSink { child, port, dir };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the SMTP sink did not start");
    }

    /// Every message received so far, decoded to text (headers + body).
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir").join("new");
        let mut out = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&new) {
            for e in entries.flatten() {
                out.push(decode_message(&std::fs::read_to_string(e.path()).unwrap()));
            }
        }
        out
    }

    pub async fn wait_for(&self, to: &str) -> String {
        for _ in 0..200 {
            if let Some(m) = self.messages().into_iter().find(|m| m.contains(&format!("To: {to}"))) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no message to {to} reached the SMTP sink");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes a single-part message body (quoted-printable or base64) for assertions.
fn decode_message(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let Some((headers, body)) = raw.split_once("\n\n") else {
        return raw;
    };
    let lower = headers.to_lowercase();
    let decoded = if lower.contains("content-transfer-encoding: base64") {
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        String::from_utf8_lossy(&data_encoding::BASE64.decode(compact.as_bytes()).unwrap_or_default()).into_owned()
    } else if lower.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && i + 2 < bytes.len()
                && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
            {
                out.push(b);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    } else {
        body.to_string()
    };
    format!("{headers}\n\n{decoded}")
}

/// Extracts the first link to `path_prefix` (e.g. "/mot-de-passe/") from a text.
pub fn link_in(text: &str, path_prefix: &str) -> String {
    let start = text.find(path_prefix).unwrap_or_else(|| panic!("no link {path_prefix} in:\n{text}"));
    text[start..].chars().take_while(|c| !c.is_whitespace()).collect()
}

/// A campaign's state (draft, sending, sent, paused…).
pub async fn campaign_state(t: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT state FROM campaigns WHERE id = $1").bind(id).fetch_one(&t.app.db.pool).await.unwrap()
}
