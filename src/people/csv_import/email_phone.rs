//! Normalisation of e-mail addresses and of phone numbers (to E.164).

/// Characters refused anywhere in an address: legal only in quoted local parts or comments, which real people's
/// addresses never use and which mostly come from "Nom <adresse>" or lists pasted into one cell.
pub(super) const EMAIL_FORBIDDEN: &[char] = &['"', '<', '>', ',', ';', '(', ')', '[', ']', '\\', ':', '`'];

/// Lower-cased trimmed email, or None if invalid: exactly one `@`, a local part of 1 to 64 bytes, a domain with a
/// dot, no whitespace, control characters, quotes, `<>`, `,` `;` (nor other characters only legal when quoted),
/// at most 254 bytes, no consecutive dots nor a dot at either end of the local part, domain labels of ASCII
/// letters, digits and inner hyphens, and a top-level domain of at least two characters, not all digits.
///
/// Lower-casing the local part is technically lossy but matches how every real mail provider behaves, and is
/// what lets duplicate detection see "Jean.Dupont@Gmail.com" and "jean.dupont@gmail.com" as one person. Gmail
/// dots are NOT removed: that equivalence is Gmail's only. A `mailto:` prefix (links copied from a web page) is
/// dropped. Apostrophes are allowed in the local part ("o'neil@example.ie" is a real address).
pub fn normalise_email(s: &str) -> Option<String> {
    let s = s.trim();
    let s = match s.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &s[7..],
        _ => s,
    };
    // Nearly every address is ASCII: lower-cased and checked byte by byte (whitespace and control characters are
    // not graphic).
    let ascii = s.is_ascii();
    let email = if ascii { s.to_ascii_lowercase() } else { s.to_lowercase() };
    if email.len() > 254 || email.contains("..") {
        return None;
    }
    let refused = |c: char| c.is_whitespace() || c.is_control() || EMAIL_FORBIDDEN.contains(&c);
    let bad = if ascii {
        email.bytes().any(|b| !b.is_ascii_graphic() || refused(char::from(b)))
    } else {
        email.chars().any(refused)
    };
    if bad {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.') {
        return None;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    // A second '@' lands in the domain and fails `label_ok`.
    let (_, tld) = domain.rsplit_once('.')?;
    if !domain.split('.').all(label_ok) || tld.len() < 2 || tld.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(email)
}

/// French phone numbers to E.164: "06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78",
/// "+33 (0)6 12 34 56 78", "0033612345678" → "+33612345678".
///
/// - French national numbers must be 10 digits starting 01–09. Separators: spaces (including non-breaking
///   ones), `.`, `-`, `/`, parentheses.
/// - Overseas départements written nationally map to their country codes, keeping the digits after the leading
///   0: 0590/0690/0691 → +590, 0594/0694 → +594, 0596/0696/0697 → +596, 0262/0692/0693 → +262, 0269/0639 → +262
///   (Mayotte shares Réunion's code). "0690 12 34 56" → "+590690123456". The same applies to these numbers
///   written with +33, which is a common mistake and does not ring.
/// - Excel damage is repaired: a 9-digit number starting 1–9 is a national number whose leading 0 Excel
///   dropped ("612345678"), and an 11-digit number starting 33 is "+33…" whose `+` Excel dropped.
/// - Other international numbers, starting with `+` or `00`, are kept as `+` and 8–15 digits (the first not 0).
/// - Anything else (letters, extensions, two numbers in one cell, wrong lengths) → None.
pub fn normalise_phone(s: &str) -> Option<String> {
    // "+33 (0)6 …": the bracketed 0 is the trunk prefix, not dialled from abroad.
    let s = s.trim();
    let s = if s.contains("(0)") { std::borrow::Cow::Owned(s.replacen("(0)", "", 1)) } else { s.into() };
    let mut plus = false;
    let mut digits = String::with_capacity(16);
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if !plus && digits.is_empty() => plus = true,
            '.' | '-' | '/' | '(' | ')' => {}
            c if c.is_whitespace() => {}
            _ => return None,
        }
    }
    let international = if plus { Some(digits.as_str()) } else { digits.strip_prefix("00") };
    if let Some(number) = international {
        if let Some(national) = number.strip_prefix("33") {
            // "+33 0612345678": a trunk 0 kept without brackets.
            let national = if national.len() == 10 { national.strip_prefix('0')? } else { national };
            return if national.len() == 9 { french_number(&format!("0{national}")) } else { None };
        }
        let valid = (8..=15).contains(&number.len()) && !number.starts_with('0');
        return valid.then(|| format!("+{number}"));
    }
    match digits.len() {
        10 => french_number(&digits),
        9 => french_number(&format!("0{digits}")),
        11 if digits.starts_with("33") => french_number(&format!("0{}", &digits[2..])),
        _ => None,
    }
}

/// A 10-digit national number ("0612345678") to E.164, with the overseas départements' own country codes.
fn french_number(national: &str) -> Option<String> {
    let bytes = national.as_bytes();
    if bytes.len() != 10 || bytes[0] != b'0' || bytes[1] == b'0' || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let country = match &national[..4] {
        "0590" | "0690" | "0691" => "590", // Guadeloupe, Saint-Martin, Saint-Barthélemy
        "0594" | "0694" => "594",          // Guyane
        "0596" | "0696" | "0697" => "596", // Martinique
        "0262" | "0692" | "0693" => "262", // La Réunion
        "0269" | "0639" => "262",          // Mayotte
        _ => "33",
    };
    Some(format!("+{country}{}", &national[1..]))
}
