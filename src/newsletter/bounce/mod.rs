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

mod dsn;
mod fields;
mod heuristics;
mod status;
mod text;
mod verp;

use std::fmt;

use mail_parser::{MessageParser, MimeHeaders, PartType};

use dsn::{complaint, dsn};
use fields::{Field, field_groups, get, get_all, header_block, looks_like_mail};
use heuristics::{heuristics, own_addresses, split_inline_copy};
use text::{AddressList, clean_message_id, cut_str};
pub use verp::{verp_address, verp_decode};

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

#[cfg(test)]
mod tests;
