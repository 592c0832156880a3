//! Status codes (RFC 3463 enhanced and basic SMTP codes) and the severity policy of the parent module docs.

use super::text::{contains_any, cut_str};
use super::{MAX_CONTEXT, Severity};

// ---------------------------------------------------------------------------------------------
// Status codes and severity
// ---------------------------------------------------------------------------------------------

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

/// The severity of a failure with this status and diagnostic text (see the module docs).
pub(super) fn severity(status: Option<&str>, text: &str, default: Severity) -> Severity {
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
pub(super) fn parse_status(value: &str) -> Option<String> {
    let token = value.split(|c: char| c.is_whitespace() || c == '(' || c == ';').next()?.trim_end_matches('.');
    find_enhanced_code(token, true).filter(|code| code == token)
}

/// The first failure status in a text: an enhanced code (`5.1.1`), else a basic SMTP reply code
/// (`550`) mapped to `5.0.0`.
pub(super) fn status_from_text(text: &str) -> Option<String> {
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
