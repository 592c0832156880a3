//! Bounce, complaint and auto-reply parsing, and signed VERP return paths.
//!
//! Every newsletter message is sent with a VERP envelope sender such as
//! `rebond+c12.p3456.k2xq7bz4ma@bounces.example.org` (see [`verp_address`]). Whatever comes back to
//! that address (or to the feedback-loop address) is handed to [`parse`], which classifies it and
//! extracts what it can. The caller should identify *who* bounced from the signed VERP address
//! ([`Report::verp_ids`] / [`verp_decode`]): everything else in a report (recipient addresses,
//! campaign header, message id) is attacker-controllable and only useful to cross-check or log.
//!
//! # Severity policy
//!
//! - Status class 4 (`4.x.x`) is always [`Severity::Soft`], even when the action is `failed`
//!   (e.g. Postfix giving up after its queue lifetime on `4.2.2 mailbox full`).
//! - Status class 5 is [`Severity::Hard`], except the codes that describe a transient state of the
//!   mailbox or a problem on *our* side rather than a dead address, which are `Soft`:
//!   `5.2.2` (mailbox full), `5.2.3` (message too big for the mailbox), `5.3.4` (message too big for
//!   the system), `5.4.7` (delivery time expired) and every `5.7.x` (security / policy: spam
//!   blocklists, DMARC/SPF/DKIM rejections, rate limits). Suppressing people because one of our IPs
//!   was blocklisted would silently destroy the mailing list, so policy rejections must be handled
//!   by retry counting, not immediate suppression.
//! - The diagnostic text overrides the code in two cases: a clear "user unknown"-style text makes any
//!   `5.x.x` Hard, and a clear "mailbox full / quota" text makes a `5.x.x` Soft.
//! - Without any code, the text decides ("permanent error" → Hard, quota → Soft) and the fallback is
//!   Soft, except for a DSN `Action: failed` without a status, which is Hard (that is what the action
//!   means in RFC 3464).
//! - Complaints (ARF) are reported as Hard: the person asked not to receive this mail.
//!
//! # Bounds
//!
//! Only the first [`MAX_INPUT`] bytes of a message are looked at (the machine-readable parts of a
//! report always come before the returned message), free-text heuristics scan at most
//! [`MAX_TEXT_SCAN`] bytes, and the numbers of recipients and addresses returned are capped, so
//! time and memory are bounded whatever the input.

use std::collections::HashSet;
use std::fmt;

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use sha2::Sha256;

/// Bytes of the raw message that are parsed at all; the rest is ignored.
pub const MAX_INPUT: usize = 256 * 1024;
/// Bytes of free text scanned by the non-standard bounce heuristics.
pub const MAX_TEXT_SCAN: usize = 64 * 1024;
/// Maximum number of recipients returned in one report.
pub const MAX_RECIPIENTS: usize = 100;
/// Maximum number of candidate VERP addresses returned in one report.
pub const MAX_ADDRESSES: usize = 32;
/// Maximum length, in characters, of [`Recipient::diagnostic`].
pub const MAX_DIAGNOSTIC: usize = 500;

/// Length of the VERP signature, in base32 characters (50 bits).
const SIG_LEN: usize = 10;
/// Bytes of one header block looked at.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Fields kept from one header block or field group.
const MAX_FIELDS: usize = 500;
/// Field groups kept from one delivery-status or feedback-report part.
const MAX_GROUPS: usize = MAX_RECIPIENTS + 20;
/// Length of one field value kept (longer values are cut).
const MAX_FIELD_VALUE: usize = 8 * 1024;
/// Length of the text kept around one recipient by the heuristics.
const MAX_CONTEXT: usize = 2 * 1024;
/// Longest address accepted anywhere.
const MAX_ADDRESS_LEN: usize = 320;

// ---------------------------------------------------------------------------------------------
// VERP
// ---------------------------------------------------------------------------------------------

/// Builds a signed VERP return path: `{local_prefix}+c{campaign}.p{person}.{sig}@{domain}`.
///
/// `sig` is the first 50 bits of HMAC-SHA256(key, campaign, person), in lowercase base32, so a
/// forged bounce cannot name an arbitrary person. The key must be secret and non-empty
/// ([`verp_decode`] refuses an empty key).
pub fn verp_address(key: &[u8], local_prefix: &str, domain: &str, campaign_id: i64, person_id: i64) -> String {
    let sig = verp_signature(key, campaign_id, person_id);
    format!("{local_prefix}+c{campaign_id}.p{person_id}.{sig}@{domain}")
}

/// Decodes and verifies a VERP address built by [`verp_address`], returning `(campaign_id, person_id)`.
///
/// Accepts a bare address, `<address>`, `Display Name <address>` and `rfc822; address`. The local
/// part is compared case-insensitively (some MTAs lowercase it); the domain is not checked. Returns
/// `None` for anything else, including a bad signature, non-canonical numbers or an empty key.
pub fn verp_decode(key: &[u8], local_prefix: &str, address: &str) -> Option<(i64, i64)> {
    if key.is_empty() || address.len() > 4 * MAX_ADDRESS_LEN {
        return None;
    }
    let address = bare_address(address)?;
    let (local, domain) = address.rsplit_once('@')?;
    if domain.is_empty() || local.len() > 128 {
        return None;
    }
    let local = local.to_ascii_lowercase();
    let prefix = local_prefix.to_ascii_lowercase();
    let rest = local.strip_prefix(prefix.as_str())?.strip_prefix('+')?;
    let mut pieces = rest.split('.');
    let campaign = canonical_i64(pieces.next()?.strip_prefix('c')?)?;
    let person = canonical_i64(pieces.next()?.strip_prefix('p')?)?;
    let sig = pieces.next()?;
    if pieces.next().is_some() {
        return None;
    }
    let expected = verp_signature(key, campaign, person);
    constant_time_eq(expected.as_bytes(), sig.as_bytes()).then_some((campaign, person))
}

fn verp_signature(key: &[u8], campaign_id: i64, person_id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(format!("terrain-verp-v1|c{campaign_id}|p{person_id}").as_bytes());
    let digest = mac.finalize().into_bytes();
    // 7 bytes = 56 bits = 12 base32 characters, of which the first SIG_LEN are kept.
    let mut sig = BASE32_NOPAD.encode(&digest[..7]);
    sig.truncate(SIG_LEN);
    sig.make_ascii_lowercase();
    sig
}

/// Parses an i64 written in canonical form only (no sign, no leading zeros, no padding).
fn canonical_i64(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Strips a display name, angle brackets, an `rfc822;` type and quotes from an address.
fn bare_address(s: &str) -> Option<&str> {
    let mut s = s.trim();
    if let Some(open) = s.rfind('<') {
        let inner = &s[open + 1..];
        s = inner.find('>').map_or(inner, |close| &inner[..close]);
    } else if let Some((kind, rest)) = s.split_once(';')
        && !kind.contains('@')
    {
        s = rest;
    }
    let s = s.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}

// ---------------------------------------------------------------------------------------------
// Public report types
// ---------------------------------------------------------------------------------------------

/// What a parsed message turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: ReportKind,
    /// Failed recipients of a bounce, delayed ones of a delay notice, complainants of a complaint;
    /// empty for auto-replies and unknown messages. May also be empty for a bounce or complaint
    /// whose recipient could not be found (redacted feedback loops, unusual bounce texts): rely on
    /// the VERP address then.
    pub recipients: Vec<Recipient>,
    /// Every address found in `Delivered-To`, `X-Original-To`, `To`, `Envelope-To` and `Return-Path`
    /// of the report and of the embedded original message headers, plus the ARF
    /// `Original-Mail-From` and Postfix `X-Postfix-Sender` fields (both are the original envelope
    /// sender). Deduplicated case-insensitively, in order of appearance.
    pub verp_addresses: Vec<String>,
    /// `Message-ID` of the original message, without angle brackets: from the embedded original
    /// headers, else the DSN `X-Original-Message-ID`, else the report's own `In-Reply-To` or last
    /// `References` entry.
    pub original_message_id: Option<String>,
    /// Value of `X-Terrain-Campaign` in the embedded original headers, if any.
    pub campaign_header: Option<String>,
}

impl Report {
    /// The first `(campaign_id, person_id)` that a validly signed VERP address of this report names.
    pub fn verp_ids(&self, key: &[u8], local_prefix: &str) -> Option<(i64, i64)> {
        self.verp_addresses.iter().find_map(|a| verp_decode(key, local_prefix, a))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// Permanent or final delivery failure (DSN `Action: failed` or a non-standard bounce).
    Bounce,
    /// Feedback-loop abuse report (RFC 5965 ARF): the person marked the message as spam.
    Complaint,
    /// `Action: delayed`: the MTA is still retrying; not a bounce.
    DelayNotice,
    /// Vacation / out-of-office reply, or another automatic reply such as a read receipt: ignore.
    AutoReply,
    /// Anything else (a human reply, a success DSN, an auth-failure report…).
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The address is dead (or the person complained): suppress.
    Hard,
    /// Transient or caused by our side: count, retry, suppress only when it repeats.
    Soft,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// Lowercased address, without `rfc822;` or brackets. For a DSN the `Original-Recipient` (the
    /// address we sent to) is preferred over the `Final-Recipient` (possibly an alias target).
    pub address: Option<String>,
    pub severity: Severity,
    /// Enhanced status code such as `5.1.1`; a basic SMTP reply code is mapped to `5.0.0` / `4.0.0`.
    pub status: Option<String>,
    /// Diagnostic text (DSN `Diagnostic-Code` without its type, or the bounce text around the
    /// address), whitespace-collapsed and cut to [`MAX_DIAGNOSTIC`] characters.
    pub diagnostic: Option<String>,
}

/// Input that is not a mail message at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Empty or whitespace-only input.
    Empty,
    /// No recognizable mail header block.
    NotAMessage,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty message"),
            ParseError::NotAMessage => f.write_str("not a mail message"),
        }
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------------
// Parsing entry point
// ---------------------------------------------------------------------------------------------

/// Parses a raw message received on the bounce or feedback-loop address.
///
/// Never panics; looks at most at the first [`MAX_INPUT`] bytes. Input that is not mail at all is an
/// error; mail that is neither a bounce, a complaint, a delay notice nor an auto-reply is
/// [`ReportKind::Unknown`].
pub fn parse(raw: &[u8]) -> Result<Report, ParseError> {
    let raw = &raw[..raw.len().min(MAX_INPUT)];
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let top = header_block(raw);
    if !looks_like_mail(&top) {
        return Err(ParseError::NotAMessage);
    }
    let Content { delivery_status, feedback_report, disposition_notification, mut original, subject, body } =
        mime_content(raw).unwrap_or_else(|| plain_content(raw, &top));
    let (region, inline_original) = split_inline_copy(&body);
    if original.is_none() {
        original = inline_original.map(|copy| header_block(copy.as_bytes())).filter(|f| !f.is_empty());
    }
    let original = original.unwrap_or_default();

    let mut dsn_per_message: Vec<Field> = Vec::new();
    let mut arf_fields: Vec<Field> = Vec::new();
    let (kind, recipients) = if let Some(report) = &feedback_report {
        arf_fields = field_groups(report).into_iter().flatten().collect();
        complaint(&arf_fields, &original)
    } else if let Some((kind, recipients, per_message)) = delivery_status.as_deref().and_then(dsn) {
        dsn_per_message = per_message;
        (kind, recipients)
    } else if disposition_notification {
        (ReportKind::AutoReply, Vec::new())
    } else {
        let exclude = own_addresses(&top, &original);
        heuristics(&top, &subject, region, &exclude)
    };

    let mut verp = AddressList::default();
    for fields in [&top, &original] {
        for field in fields.iter() {
            if matches!(field.name.as_str(), "delivered-to" | "x-original-to" | "to" | "envelope-to" | "return-path") {
                verp.extend(&field.value);
            }
        }
    }
    for value in get_all(&arf_fields, "original-mail-from").chain(get_all(&dsn_per_message, "x-postfix-sender")) {
        verp.extend(value);
    }

    let original_message_id = get(&original, "message-id")
        .and_then(clean_message_id)
        .or_else(|| get(&dsn_per_message, "x-original-message-id").and_then(clean_message_id))
        .or_else(|| get(&top, "in-reply-to").and_then(clean_message_id))
        .or_else(|| get(&top, "references").and_then(|r| r.rsplit('<').next()).and_then(clean_message_id));
    let campaign_header =
        get(&original, "x-terrain-campaign").map(|v| cut_str(v.trim(), 200).to_owned()).filter(|v| !v.is_empty());

    Ok(Report { kind, recipients, verp_addresses: verp.list, original_message_id, campaign_header })
}

/// What [`parse`] needs from the MIME structure of a message.
struct Content {
    /// Body of the first `message/delivery-status` part.
    delivery_status: Option<String>,
    /// Body of the first `message/feedback-report` part.
    feedback_report: Option<String>,
    /// Whether there is a `message/disposition-notification` part (read receipt).
    disposition_notification: bool,
    /// Headers of the embedded original message (`message/rfc822` or `text/rfc822-headers`).
    original: Option<Vec<Field>>,
    /// Decoded subject.
    subject: String,
    /// First text body (HTML converted to text), cut to [`MAX_TEXT_SCAN`] bytes.
    body: String,
}

/// Reads the MIME structure of the top-level message (not of nested messages) with mail-parser.
///
/// mail-parser 0.11 does not panic in release builds, but on some corrupt MIME its recovery paths
/// hit `debug_assert!(false, …)` or an unchecked subtraction (quoted-printable decoder), which panic
/// in debug builds. Such a panic is caught here (this needs `panic = "unwind"`, the default) and the
/// message is then read as plain text by [`plain_content`].
fn mime_content(raw: &[u8]) -> Option<Content> {
    std::panic::catch_unwind(|| {
        let message = MessageParser::new().parse(raw)?;
        let mut content = Content {
            delivery_status: None,
            feedback_report: None,
            disposition_notification: false,
            original: None,
            subject: cut_str(message.subject().unwrap_or(""), 1000).to_owned(),
            body: message.body_text(0).map(|b| cut_str(&b, MAX_TEXT_SCAN).to_owned()).unwrap_or_default(),
        };
        for part in message.parts.iter().skip(1) {
            let Some(ct) = part.content_type() else { continue };
            let ctype = ct.ctype().to_ascii_lowercase();
            let subtype = ct.subtype().unwrap_or("").to_ascii_lowercase();
            match (ctype.as_str(), subtype.as_str()) {
                ("message", "delivery-status" | "global-delivery-status") if content.delivery_status.is_none() => {
                    content.delivery_status = Some(String::from_utf8_lossy(part.contents()).into_owned());
                }
                ("message", "feedback-report") if content.feedback_report.is_none() => {
                    content.feedback_report = Some(String::from_utf8_lossy(part.contents()).into_owned());
                }
                ("message", "disposition-notification" | "global-disposition-notification") => {
                    content.disposition_notification = true;
                }
                ("message", "rfc822" | "global" | "rfc822-headers" | "global-headers")
                | ("text", "rfc822-headers" | "global-headers")
                    if content.original.is_none() =>
                {
                    let fields = match &part.body {
                        PartType::Message(nested) => header_block(nested.raw_message()),
                        _ => header_block(part.contents()),
                    };
                    if !fields.is_empty() {
                        content.original = Some(fields);
                    }
                }
                _ => {}
            }
        }
        Some(content)
    })
    .ok()
    .flatten()
}

/// Fallback when mail-parser cannot read the message: no MIME parts, the raw body as text.
fn plain_content(raw: &[u8], top: &[Field]) -> Content {
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let body_start = lf.into_iter().chain(crlf).min().unwrap_or(raw.len());
    let body = &raw[body_start..];
    let body = String::from_utf8_lossy(&body[..body.len().min(MAX_TEXT_SCAN)]).into_owned();
    Content {
        delivery_status: None,
        feedback_report: None,
        disposition_notification: false,
        original: None,
        subject: cut_str(get(top, "subject").unwrap_or(""), 1000).to_owned(),
        body,
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 3464 delivery status notifications
// ---------------------------------------------------------------------------------------------

enum Action {
    Failed,
    Delayed,
    Success,
}

/// Reads a `message/delivery-status` body. `None` if it holds no per-recipient group.
fn dsn(text: &str) -> Option<(ReportKind, Vec<Recipient>, Vec<Field>)> {
    let groups = field_groups(text);
    let is_recipient_group = |g: &[Field]| {
        g.iter().any(|f| matches!(f.name.as_str(), "final-recipient" | "original-recipient" | "action" | "status"))
    };
    let per_message: Vec<Field> =
        groups.iter().filter(|g| !is_recipient_group(g)).flatten().cloned().collect::<Vec<_>>();
    let mut failed = Vec::new();
    let mut delayed = Vec::new();
    let mut any = false;
    for group in groups.iter().filter(|g| is_recipient_group(g)) {
        any = true;
        let diagnostic = get(group, "diagnostic-code").map(|d| {
            // Drop the diagnostic type ("smtp;", "X-Postfix;").
            let text = match d.split_once(';') {
                Some((kind, rest)) if kind.len() <= 20 && !kind.contains(' ') => rest,
                _ => d,
            };
            collapse_whitespace(text, MAX_DIAGNOSTIC)
        });
        let diagnostic = diagnostic.filter(|d| !d.is_empty());
        let status =
            get(group, "status").and_then(parse_status).or_else(|| diagnostic.as_deref().and_then(status_from_text));
        let address = get(group, "original-recipient")
            .and_then(first_address)
            .or_else(|| get(group, "final-recipient").and_then(first_address));
        let action = match get(group, "action").map(|a| a.trim().to_ascii_lowercase()) {
            Some(a) if a.starts_with("fail") => Action::Failed,
            Some(a) if a.starts_with("delay") => Action::Delayed,
            Some(a) if ["delivered", "relayed", "expanded"].iter().any(|s| a.starts_with(s)) => Action::Success,
            _ => match status.as_deref().and_then(|s| s.chars().next()) {
                Some('2') => Action::Success,
                _ => Action::Failed,
            },
        };
        match action {
            Action::Failed if failed.len() < MAX_RECIPIENTS => {
                let severity = severity(status.as_deref(), diagnostic.as_deref().unwrap_or(""), Severity::Hard);
                failed.push(Recipient { address, severity, status, diagnostic });
            }
            Action::Delayed if delayed.len() < MAX_RECIPIENTS => {
                delayed.push(Recipient { address, severity: Severity::Soft, status, diagnostic });
            }
            _ => {}
        }
    }
    if !any {
        return None;
    }
    Some(if !failed.is_empty() {
        (ReportKind::Bounce, failed, per_message)
    } else if !delayed.is_empty() {
        (ReportKind::DelayNotice, delayed, per_message)
    } else {
        (ReportKind::Unknown, Vec::new(), per_message)
    })
}

// ---------------------------------------------------------------------------------------------
// RFC 5965 abuse reports
// ---------------------------------------------------------------------------------------------

fn complaint(fields: &[Field], original: &[Field]) -> (ReportKind, Vec<Recipient>) {
    let feedback_type = get(fields, "feedback-type")
        .and_then(|t| t.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "abuse".to_owned());
    // "not-spam" and "auth-failure" are not complaints about us sending unwanted mail.
    if matches!(feedback_type.as_str(), "not-spam" | "auth-failure") {
        return (ReportKind::Unknown, Vec::new());
    }
    let mut addresses = AddressList::default();
    for value in get_all(fields, "original-rcpt-to") {
        addresses.extend(value);
    }
    if addresses.list.is_empty() {
        // Some feedback loops omit Original-Rcpt-To; the original To is the person (unless redacted).
        for value in get_all(original, "to") {
            addresses.extend(value);
        }
    }
    let diagnostic = Some(format!("feedback-type: {}", cut_str(&feedback_type, 50)));
    let recipients = addresses
        .list
        .into_iter()
        .take(MAX_RECIPIENTS)
        .map(|a| Recipient {
            address: Some(a.to_lowercase()),
            severity: Severity::Hard,
            status: None,
            diagnostic: diagnostic.clone(),
        })
        .collect();
    (ReportKind::Complaint, recipients)
}

// ---------------------------------------------------------------------------------------------
// Non-standard bounces and auto-replies
// ---------------------------------------------------------------------------------------------

const BOUNCE_SUBJECTS: &[&str] = &[
    "undelivered mail returned to sender",
    "undeliverable",
    "undelivered mail",
    "mail delivery failed",
    "mail delivery failure",
    "delivery failure",
    "delivery status notification (failure)",
    "failure notice",
    "returned mail",
    "mail system error",
    "delivery has failed",
    "could not be delivered",
    "non remis",
    "non distribuable",
    "échec de la remise",
    "echec de la remise",
    "message non délivré",
    "impossible de remettre",
];

const DELAY_SUBJECTS: &[&str] = &[
    "delayed mail",
    "delivery delayed",
    "delivery status notification (delay)",
    "delayed 24 hours",
    "remise différée",
];

const BOUNCE_PHRASES: &[&str] = &[
    "could not be delivered to one or more",
    "this is the qmail-send program",
    "i'm afraid i wasn't able to deliver",
    "the following address(es) failed",
    "delivery has failed to these recipients",
    "the following recipient(s) cannot be reached",
    "permanent fatal errors",
    "this is a permanent error",
    "your message couldn't be delivered",
    "your message could not be delivered to",
    "your message wasn't delivered",
    "message could not be delivered",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "could not be delivered to the following",
    "unable to deliver your message",
    "n'a pas pu être remis",
    "n'a pas pu être délivré",
    "impossible de remettre le message",
];

const DELAY_PHRASES: &[&str] = &[
    "has not yet been delivered",
    "still being retried",
    "will continue to try",
    "delivery attempts will continue",
    "delivery has been delayed",
    "this is a warning only",
    "n'a pas encore été remis",
];

const AUTOREPLY_SUBJECTS: &[&str] = &[
    "absence du bureau",
    "réponse automatique",
    "reponse automatique",
    "message d'absence",
    "je suis absent",
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto:",
    "vacation",
    "abwesenheit",
    "automatische antwort",
    "respuesta automática",
    "risposta automatica",
];

const PERMANENT_PHRASES: &[&str] = &["permanent error", "permanent failure", "given up", "fatal error"];
const UNKNOWN_USER_PHRASES: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "no such user",
    "no such recipient",
    "no such mailbox",
    "does not exist",
    "doesn't exist",
    "invalid recipient",
    "invalid mailbox",
    "recipient not found",
    "recipientnotfound",
    "address not found",
    "user not found",
    "mailbox not found",
    "account is disabled",
    "account has been disabled",
    "unrouteable address",
    "n'existe pas",
    "destinataire inconnu",
    "utilisateur inconnu",
    "adresse introuvable",
];
const MAILBOX_FULL_PHRASES: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "quota",
    "insufficient storage",
    "mailbox size limit",
    "out of storage",
    "boîte pleine",
    "boite pleine",
];

fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

fn is_autoreply_header(field: &Field) -> bool {
    let value = field.value.trim().to_ascii_lowercase();
    match field.name.as_str() {
        "auto-submitted" => value.starts_with("auto-"),
        "x-autoreply" | "x-autorespond" | "x-autoresponder" | "x-auto-reply" | "x-vacation" => value != "no",
        "x-autogenerated" => value.contains("reply"),
        "precedence" | "x-precedence" => value == "auto_reply",
        _ => false,
    }
}

/// Classifies a message that has no machine-readable report part.
fn heuristics(top: &[Field], subject: &str, region: &str, exclude: &HashSet<String>) -> (ReportKind, Vec<Recipient>) {
    let subject = cut_str(subject, 1000).to_lowercase();
    let text = region.to_lowercase();
    let from = get(top, "from").unwrap_or("").to_ascii_lowercase();
    let from_daemon =
        ["mailer-daemon", "mailer_daemon", "mail-daemon", "postmaster@", "mail delivery", "microsoftexchange"]
            .iter()
            .any(|s| from.contains(s));
    let bounce_subject = contains_any(&subject, BOUNCE_SUBJECTS);
    let delay_subject = contains_any(&subject, DELAY_SUBJECTS) || subject.starts_with("warning: message");
    let bounce_text = contains_any(&text, BOUNCE_PHRASES);
    let delay_text = contains_any(&text, DELAY_PHRASES);
    let autoreply = top.iter().any(is_autoreply_header) || contains_any(&subject, AUTOREPLY_SUBJECTS);

    let bounce_like = bounce_subject || delay_subject || bounce_text || delay_text;
    if autoreply && !bounce_like && !from_daemon {
        return (ReportKind::AutoReply, Vec::new());
    }
    if !bounce_like && !from_daemon {
        return (ReportKind::Unknown, Vec::new());
    }
    // Delay warnings often say "could not be delivered for more than 4 hours": a delay marker wins
    // over bounce wording, but not over a bounce subject.
    let is_delay = (delay_subject || delay_text) && !bounce_subject;
    let default = if is_delay {
        Severity::Soft
    } else if contains_any(&text, PERMANENT_PHRASES) {
        Severity::Hard
    } else {
        Severity::Soft
    };

    let x_failed: Vec<String> =
        get_all(top, "x-failed-recipients").flat_map(|v| scan_addresses(v, MAX_RECIPIENTS)).collect();
    // Paragraphs that start with an address and hold an SMTP code are the reliable ones; an address
    // alone on a line without any code (e.g. a support contact) is only used when nothing better
    // exists, not even a line such as "wasn't delivered to someone@example.net".
    let mut found = recipient_paragraphs(region, exclude);
    if found.iter().any(|(_, context)| status_from_text(context).is_some()) {
        found.retain(|(_, context)| status_from_text(context).is_some());
    } else if x_failed.is_empty()
        && let Some(pair) = fallback_recipient(region, exclude)
    {
        found = vec![pair];
    }
    let pairs: Vec<(String, String)> = if !x_failed.is_empty() {
        let mut seen = HashSet::new();
        x_failed
            .into_iter()
            .map(|a| a.to_lowercase())
            .filter(|a| seen.insert(a.clone()))
            .map(|a| {
                let context = found
                    .iter()
                    .find(|(f, _)| *f == a)
                    .map(|(_, c)| c.clone())
                    .unwrap_or_else(|| code_paragraph(region));
                (a, context)
            })
            .collect()
    } else {
        found
    };
    let recipients = pairs
        .into_iter()
        .take(MAX_RECIPIENTS)
        .map(|(address, context)| {
            let status = status_from_text(&context);
            let severity = if is_delay { Severity::Soft } else { severity(status.as_deref(), &context, default) };
            let diagnostic = Some(collapse_whitespace(&context, MAX_DIAGNOSTIC)).filter(|d| !d.is_empty());
            Recipient { address: Some(address), severity, status, diagnostic }
        })
        .collect();
    (if is_delay { ReportKind::DelayNotice } else { ReportKind::Bounce }, recipients)
}

/// Last resort for free-form bounces: a foreign address on a line that holds an SMTP code or names
/// the failed recipient ("RCPT TO:<…>", "wasn't delivered to …"), with the text that follows.
fn fallback_recipient(region: &str, exclude: &HashSet<String>) -> Option<(String, String)> {
    const HINTS: &[&str] = &["rcpt to", "delivered to", "delivery to", "recipient", "destinataire", "remis à"];
    let lines: Vec<&str> = region.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.to_lowercase();
        if !contains_any(&lower, HINTS) && status_from_text(line).is_none() {
            continue;
        }
        let Some(address) = scan_addresses(line, 20)
            .into_iter()
            .map(|a| a.to_lowercase())
            .find(|a| !exclude.contains(a) && !is_daemon_address(a))
        else {
            continue;
        };
        let mut context = String::new();
        for next in lines[i..].iter().map(|l| l.trim()).take_while(|l| !l.is_empty()) {
            push_context(&mut context, next);
        }
        if status_from_text(&context).is_none() {
            context = code_paragraph(region);
        }
        return Some((address, context.trim().to_owned()));
    }
    None
}

fn is_daemon_address(address: &str) -> bool {
    let local = address.split('@').next().unwrap_or("");
    matches!(local, "mailer-daemon" | "mailer_daemon" | "postmaster" | "mail-daemon")
}

/// Finds the paragraphs of a bounce text that start with a recipient address (Exim's indented
/// address list, qmail's `<address>:`, Postfix-style `<address>: host … said: …`, Exchange's
/// `address on date`), returning each address with the text that follows it in its paragraph.
fn recipient_paragraphs(region: &str, exclude: &HashSet<String>) -> Vec<(String, String)> {
    fn finish(current: &mut Option<(String, String)>, found: &mut Vec<(String, String)>) {
        if let Some((address, context)) = current.take() {
            if let Some(existing) = found.iter_mut().find(|(a, _)| *a == address) {
                push_context(&mut existing.1, &context);
            } else if found.len() < MAX_RECIPIENTS {
                found.push((address, context));
            }
        }
    }
    let mut found: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in region.lines() {
        let line = line.trim();
        if line.is_empty() {
            finish(&mut current, &mut found);
            continue;
        }
        if let Some(address) = leading_address(line).filter(|a| !exclude.contains(a) && !is_daemon_address(a)) {
            match &mut current {
                Some((a, context)) if *a == address => push_context(context, line),
                _ => {
                    finish(&mut current, &mut found);
                    current = Some((address, cut_str(line, MAX_CONTEXT).to_owned()));
                }
            }
        } else if let Some((_, context)) = &mut current {
            push_context(context, line);
        }
    }
    finish(&mut current, &mut found);
    found
}

fn push_context(context: &mut String, line: &str) {
    if context.len() < MAX_CONTEXT {
        if !context.is_empty() {
            context.push(' ');
        }
        context.push_str(cut_str(line, MAX_CONTEXT - context.len().min(MAX_CONTEXT)));
    }
}

/// The lowercased address a trimmed line starts with, if any (after `<`, quotes or spaces).
fn leading_address(line: &str) -> Option<String> {
    let stripped = line.trim_start_matches(['<', '"', '\'', ' ', '\t']);
    let offset = line.len() - stripped.len();
    let first = scan_address_spans(line, 1).into_iter().next()?;
    (first.0 == offset).then(|| line[first.0..first.1].to_lowercase())
}

/// The first paragraph (up to a blank line) that begins at a line holding an SMTP code.
fn code_paragraph(region: &str) -> String {
    let mut context = String::new();
    let mut started = false;
    for line in region.lines() {
        let line = line.trim();
        if started {
            if line.is_empty() || context.len() >= MAX_CONTEXT {
                break;
            }
            push_context(&mut context, line);
        } else if status_from_text(line).is_some() {
            started = true;
            context.push_str(cut_str(line, MAX_CONTEXT));
        }
    }
    context
}

/// Markers that introduce a copy of the original message inside a plain-text bounce.
const COPY_MARKERS: &[&str] = &[
    "this is a copy of the message",
    "below this line is a copy of the message",
    "original message follows",
    "original message headers",
    "----- original message -----",
    "unsent message below",
    "message d'origine",
    "début du message",
];

/// Splits a bounce text into the explanation and the inline copy of the original message, if any.
fn split_inline_copy(body: &str) -> (&str, Option<&str>) {
    let mut offset = 0;
    let mut seen_text = false;
    for line in body.split_inclusive('\n') {
        let lower = line.trim().to_lowercase();
        let starts_headers = seen_text
            && (line.starts_with("Return-Path:") || line.starts_with("Return-path:") || line.starts_with("Received:"));
        if contains_any(&lower, COPY_MARKERS) || starts_headers {
            let copy_start = if starts_headers { offset } else { offset + line.len() };
            return (&body[..offset], Some(body[copy_start..].trim_start()));
        }
        seen_text |= !lower.is_empty();
        offset += line.len();
    }
    (body, None)
}

/// Addresses of the report and of our own original message that are never failed recipients.
fn own_addresses(top: &[Field], original: &[Field]) -> HashSet<String> {
    let mut set = HashSet::new();
    let top_names =
        ["from", "to", "cc", "delivered-to", "x-original-to", "envelope-to", "return-path", "reply-to", "sender"];
    let original_names = ["from", "return-path", "sender", "reply-to"];
    for (fields, names) in [(top, &top_names[..]), (original, &original_names[..])] {
        for field in fields.iter().filter(|f| names.contains(&f.name.as_str())) {
            set.extend(scan_addresses(&field.value, 50).into_iter().map(|a| a.to_lowercase()));
        }
    }
    set
}

// ---------------------------------------------------------------------------------------------
// Status codes and severity
// ---------------------------------------------------------------------------------------------

/// The severity of a failure with this status and diagnostic text (see the module docs).
fn severity(status: Option<&str>, text: &str, default: Severity) -> Severity {
    let text = cut_str(text, MAX_CONTEXT).to_lowercase();
    let unknown_user = contains_any(&text, UNKNOWN_USER_PHRASES);
    let mailbox_full = contains_any(&text, MAILBOX_FULL_PHRASES);
    let Some(status) = status else {
        return if unknown_user {
            Severity::Hard
        } else if mailbox_full {
            Severity::Soft
        } else {
            default
        };
    };
    let mut pieces = status.split('.');
    let (class, subject, detail) = (pieces.next(), pieces.next(), pieces.next());
    match class {
        Some("4") => Severity::Soft,
        Some("5") if unknown_user => Severity::Hard,
        Some("5") if mailbox_full => Severity::Soft,
        Some("5") => match (subject, detail) {
            (Some("2"), Some("2" | "3")) | (Some("3"), Some("4")) | (Some("4"), Some("7")) | (Some("7"), _) => {
                Severity::Soft
            }
            _ => Severity::Hard,
        },
        _ => default,
    }
}

/// A DSN `Status:` value such as `5.1.1` or `4.4.7 (delivery time expired)`.
fn parse_status(value: &str) -> Option<String> {
    let token = value.split(|c: char| c.is_whitespace() || c == '(' || c == ';').next()?.trim_end_matches('.');
    find_enhanced_code(token, true).filter(|code| code == token)
}

/// The first failure status in a text: an enhanced code (`5.1.1`), else a basic SMTP reply code
/// (`550`) mapped to `5.0.0`.
fn status_from_text(text: &str) -> Option<String> {
    let text = cut_str(text, MAX_CONTEXT);
    find_enhanced_code(text, false).or_else(|| find_basic_code(text).map(|class| format!("{class}.0.0")))
}

/// Finds an enhanced status code `class.subject.detail` (RFC 3463). Only classes 4 and 5 unless
/// `allow_success`.
fn find_enhanced_code(text: &str, allow_success: bool) -> Option<String> {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 4 {
            i += 1;
        }
        (i > start && i - start <= 3 && !(i < b.len() && b[i].is_ascii_digit())).then_some(i)
    };
    for i in 0..b.len() {
        let class_ok = matches!(b[i], b'4' | b'5') || (allow_success && b[i] == b'2');
        if !class_ok || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')) {
            continue;
        }
        if b.get(i + 1) != Some(&b'.') {
            continue;
        }
        let Some(j) = digits(i + 2) else { continue };
        if b.get(j) != Some(&b'.') {
            continue;
        }
        let Some(k) = digits(j + 1) else { continue };
        // Refuse the middle of an IP address or a version number ("5.1.1.2").
        if b.get(k) == Some(&b'.') && b.get(k + 1).is_some_and(u8::is_ascii_digit) {
            continue;
        }
        if b.get(k).is_some_and(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        return Some(text[i..k].to_owned());
    }
    None
}

/// Finds a basic 4xx/5xx SMTP reply code and returns its class digit.
fn find_basic_code(text: &str) -> Option<char> {
    let b = text.as_bytes();
    (0..b.len().saturating_sub(2)).find_map(|i| {
        let is_code = matches!(b[i], b'4' | b'5') && b[i + 1].is_ascii_digit() && b[i + 2].is_ascii_digit();
        let before_ok = i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'(' | b'#' | b';' | b'"' | b'\'' | b'[');
        let after_ok = b.get(i + 3).is_none_or(|c| matches!(c, b' ' | b'-' | b')' | b';' | b',' | b'\t'));
        (is_code && before_ok && after_ok).then_some(b[i] as char)
    })
}

// ---------------------------------------------------------------------------------------------
// Header blocks and field groups
// ---------------------------------------------------------------------------------------------

/// One header field or DSN/ARF field: lowercased name, unfolded and trimmed value.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    value: String,
}

fn get<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

fn get_all<'a>(fields: &'a [Field], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    fields.iter().filter(move |f| f.name == name).map(|f| f.value.as_str())
}

fn split_field(line: &str) -> Option<Field> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim_end();
    if name.is_empty() || name.len() > 100 || !name.bytes().all(|c| (33..=126).contains(&c)) {
        return None;
    }
    Some(Field { name: name.to_ascii_lowercase(), value: cut_str(value.trim(), MAX_FIELD_VALUE).to_owned() })
}

fn append_continuation(fields: &mut [Field], line: &str) {
    if let Some(last) = fields.last_mut()
        && last.value.len() < MAX_FIELD_VALUE
    {
        if !last.value.is_empty() {
            last.value.push(' ');
        }
        last.value.push_str(cut_str(line.trim(), MAX_FIELD_VALUE - last.value.len()));
    }
}

/// Parses the header block at the start of `raw` (up to the first blank line).
fn header_block(raw: &[u8]) -> Vec<Field> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX_HEADER_BLOCK)]);
    let mut fields: Vec<Field> = Vec::new();
    let mut started = false;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if started {
                break;
            }
            continue;
        }
        if !started && line.starts_with("From ") {
            // mbox separator line.
            started = true;
            continue;
        }
        started = true;
        if line.starts_with([' ', '\t']) {
            append_continuation(&mut fields, line);
            continue;
        }
        match split_field(line) {
            Some(field) if fields.len() < MAX_FIELDS => fields.push(field),
            Some(_) => {}
            None => break,
        }
    }
    fields
}

/// Parses blank-line separated groups of fields (RFC 3464 / RFC 5965 bodies). Lines that are not
/// fields are skipped.
fn field_groups(text: &str) -> Vec<Vec<Field>> {
    let mut groups: Vec<Vec<Field>> = Vec::new();
    let mut current: Vec<Field> = Vec::new();
    let mut fields = 0;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !current.is_empty() {
                groups.push(std::mem::take(&mut current));
                if groups.len() >= MAX_GROUPS {
                    return groups;
                }
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            append_continuation(&mut current, line);
        } else if let Some(field) = split_field(line)
            && fields < MAX_FIELDS * 4
        {
            fields += 1;
            current.push(field);
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    groups
}

/// Whether a header block has at least one header that mail always or nearly always carries.
fn looks_like_mail(fields: &[Field]) -> bool {
    const KNOWN: &[&str] = &[
        "from",
        "to",
        "subject",
        "date",
        "received",
        "return-path",
        "message-id",
        "delivered-to",
        "x-original-to",
        "content-type",
        "mime-version",
        "envelope-to",
    ];
    fields.iter().any(|f| KNOWN.contains(&f.name.as_str()))
}

// ---------------------------------------------------------------------------------------------
// Addresses and small text helpers
// ---------------------------------------------------------------------------------------------

/// Ordered, case-insensitively deduplicated, capped list of addresses.
#[derive(Default)]
struct AddressList {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl AddressList {
    fn extend(&mut self, value: &str) {
        for address in scan_addresses(value, MAX_ADDRESSES) {
            if self.list.len() >= MAX_ADDRESSES {
                return;
            }
            if self.seen.insert(address.to_lowercase()) {
                self.list.push(address);
            }
        }
    }
}

fn first_address(value: &str) -> Option<String> {
    scan_addresses(value, 1).into_iter().next().map(|a| a.to_lowercase())
}

fn scan_addresses(text: &str, limit: usize) -> Vec<String> {
    scan_address_spans(text, limit).into_iter().map(|(s, e)| text[s..e].to_owned()).collect()
}

fn is_local_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&c)
}

fn is_domain_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'.' || c == b'-'
}

/// Byte spans of plausible `local@domain` addresses in a text, in order, at most `limit`.
/// Linear in the text length: each scan stops at the neighbouring `@`.
fn scan_address_spans(text: &str, limit: usize) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut resume = 0;
    for at in 0..b.len() {
        if spans.len() >= limit {
            break;
        }
        if b[at] != b'@' || at < resume {
            continue;
        }
        let mut start = at;
        while start > resume && is_local_char(b[start - 1]) {
            start -= 1;
        }
        while start < at && matches!(b[start], b'.' | b'\'') {
            start += 1;
        }
        let mut end = at + 1;
        while end < b.len() && is_domain_char(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let local = &text[start..at];
        let domain = &text[at + 1..end];
        let plausible = !local.is_empty()
            && local.len() <= 64
            && !local.ends_with('.')
            && (3..=255).contains(&domain.len())
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-'));
        if plausible && end - start <= MAX_ADDRESS_LEN {
            spans.push((start, end));
            resume = end;
        }
    }
    spans
}

fn clean_message_id(value: &str) -> Option<String> {
    let value = value.trim();
    let id = match value.find('<') {
        Some(open) => {
            let inner = &value[open + 1..];
            inner.find('>').map_or(inner, |close| &inner[..close])
        }
        None => value.split_whitespace().next().unwrap_or("").trim_matches(['<', '>']),
    };
    let id = cut_str(id.trim(), 998);
    (!id.is_empty()).then(|| id.to_owned())
}

/// Collapses runs of whitespace to single spaces and cuts the result to `max_chars` characters.
fn collapse_whitespace(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split_whitespace() {
        if !out.is_empty() {
            if count == max_chars {
                break;
            }
            out.push(' ');
            count += 1;
        }
        for c in word.chars() {
            if count == max_chars {
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::{Duration, Instant};

    const KEY: &[u8] = b"terrain-test-verp-key";
    const PREFIX: &str = "rebond";

    macro_rules! sample {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bounces/", $name)).as_slice()
        };
    }

    fn samples() -> Vec<(&'static str, &'static [u8])> {
        vec![
            ("postfix-hard-511.eml", sample!("postfix-hard-511.eml")),
            ("postfix-soft-422-mailbox-full.eml", sample!("postfix-soft-422-mailbox-full.eml")),
            ("postfix-policy-571.eml", sample!("postfix-policy-571.eml")),
            ("postfix-delayed.eml", sample!("postfix-delayed.eml")),
            ("gmail-dsn-511.eml", sample!("gmail-dsn-511.eml")),
            ("exim-plain-550.eml", sample!("exim-plain-550.eml")),
            ("exim-delay-warning.eml", sample!("exim-delay-warning.eml")),
            ("qmail-failure.eml", sample!("qmail-failure.eml")),
            ("exchange-ndr-html.eml", sample!("exchange-ndr-html.eml")),
            ("arf-abuse-yahoo.eml", sample!("arf-abuse-yahoo.eml")),
            ("autoreply-fr.eml", sample!("autoreply-fr.eml")),
            ("garbage.bin", sample!("garbage.bin")),
        ]
    }

    struct Expected {
        kind: ReportKind,
        address: Option<&'static str>,
        severity: Option<Severity>,
        status: Option<&'static str>,
        person: i64,
        campaign_header: Option<&'static str>,
    }

    fn expected(name: &str) -> Expected {
        use ReportKind::*;
        use Severity::*;
        let e = |kind, address, severity, status, person, campaign_header| Expected {
            kind,
            address,
            severity,
            status,
            person,
            campaign_header,
        };
        match name {
            "postfix-hard-511.eml" => {
                e(Bounce, Some("jean.dupont@example.net"), Some(Hard), Some("5.1.1"), 3456, Some("12"))
            }
            "postfix-soft-422-mailbox-full.eml" => {
                e(Bounce, Some("marie.martin@example.net"), Some(Soft), Some("4.2.2"), 3457, Some("12"))
            }
            "gmail-dsn-511.eml" => {
                e(Bounce, Some("paul.bernard@example.net"), Some(Hard), Some("5.1.1"), 3458, Some("12"))
            }
            "exim-plain-550.eml" => {
                e(Bounce, Some("luc.petit@example.net"), Some(Hard), Some("5.1.1"), 3459, Some("12"))
            }
            "qmail-failure.eml" => {
                e(Bounce, Some("sophie.durand@example.net"), Some(Hard), Some("5.1.1"), 3460, Some("12"))
            }
            "exchange-ndr-html.eml" => {
                e(Bounce, Some("claire.moreau@example.net"), Some(Hard), Some("5.1.10"), 3461, Some("12"))
            }
            "postfix-delayed.eml" => {
                e(DelayNotice, Some("antoine.leroy@example.net"), Some(Soft), Some("4.4.1"), 3462, Some("12"))
            }
            "arf-abuse-yahoo.eml" => e(Complaint, Some("camille.roux@example.net"), Some(Hard), None, 3463, Some("12")),
            "autoreply-fr.eml" => e(AutoReply, None, None, None, 3464, None),
            "postfix-policy-571.eml" => {
                e(Bounce, Some("hugo.lambert@example.net"), Some(Soft), Some("5.7.1"), 3465, Some("12"))
            }
            "exim-delay-warning.eml" => {
                e(DelayNotice, Some("yasmine.garnier@example.net"), Some(Soft), Some("4.7.1"), 3466, None)
            }
            other => panic!("no expectation for {other}"),
        }
    }

    #[test]
    fn samples_parse_to_expected_reports() {
        for (name, raw) in samples() {
            if name == "garbage.bin" {
                match parse(raw) {
                    Err(_) => {}
                    Ok(report) => assert_eq!(report.kind, ReportKind::Unknown, "{name}"),
                }
                continue;
            }
            let want = expected(name);
            let report = parse(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(report.kind, want.kind, "{name}: {report:#?}");
            match want.address {
                Some(address) => {
                    assert_eq!(report.recipients.len(), 1, "{name}: {report:#?}");
                    let r = &report.recipients[0];
                    assert_eq!(r.address.as_deref(), Some(address), "{name}");
                    assert_eq!(Some(r.severity), want.severity, "{name}");
                    assert_eq!(r.status.as_deref(), want.status, "{name}");
                }
                None => assert!(report.recipients.is_empty(), "{name}: {report:#?}"),
            }
            assert_eq!(report.verp_ids(KEY, PREFIX), Some((12, want.person)), "{name}: {report:#?}");
            assert_eq!(report.campaign_header.as_deref(), want.campaign_header, "{name}");
            let id = format!("c12.p{}.1710234900@terrain.example.org", want.person);
            assert_eq!(report.original_message_id.as_deref(), Some(id.as_str()), "{name}");
        }
    }

    #[test]
    fn sample_details() {
        let report = parse(sample!("postfix-hard-511.eml")).unwrap();
        assert_eq!(
            report.recipients[0].diagnostic.as_deref(),
            Some(
                "550 5.1.1 <jean.dupont@example.net>: Recipient address rejected: User unknown in virtual mailbox table"
            )
        );
        assert_eq!(
            report.verp_addresses,
            ["rebond+c12.p3456.utdvbbcfj4@bounces.example.org", "jean.dupont@example.net"]
        );

        // The ARF report is delivered to the feedback-loop address: the VERP address only appears in
        // Original-Mail-From and the embedded original's Return-Path.
        let report = parse(sample!("arf-abuse-yahoo.eml")).unwrap();
        assert!(report.verp_addresses.iter().any(|a| a == "fbl@example.org"));
        assert_eq!(report.recipients[0].diagnostic.as_deref(), Some("feedback-type: abuse"));

        // Exchange: mixed-case address lowercased, CRLF file.
        assert!(sample!("exchange-ndr-html.eml").windows(2).any(|w| w == b"\r\n"));
        let report = parse(sample!("exchange-ndr-html.eml")).unwrap();
        assert!(report.recipients[0].diagnostic.as_deref().unwrap().contains("RecipientNotFound"));
    }

    #[test]
    fn empty_and_non_mail_inputs_are_errors() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b" \r\n\t\n"), Err(ParseError::Empty));
        assert_eq!(parse(b"{\"hello\": \"world\"}\n"), Err(ParseError::NotAMessage));
        assert_eq!(parse(b"\x00\x01\x02garbage"), Err(ParseError::NotAMessage));
        assert!(parse(sample!("garbage.bin")).is_err());
    }

    #[test]
    fn truncated_samples_do_not_claim_too_much() {
        // Cut in the middle of the delivery-status part: still a bounce, never a wrong kind.
        let raw = sample!("postfix-hard-511.eml");
        for cut in [0, 10, 200, 700, 1500, 2000, 2400] {
            let cut = cut.min(raw.len());
            if let Ok(report) = parse(&raw[..cut]) {
                assert!(matches!(report.kind, ReportKind::Bounce | ReportKind::Unknown), "cut {cut}: {report:?}");
            }
        }
    }

    #[test]
    fn corrupt_mime_that_trips_mail_parser_debug_assertions_is_handled() {
        // Found by fuzzing: mail-parser 0.11 hits a `debug_assert!(false, …)` on this input.
        let raw = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\r\n--b\n=C3\n\
            Auto-Submitted: auto-replied\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\
            Content-Transfer-Encoding: quoted-printable\nContent-Type: message/rfc822\n  c@example.net\n\
            Content-Transfer-Encoding: quoted-printable\n folded continuation\n\r\nContent-Type: message/rfc822\n\
            Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n\n  c@example.net\n\
            Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n--b--\nContent-Type: text/rfc822-headers\n\
            Auto-Submitted: auto-replied\n--b--\n<p>a</p>Content-Type: message/feedback-report\n\r\nStatus: 5.1.1\n\
            é--b--\nContent-Transfer-Encoding: base64\nContent-Type: text/html\nContent-Type: message/feedback-report\n\
            Status: 5.1.1\nFinal-Recipient: rfc822; a@example.net\n\r\n=\n";
        let _ = parse(raw.as_bytes());
        // The plain-text fallback on its own still reads a free-form bounce.
        let raw = sample!("qmail-failure.eml");
        let top = header_block(raw);
        let content = plain_content(raw, &top);
        assert_eq!(content.subject, "failure notice");
        assert!(content.body.starts_with("Hi. This is the qmail-send program"));
    }

    #[test]
    fn human_reply_is_unknown() {
        let raw =
            b"From: Jean <jean@example.net>\nTo: rebond+c1.p2.x@bounces.example.org\nSubject: Re: Lettre\n\nMerci !\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::Unknown);
        assert!(report.recipients.is_empty());
        assert_eq!(report.verp_addresses, ["rebond+c1.p2.x@bounces.example.org"]);
    }

    #[test]
    fn english_out_of_office_by_subject_only() {
        let raw = b"From: Bob <bob@example.net>\nTo: rebond+c1.p2.x@bounces.example.org\n\
            Subject: Out of Office: Newsletter\nIn-Reply-To: <abc@example.org>\n\nI am away until Monday.\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::AutoReply);
        assert_eq!(report.original_message_id.as_deref(), Some("abc@example.org"));
    }

    #[test]
    fn exim_without_failed_recipients_header() {
        let raw = String::from_utf8(sample!("exim-plain-550.eml").to_vec()).unwrap();
        let raw = raw.replace("X-Failed-Recipients: luc.petit@example.net\n", "");
        let report = parse(raw.as_bytes()).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        assert_eq!(report.recipients.len(), 1);
        assert_eq!(report.recipients[0].address.as_deref(), Some("luc.petit@example.net"));
        assert_eq!(report.recipients[0].status.as_deref(), Some("5.1.1"));
        assert_eq!(report.campaign_header.as_deref(), Some("12"));
    }

    /// Hides the machine-readable part of a sample so that only the human-readable text is left.
    fn without_dsn_part(raw: &[u8]) -> Vec<u8> {
        String::from_utf8_lossy(raw).replace("message/delivery-status", "application/octet-stream").into_bytes()
    }

    #[test]
    fn postfix_notification_text_alone_is_enough() {
        let report = parse(&without_dsn_part(sample!("postfix-hard-511.eml"))).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        let r = &report.recipients[0];
        assert_eq!(
            (r.address.as_deref(), r.severity, r.status.as_deref()),
            (Some("jean.dupont@example.net"), Severity::Hard, Some("5.1.1"))
        );
        assert_eq!(report.recipients.len(), 1);

        let report = parse(&without_dsn_part(sample!("postfix-soft-422-mailbox-full.eml"))).unwrap();
        assert_eq!((report.kind, report.recipients[0].severity), (ReportKind::Bounce, Severity::Soft));

        let report = parse(&without_dsn_part(sample!("postfix-delayed.eml"))).unwrap();
        assert_eq!(report.kind, ReportKind::DelayNotice);
        assert_eq!(report.recipients[0].address.as_deref(), Some("antoine.leroy@example.net"));

        let report = parse(&without_dsn_part(sample!("exchange-ndr-html.eml"))).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        let r = &report.recipients[0];
        assert_eq!(
            (r.address.as_deref(), r.severity, r.status.as_deref()),
            (Some("claire.moreau@example.net"), Severity::Hard, Some("5.1.10"))
        );
    }

    #[test]
    fn free_form_bounce_prefers_lines_with_codes() {
        let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n\
            To: rebond+c1.p2.x@bounces.example.org\nSubject: Undeliverable: Lettre\n\n\
            Your message wasn't delivered to someone@example.net because the address couldn't be found.\n\n\
            Questions? Write to\nhelpdesk@example.net\n\n\
            Remote server returned: 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        assert_eq!(report.recipients.len(), 1, "{report:#?}");
        let r = &report.recipients[0];
        assert_eq!(r.address.as_deref(), Some("someone@example.net"));
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.severity, Severity::Hard);
    }

    #[test]
    fn bounce_without_any_recipient_still_reports_verp() {
        let raw = b"From: MAILER-DAEMON@mx.example.net\nTo: rebond+c12.p3456.utdvbbcfj4@bounces.example.org\n\
            Subject: failure notice\n\nSomething went wrong.\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        assert!(report.recipients.is_empty());
        assert_eq!(report.verp_ids(KEY, PREFIX), Some((12, 3456)));
    }

    #[test]
    fn plain_bounce_with_basic_code_only() {
        let raw = b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n\
            To: rebond+c1.p2.x@bounces.example.org\nSubject: Returned mail: see transcript for details\n\n\
            The original message was received at Tue, 12 Mar 2024 10:15:00 +0100\n\n\
            ----- The following addresses had permanent fatal errors -----\n\
            <old.user@example.net>\n    (reason: 550 Requested action not taken: mailbox unavailable)\n\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        let r = &report.recipients[0];
        assert_eq!(r.address.as_deref(), Some("old.user@example.net"));
        assert_eq!(r.status.as_deref(), Some("5.0.0"));
        assert_eq!(r.severity, Severity::Hard);
    }

    #[test]
    fn dsn_with_several_recipients_keeps_failed_ones() {
        let raw = b"From: MAILER-DAEMON@mx.example.org\nTo: rebond+c1.p2.x@bounces.example.org\n\
            Subject: Delivery Status Notification\nMIME-Version: 1.0\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nSee below.\n\n\
            --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n\
            Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n\n\
            Final-Recipient: rfc822; B@Example.net\nAction: failed\nStatus: 5.2.2 (mailbox full)\n\n\
            Final-Recipient: rfc822; c@example.net\nStatus: 5.1.1\n\n\
            --b--\n";
        let report = parse(raw).unwrap();
        assert_eq!(report.kind, ReportKind::Bounce);
        let got: Vec<_> = report
            .recipients
            .iter()
            .map(|r| (r.address.as_deref().unwrap(), r.severity, r.status.as_deref().unwrap()))
            .collect();
        assert_eq!(got, [("b@example.net", Severity::Soft, "5.2.2"), ("c@example.net", Severity::Hard, "5.1.1")]);
    }

    #[test]
    fn success_dsn_and_read_receipt_are_not_bounces() {
        let success = b"From: MAILER-DAEMON@mx.example.org\nSubject: Successful Mail Delivery Report\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
            --b\nContent-Type: message/delivery-status\n\n\
            Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n\n--b--\n";
        assert_eq!(parse(success).unwrap().kind, ReportKind::Unknown);
        let mdn = b"From: a@example.net\nSubject: Read: Lettre\n\
            Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n\
            --b\nContent-Type: message/disposition-notification\n\n\
            Final-Recipient: rfc822; a@example.net\nDisposition: manual-action/MDN-sent-manually; displayed\n\n--b--\n";
        assert_eq!(parse(mdn).unwrap().kind, ReportKind::AutoReply);
    }

    #[test]
    fn arf_not_spam_is_unknown_and_missing_rcpt_uses_original_to() {
        let report = |ftype: &str, rcpt: &str| {
            format!(
                "From: fbl@isp.example.net\nTo: fbl@example.org\nSubject: Report\nMIME-Version: 1.0\n\
                Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n\
                --b\nContent-Type: text/plain\n\nReport.\n\n--b\nContent-Type: message/feedback-report\n\n\
                Feedback-Type: {ftype}\nUser-Agent: JMRP/1.0\nVersion: 1\n{rcpt}\n\
                --b\nContent-Type: text/rfc822-headers\n\n\
                Return-Path: <rebond+c12.p3463.c57m557txd@bounces.example.org>\nTo: Someone <Someone@example.net>\n\
                X-Terrain-Campaign: 12\n\n--b--\n"
            )
        };
        assert_eq!(parse(report("not-spam", "").as_bytes()).unwrap().kind, ReportKind::Unknown);
        let parsed = parse(report("abuse", "").as_bytes()).unwrap();
        assert_eq!(parsed.kind, ReportKind::Complaint);
        assert_eq!(parsed.recipients[0].address.as_deref(), Some("someone@example.net"));
        assert_eq!(parsed.verp_ids(KEY, PREFIX), Some((12, 3463)));
        assert_eq!(parsed.campaign_header.as_deref(), Some("12"));
    }

    #[test]
    fn diagnostic_is_truncated_to_500_chars() {
        let long = "x".repeat(3000);
        let raw = format!(
            "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
            --b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.net\n\
            Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 {long}\n\n--b--\n"
        );
        let report = parse(raw.as_bytes()).unwrap();
        assert_eq!(report.recipients[0].diagnostic.as_ref().unwrap().chars().count(), MAX_DIAGNOSTIC);
    }

    #[test]
    fn severity_policy() {
        use Severity::*;
        let cases = [
            ("5.1.1", "", Hard),
            ("5.1.10", "", Hard),
            ("5.0.0", "", Hard),
            ("5.2.1", "account disabled", Hard),
            ("5.2.2", "", Soft),
            ("5.2.3", "", Soft),
            ("5.3.4", "", Soft),
            ("5.4.7", "", Soft),
            ("5.7.1", "blocked using rbl", Soft),
            ("5.7.26", "unauthenticated email is not accepted", Soft),
            ("5.7.1", "user unknown", Hard),
            ("5.0.0", "Mailbox full", Soft),
            ("4.2.2", "", Soft),
            ("4.1.1", "user unknown", Soft),
        ];
        for (status, text, want) in cases {
            assert_eq!(severity(Some(status), text, Hard), want, "{status} {text}");
        }
        assert_eq!(severity(None, "", Soft), Soft);
        assert_eq!(severity(None, "no such user", Soft), Hard);
    }

    #[test]
    fn status_code_detection() {
        assert_eq!(status_from_text("said: 550-5.1.1 The email account"), Some("5.1.1".into()));
        assert_eq!(status_from_text("<mx #5.1.1 SMTP; 550 5.1.1 User unknown>"), Some("5.1.1".into()));
        assert_eq!(status_from_text("host [192.0.2.25] said: 452 too many"), Some("4.0.0".into()));
        assert_eq!(status_from_text("host [10.5.1.1] port 25"), None);
        assert_eq!(status_from_text("at 10:15:03 +0100 on 2024-03-12, id 4F1A2B"), None);
        assert_eq!(status_from_text("version 5.1.1.2"), None);
        assert_eq!(parse_status("4.4.7 (delivery time expired)"), Some("4.4.7".into()));
        assert_eq!(parse_status("2.0.0"), Some("2.0.0".into()));
        assert_eq!(parse_status("5.1"), None);
        assert_eq!(parse_status("5.1.1x"), None);
    }

    #[test]
    fn address_scanning() {
        assert_eq!(
            scan_addresses("\"Jean\" <Jean.Dupont@Example.NET>, 'x@example.org', bad@localhost, a@@b.c", 10),
            ["Jean.Dupont@Example.NET", "x@example.org"]
        );
        assert_eq!(scan_addresses("RCPT TO:<a+b=c@example.net>:", 10), ["a+b=c@example.net"]);
        assert_eq!(leading_address("  <a@example.net>: host"), Some("a@example.net".into()));
        assert_eq!(leading_address("Remote host said: <a@example.net>"), None);
    }

    // -------------------------------------------------------------------------------- VERP

    #[test]
    fn verp_roundtrip_and_format() {
        let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
        assert_eq!(address, "rebond+c12.p3456.utdvbbcfj4@bounces.example.org");
        let (local, _) = address.split_once('@').unwrap();
        let sig = local.rsplit('.').next().unwrap();
        assert_eq!(sig.len(), SIG_LEN);
        assert!(sig.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
        assert_eq!(verp_decode(KEY, PREFIX, &address), Some((12, 3456)));
    }

    #[test]
    fn verp_accepts_case_brackets_and_display_names() {
        let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
        let upper = address.to_uppercase();
        for form in [
            upper.clone(),
            format!("<{address}>"),
            format!("  <{upper}>  "),
            format!("\"Rebond\" <{address}>"),
            format!("Le <Mouvement> <{address}>"),
            format!("rfc822; {address}"),
            format!("rfc822;<{address}>"),
        ] {
            assert_eq!(verp_decode(KEY, PREFIX, &form), Some((12, 3456)), "{form}");
        }
        assert_eq!(verp_decode(KEY, "REBOND", &address), Some((12, 3456)));
    }

    #[test]
    fn verp_refuses_tampering() {
        let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
        let sig = address.split_once('@').unwrap().0.rsplit('.').next().unwrap().to_owned();
        let forged = [
            address.replace("p3456", "p3457"),
            address.replace("c12", "c13"),
            address.replace(&sig, &format!("{}a", &sig[..SIG_LEN - 1])),
            address.replace(&sig, &sig[..SIG_LEN - 1]),
            address.replace(&sig, &format!("{sig}a")),
            address.replace("p3456", "p03456"),
            address.replace("p3456", "p+3456"),
            address.replace(&format!(".{sig}"), ""),
            address.replace("rebond+", "rebond-"),
            address.replace("rebond+", "other+"),
            format!("x{address}"),
            address.replace('@', ""),
            address.replace(&sig, &format!("{sig}.x")),
            String::new(),
            "<>".to_owned(),
        ];
        for f in &forged {
            assert_eq!(verp_decode(KEY, PREFIX, f), None, "{f}");
        }
        assert_eq!(verp_decode(b"another-key", PREFIX, &address), None);
        assert_eq!(verp_decode(b"", PREFIX, &verp_address(b"", PREFIX, "b.example.org", 1, 2)), None);
    }

    #[test]
    fn verp_handles_extreme_ids() {
        for (c, p) in [(0, 0), (i64::MAX, i64::MIN), (-1, 1)] {
            let address = verp_address(KEY, PREFIX, "bounces.example.org", c, p);
            assert_eq!(verp_decode(KEY, PREFIX, &address), Some((c, p)));
        }
    }

    // -------------------------------------------------------------------------------- robustness

    fn assert_bounded(raw: &[u8], what: &str) {
        let start = Instant::now();
        let result = parse(raw);
        let elapsed = start.elapsed();
        assert!(elapsed < Duration::from_millis(1000), "{what}: took {elapsed:?}");
        if let Ok(report) = result {
            assert!(report.recipients.len() <= MAX_RECIPIENTS);
            assert!(report.verp_addresses.len() <= MAX_ADDRESSES);
        }
    }

    #[test]
    fn five_megabyte_inputs_are_fast() {
        const SIZE: usize = 5 * 1024 * 1024;
        // A real bounce with a huge returned message.
        let mut big = sample!("postfix-hard-511.eml").to_vec();
        let end = big.len() - b"--4TvB1k3mZRz9sWq.1710234903/mail.example.org--\n".len();
        big.truncate(end);
        while big.len() < SIZE {
            big.extend_from_slice(b"Voici les nouvelles du mois : reunion publique jeudi a 19 h. user@example.net\n");
        }
        assert_bounded(&big, "big returned message");
        assert_eq!(parse(&big).unwrap().recipients[0].status.as_deref(), Some("5.1.1"));

        let mut plain = sample!("qmail-failure.eml").to_vec();
        plain.resize(SIZE, b'a');
        assert_bounded(&plain, "qmail + one huge line");

        let mut headers = Vec::with_capacity(SIZE);
        while headers.len() < SIZE {
            headers.extend_from_slice(b"Received: from a@b.example.net by x.example.org; 550 5.1.1\n");
        }
        assert_bounded(&headers, "endless headers");

        let mut ats = b"From: MAILER-DAEMON@x.example.org\nSubject: failure notice\n\n".to_vec();
        while ats.len() < SIZE {
            ats.extend_from_slice(b"a@b.c@d.e <x@y.example.net>: 550 5.1.1 @@@@ 4.4.4.4.4\n");
        }
        assert_bounded(&ats, "address soup");

        let mut boundaries = b"From: a@example.org\nContent-Type: multipart/mixed; boundary=x\n\n".to_vec();
        while boundaries.len() < SIZE {
            boundaries.extend_from_slice(b"--x\nContent-Type: multipart/mixed; boundary=x\n\n");
        }
        assert_bounded(&boundaries, "nested multiparts");

        let mut html = b"From: postmaster@example.net\nSubject: Undeliverable: Lettre\nMIME-Version: 1.0\n\
            Content-Type: text/html; charset=utf-8\n\n<html><body>"
            .to_vec();
        while html.len() < SIZE {
            html.extend_from_slice(
                b"<p><a href=\"mailto:x@example.net\">x@example.net</a> 550 5.1.1 <b>&amp;</b></p>\n",
            );
        }
        assert_bounded(&html, "html-only bounce");

        let mut qp = b"From: MAILER-DAEMON@x.example.org\nSubject: failure notice\n\
            Content-Transfer-Encoding: quoted-printable\n\n"
            .to_vec();
        while qp.len() < SIZE {
            qp.extend_from_slice(b"=C3=A9=\n=3D=20 x@example.net 550 =\r\n");
        }
        assert_bounded(&qp, "quoted-printable");

        assert_bounded(&vec![b'\n'; SIZE], "newlines");
        assert_bounded(&vec![0xff; SIZE], "binary");
    }

    fn mail_fragment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("From: MAILER-DAEMON@mx.example.org\n".to_owned()),
            Just("Subject: Undelivered Mail Returned to Sender\n".to_owned()),
            Just("Auto-Submitted: auto-replied\n".to_owned()),
            Just("Content-Type: multipart/report; report-type=delivery-status; boundary=b\n".to_owned()),
            Just("Content-Type: multipart/report; report-type=feedback-report; boundary=b\n".to_owned()),
            Just("Content-Type: message/delivery-status\n".to_owned()),
            Just("Content-Type: message/feedback-report\n".to_owned()),
            Just("Content-Type: message/rfc822\n".to_owned()),
            Just("Content-Type: text/rfc822-headers\n".to_owned()),
            Just("Content-Transfer-Encoding: base64\n".to_owned()),
            Just("Content-Transfer-Encoding: quoted-printable\n".to_owned()),
            Just("--b\n".to_owned()),
            Just("--b--\n".to_owned()),
            Just("\n".to_owned()),
            Just(" folded continuation\n".to_owned()),
            Just("Final-Recipient: rfc822; a@example.net\n".to_owned()),
            Just("Action: failed\n".to_owned()),
            Just("Action: delayed\n".to_owned()),
            Just("Status: 5.1.1\n".to_owned()),
            Just("Diagnostic-Code: smtp; 550 5.1.1 user unknown\n".to_owned()),
            Just("Feedback-Type: abuse\n".to_owned()),
            Just("Original-Rcpt-To: <b@example.net>\n".to_owned()),
            Just("Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n".to_owned()),
            Just("------ This is a copy of the message, including all the headers. ------\n".to_owned()),
            Just("  c@example.net\n".to_owned()),
            "[ -~\n]{0,80}",
            "\\PC{0,40}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
            let _ = parse(&raw);
        }

        #[test]
        fn mail_shaped_input_never_panics(parts in prop::collection::vec(mail_fragment(), 0..60)) {
            let raw = parts.concat();
            if let Ok(report) = parse(raw.as_bytes()) {
                prop_assert!(report.recipients.len() <= MAX_RECIPIENTS);
                for r in &report.recipients {
                    prop_assert!(r.diagnostic.as_ref().is_none_or(|d| d.chars().count() <= MAX_DIAGNOSTIC));
                }
            }
        }

        #[test]
        fn mutated_samples_never_panic(
            index in 0usize..12,
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
            splice in prop::collection::vec(any::<u8>(), 0..64),
            splice_at in any::<prop::sample::Index>(),
        ) {
            let mut raw = samples()[index].1.to_vec();
            for (at, byte) in flips {
                let i = at.index(raw.len());
                raw[i] = byte;
            }
            let at = splice_at.index(raw.len());
            raw.splice(at..at, splice);
            if truncate {
                raw.truncate(cut.index(raw.len() + 1));
            }
            let _ = parse(&raw);
        }

        #[test]
        fn verp_roundtrips(
            key in prop::collection::vec(any::<u8>(), 1..64),
            campaign in any::<i64>(),
            person in any::<i64>(),
            other in any::<i64>(),
        ) {
            let address = verp_address(&key, PREFIX, "bounces.example.org", campaign, person);
            prop_assert_eq!(verp_decode(&key, PREFIX, &address), Some((campaign, person)));
            prop_assert_eq!(verp_decode(&key, PREFIX, &address.to_uppercase()), Some((campaign, person)));
            if other != person {
                let forged = address.replacen(&format!(".p{person}."), &format!(".p{other}."), 1);
                prop_assert_eq!(verp_decode(&key, PREFIX, &forged), None);
            }
        }

        #[test]
        fn verp_decode_never_panics(s in "\\PC{0,200}") {
            let _ = verp_decode(KEY, PREFIX, &s);
        }
    }
}
