//! Typed configuration: defaults < config file (TOML) < `TERRAIN_*` environment variables < command-line flags.
//!
//! Every problem is reported as one line naming the setting, where it came from and why it is wrong.
//! Secrets are wrapped in [`Secret`], whose `Debug` never prints the value.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A string that must never reach a log line.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() { f.write_str("\"\"") } else { f.write_str("[redacted]") }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP, for a relay on localhost or a test sink.
    None,
    /// STARTTLS upgrade (usually port 587).
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Empty: no SMTP server; mail only reaches the outbox page (allowed only when the outbox is on).
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: String,
    pub password: Secret,
    /// Seconds to wait for the server.
    pub timeout: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: 25,
            security: SmtpSecurity::None,
            username: String::new(),
            password: Secret::default(),
            timeout: 20,
        }
    }
}

/// Campaign sending, tracking and bounces.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NewsletterConfig {
    /// SMTP connections per sending task.
    pub concurrency: usize,
    /// Messages per second per sending process (0: as fast as the server takes them).
    pub rate: u32,
    /// Consecutive sending errors after which a campaign pauses itself.
    pub pause_after_errors: u32,
    /// Sending tasks a campaign is split into (several worker processes share them).
    pub shards: u32,
    /// Where the sender keeps its journal of messages being handed to the SMTP server (crash recovery).
    pub spool_dir: String,
    /// Postal address of the sender, printed in every newsletter's footer.
    pub postal_address: String,
    /// DKIM signing: domain, selector and the PEM file of the RSA private key (all three, or none).
    pub dkim_domain: String,
    pub dkim_selector: String,
    pub dkim_key_file: String,
    /// Bounces come back to `<bounce_prefix>+…@<bounce_domain>` (VERP); default: the domain of `mail_from`.
    pub bounce_domain: String,
    pub bounce_prefix: String,
    /// A Maildir whose `new/` folder receives the bounces and complaints (read every minute; empty: none).
    pub bounce_maildir: String,
    /// Soft bounces within `soft_bounce_days` that block an address.
    pub soft_bounce_limit: u32,
    pub soft_bounce_days: u32,
}

impl Default for NewsletterConfig {
    fn default() -> Self {
        NewsletterConfig {
            concurrency: 4,
            rate: 0,
            pause_after_errors: 25,
            shards: 2,
            spool_dir: "data/spool".into(),
            postal_address: "Siège du parti, 1 place de la République, 75011 Paris".into(),
            dkim_domain: String::new(),
            dkim_selector: String::new(),
            dkim_key_file: String::new(),
            bounce_domain: String::new(),
            bounce_prefix: "rebond".into(),
            bounce_maildir: String::new(),
            soft_bounce_limit: 3,
            soft_bounce_days: 30,
        }
    }
}

/// The party's graphic charter: used by the web shell now, by newsletters and visuals later.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Charter {
    pub party_name: String,
    pub primary: String,
    pub secondary: String,
    pub accent: String,
    pub background: String,
    pub text: String,
    pub font_family: String,
}

impl Default for Charter {
    fn default() -> Self {
        Charter {
            party_name: "Terrain".into(),
            // Deep teal and warm coral: contrast ≥ 7:1 for text on white (WCAG AAA for body text).
            primary: "#0b4f5c".into(),
            secondary: "#12343b".into(),
            accent: "#c8553d".into(),
            background: "#f7f5f0".into(),
            text: "#1c1c1c".into(),
            font_family: "system-ui, -apple-system, \"Segoe UI\", Roboto, \"Noto Sans\", sans-serif".into(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub listen: String,
    pub database_url: Secret,
    /// The address users reach (links in e-mails, Secure cookies when https).
    pub public_url: String,
    pub mail_from: String,
    pub smtp: SmtpConfig,
    /// National roles must use TOTP two-factor authentication.
    pub require_totp_for_national: bool,
    /// Keep a copy of every e-mail and show it on /boite-d-envoi (demo only: it holds reset links).
    pub outbox: bool,
    /// Number of background worker tasks in this process (0: none; `serve` then only serves).
    pub workers: usize,
    /// Session lifetime without activity, in minutes.
    pub session_idle_minutes: i64,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy.
    pub trust_proxy: bool,
    /// Years without an interaction they started after which sympathisers and curious people are deleted.
    pub retention_years: i64,
    pub log_format: LogFormat,
    pub charter: Charter,
    pub newsletter: NewsletterConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            database_url: Secret("sqlite://data/terrain.db".into()),
            public_url: String::new(),
            mail_from: "Terrain <terrain@localhost>".into(),
            smtp: SmtpConfig::default(),
            require_totp_for_national: true,
            outbox: false,
            workers: 2,
            session_idle_minutes: 8 * 60,
            trust_proxy: false,
            retention_years: 3,
            log_format: LogFormat::Text,
            charter: Charter::default(),
            newsletter: NewsletterConfig::default(),
        }
    }
}

/// One configuration problem, printed as a single line.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key} ({source_name}): {why}")]
pub struct ConfigError {
    pub key: String,
    pub source_name: String,
    pub why: String,
}

fn err(key: &str, source_name: &str, why: impl Into<String>) -> ConfigError {
    ConfigError { key: key.into(), source_name: source_name.into(), why: why.into() }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
}

/// Environment variables understood, with the configuration key each sets.
const ENV_KEYS: &[(&str, &str, Kind)] = &[
    ("TERRAIN_LISTEN", "listen", Kind::Str),
    ("TERRAIN_DATABASE_URL", "database_url", Kind::Str),
    ("TERRAIN_PUBLIC_URL", "public_url", Kind::Str),
    ("TERRAIN_MAIL_FROM", "mail_from", Kind::Str),
    ("TERRAIN_SMTP_HOST", "smtp.host", Kind::Str),
    ("TERRAIN_SMTP_PORT", "smtp.port", Kind::Int),
    ("TERRAIN_SMTP_SECURITY", "smtp.security", Kind::Str),
    ("TERRAIN_SMTP_USERNAME", "smtp.username", Kind::Str),
    ("TERRAIN_SMTP_PASSWORD", "smtp.password", Kind::Str),
    ("TERRAIN_SMTP_TIMEOUT", "smtp.timeout", Kind::Int),
    ("TERRAIN_REQUIRE_TOTP_FOR_NATIONAL", "require_totp_for_national", Kind::Bool),
    ("TERRAIN_OUTBOX", "outbox", Kind::Bool),
    ("TERRAIN_WORKERS", "workers", Kind::Int),
    ("TERRAIN_SESSION_IDLE_MINUTES", "session_idle_minutes", Kind::Int),
    ("TERRAIN_TRUST_PROXY", "trust_proxy", Kind::Bool),
    ("TERRAIN_RETENTION_YEARS", "retention_years", Kind::Int),
    ("TERRAIN_LOG_FORMAT", "log_format", Kind::Str),
    ("TERRAIN_NEWSLETTER_CONCURRENCY", "newsletter.concurrency", Kind::Int),
    ("TERRAIN_NEWSLETTER_RATE", "newsletter.rate", Kind::Int),
    ("TERRAIN_NEWSLETTER_SHARDS", "newsletter.shards", Kind::Int),
    ("TERRAIN_NEWSLETTER_PAUSE_AFTER_ERRORS", "newsletter.pause_after_errors", Kind::Int),
    ("TERRAIN_NEWSLETTER_SPOOL_DIR", "newsletter.spool_dir", Kind::Str),
    ("TERRAIN_NEWSLETTER_POSTAL_ADDRESS", "newsletter.postal_address", Kind::Str),
    ("TERRAIN_DKIM_DOMAIN", "newsletter.dkim_domain", Kind::Str),
    ("TERRAIN_DKIM_SELECTOR", "newsletter.dkim_selector", Kind::Str),
    ("TERRAIN_DKIM_KEY_FILE", "newsletter.dkim_key_file", Kind::Str),
    ("TERRAIN_BOUNCE_DOMAIN", "newsletter.bounce_domain", Kind::Str),
    ("TERRAIN_BOUNCE_MAILDIR", "newsletter.bounce_maildir", Kind::Str),
];

/// Settings given on the command line; they win over everything else.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
}

impl Config {
    /// Loads the configuration from an optional file, the process environment and command-line overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("TERRAIN_")).collect();
        Self::load_from(file, &env, overrides)
    }

    /// Same as [`Config::load`] with an explicit environment (for tests).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(path).map_err(|e| err("config file", &name, format!("cannot read it: {e}")))?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| err("config file", &name, format!("not valid TOML: {}", e.message())))?;
        }
        for (name, value) in env {
            let Some((_, key, kind)) = ENV_KEYS.iter().find(|(n, _, _)| n == name) else {
                continue;
            };
            let parsed =
                match kind {
                    Kind::Str => toml::Value::String(value.clone()),
                    Kind::Int => toml::Value::Integer(
                        value.trim().parse().map_err(|_| err(key, name, format!("'{value}' is not a whole number")))?,
                    ),
                    Kind::Bool => toml::Value::Boolean(parse_bool(value).ok_or_else(|| {
                        err(key, name, format!("'{value}' is not a boolean (true/false, 1/0, yes/no)"))
                    })?),
                };
            set_path(&mut table, key, parsed);
        }
        if let Some(listen) = &overrides.listen {
            set_path(&mut table, "listen", toml::Value::String(listen.clone()));
        }
        if let Some(url) = &overrides.database_url {
            set_path(&mut table, "database_url", toml::Value::String(url.clone()));
        }
        let config: Config = Config::deserialize(toml::Value::Table(table)).map_err(|e| {
            err(
                "settings",
                file.map(|f| f.display().to_string()).as_deref().unwrap_or("environment"),
                e.message().to_string(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        let url = self.database_url.expose();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(err(
                "database_url",
                "TERRAIN_DATABASE_URL / --database-url",
                "must start with sqlite:// (embedded default) or postgres:// (PostgreSQL)",
            ));
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(err("public_url", "TERRAIN_PUBLIC_URL", "must start with http:// or https://"));
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(err(
                "mail_from",
                "TERRAIN_MAIL_FROM",
                format!("'{}' is not an e-mail address", self.mail_from),
            ));
        }
        if self.smtp.host.is_empty() && !self.outbox {
            return Err(err(
                "smtp.host",
                "TERRAIN_SMTP_HOST",
                "no SMTP server is set: set one, or turn the demo outbox on (TERRAIN_OUTBOX=true)",
            ));
        }
        if !(1..=10).contains(&self.retention_years) {
            return Err(err("retention_years", "TERRAIN_RETENTION_YEARS", "must be between 1 and 10"));
        }
        if self.session_idle_minutes < 5 {
            return Err(err("session_idle_minutes", "TERRAIN_SESSION_IDLE_MINUTES", "must be at least 5"));
        }
        for (key, value) in [
            ("charter.primary", &self.charter.primary),
            ("charter.secondary", &self.charter.secondary),
            ("charter.accent", &self.charter.accent),
            ("charter.background", &self.charter.background),
            ("charter.text", &self.charter.text),
        ] {
            if !is_hex_colour(value) {
                return Err(err(key, "config file", format!("'{value}' is not a colour like #0b4f5c")));
            }
        }
        let n = &self.newsletter;
        if !(1..=64).contains(&n.concurrency) {
            return Err(err("newsletter.concurrency", "TERRAIN_NEWSLETTER_CONCURRENCY", "must be between 1 and 64"));
        }
        if !(1..=32).contains(&n.shards) {
            return Err(err("newsletter.shards", "TERRAIN_NEWSLETTER_SHARDS", "must be between 1 and 32"));
        }
        if n.pause_after_errors == 0 {
            return Err(err(
                "newsletter.pause_after_errors",
                "TERRAIN_NEWSLETTER_PAUSE_AFTER_ERRORS",
                "must be at least 1",
            ));
        }
        let dkim = [&n.dkim_domain, &n.dkim_selector, &n.dkim_key_file];
        if dkim.iter().any(|v| v.is_empty()) && dkim.iter().any(|v| !v.is_empty()) {
            return Err(err(
                "newsletter.dkim_*",
                "TERRAIN_DKIM_*",
                "set the DKIM domain, selector and key file together",
            ));
        }
        if self.charter.font_family.contains([';', '{', '}', '<']) {
            return Err(err("charter.font_family", "config file", "must be a CSS font list without ; { } <"));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            err(
                "listen",
                "TERRAIN_LISTEN / --listen",
                format!("'{}' is not an address like 127.0.0.1:8080", self.listen),
            )
        })
    }

    /// The public base URL without a trailing slash (defaults to http://LISTEN).
    pub fn base_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }

    /// Cookies get `Secure` and the `__Host-` prefix when users reach us over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// Directory for the SQLite file, created on first start.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        let url = self.database_url.expose();
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() || path == ":memory:" {
            return None;
        }
        Path::new(path).parent().map(Path::to_path_buf)
    }

    /// The database URL with any password masked, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(self.database_url.expose())
    }
}

pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
    {
        let user = userinfo.split(':').next().unwrap_or("");
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn is_hex_colour(value: &str) -> bool {
    let hex = value.strip_prefix('#').unwrap_or("");
    (hex.len() == 6 || hex.len() == 3) && hex.chars().all(|c| c.is_ascii_hexdigit())
}

fn set_path(table: &mut toml::Table, path: &str, value: toml::Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let entry = table.entry(head.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(inner) = entry {
                set_path(inner, rest, value);
            }
        }
        None => {
            table.insert(path.to_string(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_need_smtp_or_outbox() {
        let e = Config::load_from(None, &[], &Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("smtp.host"), "{e}");
        let c = Config::load_from(None, &env(&[("TERRAIN_OUTBOX", "true")]), &Overrides::default()).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert!(c.database_url.expose().starts_with("sqlite://data/"));
    }

    #[test]
    fn bad_values_give_one_clear_line() {
        let cases = [
            ("TERRAIN_SMTP_PORT", "abc", "smtp.port"),
            ("TERRAIN_LISTEN", "nowhere", "listen"),
            ("TERRAIN_DATABASE_URL", "mysql://x", "database_url"),
            ("TERRAIN_OUTBOX", "maybe", "outbox"),
            ("TERRAIN_SMTP_SECURITY", "ssl3", "unknown variant"),
        ];
        for (name, value, needle) in cases {
            let e = Config::load_from(None, &env(&[("TERRAIN_OUTBOX", "1"), (name, value)]), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{name}={value}: {e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    #[test]
    fn file_env_and_flags_layer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terrain.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\noutbox = true\n[smtp]\nport = 2525\n[charter]\nprimary = \"#112233\"\n",
        )
        .unwrap();
        let c = Config::load_from(
            Some(&path),
            &env(&[("TERRAIN_SMTP_PORT", "2626")]),
            &Overrides { listen: Some("127.0.0.1:9100".into()), database_url: None },
        )
        .unwrap();
        assert_eq!(c.listen, "127.0.0.1:9100");
        assert_eq!(c.smtp.port, 2626);
        assert_eq!(c.charter.primary, "#112233");

        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = Config::load_from(Some(&path), &[], &Overrides::default()).unwrap_err().to_string();
        assert!(e.contains("unknown field") && e.contains("lisen"), "{e}");
    }

    #[test]
    fn secrets_are_redacted() {
        let c = Config::load_from(
            None,
            &env(&[
                ("TERRAIN_OUTBOX", "1"),
                ("TERRAIN_SMTP_PASSWORD", "hunter2"),
                ("TERRAIN_DATABASE_URL", "postgres://app:s3cret@db/terrain"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("s3cret"), "{debug}");
        assert_eq!(c.database_url_redacted(), "postgres://app:***@db/terrain");
    }
}
