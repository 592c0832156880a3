//! Header names: normalisation, the accepted names of each column and layout detection.

use super::Layout;

/// Header name reduced to lowercase ASCII letters and digits, accents removed: "Code du b.vote" → "codedubvote",
/// "N°Panneau" → "npanneau", "Exprimés" → "exprimes".
pub(super) fn norm(name: &str) -> String {
    name.chars()
        .flat_map(char::to_lowercase)
        .filter_map(|c| match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' => Some('a'),
            'é' | 'è' | 'ê' | 'ë' => Some('e'),
            'î' | 'ï' | 'í' => Some('i'),
            'ô' | 'ö' | 'ó' => Some('o'),
            'ù' | 'û' | 'ü' | 'ú' => Some('u'),
            'ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

pub(super) const DEP: &[&str] = &["codedudepartement", "codedepartement", "codedpt", "departement"];
pub(super) const COMMUNE: &[&str] = &["codedelacommune", "codecommune", "codecom", "codeinsee", "commune"];
pub(super) const BUREAU: &[&str] = &[
    "codedubvote",
    "codebvote",
    "codedubureaudevote",
    "codebureaudevote",
    "codebv",
    "numerodubureau",
    "bureaudevote",
    "bureau",
];
pub(super) const CIRC: &[&str] = &[
    "codedelacirconscription",
    "codecirconscription",
    "codecirconscriptionlegislative",
    "codedelacirconscriptionlegislative",
    "circonscription",
];
pub(super) const GROUP_START: &[&str] = &[
    "npanneau",
    "numerodepanneau",
    "numeropanneau",
    "panneau",
    "sexe",
    "nom",
    "nuance",
    "codenuance",
    "nuanceliste",
    "codenuanceliste",
];
pub(super) const NUANCE: &[&str] = &["nuance", "codenuance", "nuanceliste", "codenuanceliste", "nuancecandidat"];
pub(super) const NOM: &[&str] = &["nom", "nomcandidat"];
pub(super) const PRENOM: &[&str] = &["prenom", "prenomcandidat"];
pub(super) const LIST_LABEL: &[&str] =
    &["libelledeliste", "libelledelaliste", "libelleliste", "libelleabregedeliste", "libelleabregeliste", "liste"];

pub(super) fn find(norms: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| norms.iter().position(|h| h == n))
}

pub(super) fn find_in(norms: &[String], range: std::ops::Range<usize>, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| norms[range.clone()].iter().position(|h| h == n).map(|i| i + range.start))
}

/// Splits "Voix 12" into ("voix", 12).
pub(super) fn numbered(name: &str) -> Option<(String, u32)> {
    let trimmed = name.trim_end();
    let base = trimmed.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.len() == trimmed.len() || base.is_empty() {
        return None;
    }
    let k = trimmed[base.len()..].parse().ok()?;
    Some((norm(base), k))
}

/// Recognises the layout of an election result file from its header.
pub fn detect_layout(header: &[String]) -> Option<Layout> {
    let norms: Vec<String> = header.iter().map(|h| norm(h)).collect();
    let has = |n: &str| norms.iter().any(|h| h == n);
    let located = find(&norms, COMMUNE).is_some() && find(&norms, BUREAU).is_some();
    if !located || !has("inscrits") || !has("exprimes") {
        return None;
    }
    if header.iter().any(|h| numbered(h).is_some_and(|(base, _)| base == "voix")) {
        Some(Layout::Official2024)
    } else if has("voix") {
        Some(Layout::Official2017)
    } else if has("departement") && has("commune") && has("bureau") {
        Some(Layout::NationalWide)
    } else {
        None
    }
}
