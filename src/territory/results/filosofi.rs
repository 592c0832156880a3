//! INSEE Filosofi files: one row of numeric indicators per commune.

use serde::Serialize;

use super::columns::{find, norm};
use super::source::{Source, decode, is_blank, open, record_line};
use super::{ParseError, RowError};

/// One commune of an INSEE Filosofi file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilosofiRow {
    pub line: u64,
    /// INSEE code, 5 characters.
    pub commune: String,
    /// (indicator code as in the header, e.g. "MED21"; value, None for the statistical secret `s` or an empty cell).
    pub values: Vec<(String, Option<f64>)>,
}

/// Parses an INSEE Filosofi file (or any INSEE file keyed by `CODGEO` with numeric indicator columns). Values with a
/// decimal comma are accepted; `s` (statistical secret), `nd`, `ns`, `nc` and empty cells are `None`. A cell that is
/// not a number is reported and read as `None`; a row with a wrong column count or commune code is skipped.
pub fn parse_filosofi(bytes: &[u8]) -> Result<(Vec<FilosofiRow>, Vec<RowError>), ParseError> {
    let Source { mut reader, header, encoding, .. } = open(bytes)?;
    let norms: Vec<String> = header.iter().map(|h| norm(h)).collect();
    let code = find(&norms, &["codgeo", "codecommune", "codeinsee", "codecom", "com", "code"])
        .ok_or(ParseError::MissingColumn("CODGEO".into()))?;
    let indicators: Vec<usize> = (0..header.len())
        .filter(|&i| i != code && !header[i].is_empty())
        .filter(|&i| !["libgeo", "libelle", "libcom", "nom", "nomcommune"].contains(&norms[i].as_str()))
        .collect();
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) if is_blank(&record) => continue,
            Ok(true) => {}
            Err(e) => {
                let line = record_line(&mut reader, e.position());
                errors.push(RowError::new(line, format!("lecture impossible ({e})")));
                break;
            }
        }
        let line = record_line(&mut reader, record.position());
        if record.len() != header.len() {
            errors
                .push(RowError::new(line, format!("{} colonnes au lieu de {} attendues", record.len(), header.len())));
            continue;
        }
        let text = |i: usize| decode(&record[i], encoding).trim().to_string();
        let mut commune = text(code).to_ascii_uppercase();
        if commune.len() == 4 && commune.bytes().all(|b| b.is_ascii_digit()) {
            commune.insert(0, '0');
        }
        if commune.len() != 5 || !commune.bytes().all(|b| b.is_ascii_alphanumeric()) {
            errors.push(RowError::new(line, format!("code commune invalide (« {commune} »)")));
            continue;
        }
        let values = indicators
            .iter()
            .map(|&i| {
                let raw = text(i);
                let value = parse_indicator(&raw).unwrap_or_else(|| {
                    errors.push(RowError::new(line, format!("« {} » n'est pas un nombre (« {raw} »)", header[i])));
                    None
                });
                (header[i].clone(), value)
            })
            .collect();
        rows.push(FilosofiRow { line, commune, values });
    }
    Ok((rows, errors))
}

/// `Some(None)` for a secret / missing value, `Some(Some(x))` for a number, `None` when unreadable.
pub(super) fn parse_indicator(raw: &str) -> Option<Option<f64>> {
    if raw.is_empty() || ["s", "nd", "ns", "nc", "n.d.", "-"].contains(&raw.to_ascii_lowercase().as_str()) {
        return Some(None);
    }
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '\u{a0}' | '\u{202f}'))
        .map(|c| if c == ',' { '.' } else { c })
        .collect();
    cleaned.parse::<f64>().ok().filter(|v| v.is_finite()).map(Some)
}
