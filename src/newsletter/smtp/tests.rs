//! Tests of the SMTP client, against aiosmtpd, postfix's smtp-sink and scripted fake servers.

use super::*;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::AsyncReadExt;

const PYTHON: &str = "/usr/bin/python3";

/// aiosmtpd server: stores each message's exact bytes (as received, after dot
/// un-stuffing) in DIR/new; RCPT "bad*" gets 550, "later*" 450; DATA to "reject*" 554.
const SERVER_PY: &str = r#"
import argparse, asyncio, os, ssl
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

class Handler:
    def __init__(self, directory, pipelining):
        self.dir, self.pipelining, self.n = directory, pipelining, 0
        for sub in ('new', 'tmp'):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, '250-PIPELINING')
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('bad'):
            return '550 5.1.1 no such user'
        if address.startswith('later'):
            return '450 4.2.1 mailbox busy, try later'
        envelope.rcpt_tos.append(address)
        return '250 2.1.5 OK'

    async def handle_DATA(self, server, session, envelope):
        if envelope.rcpt_tos[0].startswith('reject'):
            return '554 5.6.0 content rejected'
        self.n += 1
        name = '%06d.eml' % self.n
        tmp = os.path.join(self.dir, 'tmp', name)
        with open(tmp, 'wb') as f:
            f.write(envelope.original_content)
        os.rename(tmp, os.path.join(self.dir, 'new', name))
        return '250 2.0.0 Ok: queued as %d' % self.n

ap = argparse.ArgumentParser()
ap.add_argument('--port', type=int)
ap.add_argument('--dir')
ap.add_argument('--pipelining', action='store_true')
ap.add_argument('--starttls', nargs=2)
ap.add_argument('--smtps', nargs=2)
ap.add_argument('--auth')
ap.add_argument('--login-only', action='store_true')
a = ap.parse_args()

def tls(cert_key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert_key)
    return ctx

kw = dict(hostname='aiosmtpd.test', data_size_limit=10_000_000)
if a.starttls:
    kw.update(tls_context=tls(a.starttls), require_starttls=True)
if a.auth:
    user, pw = a.auth.split(':', 1)
    def authenticator(server, session, envelope, mechanism, data):
        ok = isinstance(data, LoginPassword) and data.login == user.encode() and data.password == pw.encode()
        return AuthResult(success=ok, handled=False)
    kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=bool(a.starttls))
if a.login_only:
    kw.update(auth_exclude_mechanism=['PLAIN'])
handler = Handler(a.dir, a.pipelining)
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
server = loop.run_until_complete(loop.create_server(
    lambda: SMTP(handler, **kw), '127.0.0.1', a.port, ssl=tls(a.smtps) if a.smtps else None))
print('READY', flush=True)
loop.run_forever()
"#;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("nl-smtp-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Server {
    child: Child,
    port: u16,
    mailbox: PathBuf,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn stored(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<_> =
            std::fs::read_dir(self.mailbox.join("new")).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        names.iter().map(|p| std::fs::read(p).unwrap()).collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn aiosmtpd_available(test: &str) -> bool {
    let ok = Command::new(PYTHON).args(["-c", "import aiosmtpd"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        println!("SKIPPED {test}: {PYTHON} with aiosmtpd is not available");
    }
    ok
}

/// Starts the aiosmtpd server with extra arguments; `{dir}` in them is the temp dir.
fn start_server(extra: &[&str]) -> Server {
    let dir = TempDir::new("server");
    std::fs::write(dir.0.join("server.py"), SERVER_PY).unwrap();
    let port = free_port();
    let mailbox = dir.0.join("mailbox");
    let mut child = Command::new(PYTHON)
        .arg(dir.0.join("server.py"))
        .args(["--port", &port.to_string(), "--dir", mailbox.to_str().unwrap()])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "READY", "aiosmtpd did not start");
    Server { child, port, mailbox, _dir: dir }
}

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: String::new(),
        password: String::new(),
        helo_name: "terrain.test".into(),
        timeout: Duration::from_secs(10),
        accept_invalid_certs: false,
    }
}

fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn newsletter(n: usize) -> Vec<u8> {
    let https = format!("https://terrain.example.org/desabonnement/c12/{n}?token=abc");
    let id = format!("c12.r{n}@terrain.example.org");
    let env = super::super::mime::Envelope {
        from_name: "Fédération du Rhône",
        from_address: "federation-69@terrain.example.org",
        reply_to: None,
        to: "marie@example.net",
        subject: "Réunion publique à Villeurbanne",
        message_id: &id,
        date: 1_767_225_600,
        list_id: "Lettre du Rhône <lettre-69.terrain.example.org>",
        unsubscribe_https: &https,
        unsubscribe_mailto: "mailto:unsub@terrain.example.org",
        extra_headers: &[("X-Terrain-Campaign", "12")],
    };
    let text = format!("Bonjour n°{n},\n.Une ligne qui commence par un point\n..et deux\n.\nFin.\n");
    let mut out = Vec::new();
    super::super::mime::build(&env, &text, "<p>Bonjour</p>", &mut out);
    out
}

/// Line by line, as RFC 5321 §4.5.2 says it: `dot_stuff` must agree.
fn reference_dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            out.push(b'.');
        }
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let line = &rest[..nl];
                out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
                out.extend_from_slice(b"\r\n");
                rest = &rest[nl + 1..];
            }
            None => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"\r\n");
                break;
            }
        }
    }
    out
}

proptest::proptest! {
    #[test]
    fn dot_stuffing_agrees_with_the_line_by_line_reference(
        message in proptest::collection::vec(
            proptest::prop_oneof![6 => proptest::strategy::Just(b'a'), 2 => proptest::strategy::Just(b'.'),
                2 => proptest::strategy::Just(b'\r'), 3 => proptest::strategy::Just(b'\n')],
            0..200,
        )
    ) {
        let mut out = b"kept".to_vec();
        dot_stuff(&message, &mut out);
        proptest::prop_assert_eq!(&out[4..], &reference_dot_stuff(&message)[..]);
    }
}

#[test]
fn dot_stuffing_and_line_endings() {
    let stuff = |m: &[u8]| {
        let mut out = Vec::new();
        dot_stuff(m, &mut out);
        out
    };
    assert_eq!(stuff(b""), b"");
    assert_eq!(stuff(b"a\nb"), b"a\r\nb\r\n");
    assert_eq!(stuff(b"a\r\nb\r\n"), b"a\r\nb\r\n");
    assert_eq!(stuff(b".a\n..b\r\n.\nc.d\n\n."), b"..a\r\n...b\r\n..\r\nc.d\r\n\r\n..\r\n");
    assert_eq!(stuff(b"x\r\r\n"), b"x\r\r\n");
}

#[test]
fn reply_codes_and_extensions() {
    assert_eq!(parse_code(b"250 ok"), Some(250));
    assert_eq!(parse_code(b"354"), Some(354));
    assert_eq!(parse_code(b"550-5.1.1 first line"), Some(550));
    assert_eq!(parse_code(b"25 ok"), None);
    assert_eq!(parse_code(b"2500 ok"), None);
    assert_eq!(parse_code(b"I/O error"), None);
    assert_eq!(SmtpError::Permanent("550 5.1.1 no".into()).code(), Some(550));
    assert!(SmtpError::Permanent("550 x".into()).is_permanent());
    assert!(!SmtpError::Transient("450 x".into()).is_permanent());
    let ext = Extensions::parse(
        "250-mx.example Hello\n250-PIPELINING\n250-SIZE 1000\n250-8BITMIME\n250-AUTH LOGIN CRAM-MD5\n250 STARTTLS",
    );
    assert_eq!(
        ext,
        Extensions {
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: false,
            starttls: true,
            size: Some(1000),
            auth_plain: false,
            auth_login: true
        }
    );
    let ext = Extensions::parse("250-x\n250-AUTH=PLAIN\n250 SIZE");
    assert!(ext.auth_plain && ext.size == Some(0));
}

/// Three messages over one connection, with and without PIPELINING; the exact bytes
/// arrive, the hook runs once per message and before the server has the message.
#[tokio::test]
async fn aiosmtpd_three_messages_one_connection() {
    if !aiosmtpd_available("aiosmtpd_three_messages_one_connection") {
        return;
    }
    for pipelining in [false, true] {
        let server = start_server(if pipelining { &["--pipelining"] } else { &[] });
        let mut conn = Connection::connect(&config(server.port)).await.unwrap();
        assert_eq!(conn.extensions().pipelining, pipelining);
        assert!(conn.extensions().eight_bit_mime);
        assert_eq!(conn.extensions().size, Some(10_000_000));

        // The third one is raw, with LF line endings, 8-bit text and leading dots.
        let raw = b"From: a@terrain.example.org\nTo: b@example.net\nSubject: raw\n\n.leading\n\xc3\xa9t\xc3\xa9\n.\n"
            .to_vec();
        let messages = [newsletter(1), newsletter(2), raw];
        let hooks = AtomicUsize::new(0);
        for (i, message) in messages.iter().enumerate() {
            let reply = conn
                .send("federation-69@terrain.example.org", "marie@example.net", message, || {
                    hooks.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(server.stored().len(), i, "server must not have the message before the dot");
                })
                .await
                .unwrap();
            assert_eq!(reply, format!("250 2.0.0 Ok: queued as {}", i + 1));
            assert_eq!(hooks.load(Ordering::SeqCst), i + 1);
            assert_eq!(server.stored().len(), i + 1);
        }
        let stored = server.stored();
        for (got, sent) in stored.iter().zip(&messages) {
            assert_eq!(String::from_utf8_lossy(got), String::from_utf8_lossy(&crlf(sent)));
        }
        assert!(String::from_utf8_lossy(&stored[0]).contains("\r\n.Une ligne qui commence par un point\r\n..et"));
        assert!(!conn.is_broken());
        conn.quit().await;
    }
}

/// RCPT 550 is Permanent, 450 Transient, 554 after the dot Permanent; the connection
/// stays usable (explicit reset(), or the automatic RSET of the next send).
#[tokio::test]
async fn aiosmtpd_rejections_keep_connection_usable() {
    if !aiosmtpd_available("aiosmtpd_rejections_keep_connection_usable") {
        return;
    }
    for pipelining in [false, true] {
        let server = start_server(if pipelining { &["--pipelining"] } else { &[] });
        let mut conn = Connection::connect(&config(server.port)).await.unwrap();
        let msg = newsletter(7);
        let from = "federation-69@terrain.example.org";
        let mut hooked = false;

        let err = conn.send(from, "bad.user@example.net", &msg, || hooked = true).await.unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert_eq!(err.code(), Some(550));
        assert!(err.to_string().contains("5.1.1 no such user"), "{err}");
        assert!(!hooked && !conn.is_broken());
        conn.reset().await.unwrap();
        conn.send(from, "ok1@example.net", &msg, || hooked = true).await.unwrap();
        assert!(hooked);

        let err = conn.send(from, "later@example.net", &msg, || panic!("no hook")).await.unwrap_err();
        assert!(matches!(err, SmtpError::Transient(_)) && err.code() == Some(450), "{err}");
        assert!(!conn.is_broken());
        // No explicit reset: send() issues RSET itself.
        conn.send(from, "ok2@example.net", &msg, || {}).await.unwrap();

        let mut hooked = false;
        let err = conn.send(from, "reject@example.net", &msg, || hooked = true).await.unwrap_err();
        assert!(hooked, "the dot was sent");
        assert!(err.is_permanent() && err.code() == Some(554), "{err}");
        conn.send(from, "ok3@example.net", &msg, || {}).await.unwrap();

        let err = conn.send(from, "a@b>\r\nRCPT TO:<x@y", &msg, || {}).await.unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(server.stored().len(), 3);
        conn.quit().await;
    }
}

/// The next envelope travels with the final dot: refusals of an announced envelope and of a message after its
/// dot keep the connection usable, the hook still runs before the server has the message, and an announced
/// message that is not sent (another envelope, or QUIT) is never delivered, not even empty.
#[tokio::test]
async fn aiosmtpd_announced_envelopes() {
    if !aiosmtpd_available("aiosmtpd_announced_envelopes") {
        return;
    }
    let server = start_server(&["--pipelining"]);
    let mut conn = Connection::connect(&config(server.port)).await.unwrap();
    let from = "federation-69@terrain.example.org";
    let m: Vec<Vec<u8>> = (1..=5).map(newsletter).collect();
    let next = |to, i: usize| Some(Next { from, to, message: &m[i] });
    let stored = AtomicUsize::new(0);
    let hook = |n: usize| {
        let stored = &stored;
        let server = &server;
        move || {
            assert_eq!(server.stored().len(), n, "server must not have the message before the dot");
            stored.store(n + 1, Ordering::SeqCst);
        }
    };

    conn.send_then(from, "ok1@example.net", &m[0], hook(0), next("bad.user@example.net", 1)).await.unwrap();
    assert!(!conn.announced.is_empty() && conn.in_transaction);
    let err = conn
        .send_then(from, "bad.user@example.net", &m[1], || panic!("no hook"), next("x@example.net", 4))
        .await
        .unwrap_err();
    assert!(err.is_permanent() && err.code() == Some(550), "{err}");
    assert!(!conn.is_broken() && conn.announced.is_empty(), "nothing announced without a dot");
    let err = conn.send_then(from, "reject@example.net", &m[2], hook(1), next("ok2@example.net", 3)).await.unwrap_err();
    assert!(err.is_permanent() && err.code() == Some(554), "{err}");
    assert!(!conn.is_broken() && !conn.announced.is_empty());
    conn.send_then(from, "ok2@example.net", &m[3], hook(1), next("ok3@example.net", 4)).await.unwrap();
    assert_eq!(stored.load(Ordering::SeqCst), 2);
    let got = server.stored();
    assert_eq!(got.len(), 2);
    assert_eq!(String::from_utf8_lossy(&got[0]), String::from_utf8_lossy(&crlf(&m[0])));
    assert_eq!(String::from_utf8_lossy(&got[1]), String::from_utf8_lossy(&crlf(&m[3])));

    // ok3 was announced and accepted: sending something else abandons it with the connection.
    let err = conn.send(from, "ok4@example.net", &m[4], || panic!("no hook")).await.unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)) && conn.is_broken(), "{err}");
    conn.quit().await;

    // QUIT with an announced envelope only closes.
    let mut conn = Connection::connect(&config(server.port)).await.unwrap();
    conn.send_then(from, "ok5@example.net", &m[4], || {}, next("ok6@example.net", 0)).await.unwrap();
    conn.quit().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = server.stored();
    assert_eq!(got.len(), 3, "only the messages whose dot was sent");
    assert_eq!(String::from_utf8_lossy(&got[2]), String::from_utf8_lossy(&crlf(&m[4])));
}

fn self_signed_cert(dir: &Path) -> Option<(String, String)> {
    let cert = dir.join("cert.pem").to_str().unwrap().to_owned();
    let key = dir.join("key.pem").to_str().unwrap().to_owned();
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-keyout", &key, "-out", &cert])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some((cert, key))
}

/// STARTTLS + AUTH PLAIN, implicit TLS + AUTH LOGIN, wrong password, certificate check.
#[tokio::test]
async fn aiosmtpd_tls_and_auth() {
    if !aiosmtpd_available("aiosmtpd_tls_and_auth") {
        return;
    }
    let certs = TempDir::new("certs");
    let Some((cert, key)) = self_signed_cert(&certs.0) else {
        println!("SKIPPED aiosmtpd_tls_and_auth: openssl cannot create a certificate");
        return;
    };
    let msg = newsletter(3);
    for (security, args) in [
        (Security::StartTls, vec!["--starttls", &cert, &key, "--auth", "user:sécret", "--pipelining"]),
        (Security::Tls, vec!["--smtps", &cert, &key, "--auth", "user:sécret", "--login-only"]),
    ] {
        let server = start_server(&args);
        let mut cfg = config(server.port);
        cfg.security = security;
        cfg.accept_invalid_certs = true;
        cfg.username = "user".into();
        cfg.password = "sécret".into();
        let mut conn = Connection::connect(&cfg).await.unwrap();
        assert_eq!(conn.extensions().auth_plain, security == Security::StartTls);
        conn.send("a@terrain.example.org", "marie@example.net", &msg, || {}).await.unwrap();
        conn.quit().await;
        assert_eq!(server.stored(), vec![crlf(&msg)]);

        cfg.password = "wrong".into();
        let err = Connection::connect(&cfg).await.err().unwrap();
        assert!(matches!(err, SmtpError::Auth(_)), "{err}");
        assert_eq!(err.code(), Some(535));

        cfg.accept_invalid_certs = false;
        let err = Connection::connect(&cfg).await.err().unwrap();
        assert!(matches!(err, SmtpError::Tls(_)), "{err}");
    }
    // STARTTLS required but not offered: no silent downgrade.
    let server = start_server(&[]);
    let mut cfg = config(server.port);
    cfg.security = Security::StartTls;
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(matches!(err, SmtpError::Tls(_)), "{err}");
}

/// A scripted fake server: greets, answers EHLO with PIPELINING, then behaves as `mode`.
async fn fake_server(mode: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        if mode == "421" {
            let _ = sock.write_all(b"421 4.3.2 too busy\r\n").await;
            return;
        }
        sock.write_all(b"220 fake ESMTP\r\n").await.unwrap();
        let mut received = Vec::new();
        let mut buf = [0u8; 4096];
        let mut phase = 0;
        loop {
            let n = match sock.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            received.extend_from_slice(&buf[..n]);
            if mode == "silent" {
                continue;
            }
            if phase == 0 && received.ends_with(b"\r\n") {
                sock.write_all(b"250-fake\r\n250 PIPELINING\r\n").await.unwrap();
                received.clear();
                phase = 1;
            } else if phase == 1 && received.starts_with(b"MAIL") && mode == "close-at-mail" {
                return;
            } else if phase == 1 && received.ends_with(b"DATA\r\n") {
                sock.write_all(b"250 ok\r\n250 ok\r\n354 go\r\n").await.unwrap();
                received.clear();
                phase = 2;
            } else if phase == 2 && received.ends_with(b"\r\n.\r\n") {
                return; // "close-after-dot": drop without a reply
            }
        }
    });
    port
}

#[tokio::test]
async fn server_failures() {
    let msg = newsletter(1);
    // Connection closed before the dot: Transient, hook not called, connection broken.
    let mut conn = Connection::connect(&config(fake_server("close-at-mail").await)).await.unwrap();
    let err = conn.send("a@b.c", "d@e.f", &msg, || panic!("no hook")).await.unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)), "{err}");
    assert!(conn.is_broken());
    let err = conn.send("a@b.c", "d@e.f", &msg, || panic!("no hook")).await.unwrap_err();
    assert!(matches!(err, SmtpError::Transient(_)), "{err}");

    // Closed after the dot without a reply: Uncertain (the message may have been delivered).
    let mut conn = Connection::connect(&config(fake_server("close-after-dot").await)).await.unwrap();
    let mut hooked = false;
    let err = conn.send("a@b.c", "d@e.f", &msg, || hooked = true).await.unwrap_err();
    assert!(hooked && matches!(err, SmtpError::Uncertain(_)), "{err}");
    assert!(conn.is_broken() && !err.is_permanent());

    // 421 greeting.
    let err = Connection::connect(&config(fake_server("421").await)).await.err().unwrap();
    assert!(matches!(err, SmtpError::Transient(_)) && err.code() == Some(421), "{err}");

    // A server that never answers EHLO: per-command timeout.
    let mut cfg = config(fake_server("silent").await);
    cfg.timeout = Duration::from_millis(300);
    let start = std::time::Instant::now();
    let err = Connection::connect(&cfg).await.err().unwrap();
    assert!(matches!(err, SmtpError::Transient(_)) && err.to_string().contains("timeout"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(3));

    // Nothing listening.
    let err = Connection::connect(&config(free_port())).await.err().unwrap();
    assert!(matches!(err, SmtpError::Transient(_)), "{err}");
}

/// Throughput against postfix's smtp-sink (PIPELINING, discards messages), e.g.
/// `LD_LIBRARY_PATH=DIR/usr/lib/postfix DIR/usr/sbin/smtp-sink -u root 127.0.0.1:2525 256`, then
/// `SMTP_SINK_PORT=2525 cargo test --release smtp_sink_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn smtp_sink_throughput() {
    let port: u16 = std::env::var("SMTP_SINK_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(2525);
    const CONNECTIONS: usize = 8;
    const MESSAGES: usize = 5000;
    // About 5,000 bytes, like `smtp-source -l 5000`.
    let mut text = String::new();
    while text.len() < 4000 {
        text.push_str("Chère militante, cher militant, la réunion aura lieu jeudi à 19 h.\n");
    }
    let env = super::super::mime::Envelope {
        from_name: "Fédération du Rhône",
        from_address: "federation-69@terrain.example.org",
        reply_to: None,
        to: "marie@example.net",
        subject: "Réunion publique",
        message_id: "bench@terrain.example.org",
        date: 1_767_225_600,
        list_id: "Lettre du Rhône <lettre-69.terrain.example.org>",
        unsubscribe_https: "https://terrain.example.org/u/1",
        unsubscribe_mailto: "mailto:u@terrain.example.org",
        extra_headers: &[],
    };
    let mut message = Vec::new();
    super::super::mime::build(&env, &text, "", &mut message);
    let message = Arc::new(message);
    let start = std::time::Instant::now();
    let hooks = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let message = message.clone();
            let hooks = hooks.clone();
            tokio::spawn(async move {
                let mut conn = Connection::connect(&config(port)).await.unwrap();
                assert!(conn.extensions().pipelining);
                for i in (c..MESSAGES).step_by(CONNECTIONS) {
                    let to = format!("user{i}@example.net");
                    conn.send("federation-69@terrain.example.org", &to, &message, || {
                        hooks.fetch_add(1, Ordering::Relaxed);
                    })
                    .await
                    .unwrap();
                }
                conn.quit().await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(hooks.load(Ordering::Relaxed), MESSAGES);
    println!(
        "smtp-sink: {MESSAGES} messages of {} bytes over {CONNECTIONS} connections in {secs:.2}s = {:.0} msg/s",
        message.len(),
        MESSAGES as f64 / secs
    );
}
