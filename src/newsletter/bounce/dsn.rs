//! Machine-readable reports: RFC 3464 delivery status notifications and RFC 5965 abuse reports.

use super::fields::{Field, field_groups, get, get_all};
use super::status::{parse_status, severity, status_from_text};
use super::text::{AddressList, collapse_whitespace, cut_str, first_address};
use super::{MAX_DIAGNOSTIC, MAX_RECIPIENTS, Recipient, ReportKind, Severity};

// ---------------------------------------------------------------------------------------------
// RFC 3464 delivery status notifications
// ---------------------------------------------------------------------------------------------

enum Action {
    Failed,
    Delayed,
    Success,
}

/// Reads a `message/delivery-status` body. `None` if it holds no per-recipient group.
pub(super) fn dsn(text: &str) -> Option<(ReportKind, Vec<Recipient>, Vec<Field>)> {
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

pub(super) fn complaint(fields: &[Field], original: &[Field]) -> (ReportKind, Vec<Recipient>) {
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
