//! Newsletter sending against a real SMTP server process: content, headers, DKIM, unsubscribing, consent
//! withdrawn mid-campaign, tracking, bounces, and a sender killed at random points.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use terrain::config::Config;
use terrain::newsletter::{campaigns, tracking};

use crate::helpers::*;

/// The raw SMTP sink (tests/data/raw_smtp_sink.py): messages byte for byte with their envelope.
pub struct RawSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl RawSink {
    pub fn start() -> RawSink {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/raw_smtp_sink.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/install-deps)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return RawSink { child, port, dir };
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the raw SMTP sink did not start");
    }

    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("new"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    pub fn messages(&self) -> Vec<String> {
        self.files().iter().map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()).collect()
    }

    /// Envelope recipient of each message.
    pub fn recipients(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| m.lines().nth(1).unwrap().trim_start_matches("X-Envelope-To: ").trim().to_string())
            .collect()
    }
}

impl Drop for RawSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A person of the federation with an address and the given consents.
pub async fn person(t: &TestApp, federation: i64, email: &str, first: &str, purposes: &[&str]) -> i64 {
    let now = terrain::db::now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO people (federation_id, first_name, last_name, email, category, legal_basis, origin, origin_channel, \
         created_at, updated_at, last_activity_at) VALUES ($1, $2, 'Test', $3, 'sympathiser', 'consent', 'test', \
         'manual', $4, $4, $4) RETURNING id",
    )
    .bind(federation)
    .bind(first)
    .bind(email)
    .bind(now)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    for p in purposes {
        terrain::people::consent::record(&t.app.db.pool, id, p, true, "staff", "", None).await.unwrap();
    }
    id
}

fn generate_dkim_key(dir: &Path) -> PathBuf {
    let key = dir.join("dkim.pem");
    let ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success());
    key
}

fn dkim_verifies(message: &[u8], key: &Path) -> bool {
    let public =
        Command::new("openssl").args(["rsa", "-pubout", "-in"]).arg(key).stderr(Stdio::null()).output().unwrap();
    let b64: String = String::from_utf8(public.stdout).unwrap().lines().filter(|l| !l.starts_with("-----")).collect();
    let script = format!(
        "import dkim, sys\nmsg = sys.stdin.buffer.read()\n\
         rec = b'v=DKIM1; k=rsa; p={b64}'\n\
         print(dkim.verify(msg, dnsfunc=lambda name, timeout=5: rec))"
    );
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3-dkim (scripts/install-deps)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "True"
}

async fn federation_list(t: &TestApp, federation: i64) -> i64 {
    sqlx::query_scalar("SELECT id FROM mailing_lists WHERE federation_id = $1")
        .bind(federation)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
}

/// Drains the job queue until the campaign has left the `sending` state.
async fn send_until_done(t: &TestApp, campaign: i64) -> String {
    for _ in 0..400 {
        t.drain_jobs().await;
        let state = campaign_state(t, campaign).await;
        if state != "sending" {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("campaign {campaign} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_reaches_each_consenting_person_once_signed_tracked_and_unsubscribable() {
    let sink = RawSink::start();
    let keys = tempfile::tempdir().unwrap();
    let key = generate_dkim_key(keys.path());
    let spool = tempfile::tempdir().unwrap();
    let key_path = key.display().to_string();
    let t = sending_app(&sink, &spool, |c| {
        c.mail_from = "Fédération du Rhône <lettre@parti.example.org>".into();
        c.newsletter.dkim_domain = "parti.example.org".into();
        c.newsletter.dkim_selector = "terrain".into();
        c.newsletter.dkim_key_file = key_path;
    })
    .await;
    let fed = t.federation_id("69").await;
    let other = t.federation_id("29").await;
    let zoe = person(&t, fed, "zoe@example.org", "Zoé", &["newsletter_federation", "tracking"]).await;
    let _yann = person(&t, fed, "yann@example.org", "Yann", &["newsletter_federation"]).await;
    let _no_consent = person(&t, fed, "nope@example.org", "Non", &["alerts"]).await;
    let blocked = person(&t, fed, "blocked@example.org", "Bloc", &["newsletter_federation"]).await;
    sqlx::query("INSERT INTO email_blocks (person_id, reason, at) VALUES ($1, 'hard_bounce', 0)")
        .bind(blocked)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let _elsewhere = person(&t, other, "ailleurs@example.org", "Ailleurs", &["newsletter_federation"]).await;
    // Refused by the server with a 550: failed, not retried.
    let _refused = person(&t, fed, "refuse@example.org", "Refus", &["newsletter_federation"]).await;

    let coord = t.user_id(COORD_69).await;
    let access = terrain::users::access_for(&t.app.db, coord).await.unwrap();
    let list = federation_list(&t, fed).await;
    let c = campaigns::create(&t.app.db, &access, list, "Lettre de novembre").await.unwrap();
    assert_eq!(campaigns::count_audience(&t.app.db, &access, &c).await.unwrap(), 3, "Zoé, Yann, Refus");
    // Another federation's coordinator cannot see it.
    let other_coord = terrain::users::access_for(&t.app.db, t.user_id(COORD_29).await).await.unwrap();
    assert!(matches!(campaigns::get(&t.app.db, &other_coord, c.id).await, Err(terrain::error::Error::NotFound)));

    let sender = terrain::newsletter::sender_identity(&t.app.db, &t.app.config, &c).await.unwrap();
    let n = campaigns::launch(&t.app.db, &access, &c, &sender, 2, None).await.unwrap();
    assert_eq!(n, 3);
    assert!(campaigns::launch(&t.app.db, &access, &c, &sender, 2, None).await.is_err(), "launched once only");
    assert_eq!(send_until_done(&t, c.id).await, "sent");
    let progress = campaigns::progress(&t.app.db, c.id).await.unwrap();
    assert_eq!((progress.sent, progress.failed, progress.pending, progress.sending), (2, 1, 0, 0), "{progress:?}");

    let messages = sink.messages();
    let mut rcpts = sink.recipients();
    rcpts.sort();
    assert_eq!(rcpts, ["yann@example.org", "zoe@example.org"], "one copy each, only to consenting people");
    let zoe_file =
        sink.files().into_iter().find(|f| std::fs::read_to_string(f).unwrap().contains("X-Envelope-To: zoe@")).unwrap();
    let raw = std::fs::read(&zoe_file).unwrap();
    let m = String::from_utf8_lossy(&raw).into_owned();
    for header in [
        "DKIM-Signature: ",
        "List-Unsubscribe: <http",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Message-ID: <c",
        "Content-Type: multipart/alternative",
        "text/plain",
        "text/html",
    ] {
        assert!(m.contains(header), "{header} missing:\n{m}");
    }
    assert!(m.contains("h=") && m.to_lowercase().contains("list-unsubscribe-post"), "the one-click header is signed");
    // The envelope sender is a signed VERP address naming the campaign and the person.
    let envelope_from = m.lines().next().unwrap().trim_start_matches("X-Envelope-From: ").to_string();
    let key_bytes = tracking::key(&t.app.db).await.unwrap();
    assert_eq!(terrain::newsletter::bounce::verp_decode(&key_bytes, "rebond", &envelope_from), Some((c.id, zoe)));
    // DKIM verifies (the sink's envelope lines are outside the signature).
    let body_start = raw.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let body_start = body_start + raw[body_start..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    assert!(dkim_verifies(&raw[body_start..], &key), "DKIM signature does not verify");
    assert!(messages.iter().all(|m| !m.contains("{{")), "placeholders are all replaced");

    // Tracking: the pixel and a click, with a tampered token refused and no open redirect.
    let client = t.client();
    let unfold = m.replace("=\r\n", "").replace("=3D", "=");
    let click = unfold
        .split(&format!("{}/l/", t.base))
        .nth(1)
        .map(|s| s.split(['"', ' ', '\r', '\n', ')']).next().unwrap().to_string());
    let click = click.expect("a tracked link in the message");
    let r = client.get(t.url(&format!("/l/{click}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "https://example.org/agenda");
    let mut tampered = click.clone();
    tampered.replace_range(2..3, if &click[2..3] == "A" { "B" } else { "A" });
    assert_eq!(client.get(t.url(&format!("/l/{tampered}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let forged = tracking::encode(b"not the key", tracking::CLICK, c.id, zoe, 0);
    assert_eq!(client.get(t.url(&format!("/l/{forged}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let out_of_range = tracking::encode(&key_bytes, tracking::CLICK, c.id, zoe, 99);
    assert_eq!(client.get(t.url(&format!("/l/{out_of_range}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let pixel = tracking::encode(&key_bytes, tracking::OPEN, c.id, zoe, 0);
    let r = client.get(t.url(&format!("/o/{pixel}"))).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/gif");
    t.app.tracker.flush().await;
    assert_eq!(t.count("SELECT COUNT(*) FROM campaign_events WHERE kind = 'click'").await, 1);
    let linked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM campaign_events WHERE kind = 'open' AND person_id = $1")
        .bind(zoe)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(linked, 1, "Zoé allowed individual tracking");
    // Engagement is a segment criterion; the person's timeline shows the newsletter received and opened.
    let engaged = terrain::people::segments::Definition { engaged_last: Some(3), ..Default::default() };
    assert_eq!(terrain::people::segments::count(&t.app.db, &access, &engaged).await.unwrap(), 1);
    assert!(terrain::people::segments::count(&t.app.db, &other_coord, &engaged).await.unwrap() == 0);
    let zoe_person = terrain::people::get(&t.app.db, &access, terrain::access::Perm::ViewPeople, zoe).await.unwrap();
    let timeline = terrain::people::timeline(&t.app.db, &zoe_person).await.unwrap();
    let summaries: Vec<&str> = timeline.iter().map(|e| e.summary.as_str()).collect();
    assert!(summaries.contains(&"Lettre « Lettre de novembre » reçue"), "{summaries:?}");
    assert!(summaries.contains(&"Lettre « Lettre de novembre » : ouverte"), "{summaries:?}");

    // One-click unsubscribe: no session, no cookie, cross-site, idempotent; GET never unsubscribes.
    let unsubscribe = m.split("List-Unsubscribe: <").nth(1).unwrap().split('>').next().unwrap().to_string();
    assert!(unsubscribe.starts_with(&t.base), "{unsubscribe}");
    let bare = reqwest::Client::new();
    let page = bare.get(&unsubscribe).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("Me désinscrire"));
    assert_eq!(t.count("SELECT COUNT(*) FROM consent_events WHERE source = 'unsubscribe'").await, 0);
    for _ in 0..2 {
        let r = bare
            .post(&unsubscribe)
            .header("origin", "https://mail.example.net")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM consent_events WHERE source = 'unsubscribe'").await, 1, "idempotent");
    let granted: i64 = sqlx::query_scalar(
        "SELECT granted FROM consent_state WHERE person_id = $1 AND purpose = 'newsletter_federation'",
    )
    .bind(zoe)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(granted, 0);

    // A test copy to staff goes through the same pipeline: HTML and text parts, DKIM, "[Test]" in the subject.
    let job =
        terrain::jobs::Job::SendCampaignTest { campaign_id: c.id, to: COORD_69.into(), first_name: "Camille".into() };
    terrain::jobs::enqueue(&t.app.db, &job).await.unwrap();
    t.drain_jobs().await;
    let test_copy = sink.messages().into_iter().find(|m| m.contains(&format!("X-Envelope-To: {COORD_69}"))).unwrap();
    let subject = test_copy.lines().find(|l| l.starts_with("Subject:")).unwrap().to_string();
    assert!(subject.contains("Test"), "{subject}");
    assert!(test_copy.contains("text/html") && test_copy.contains("DKIM-Signature"));
    assert!(test_copy.contains("Camille"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_withdrawn_mid_campaign_stops_further_sends_and_bounces_block_addresses() {
    let sink = RawSink::start();
    let spool = tempfile::tempdir().unwrap();
    let maildir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(maildir.path().join("new")).unwrap();
    let maildir_path = maildir.path().display().to_string();
    let t = sending_app(&sink, &spool, |c| {
        c.newsletter.bounce_maildir = maildir_path;
        // Slow enough to withdraw a consent while the campaign is sending.
        c.newsletter.rate = 10;
        c.mail_from = "Lettre <lettre@parti.example.org>".into();
        c.newsletter.concurrency = 1;
    })
    .await;
    let fed = t.federation_id("69").await;
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(person(&t, fed, &format!("p{i:02}@example.org"), "P", &["newsletter_federation"]).await);
    }
    let access = terrain::users::access_for(&t.app.db, t.user_id(COORD_69).await).await.unwrap();
    let c = campaigns::create(&t.app.db, &access, federation_list(&t, fed).await, "Alerte").await.unwrap();
    let sender = terrain::newsletter::sender_identity(&t.app.db, &t.app.config, &c).await.unwrap();
    campaigns::launch(&t.app.db, &access, &c, &sender, 1, None).await.unwrap();
    // The last person withdraws while the first batch is going out.
    let last = *ids.last().unwrap();
    let runner = t.app.runner();
    let sending = tokio::spawn(async move { while runner.run_one("test").await.unwrap() {} });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    terrain::people::consent::record(&t.app.db.pool, last, "newsletter_federation", false, "self_service", "", None)
        .await
        .unwrap();
    sending.await.unwrap();
    send_until_done(&t, c.id).await;
    let state: String =
        sqlx::query_scalar("SELECT state FROM campaign_recipients WHERE campaign_id = $1 AND person_id = $2")
            .bind(c.id)
            .bind(last)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(state, "skipped");
    assert!(!sink.recipients().contains(&"p29@example.org".to_string()));
    assert_eq!(sink.recipients().len(), 29);

    // A hard bounce for p00 (DSN sent back to the VERP return path) blocks the address at once.
    let m = sink.messages().into_iter().find(|m| m.contains("X-Envelope-To: p00@")).unwrap();
    let verp = m.lines().next().unwrap().trim_start_matches("X-Envelope-From: ").to_string();
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: {verp}\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nI'm sorry.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; p00@example.org\r\nAction: failed\r\n\
         Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\r\n--b--\r\n"
    );
    let applied = terrain::newsletter::bounces::apply(&t.app.db, &t.app.config, dsn.as_bytes()).await.unwrap();
    assert_eq!(applied, terrain::newsletter::bounces::Applied::HardBounce { person: ids[0] });
    // A forged bounce (bad signature) changes nothing.
    let forged = dsn.replace(&verp, "rebond+c1.p2.aaaaaaaaaa@parti.example.org");
    assert!(matches!(
        terrain::newsletter::bounces::apply(&t.app.db, &t.app.config, forged.as_bytes()).await.unwrap(),
        terrain::newsletter::bounces::Applied::Ignored(_)
    ));
    assert_eq!(t.count("SELECT COUNT(*) FROM email_blocks").await, 1);
    // The same report over the API: national roles only; a federation's token is refused, nothing changes.
    let api = reqwest::Client::new();
    let coord_token = terrain::users::create_api_token(&t.app.db, t.user_id(COORD_69).await, "t").await.unwrap().1;
    let r = api.post(t.url("/api/v1/bounces")).bearer_auth(&coord_token).body(dsn.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(api.post(t.url("/api/v1/bounces")).body(dsn.clone()).send().await.unwrap().status(), 401);
    let admin_token = terrain::users::create_api_token(&t.app.db, t.user_id(ADMIN).await, "t").await.unwrap().1;
    let r = api.post(t.url("/api/v1/bounces")).bearer_auth(&admin_token).body(dsn.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("HardBounce"));
    assert_eq!(t.count("SELECT COUNT(*) FROM email_blocks").await, 1, "idempotent");
    // From the bounce Maildir: p01's hard bounce, read by the worker's periodic job, then kept in cur/.
    let m1 = sink.messages().into_iter().find(|m| m.contains("X-Envelope-To: p01@")).unwrap();
    let verp1 = m1.lines().next().unwrap().trim_start_matches("X-Envelope-From: ").to_string();
    std::fs::write(maildir.path().join("new/1.eml"), dsn.replace(&verp, &verp1).replace("p00@", "p01@")).unwrap();
    terrain::newsletter::bounces::ingest_maildir(&t.app.runner()).await.unwrap();
    assert_eq!(t.count("SELECT COUNT(*) FROM email_blocks").await, 2);
    assert_eq!(std::fs::read_dir(maildir.path().join("cur")).unwrap().count(), 1);
    let c2 = campaigns::create(&t.app.db, &access, federation_list(&t, fed).await, "Suivante").await.unwrap();
    assert_eq!(campaigns::count_audience(&t.app.db, &access, &c2).await.unwrap(), 27, "bounced and withdrawn left out");

    // Deleting a person deletes their recipient rows (a foreign key on SQLite, a trigger on PostgreSQL).
    sqlx::query("DELETE FROM people WHERE id = $1").bind(ids[2]).execute(&t.app.db.pool).await.unwrap();
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM campaign_recipients WHERE person_id = {}", ids[2])).await, 0);
    // On PostgreSQL a person deleted while an audience is frozen can leave a row without a person: the sender
    // skips it and the campaign still ends.
    campaigns::launch(&t.app.db, &access, &c2, &sender, 1, None).await.unwrap();
    // A person deleted while in the frozen audience lists leaves them at once: a person created later with the
    // same id (SQLite reuses the largest one) is not in the audience.
    let listed = audience_lists(&t, c2.id).await;
    assert_eq!(listed.len(), 26);
    let gone = *listed.iter().max().unwrap();
    sqlx::query("DELETE FROM people WHERE id = $1").bind(gone).execute(&t.app.db.pool).await.unwrap();
    let listed = audience_lists(&t, c2.id).await;
    assert!(listed.len() == 25 && !listed.contains(&gone), "{listed:?}");
    assert_eq!(campaigns::progress(&t.app.db, c2.id).await.unwrap().pending, 25);
    sqlx::query(
        "INSERT INTO people (id, federation_id, first_name, email, category, legal_basis, origin, origin_channel, \
         created_at, updated_at, last_activity_at) VALUES ($1, $2, 'Nouveau', 'nouveau@example.org', 'member', \
         'membership', 'test', 'manual', 0, 0, 0)",
    )
    .bind(gone)
    .bind(fed)
    .execute(&t.app.db.pool)
    .await
    .unwrap();
    let mut conn = t.app.db.pool.acquire().await.unwrap();
    terrain::people::consent::record(&mut *conn, gone, "newsletter_federation", true, "staff", "", None).await.unwrap();
    drop(conn);
    if t.app.db.backend == terrain::db::Backend::Postgres {
        sqlx::query("INSERT INTO campaign_recipients (campaign_id, person_id, state) VALUES ($1, 999999, 'pending')")
            .bind(c2.id)
            .execute(&t.app.db.pool)
            .await
            .unwrap();
    }
    send_until_done(&t, c2.id).await;
    let states: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, COUNT(*) FROM campaign_recipients WHERE campaign_id = $1 GROUP BY state ORDER BY state",
    )
    .bind(c2.id)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    let orphans = i64::from(t.app.db.backend == terrain::db::Backend::Postgres);
    let expected: Vec<(String, i64)> =
        [("sent", 25), ("skipped", orphans)].into_iter().filter(|(_, n)| *n > 0).map(|(s, n)| (s.into(), n)).collect();
    assert_eq!(states, expected);
    t.stop().await;
}

/// The person ids in the frozen audience lists of a campaign (not yet taken by a sender).
async fn audience_lists(t: &TestApp, campaign: i64) -> Vec<i64> {
    let lists: Vec<(String, i64)> =
        sqlx::query_as("SELECT person_ids, n FROM campaign_audience WHERE campaign_id = $1 ORDER BY bucket, track")
            .bind(campaign)
            .fetch_all(&t.app.db.pool)
            .await
            .unwrap();
    let mut ids = Vec::new();
    for (list, n) in lists {
        let list: Vec<i64> = serde_json::from_str(&list).unwrap();
        assert_eq!(list.len() as i64, n, "each list counts its people");
        ids.extend(list);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_campaign_skips_the_people_still_in_its_frozen_lists() {
    // No worker: the lists stay as frozen until the cancellation.
    let t = TestApp::spawn_with(|c| c.workers = 0).await;
    let n = 1000;
    let c = launch_big_campaign(&t, n, 1).await;
    let listed = audience_lists(&t, c.id).await;
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len() as i64, n, "each person once");
    let access = terrain::users::access_for(&t.app.db, t.user_id(COORD_69).await).await.unwrap();
    let c = campaigns::get(&t.app.db, &access, c.id).await.unwrap();
    campaigns::control(&t.app.db, &access, &c, "cancel", 1).await.unwrap();
    assert_eq!(campaign_state(&t, c.id).await, "cancelled");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM campaign_audience WHERE campaign_id = {}", c.id)).await, 0);
    let skipped = t
        .count(&format!(
            "SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = {} AND state = 'skipped' \
             AND detail = 'lettre annulée'",
            c.id
        ))
        .await;
    assert_eq!(skipped, n);
    let progress = campaigns::progress(&t.app.db, c.id).await.unwrap();
    assert_eq!((progress.pending, progress.skipped), (0, n), "{progress:?}");
    t.stop().await;
}

/// A small xorshift generator seeded from the clock: random kill points, printed for reproduction.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Waits (up to two minutes) while other processes send the campaign; its state then.
async fn wait_while_sending(t: &TestApp, campaign: i64) -> String {
    for _ in 0..1200 {
        let state = campaign_state(t, campaign).await;
        if state != "sending" {
            return state;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    campaign_state(t, campaign).await
}

/// An application that sends newsletters to `sink`, journals in `spool` and runs no job itself; `adjust` sets the rest.
async fn sending_app(sink: &RawSink, spool: &tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let (port, spool_path) = (sink.port, spool.path().display().to_string());
    TestApp::spawn_with(move |c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
        c.newsletter.spool_dir = spool_path;
        c.workers = 0;
        adjust(c);
    })
    .await
}

/// A federation 69 newsletter to `n` new people who consented to it, launched (audience frozen) in `shards` tasks.
async fn launch_big_campaign(t: &TestApp, n: i64, shards: u32) -> campaigns::Campaign {
    let fed = t.federation_id("69").await;
    let now = terrain::db::now();
    // Their ids straddle a boundary of the frozen audience lists (ranges of 8,192 ids): several lists to take.
    let max: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM people").fetch_one(&t.app.db.pool).await.unwrap();
    let first = (max / 8192 + 1) * 8192 - n / 2;
    let mut tx = t.app.db.pool.begin().await.unwrap();
    for i in 0..n {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO people (id, federation_id, first_name, email, category, legal_basis, origin, origin_channel, \
             created_at, updated_at, last_activity_at) VALUES ($4, $1, 'P', $2, 'member', 'membership', 'test', \
             'manual', $3, $3, $3) RETURNING id",
        )
        .bind(fed)
        .bind(format!("r{i:05}@example.org"))
        .bind(now)
        .bind(first + i)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        terrain::people::consent::record(&mut *tx, id, "newsletter_federation", true, "staff", "", None).await.unwrap();
    }
    if t.app.db.backend == terrain::db::Backend::Postgres {
        sqlx::query("SELECT setval(pg_get_serial_sequence('people', 'id'), (SELECT MAX(id) FROM people))")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let access = terrain::users::access_for(&t.app.db, t.user_id(COORD_69).await).await.unwrap();
    let c = campaigns::create(&t.app.db, &access, federation_list(t, fed).await, "Grande lettre").await.unwrap();
    let sender = terrain::newsletter::sender_identity(&t.app.db, &t.app.config, &c).await.unwrap();
    assert_eq!(campaigns::launch(&t.app.db, &access, &c, &sender, shards, None).await.unwrap(), n);
    let lists = t.count(&format!("SELECT COUNT(*) FROM campaign_audience WHERE campaign_id = {}", c.id)).await;
    assert!(lists >= 2, "{lists} lists");
    // Pending rows are counted as all rows less the others (the state index leaves them out).
    let progress = campaigns::progress(&t.app.db, c.id).await.unwrap();
    assert_eq!((progress.pending, progress.sending, progress.sent), (n, 0, 0), "{progress:?}");
    c
}

/// A `terrain worker` process (two job runners) on the test's database, sending to the SMTP server on `port`, at
/// most `rate` messages a second per sending task (0: no cap).
fn sender_process(t: &TestApp, port: u16, spool: &str, rate: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_terrain"))
        .args(["worker", "--workers", "2"])
        .env("TERRAIN_NEWSLETTER_RATE", rate.to_string())
        .env("TERRAIN_DATABASE_URL", t.db.url())
        .env("TERRAIN_SMTP_HOST", "127.0.0.1")
        .env("TERRAIN_SMTP_PORT", port.to_string())
        .env("TERRAIN_OUTBOX", "true")
        .env("TERRAIN_NEWSLETTER_SPOOL_DIR", spool)
        .env("TERRAIN_LOG_FORMAT", "text")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_share_a_campaign_and_each_recipient_gets_one_copy() {
    // Each process sends to its own SMTP server, so the servers' mailboxes tell which process sent what.
    let (sink_a, sink_b) = (RawSink::start(), RawSink::start());
    let spool = tempfile::tempdir().unwrap();
    let t = TestApp::spawn_with(|c| c.workers = 0).await;
    const N: i64 = 3_000;
    // Four sending tasks: each process runs two at a time, so both take part.
    let c = launch_big_campaign(&t, N, 4).await;
    let spool_path = spool.path().display().to_string();
    // Capped, so that one process alone would need a few seconds: the other one has time to start and take its part.
    let mut a = sender_process(&t, sink_a.port, &spool_path, 400);
    let mut b = sender_process(&t, sink_b.port, &spool_path, 400);
    let state = wait_while_sending(&t, c.id).await;
    for child in [&mut a, &mut b] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    assert_eq!(state, "sent");
    let progress = campaigns::progress(&t.app.db, c.id).await.unwrap();
    assert_eq!(progress.sent, N, "{progress:?}");
    let (from_a, from_b) = (sink_a.recipients(), sink_b.recipients());
    assert!(!from_a.is_empty() && !from_b.is_empty(), "both processes sent: {} and {}", from_a.len(), from_b.len());
    let mut all: Vec<String> = from_a.iter().chain(&from_b).cloned().collect();
    assert_eq!(all.len() as i64, N, "{} + {} messages", from_a.len(), from_b.len());
    all.sort();
    all.dedup();
    assert_eq!(all.len() as i64, N, "nobody got two copies");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_at_random_points_delivers_exactly_one_copy_to_each_recipient() {
    let sink = RawSink::start();
    let spool = tempfile::tempdir().unwrap();
    let t = sending_app(&sink, &spool, |_| {}).await;
    let port = sink.port;
    const N: i64 = 5_000;
    let c = launch_big_campaign(&t, N, 2).await;

    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("kill points seed: {seed}");
    let mut rng = Rng(seed);
    let worker = |spool: &str| sender_process(&t, port, spool, 0);
    let spool_path = spool.path().display().to_string();
    let mut kills = 0;
    // Killed (SIGKILL) at random moments while it sends; then left to finish.
    while kills < 12 && campaign_state(&t, c.id).await == "sending" {
        let mut child = worker(&spool_path);
        tokio::time::sleep(std::time::Duration::from_millis(150 + rng.next() % 700)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    let mut child = worker(&spool_path);
    let state = wait_while_sending(&t, c.id).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(state, "sent", "after {kills} kills");
    let progress = campaigns::progress(&t.app.db, c.id).await.unwrap();
    assert_eq!(progress.sent, N, "{progress:?} after {kills} kills");
    let mut received = sink.recipients();
    assert_eq!(received.len() as i64, N, "messages received after {kills} kills (seed {seed})");
    received.sort();
    received.dedup();
    assert_eq!(received.len() as i64, N, "nobody got two copies (seed {seed})");
    println!("{kills} kills, {N} recipients, one copy each");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_failures_are_retried_and_repeated_errors_pause_the_campaign() {
    let sink = RawSink::start();
    let spool = tempfile::tempdir().unwrap();
    let t = sending_app(&sink, &spool, |c| {
        c.newsletter.concurrency = 1;
        c.newsletter.pause_after_errors = 4;
    })
    .await;
    let fed = t.federation_id("69").await;
    let access = terrain::users::access_for(&t.app.db, t.user_id(COORD_69).await).await.unwrap();
    let later = person(&t, fed, "later@example.org", "L", &["newsletter_federation"]).await;
    person(&t, fed, "ok@example.org", "O", &["newsletter_federation"]).await;
    let c = campaigns::create(&t.app.db, &access, federation_list(&t, fed).await, "Essai").await.unwrap();
    let sender = terrain::newsletter::sender_identity(&t.app.db, &t.app.config, &c).await.unwrap();
    campaigns::launch(&t.app.db, &access, &c, &sender, 1, None).await.unwrap();
    t.drain_jobs().await;
    // The 451 leaves the person pending with a later attempt; the other one is sent.
    let (state, attempts, detail): (String, i64, String) = sqlx::query_as(
        "SELECT state, attempts, detail FROM campaign_recipients WHERE campaign_id = $1 AND person_id = $2",
    )
    .bind(c.id)
    .bind(later)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!((state.as_str(), attempts), ("pending", 1), "{detail}");
    assert!(detail.contains("451"), "{detail}");
    assert_eq!(sink.recipients(), ["ok@example.org"]);
    assert_eq!(campaign_state(&t, c.id).await, "sending", "waits for the retry");

    // Every address refused: after 4 errors in a row the campaign pauses itself and says why.
    for i in 0..6 {
        person(&t, fed, &format!("refuse{i}@example.org"), "R", &["alerts"]).await;
    }
    let alerts: i64 =
        sqlx::query_scalar("SELECT id FROM mailing_lists WHERE federation_id IS NULL AND purpose = 'alerts'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    let admin = terrain::users::access_for(&t.app.db, t.user_id(ADMIN).await).await.unwrap();
    let c2 = campaigns::create(&t.app.db, &admin, alerts, "Alerte").await.unwrap();
    let sender = terrain::newsletter::sender_identity(&t.app.db, &t.app.config, &c2).await.unwrap();
    assert_eq!(campaigns::launch(&t.app.db, &admin, &c2, &sender, 1, None).await.unwrap(), 6);
    t.drain_jobs().await;
    let (state, reason): (String, String) = sqlx::query_as("SELECT state, pause_reason FROM campaigns WHERE id = $1")
        .bind(c2.id)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(state, "paused");
    assert!(reason.contains("erreurs") && reason.contains("550"), "{reason}");
    let failed = campaigns::progress(&t.app.db, c2.id).await.unwrap().failed;
    assert!(failed >= 4, "{failed} failed before the pause");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_uploaded_into_a_block_and_served_publicly_only_when_they_are_images() {
    let t = TestApp::spawn().await;
    let fed = t.federation_id("69").await;
    let access = terrain::users::access_for(&t.app.db, t.user_id(COORD_69).await).await.unwrap();
    let c = campaigns::create(&t.app.db, &access, federation_list(&t, fed).await, "Avec image").await.unwrap();
    let mut doc = c.document();
    doc.blocks.insert(
        0,
        terrain::newsletter::render::Block::Image {
            src: "https://example.org/affiche.png".into(),
            alt: "L'affiche de la fête".into(),
            href: None,
        },
    );
    let draft = campaigns::Draft {
        name: c.name.clone(),
        template: c.template.clone(),
        document: doc,
        segment_id: None,
        tracking: true,
    };
    campaigns::save(&t.app.db, &access, &c, &draft).await.unwrap();

    let png: Vec<u8> = [&b"\x89PNG\r\n\x1a\n"[..], &[0u8; 64][..]].concat();
    let upload = |client: reqwest::Client, block: usize, bytes: Vec<u8>, name: &'static str| {
        let url = t.url(&format!("/lettres/{}/image/{block}", c.id));
        async move {
            let form =
                reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
            client.post(url).multipart(form).send().await.unwrap()
        }
    };
    let coord = t.login(COORD_69).await;
    let r = upload(coord.clone(), 0, png.clone(), "affiche.png").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let saved = campaigns::get(&t.app.db, &access, c.id).await.unwrap().document();
    let terrain::newsletter::render::Block::Image { src, .. } = &saved.blocks[0] else { panic!("image block") };
    assert!(src.starts_with(&format!("{}/media/", t.base)), "{src}");
    // Served without a session, as mail clients fetch it.
    let r = reqwest::get(src).await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().to_vec(), png);
    assert_eq!(reqwest::get(t.url("/media/0123456789abcdef0123456789abcdef")).await.unwrap().status(), 404);
    // Not an image (whatever its name), not an image block, another federation: refused, nothing stored.
    let r = upload(coord.clone(), 0, b"<svg onload=alert(1)>".to_vec(), "x.png").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("pas une image"));
    assert_eq!(upload(coord.clone(), 1, png.clone(), "a.png").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let other = t.login(COORD_29).await;
    assert_eq!(upload(other, 0, png.clone(), "a.png").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("SELECT COUNT(*) FROM media").await, 1);
    t.stop().await;
}
