//! A small SMTP client built for exactly-once campaign delivery.
//!
//! The only moment that decides whether a message is delivered is when the final `.` of
//! DATA reaches the server. [`Connection::send`] therefore writes the whole (dot-stuffed)
//! body first, then calls the caller's `before_commit` hook synchronously, then writes
//! exactly `.\r\n` with nothing awaited in between. A caller journals a "committing"
//! marker in the hook: a process killed before the marker never sent the dot, one killed
//! after it may have, and must not send again. [`Connection::send_then`] writes the next
//! message's envelope in the same write as the dot: killed then, the server holds an
//! envelope without a body, which it drops with the connection.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// Longest reply line accepted (RFC 5321 says 512; be lenient).
const MAX_REPLY_LINE: usize = 4096;
/// Most lines accepted in one multi-line reply.
const MAX_REPLY_LINES: usize = 256;
/// The body is written in chunks of this size, each under the command timeout.
const WRITE_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP (tests, local relays).
    None,
    /// Plain TCP upgraded with STARTTLS; fails if the server does not offer it (no downgrade).
    StartTls,
    /// Implicit TLS from the first byte (SMTPS, port 465).
    Tls,
}

#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Empty: no authentication.
    pub username: String,
    pub password: String,
    /// Name sent in EHLO/HELO.
    pub helo_name: String,
    /// Timeout of each network step (connect, handshake, each command, each body chunk).
    pub timeout: Duration,
    /// Accept any server certificate. For tests only.
    pub accept_invalid_certs: bool,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("helo_name", &self.helo_name)
            .field("timeout", &self.timeout)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

/// Server replies are kept verbatim (e.g. "550 5.1.1 no such user"; the lines of a
/// multi-line reply joined with '\n'), so [`SmtpError::code`] can read the code back.
#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// 4xx reply, I/O error, timeout, connection closed before the final dot: retry later.
    #[error("temporary SMTP failure: {0}")]
    Transient(String),
    /// 5xx reply to MAIL, RCPT, DATA or the final dot: this message/recipient fails.
    #[error("permanent SMTP failure: {0}")]
    Permanent(String),
    /// The final dot was (possibly) sent but no reply was received: the message may
    /// have been delivered. Do not send it again automatically.
    #[error("delivery status unknown, connection lost after the final dot: {0}")]
    Uncertain(String),
    /// Authentication rejected, or no usable mechanism: a configuration problem.
    #[error("SMTP authentication failed: {0}")]
    Auth(String),
    /// STARTTLS not offered, certificate rejected, or another TLS failure.
    #[error("SMTP TLS failure: {0}")]
    Tls(String),
    /// 5xx to the greeting or to EHLO/HELO: the server does not want this session.
    #[error("SMTP server refused the session: {0}")]
    Refused(String),
}

impl SmtpError {
    /// True when retrying this message later is pointless (5xx on MAIL/RCPT/DATA/dot).
    pub fn is_permanent(&self) -> bool {
        matches!(self, SmtpError::Permanent(_))
    }

    /// The server's reply code, when the error comes from a server reply.
    pub fn code(&self) -> Option<u16> {
        let text = match self {
            SmtpError::Transient(t)
            | SmtpError::Permanent(t)
            | SmtpError::Uncertain(t)
            | SmtpError::Auth(t)
            | SmtpError::Tls(t)
            | SmtpError::Refused(t) => t.as_bytes(),
        };
        parse_code(text)
    }
}

fn parse_code(line: &[u8]) -> Option<u16> {
    match line {
        [a @ b'2'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', rest @ ..]
            if matches!(rest.first(), None | Some(b' ' | b'-')) =>
        {
            Some((a - b'0') as u16 * 100 + (b - b'0') as u16 * 10 + (c - b'0') as u16)
        }
        _ => None,
    }
}

/// SMTP service extensions announced in the EHLO reply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    pub pipelining: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub starttls: bool,
    /// SIZE limit in bytes; `Some(0)` means announced without a limit.
    pub size: Option<u64>,
    pub auth_plain: bool,
    pub auth_login: bool,
}

impl Extensions {
    fn parse(ehlo_reply: &str) -> Extensions {
        let mut ext = Extensions::default();
        // The first line is the greeting ("250-host.example Hello"); the others are keywords.
        for line in ehlo_reply.lines().skip(1) {
            let line = line.get(4..).unwrap_or("");
            let mut words = line.split([' ', '=']);
            let keyword = words.next().unwrap_or("").to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => ext.pipelining = true,
                "8BITMIME" => ext.eight_bit_mime = true,
                "SMTPUTF8" => ext.smtputf8 = true,
                "STARTTLS" => ext.starttls = true,
                "SIZE" => ext.size = Some(words.next().and_then(|n| n.trim().parse().ok()).unwrap_or(0)),
                "AUTH" => {
                    for mech in words {
                        match mech.to_ascii_uppercase().as_str() {
                            "PLAIN" => ext.auth_plain = true,
                            "LOGIN" => ext.auth_login = true,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        ext
    }
}

/// The transport under the reply reader: plain TCP or a TLS client session.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

struct Reply {
    code: u16,
    /// All lines, CRLF removed, joined with '\n'.
    text: String,
}

impl Reply {
    fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Error for an unexpected reply to a transaction command.
    fn into_error(self) -> SmtpError {
        match self.code {
            500..=599 => SmtpError::Permanent(self.text),
            _ => SmtpError::Transient(self.text),
        }
    }
}

/// One SMTP session. Not `Clone`; use one per concurrent sender.
pub struct Connection {
    stream: BufReader<Stream>,
    /// Reused buffer for commands and the dot-stuffed body.
    wbuf: Vec<u8>,
    /// Reused buffer for reply lines.
    line: Vec<u8>,
    timeout: Duration,
    ext: Extensions,
    broken: bool,
    /// MAIL was sent and the transaction did not end with a reply to the final dot.
    in_transaction: bool,
    /// Reused buffer for the envelope (MAIL, RCPT, DATA) being sent.
    env: Vec<u8>,
    /// Reused buffer for the final dot and the envelope announced with it.
    tail: Vec<u8>,
    /// The envelope written with the last final dot, whose replies are still unread; empty when none.
    announced: Vec<u8>,
}

/// The message a caller will send next on a connection: see [`Connection::send_then`].
#[derive(Clone, Copy)]
pub struct Next<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub message: &'a [u8],
}

impl Connection {
    /// Connects, reads the greeting, sends EHLO (falling back to HELO), upgrades with
    /// STARTTLS when configured (then EHLO again), and authenticates when a username is set.
    pub async fn connect(cfg: &SmtpConfig) -> Result<Connection, SmtpError> {
        let tcp = match timeout(cfg.timeout, TcpStream::connect((cfg.host.as_str(), cfg.port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(SmtpError::Transient(format!("connect to {}:{}: {e}", cfg.host, cfg.port))),
            Err(_) => return Err(SmtpError::Transient(format!("connect to {}:{}: timeout", cfg.host, cfg.port))),
        };
        // Commands are always written whole, so Nagle would only delay them.
        let _ = tcp.set_nodelay(true);
        let stream = match cfg.security {
            Security::Tls => Stream::Tls(Box::new(tls_handshake(cfg, tcp).await?)),
            Security::None | Security::StartTls => Stream::Plain(tcp),
        };
        let mut conn = Connection {
            stream: BufReader::with_capacity(4096, stream),
            wbuf: Vec::with_capacity(16 * 1024),
            line: Vec::with_capacity(512),
            timeout: cfg.timeout,
            ext: Extensions::default(),
            broken: false,
            in_transaction: false,
            env: Vec::with_capacity(256),
            tail: Vec::with_capacity(256),
            announced: Vec::with_capacity(256),
        };

        let greeting = conn.read_reply().await?;
        match greeting.code {
            220 => {}
            400..=499 => return Err(SmtpError::Transient(greeting.text)),
            _ => return Err(SmtpError::Refused(greeting.text)),
        }

        let helo_name = if cfg.helo_name.is_empty() { "localhost" } else { cfg.helo_name.as_str() };
        if !helo_name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SmtpError::Refused(format!("invalid HELO name {helo_name:?}")));
        }
        conn.hello(helo_name).await?;

        if cfg.security == Security::StartTls {
            if !conn.ext.starttls {
                return Err(SmtpError::Tls("server does not offer STARTTLS".into()));
            }
            let reply = conn.command(b"STARTTLS\r\n").await?;
            if reply.code != 220 {
                return Err(SmtpError::Tls(reply.text));
            }
            // Anything already buffered was sent before the handshake: a plaintext injection.
            if !conn.stream.buffer().is_empty() {
                return Err(SmtpError::Tls("server sent data after STARTTLS reply".into()));
            }
            let tcp = match conn.stream.into_inner() {
                Stream::Plain(tcp) => tcp,
                Stream::Tls(_) => unreachable!("STARTTLS is only used on a plain connection"),
            };
            conn.stream = BufReader::with_capacity(4096, Stream::Tls(Box::new(tls_handshake(cfg, tcp).await?)));
            conn.hello(helo_name).await?;
        }

        if !cfg.username.is_empty() {
            conn.authenticate(&cfg.username, &cfg.password).await?;
        }
        Ok(conn)
    }

    /// Extensions announced by the server (after STARTTLS when used).
    pub fn extensions(&self) -> &Extensions {
        &self.ext
    }

    /// After an I/O error, a timeout, a 421 or a protocol error: do not reuse, reconnect.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends one message: MAIL FROM, RCPT TO, DATA (pipelined in one write when the server
    /// offers PIPELINING), the dot-stuffed body with CRLF line endings, then calls
    /// `before_commit()` and only then writes the final `.\r\n`.
    ///
    /// `before_commit` is called at most once, and only when the server accepted the
    /// envelope and the whole body has been written. Returns the server's reply to the
    /// final dot (e.g. "250 2.0.0 Ok: queued as ABC").
    pub async fn send(
        &mut self,
        from: &str,
        to: &str,
        message: &[u8],
        before_commit: impl FnOnce(),
    ) -> Result<String, SmtpError> {
        self.send_then(from, to, message, before_commit, None).await
    }

    /// [`Connection::send`], announcing the envelope of the message the caller will send next on this
    /// connection in the same write as the final dot (RFC 2920 lets message content open a group of pipelined
    /// commands): one write and one round trip fewer per message. The replies to that envelope are read by the
    /// next call; a next call with another envelope abandons the announced one, which costs the connection.
    /// Without PIPELINING, or when the next envelope is invalid, nothing is announced.
    pub async fn send_then(
        &mut self,
        from: &str,
        to: &str,
        message: &[u8],
        before_commit: impl FnOnce(),
        next: Option<Next<'_>>,
    ) -> Result<String, SmtpError> {
        if self.broken {
            return Err(SmtpError::Transient("connection is broken, reconnect".into()));
        }
        let (rcpt_start, data_start) = envelope(&self.ext, from, to, message, &mut self.env)?;
        if !self.announced.is_empty() && self.announced != self.env {
            self.discard_announced().await?;
        }
        if self.announced.is_empty() && self.in_transaction {
            self.reset().await?;
        }

        self.in_transaction = true;
        if !self.announced.is_empty() {
            // Written with the previous message's final dot: only the replies are left.
            self.announced.clear();
            self.envelope_replies().await?;
        } else if self.ext.pipelining {
            // RFC 2920: MAIL, RCPT and DATA in one write, then the three replies in order.
            self.wbuf.clear();
            self.wbuf.extend_from_slice(&self.env);
            self.write_wbuf(0..self.wbuf.len()).await?;
            self.envelope_replies().await?;
        } else {
            let end = self.env.len();
            for (start, stop, is_data) in
                [(0, rcpt_start, false), (rcpt_start, data_start, false), (data_start, end, true)]
            {
                self.wbuf.clear();
                self.wbuf.extend_from_slice(&self.env[start..stop]);
                self.write_wbuf(0..self.wbuf.len()).await?;
                let reply = self.read_reply().await?;
                let ok = if is_data { reply.code == 354 } else { reply.is_positive() };
                if !ok {
                    return Err(reply.into_error());
                }
            }
        }

        // Body: CRLF line endings and dot-stuffing in one pass into the reused buffer.
        self.wbuf.clear();
        dot_stuff(message, &mut self.wbuf);
        self.write_body().await?;

        // The final dot, followed by the next message's envelope when there is one.
        self.tail.clear();
        self.tail.extend_from_slice(b".\r\n");
        if let Some(n) = next.filter(|_| self.ext.pipelining) {
            match envelope(&self.ext, n.from, n.to, n.message, &mut self.announced) {
                Ok(_) => self.tail.extend_from_slice(&self.announced),
                Err(_) => self.announced.clear(),
            }
        }

        // Commit point. Nothing is awaited between the hook and the write of the dot; on plain TCP the dot's
        // `send` is the first system call after the hook.
        let limit = self.timeout;
        before_commit();
        let sent = match self.send_now(&self.tail) {
            Ok(n) => n,
            Err(e) => {
                self.broken = true;
                return Err(SmtpError::Uncertain(format!("writing the final dot: {e}")));
            }
        };
        let (stream, tail) = (&mut self.stream, &self.tail[sent..]);
        let dot = async {
            stream.write_all(tail).await?;
            stream.flush().await
        };
        match timeout(limit, dot).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                self.broken = true;
                return Err(SmtpError::Uncertain(format!("writing the final dot: {e}")));
            }
            Err(_) => {
                self.broken = true;
                return Err(SmtpError::Uncertain("timeout writing the final dot".into()));
            }
        }
        let reply = match self.read_reply().await {
            Ok(reply) => reply,
            Err(SmtpError::Transient(e)) => {
                return Err(SmtpError::Uncertain(format!("waiting for the reply to the final dot: {e}")));
            }
            Err(e) => return Err(e),
        };
        // A transaction stays open when the next envelope went with the dot.
        self.in_transaction = !self.announced.is_empty();
        match reply.code {
            200..=299 => Ok(reply.text),
            400..=599 => Err(reply.into_error()),
            _ => {
                self.broken = true;
                Err(SmtpError::Uncertain(format!("unexpected reply to the final dot: {}", reply.text)))
            }
        }
    }

    /// Reads the replies to a pipelined MAIL, RCPT and DATA; `Ok` when the server waits for the body.
    async fn envelope_replies(&mut self) -> Result<(), SmtpError> {
        let mail = self.read_reply().await?;
        if mail.code == 421 {
            return Err(SmtpError::Transient(mail.text));
        }
        let rcpt = self.read_reply().await?;
        if rcpt.code == 421 {
            return Err(SmtpError::Transient(rcpt.text));
        }
        let data = self.read_reply().await?;
        let failed = if !mail.is_positive() {
            Some(mail)
        } else if !rcpt.is_positive() {
            Some(rcpt)
        } else {
            None
        };
        if let Some(failed) = failed {
            if data.code == 354 {
                // The server entered DATA although no recipient was accepted: end it empty.
                self.abort_data().await;
            }
            return Err(failed.into_error());
        }
        if data.code != 354 {
            return Err(data.into_error());
        }
        Ok(())
    }

    /// Gives up the envelope announced with the last dot. When the server accepted it and waits for a body, only
    /// closing the connection abandons the message (a dot would deliver it empty): the connection is then broken.
    async fn discard_announced(&mut self) -> Result<(), SmtpError> {
        self.announced.clear();
        self.in_transaction = true;
        match self.envelope_replies().await {
            Ok(()) => {
                self.broken = true;
                Err(SmtpError::Transient("announced message abandoned, reconnect".into()))
            }
            Err(e) if self.broken => Err(e),
            Err(_) => Ok(()),
        }
    }

    /// RSET, to reuse the connection after a failed transaction. `send` also does it
    /// by itself when the previous transaction was left open.
    pub async fn reset(&mut self) -> Result<(), SmtpError> {
        if self.broken {
            return Err(SmtpError::Transient("connection is broken, reconnect".into()));
        }
        if !self.announced.is_empty() {
            self.discard_announced().await?;
        }
        let reply = self.command(b"RSET\r\n").await?;
        if reply.code == 250 {
            self.in_transaction = false;
            Ok(())
        } else {
            self.broken = true;
            Err(SmtpError::Transient(reply.text))
        }
    }

    /// QUIT and close; errors are ignored.
    pub async fn quit(mut self) {
        let limit = self.timeout.min(Duration::from_secs(5));
        // With an announced envelope the server may be reading a body: closing abandons it, QUIT would not.
        if !self.broken && self.announced.is_empty() {
            let _ = timeout(limit, async {
                self.stream.write_all(b"QUIT\r\n").await?;
                self.stream.flush().await?;
                let mut line = Vec::new();
                read_line(&mut self.stream, &mut line).await
            })
            .await;
        }
        let _ = timeout(limit, self.stream.shutdown()).await;
    }

    /// EHLO, or HELO when EHLO is rejected with 5xx.
    async fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        let reply = self.command(format!("EHLO {name}\r\n").as_bytes()).await?;
        if reply.code == 250 {
            self.ext = Extensions::parse(&reply.text);
            return Ok(());
        }
        if !(500..600).contains(&reply.code) {
            return Err(SmtpError::Transient(reply.text));
        }
        let reply = self.command(format!("HELO {name}\r\n").as_bytes()).await?;
        self.ext = Extensions::default();
        match reply.code {
            250 => Ok(()),
            400..=499 => Err(SmtpError::Transient(reply.text)),
            _ => Err(SmtpError::Refused(reply.text)),
        }
    }

    /// AUTH PLAIN when offered, else AUTH LOGIN.
    async fn authenticate(&mut self, user: &str, pass: &str) -> Result<(), SmtpError> {
        let b64 = data_encoding::BASE64;
        let reply = if self.ext.auth_plain {
            let mut plain = Vec::with_capacity(user.len() + pass.len() + 2);
            plain.push(0);
            plain.extend_from_slice(user.as_bytes());
            plain.push(0);
            plain.extend_from_slice(pass.as_bytes());
            self.command(format!("AUTH PLAIN {}\r\n", b64.encode(&plain)).as_bytes()).await?
        } else if self.ext.auth_login {
            let mut reply = self.command(b"AUTH LOGIN\r\n").await?;
            for secret in [user, pass] {
                if reply.code != 334 {
                    break;
                }
                reply = self.command(format!("{}\r\n", b64.encode(secret.as_bytes())).as_bytes()).await?;
            }
            reply
        } else {
            return Err(SmtpError::Auth("server offers neither AUTH PLAIN nor AUTH LOGIN".into()));
        };
        match reply.code {
            235 => Ok(()),
            400..=499 => Err(SmtpError::Transient(reply.text)),
            334 => {
                self.broken = true; // the exchange is out of step
                Err(SmtpError::Auth(reply.text))
            }
            _ => Err(SmtpError::Auth(reply.text)),
        }
    }

    /// Ends a DATA phase that the server opened although the envelope failed.
    async fn abort_data(&mut self) {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(b".\r\n");
        if self.write_wbuf(0..self.wbuf.len()).await.is_ok() {
            let _ = self.read_reply().await;
        }
    }

    async fn command(&mut self, cmd: &[u8]) -> Result<Reply, SmtpError> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(cmd);
        self.write_wbuf(0..self.wbuf.len()).await?;
        self.read_reply().await
    }

    /// Writes a range of `wbuf` (in chunks, each under the timeout) and flushes.
    async fn write_wbuf(&mut self, range: std::ops::Range<usize>) -> Result<(), SmtpError> {
        let data = &self.wbuf[range];
        let stream = &mut self.stream;
        let limit = self.timeout;
        let result = async {
            for chunk in data.chunks(WRITE_CHUNK) {
                match timeout(limit, stream.write_all(chunk)).await {
                    Ok(r) => r?,
                    Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "write timeout")),
                }
            }
            match timeout(limit, stream.flush()).await {
                Ok(r) => r,
                Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "flush timeout")),
            }
        }
        .await;
        result.map_err(|e| {
            self.broken = true;
            SmtpError::Transient(format!("sending to server: {e}"))
        })
    }

    /// On plain TCP under Linux, sends what the socket takes at once, without waiting; 0 otherwise (the caller
    /// writes the rest through the stream).
    fn send_now(&self, data: &[u8]) -> std::io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Stream::Plain(tcp) = self.stream.get_ref() {
            let send = || socket2::SockRef::from(tcp).send_with_flags(data, libc::MSG_NOSIGNAL);
            return match tcp.try_io(tokio::io::Interest::WRITABLE, send) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
                result => result,
            };
        }
        let _ = data;
        Ok(0)
    }

    /// Writes the body in `wbuf`. On plain TCP under Linux, with MSG_MORE: the kernel holds it until the final dot
    /// joins it, so the message leaves in full segments and wakes the server once, not once for the body and once
    /// more for the dot. Killed in between, the connection closes without the dot, as before.
    async fn write_body(&mut self) -> Result<(), SmtpError> {
        #[cfg(target_os = "linux")]
        if let Stream::Plain(tcp) = self.stream.get_ref() {
            let (data, limit) = (&self.wbuf[..], self.timeout);
            let result = async {
                let mut written = 0;
                while written < data.len() {
                    let chunk = &data[written..];
                    let send = tcp.async_io(tokio::io::Interest::WRITABLE, || {
                        socket2::SockRef::from(tcp).send_with_flags(chunk, libc::MSG_MORE | libc::MSG_NOSIGNAL)
                    });
                    match timeout(limit, send).await {
                        Ok(Ok(0)) => return Err(std::io::Error::from(std::io::ErrorKind::WriteZero)),
                        Ok(Ok(n)) => written += n,
                        Ok(Err(e)) => return Err(e),
                        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "write timeout")),
                    }
                }
                Ok(())
            }
            .await;
            return result.map_err(|e| {
                self.broken = true;
                SmtpError::Transient(format!("sending to server: {e}"))
            });
        }
        self.write_wbuf(0..self.wbuf.len()).await
    }

    /// Reads one (possibly multi-line) reply under the timeout. A 421 marks the connection broken.
    async fn read_reply(&mut self) -> Result<Reply, SmtpError> {
        let result = timeout(self.timeout, async {
            let mut text = String::new();
            for _ in 0..MAX_REPLY_LINES {
                read_line(&mut self.stream, &mut self.line).await?;
                let mut line = self.line.as_slice();
                while let [rest @ .., b'\r' | b'\n'] = line {
                    line = rest;
                }
                let code = parse_code(line).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("malformed reply line {:?}", String::from_utf8_lossy(line)),
                    )
                })?;
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&String::from_utf8_lossy(line));
                if line.get(3) != Some(&b'-') {
                    return Ok(Reply { code, text });
                }
            }
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "reply has too many lines"))
        })
        .await;
        match result {
            Ok(Ok(reply)) => {
                if reply.code == 421 {
                    self.broken = true;
                }
                Ok(reply)
            }
            Ok(Err(e)) => {
                self.broken = true;
                Err(SmtpError::Transient(format!("reading server reply: {e}")))
            }
            Err(_) => {
                self.broken = true;
                Err(SmtpError::Transient("timeout waiting for server reply".into()))
            }
        }
    }
}

/// Writes the envelope (MAIL FROM with its parameters, RCPT TO, DATA) of a message into `out` and returns where
/// RCPT and DATA start; refuses what the server cannot take (non-ASCII without SMTPUTF8, over its SIZE).
fn envelope(
    ext: &Extensions,
    from: &str,
    to: &str,
    message: &[u8],
    out: &mut Vec<u8>,
) -> Result<(usize, usize), SmtpError> {
    let utf8_from = check_address(from, "sender")?;
    let utf8_to = check_address(to, "recipient")?;
    if (utf8_from || utf8_to) && !ext.smtputf8 {
        return Err(SmtpError::Permanent("non-ASCII address and the server does not offer SMTPUTF8".into()));
    }
    if let Some(max) = ext.size
        && max > 0
        && message.len() as u64 > max
    {
        return Err(SmtpError::Permanent(format!("message of {} bytes exceeds server limit {max}", message.len())));
    }
    out.clear();
    out.extend_from_slice(b"MAIL FROM:<");
    out.extend_from_slice(from.as_bytes());
    out.push(b'>');
    if ext.eight_bit_mime && !message.is_ascii() {
        out.extend_from_slice(b" BODY=8BITMIME");
    }
    if utf8_from || utf8_to {
        out.extend_from_slice(b" SMTPUTF8");
    }
    if ext.size.is_some() {
        out.extend_from_slice(format!(" SIZE={}", message.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    let rcpt_start = out.len();
    out.extend_from_slice(b"RCPT TO:<");
    out.extend_from_slice(to.as_bytes());
    out.extend_from_slice(b">\r\n");
    let data_start = out.len();
    out.extend_from_slice(b"DATA\r\n");
    Ok((rcpt_start, data_start))
}

/// Reads one line (through LF) into `buf`, bounded by [`MAX_REPLY_LINE`].
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<()> {
    buf.clear();
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed by server"));
        }
        if let Some(nl) = available.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&available[..=nl]);
            reader.consume(nl + 1);
            return Ok(());
        }
        let n = available.len();
        buf.extend_from_slice(available);
        reader.consume(n);
        if buf.len() > MAX_REPLY_LINE {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "reply line too long"));
        }
    }
}

/// Rejects addresses that could inject commands. Returns whether the address is non-ASCII.
fn check_address(addr: &str, what: &str) -> Result<bool, SmtpError> {
    if addr.bytes().any(|b| b.is_ascii_control() || matches!(b, b' ' | b'<' | b'>')) {
        return Err(SmtpError::Permanent(format!("invalid {what} address {addr:?}")));
    }
    Ok(!addr.is_ascii())
}

/// Appends `message` to `out` with every line ending (LF or CRLF) written as CRLF and a
/// '.' doubled at the start of each line (RFC 5321 §4.5.2). A final line without line
/// ending gets one, so the message always ends with CRLF (ready for ".\r\n").
pub fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    out.reserve(message.len() + message.len() / 32 + 2);
    // Lines that already end in CRLF and do not start with a dot are copied in runs; `copied` is where the run
    // not yet copied starts.
    let (mut copied, mut pos) = (0, 0);
    while pos < message.len() {
        let (end, next) = match memchr::memchr(b'\n', &message[pos..]) {
            Some(n) => (pos + n, pos + n + 1),
            None => (message.len(), message.len()),
        };
        if message[pos] != b'.' && end > pos && message[end - 1] == b'\r' && next > end {
            pos = next;
            continue;
        }
        out.extend_from_slice(&message[copied..pos]);
        if message[pos] == b'.' {
            out.push(b'.');
        }
        let line = &message[pos..end];
        out.extend_from_slice(line.strip_suffix(b"\r").filter(|_| next > end).unwrap_or(line));
        out.extend_from_slice(b"\r\n");
        (copied, pos) = (next, next);
    }
    out.extend_from_slice(&message[copied..]);
}

async fn tls_handshake(cfg: &SmtpConfig, tcp: TcpStream) -> Result<TlsStream<TcpStream>, SmtpError> {
    let server_name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .map_err(|e| SmtpError::Tls(format!("invalid server name {:?}: {e}", cfg.host)))?;
    let connector = TlsConnector::from(tls_config(cfg.accept_invalid_certs)?);
    match timeout(cfg.timeout, connector.connect(server_name, tcp)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => {
            // Certificate and protocol errors are TLS problems; resets and EOFs are transient.
            if e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                Err(SmtpError::Tls(e.to_string()))
            } else {
                Err(SmtpError::Transient(format!("TLS handshake: {e}")))
            }
        }
        Err(_) => Err(SmtpError::Transient("TLS handshake: timeout".into())),
    }
}

/// Shared client configurations (verified with the webpki roots, or accepting anything).
fn tls_config(accept_invalid_certs: bool) -> Result<Arc<rustls::ClientConfig>, SmtpError> {
    static VERIFIED: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static UNVERIFIED: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let cell = if accept_invalid_certs { &UNVERIFIED } else { &VERIFIED };
    if let Some(config) = cell.get() {
        return Ok(config.clone());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| SmtpError::Tls(e.to_string()))?;
    let config = if accept_invalid_certs {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))).with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(cell.get_or_init(|| Arc::new(config)).clone())
}

/// Certificate verifier for tests against self-signed servers: accepts any certificate
/// but still checks the handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead as _;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
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
        let ok =
            Command::new(PYTHON).args(["-c", "import aiosmtpd"]).output().map(|o| o.status.success()).unwrap_or(false);
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
            let raw =
                b"From: a@terrain.example.org\nTo: b@example.net\nSubject: raw\n\n.leading\n\xc3\xa9t\xc3\xa9\n.\n"
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
        let err =
            conn.send_then(from, "reject@example.net", &m[2], hook(1), next("ok2@example.net", 3)).await.unwrap_err();
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
}
