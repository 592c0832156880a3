//! Address scanning and small text helpers shared by the other submodules.

use std::collections::HashSet;

use super::{MAX_ADDRESS_LEN, MAX_ADDRESSES};

// ---------------------------------------------------------------------------------------------
// Addresses and small text helpers
// ---------------------------------------------------------------------------------------------

pub(super) fn contains_any(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// Ordered, case-insensitively deduplicated, capped list of addresses.
#[derive(Default)]
pub(super) struct AddressList {
    pub(super) list: Vec<String>,
    seen: HashSet<String>,
}

impl AddressList {
    pub(super) fn extend(&mut self, value: &str) {
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

pub(super) fn first_address(value: &str) -> Option<String> {
    scan_addresses(value, 1).into_iter().next().map(|a| a.to_lowercase())
}

pub(super) fn scan_addresses(text: &str, limit: usize) -> Vec<String> {
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
pub(super) fn scan_address_spans(text: &str, limit: usize) -> Vec<(usize, usize)> {
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

pub(super) fn clean_message_id(value: &str) -> Option<String> {
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
pub(super) fn collapse_whitespace(text: &str, max_chars: usize) -> String {
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
pub(super) fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
