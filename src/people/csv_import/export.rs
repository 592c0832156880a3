//! Export of rejected rows as a CSV file French Excel opens, with formula neutralisation.

use super::Row;

/// First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
pub(super) const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Neutralises spreadsheet formulas in an exported cell (OWASP CSV injection): cells starting with = + - @ tab or
/// CR get a leading `'`, so that `=HYPERLINK(…)` typed into a form by anyone is shown, not run, when a volunteer
/// opens the file. Phone numbers such as "+33 6…" get one too, which also keeps Excel from turning them into
/// numbers; [`validate_row`] removes it on re-import.
///
/// [`validate_row`]: super::validate_row
pub fn neutralise_formula(cell: &str) -> String {
    if cell.starts_with(FORMULA_TRIGGERS) { format!("'{cell}") } else { cell.to_owned() }
}

/// Header of the column [`rejected_rows_csv`] adds with the row's line in the uploaded file.
pub const LINE_COLUMN: &str = "ligne";
/// Header of the column [`rejected_rows_csv`] adds with the reasons the row was rejected.
pub const ERRORS_COLUMN: &str = "erreurs";

/// The rejected rows as a CSV that French Excel opens (UTF-8 with BOM, `;`, CRLF), original columns + "ligne"
/// and "erreurs" columns, formula-neutralised, for volunteers to fix and re-import.
///
/// Reasons are joined with " ; ". Rows longer than the header row keep their extra cells (under empty
/// headers). If the file is itself a re-imported rejects file (its last two headers are "ligne" and "erreurs"),
/// those stale columns are replaced rather than repeated. "ligne" and "erreurs" map to nothing on re-import.
pub fn rejected_rows_csv(headers: &[String], rejected: &[(Row, Vec<String>)]) -> String {
    let original = match headers {
        [rest @ .., line, errors] if line == LINE_COLUMN && errors == ERRORS_COLUMN => rest.len(),
        _ => headers.len(),
    };
    let width = rejected
        .iter()
        .map(|(row, _)| if original < headers.len() { original } else { row.len() })
        .fold(original, usize::max);

    let mut out = String::from("\u{FEFF}");
    let header_cells = (0..width).map(|i| headers.get(i).map_or("", String::as_str));
    write_csv_record(&mut out, header_cells.chain([LINE_COLUMN, ERRORS_COLUMN]));
    for (row, errors) in rejected {
        let line = row.line.to_string();
        let errors = errors.join(" ; ");
        let cells = (0..width).map(|i| row.cell(i).unwrap_or_default());
        write_csv_record(&mut out, cells.chain([line.as_str(), errors.as_str()]));
    }
    out
}

/// Appends one `;`-separated, CRLF-terminated record, each cell formula-neutralised then quoted if needed.
///
/// Written by hand rather than with `csv::Writer` because the rules are four lines and writing to a `String`
/// then cannot fail.
pub fn write_csv_record<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(';');
        }
        let cell = neutralise_formula(cell);
        if cell.contains([';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}
