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
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;

use tls::tls_handshake;

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

#[cfg(test)]
mod tests;
mod tls;
