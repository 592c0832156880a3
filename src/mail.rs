//! Transactional e-mail through SMTP (lettre). Messages are sent by the job queue, never from a request.
//! With the outbox on (demo), a copy of each message is kept and shown on /boite-d-envoi; with no SMTP
//! host configured (allowed only then), the outbox is the only destination.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::config::{Config, SmtpSecurity};
use crate::db::{Db, now};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutgoingEmail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug)]
pub enum SendError {
    /// Retrying cannot help (bad address, 5xx answer).
    Permanent(String),
    /// Retry later (connection refused, 4xx answer, timeout).
    Transient(String),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    outbox: bool,
}

impl Mailer {
    pub fn new(config: &Config) -> anyhow::Result<Mailer> {
        let from: Mailbox = config.mail_from.parse()?;
        let transport = if config.smtp.host.is_empty() {
            None
        } else {
            let s = &config.smtp;
            let mut builder = match s.security {
                SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)?,
                SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)?,
            }
            .port(s.port)
            .timeout(Some(Duration::from_secs(s.timeout)));
            if !s.username.is_empty() {
                builder = builder.credentials(Credentials::new(s.username.clone(), s.password.expose().to_string()));
            }
            Some(builder.build())
        };
        Ok(Mailer { transport, from, outbox: config.outbox })
    }

    /// Checks that the SMTP server answers (for `terrain check`).
    pub async fn test_connection(&self) -> Result<bool, String> {
        match &self.transport {
            None => Ok(false),
            Some(t) => t.test_connection().await.map_err(|e| e.to_string()),
        }
    }

    pub async fn send(&self, db: &Db, email: &OutgoingEmail) -> Result<(), SendError> {
        let to: Mailbox = email.to.parse().map_err(|e| SendError::Permanent(format!("bad recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(email.text.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        if let Some(transport) = &self.transport {
            transport.send(message).await.map_err(|e| {
                if e.is_permanent() { SendError::Permanent(e.to_string()) } else { SendError::Transient(e.to_string()) }
            })?;
        }
        if self.outbox {
            sqlx::query("INSERT INTO outbox (to_addr, subject, body_text, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&email.to)
                .bind(&email.subject)
                .bind(&email.text)
                .bind(now())
                .execute(&db.pool)
                .await
                .map_err(|e| SendError::Transient(e.to_string()))?;
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub to_addr: String,
    pub subject: String,
    pub body_text: String,
    pub created_at: i64,
}

pub async fn outbox(db: &Db, limit: i64) -> anyhow::Result<Vec<OutboxRow>> {
    Ok(sqlx::query_as("SELECT id, to_addr, subject, body_text, created_at FROM outbox ORDER BY id DESC LIMIT $1")
        .bind(limit)
        .fetch_all(&db.pool)
        .await?)
}
