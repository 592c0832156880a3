//! Validating one row under a mapping into a candidate person, with the cell normalisations it uses.

use serde::{Deserialize, Serialize};

use super::export::FORMULA_TRIGGERS;
use super::{Category, Field, Row, normalise_email, normalise_phone};
use crate::people::contacts;

/// A person ready to be matched against the address book and saved.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub first_name: String,
    pub last_name: String,
    /// Normalised by [`normalise_email`].
    pub email: Option<String>,
    /// E.164, by [`normalise_phone`].
    pub phone: Option<String>,
    /// Further addresses of the row (other e-mail columns), normalised, without repeats.
    #[serde(default)]
    pub other_emails: Vec<String>,
    /// Further numbers of the row (mobile, work…), E.164, without repeats.
    #[serde(default)]
    pub other_phones: Vec<String>,
    pub address: String,
    /// Five digits, or empty.
    pub postcode: String,
    pub city: String,
    /// INSEE code (five digits, or 2A/2B and three digits for Corsica), or empty.
    pub commune_code: String,
    pub category: Option<Category>,
    pub tags: Vec<String>,
    pub skills: Vec<String>,
    pub notes: String,
    pub external_id: String,
}

/// Longest first or last name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 2000;
/// Longest address (all address columns joined), in characters: far above any real postal address, low enough
/// to catch a column mapped by mistake.
pub const MAX_ADDRESS_CHARS: usize = 300;
/// Longest commune name, tag, skill or external id, in characters.
pub const MAX_SHORT_CHARS: usize = 100;

/// Validates one row under a mapping (one [`Field`] per column; cells beyond the mapping are ignored, missing
/// cells are empty). Returns every problem of the row at once, as French reasons, so a volunteer fixes a row in
/// one go.
///
/// - A row needs a name, an e-mail address or a phone number. When such a cell is filled but invalid, only that
///   is reported (not also "ni nom, ni adresse e-mail, ni téléphone").
/// - A [`Field::FullName`] cell is split into first and last name when the row has neither: on the first space
///   ("Jean Dupont"), except that leading all-capital words are the last name ("DUPONT Jean", "DE LA TOUR
///   Marie"), the French administrative order; a single word is a last name.
/// - Names, address, commune: trimmed, inner whitespace (including line breaks and non-breaking spaces)
///   collapsed to single spaces. Notes keep their line breaks and tabs.
/// - Tags and skills split on `,` `;` `|`, trimmed, deduplicated case-insensitively (first spelling kept).
/// - Postcode: five digits; four digits get their leading 0 back (Excel stores postcodes as numbers). The
///   commune code gets the same repair.
/// - Control characters other than tab and line breaks are refused in every mapped cell: they are invisible in
///   the UI and usually mean a corrupt or binary file.
/// - A leading `'` added by [`neutralise_formula`] is removed, so a fixed [`rejected_rows_csv`] file re-imports.
/// - When several columns are mapped to the same field: address columns are joined with ", ", notes with line
///   breaks, tags and skills merged; for other fields the first non-empty cell wins.
///
/// [`neutralise_formula`]: super::neutralise_formula
/// [`rejected_rows_csv`]: super::rejected_rows_csv
pub fn validate_row(mapping: &[Field], row: &Row) -> Result<Candidate, Vec<String>> {
    let mut errors = Vec::new();
    // Non-empty cells per field, in column order.
    let mut values: [Vec<&str>; Field::ALL.len()] = Default::default();
    // Fields with a non-empty cell, even one refused below.
    let mut filled = [false; Field::ALL.len()];
    for (&field, cell) in mapping.iter().zip(row.cells()) {
        if field == Field::Ignore {
            continue;
        }
        let cell = unneutralise(cell.trim()).trim();
        if cell.is_empty() {
            continue;
        }
        filled[field as usize] = true;
        if has_control(cell) {
            errors.push(format!("caractère de contrôle invisible dans le champ « {} »", field.label()));
            continue;
        }
        values[field as usize].push(cell);
    }
    let first = |field: Field| values[field as usize].first().copied();

    let mut candidate = Candidate {
        first_name: first(Field::FirstName).map(collapse_whitespace).unwrap_or_default(),
        last_name: first(Field::LastName).map(collapse_whitespace).unwrap_or_default(),
        ..Candidate::default()
    };
    if candidate.first_name.is_empty()
        && candidate.last_name.is_empty()
        && let Some(full) = first(Field::FullName)
    {
        (candidate.first_name, candidate.last_name) = split_full_name(&collapse_whitespace(full));
    }
    check_length(&mut errors, &candidate.first_name, MAX_NAME_CHARS, "prénom trop long");
    check_length(&mut errors, &candidate.last_name, MAX_NAME_CHARS, "nom trop long");

    let mut emails: Vec<String> = Vec::new();
    for &email in &values[Field::Email as usize] {
        match normalise_email(email) {
            Some(email) if emails.contains(&email) => {}
            Some(email) => emails.push(email),
            None => errors.push(format!("adresse e-mail invalide : {}", quote(email))),
        }
    }
    let mut phones: Vec<String> = Vec::new();
    for &phone in &values[Field::Phone as usize] {
        match normalise_phone(phone) {
            Some(phone) if phones.contains(&phone) => {}
            Some(phone) => phones.push(phone),
            None => errors.push(format!("téléphone invalide : {}", quote(phone))),
        }
    }
    if emails.len() > 1 + contacts::MAX_OTHERS {
        errors.push(format!("trop d'adresses e-mail ({} au plus)", 1 + contacts::MAX_OTHERS));
    }
    if phones.len() > 1 + contacts::MAX_OTHERS {
        errors.push(format!("trop de numéros de téléphone ({} au plus)", 1 + contacts::MAX_OTHERS));
    }
    // The first address and number of the row are the person's; the others are kept as further ones.
    let mut emails = emails.into_iter();
    candidate.email = emails.next();
    candidate.other_emails = emails.collect();
    let mut phones = phones.into_iter();
    candidate.phone = phones.next();
    candidate.other_phones = phones.collect();
    // A filled but refused name, e-mail or phone has its own error already.
    if ![Field::FirstName, Field::LastName, Field::FullName, Field::Email, Field::Phone]
        .iter()
        .any(|&f| filled[f as usize])
    {
        errors.push("ni nom, ni adresse e-mail, ni téléphone".to_owned());
    }

    candidate.address =
        values[Field::Address as usize].iter().map(|a| collapse_whitespace(a)).collect::<Vec<_>>().join(", ");
    check_length(&mut errors, &candidate.address, MAX_ADDRESS_CHARS, "adresse trop longue");

    if let Some(postcode) = first(Field::Postcode) {
        match normalise_postcode(postcode) {
            Some(postcode) => candidate.postcode = postcode,
            None => errors.push(format!("code postal invalide : {}", quote(postcode))),
        }
    }
    candidate.city = first(Field::City).map(collapse_whitespace).unwrap_or_default();
    check_length(&mut errors, &candidate.city, MAX_SHORT_CHARS, "commune trop longue");
    if let Some(code) = first(Field::CommuneCode) {
        match normalise_commune_code(code) {
            Some(code) => candidate.commune_code = code,
            None => errors.push(format!("code INSEE invalide : {}", quote(code))),
        }
    }

    if let Some(category) = first(Field::Category) {
        match Category::parse_loose(category) {
            Some(category) => candidate.category = Some(category),
            None => errors.push(format!("catégorie inconnue : {}", quote(category))),
        }
    }

    // Tags are stored in lower case so that "Tractage" and "tractage" are one tag everywhere (search, segments).
    candidate.tags = split_list(&values[Field::Tags as usize]).into_iter().map(|t| t.to_lowercase()).collect();
    for tag in candidate.tags.iter().filter(|t| t.chars().count() > MAX_SHORT_CHARS) {
        errors.push(format!("étiquette trop longue (plus de {MAX_SHORT_CHARS} caractères) : {}", quote(tag)));
    }
    candidate.skills = split_list(&values[Field::Skills as usize]);
    for skill in candidate.skills.iter().filter(|s| s.chars().count() > MAX_SHORT_CHARS) {
        errors.push(format!("compétence trop longue (plus de {MAX_SHORT_CHARS} caractères) : {}", quote(skill)));
    }

    candidate.notes = values[Field::Notes as usize].join("\n").replace("\r\n", "\n").replace('\r', "\n");
    check_length(&mut errors, &candidate.notes, MAX_NOTES_CHARS, "notes trop longues");

    candidate.external_id = first(Field::ExternalId).map(collapse_whitespace).unwrap_or_default();
    check_length(&mut errors, &candidate.external_id, MAX_SHORT_CHARS, "identifiant externe trop long");

    if errors.is_empty() { Ok(candidate) } else { Err(errors) }
}

/// A control character other than tab and line breaks. Those are C0 (below 0x20), DEL and C1 (U+0080–U+009F,
/// encoded after a 0xC2 byte): a cell without these bytes has none, and is not decoded character by character.
pub(super) fn has_control(cell: &str) -> bool {
    let suspect = cell.bytes().any(|b| b < 0x20 || b == 0x7F || b == 0xC2);
    suspect && cell.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// Pushes "`what` (plus de `max` caractères)" when `value` is longer than `max` characters.
fn check_length(errors: &mut Vec<String>, value: &str, max: usize, what: &str) {
    if value.chars().count() > max {
        errors.push(format!("{what} (plus de {max} caractères)"));
    }
}

/// A cell value inside French quotation marks for an error message, shortened so that a whole paragraph pasted
/// into the wrong column does not flood the report.
fn quote(value: &str) -> String {
    const MAX: usize = 60;
    let value = collapse_whitespace(value);
    if value.chars().count() > MAX {
        let short: String = value.chars().take(MAX).collect();
        format!("« {short}… »")
    } else {
        format!("« {value} »")
    }
}

/// Trims and replaces every run of whitespace (spaces, tabs, line breaks, non-breaking spaces) with one space.
pub(super) fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Splits a full name into (first, last); see [`validate_row`].
fn split_full_name(full: &str) -> (String, String) {
    let words: Vec<&str> = full.split(' ').collect();
    // Two letters at least: "J. Dupont" is an initial, not a last name.
    let is_capitals =
        |w: &str| w.chars().filter(|c| c.is_alphabetic()).count() >= 2 && !w.chars().any(char::is_lowercase);
    let leading_capitals = words.iter().take_while(|w| is_capitals(w)).count();
    if leading_capitals > 0 && leading_capitals < words.len() {
        return (words[leading_capitals..].join(" "), words[..leading_capitals].join(" "));
    }
    match full.split_once(' ') {
        Some((first, last)) => (first.to_owned(), last.to_owned()),
        None => (String::new(), full.to_owned()),
    }
}

/// Splits tag-like cells on `,` `;` `|`, trims and collapses each item, drops empty ones and case-insensitive
/// duplicates (the first spelling is kept).
fn split_list(cells: &[&str]) -> Vec<String> {
    // Lists are short: each item is compared with the ones kept (a hashed set cost more than the comparisons).
    let mut items = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for item in cells.iter().flat_map(|cell| cell.split([',', ';', '|'])) {
        let item = collapse_whitespace(item);
        let key = item.to_lowercase();
        if !item.is_empty() && !seen.contains(&key) {
            seen.push(key);
            items.push(item);
        }
    }
    items
}

/// Undoes [`neutralise_formula`]: a `'` followed by a character that triggered it.
///
/// [`neutralise_formula`]: super::neutralise_formula
fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_TRIGGERS) => rest,
        _ => cell,
    }
}

/// French postcode: five digits. Four digits get a leading 0: Excel reads "01000" as the number 1000.
fn normalise_postcode(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.len() {
        5 => Some(digits),
        4 => Some(format!("0{digits}")),
        _ => None,
    }
}

/// INSEE commune code: five digits, or `2A`/`2B` and three digits (Corsica). Four digits get a leading 0, as
/// for postcodes (Excel drops it for départements 01 to 09).
pub(super) fn normalise_commune_code(s: &str) -> Option<String> {
    let code = s.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    let valid = match bytes {
        [b'2', b'A' | b'B', rest @ ..] => rest.len() == 3 && rest.iter().all(u8::is_ascii_digit),
        _ => (bytes.len() == 5 || bytes.len() == 4) && bytes.iter().all(u8::is_ascii_digit),
    };
    match (valid, bytes.len()) {
        (true, 4) => Some(format!("0{code}")),
        (true, _) => Some(code),
        (false, _) => None,
    }
}
