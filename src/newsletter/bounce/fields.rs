//! Header blocks and blank-line separated field groups (DSN / ARF bodies).

use super::text::cut_str;
use super::{MAX_FIELD_VALUE, MAX_FIELDS, MAX_GROUPS, MAX_HEADER_BLOCK};

// ---------------------------------------------------------------------------------------------
// Header blocks and field groups
// ---------------------------------------------------------------------------------------------

/// One header field or DSN/ARF field: lowercased name, unfolded and trimmed value.
#[derive(Debug, Clone)]
pub(super) struct Field {
    pub(super) name: String,
    pub(super) value: String,
}

pub(super) fn get<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
    fields.iter().find(|f| f.name == name).map(|f| f.value.as_str())
}

pub(super) fn get_all<'a>(fields: &'a [Field], name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
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
pub(super) fn header_block(raw: &[u8]) -> Vec<Field> {
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
pub(super) fn field_groups(text: &str) -> Vec<Vec<Field>> {
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
pub(super) fn looks_like_mail(fields: &[Field]) -> bool {
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
