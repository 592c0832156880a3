//! Parsing decoded text into a table of rows that remember their line in the file.

use super::sniff::{excel_sep_line, record_boundary, unclosed_quote};

/// A parsed file: the header row and the data rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// Trimmed header cells, as in the file (possibly empty strings).
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
}

/// One data row. Rows may be shorter or longer than the header row (Excel drops trailing empty cells on some
/// exports); a missing cell reads as empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// 1-based physical line where the record starts in the file (the header is line 1), as the volunteer's
    /// text editor would number it; Excel's row number differs only when cells contain line breaks.
    pub line: usize,
    /// The trimmed cells, one after the other: one allocation per row instead of one per cell (a million rows of
    /// a dozen cells were twelve million strings to allocate while parsing and to free afterwards).
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<u32>,
}

impl Row {
    /// A row of these (already trimmed) cells; `None` if they add up to 4 GB or more.
    pub fn new<'a, I>(line: usize, cells: I) -> Option<Row>
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let cells = cells.into_iter();
        let len = cells.clone().map(str::len).sum();
        let mut row = Row { line, text: String::with_capacity(len), ends: Vec::with_capacity(cells.size_hint().0) };
        for cell in cells {
            row.text.push_str(cell);
            row.ends.push(u32::try_from(row.text.len()).ok()?);
        }
        Some(row)
    }

    /// The cells, in order.
    pub fn cells(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        // Always there: `new` appended each cell whole.
        (0..self.len()).map(|i| self.cell(i).unwrap_or_default())
    }

    /// The `i`-th cell, if the row has one.
    pub fn cell(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }

    /// How many cells the row has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Why a file cannot be read at all (row-level problems are [`validate_row`]'s).
///
/// [`validate_row`]: super::validate_row
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("Le fichier est vide.")]
    Empty,
    #[error("Le fichier ne contient que la ligne d'en-tête : aucune personne à importer.")]
    HeaderOnly,
    #[error("Fichier illisible à la ligne {line} : {reason}")]
    Malformed { line: usize, reason: String },
}

/// Parses with the csv crate: flexible record lengths, quoted fields with newlines and doubled quotes, trimmed
/// cells, blank lines (and rows of empty cells, such as the `;;;;` Excel leaves under a table) skipped.
///
/// Line numbers are computed from each record's byte offset rather than taken from csv's `Position::line`, which
/// points at the end of the previous record (before its line break) and so is off by the number of blank lines
/// in between. A leading BOM and an Excel `sep=;` line are skipped (the latter still counts as line 1).
///
/// Errors: [`ImportError::Empty`] if there is no non-blank record, [`ImportError::HeaderOnly`] if there is only
/// one, [`ImportError::Malformed`] for a NUL character (a UTF-16 "Texte Unicode" file read as a single-byte
/// encoding) or a quote opened and never closed (which would otherwise swallow the rest of the file).
///
/// A file of more than a few megabytes is cut in two at a record boundary and its halves parsed on two threads.
pub fn parse(text: &str, delimiter: u8) -> Result<Table, ImportError> {
    parse_in(text, delimiter, if text.len() > 4 << 20 { 2 } else { 1 })
}

/// [`parse`], with the body cut into (at most) `parts` pieces parsed side by side.
pub(super) fn parse_in(text: &str, delimiter: u8, parts: usize) -> Result<Table, ImportError> {
    let lines = LineIndex::new(text);
    let mut start = if text.starts_with('\u{FEFF}') { '\u{FEFF}'.len_utf8() } else { 0 };
    if let Some((_, len)) = excel_sep_line(&text[start..]) {
        start += len;
    }
    let body = &text[start..];
    if body.trim().is_empty() {
        return Err(ImportError::Empty);
    }
    if let Some(nul) = body.find('\0') {
        return Err(ImportError::Malformed {
            line: lines.line_of(start + nul),
            reason: "caractère nul rencontré : le fichier est sans doute au format « Texte Unicode » (UTF-16). \
                     Enregistrez-le depuis le tableur au format « CSV UTF-8 » ou « CSV (séparateur : point-virgule) »."
                .to_owned(),
        });
    }
    if let Some(quote) = unclosed_quote(body, delimiter) {
        return Err(ImportError::Malformed {
            line: lines.line_of(start + quote),
            reason: "un guillemet (\") ouvre une cellule mais n'est jamais refermé.".to_owned(),
        });
    }

    // Where the pieces start, each at a record boundary (offsets in `text`).
    let mut cuts = vec![start];
    for k in 1..parts {
        let from = (start + body.len() * k / parts).max(*cuts.last().unwrap_or(&start));
        match record_boundary(text, delimiter, from) {
            Some(cut) if cut < text.len() => cuts.push(cut),
            _ => break,
        }
    }
    cuts.push(text.len());
    let pieces: Vec<Result<Vec<Row>, ImportError>> = std::thread::scope(|scope| {
        let lines = &lines;
        let threads: Vec<_> = cuts
            .windows(2)
            .skip(1)
            .map(|w| scope.spawn(move || parse_records(text, w[0], w[1], delimiter, lines)))
            .collect();
        let mut pieces = vec![parse_records(text, cuts[0], cuts[1], delimiter, lines)];
        pieces.extend(threads.into_iter().map(|t| t.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
        pieces
    });
    let mut records = Vec::new();
    for piece in pieces {
        records.extend(piece?);
    }
    let mut records = records.into_iter();
    let headers = records.next().ok_or(ImportError::Empty)?.cells().map(str::to_owned).collect();
    let rows: Vec<Row> = records.collect();
    if rows.is_empty() {
        return Err(ImportError::HeaderOnly);
    }
    Ok(Table { headers, rows })
}

/// The non-blank records of `text[from..to]` (which starts at a record boundary), with their line numbers.
fn parse_records(
    text: &str,
    from: usize,
    to: usize,
    delimiter: u8,
    lines: &LineIndex,
) -> Result<Vec<Row>, ImportError> {
    let body = &text[from..to];
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(body.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let offset = e.position().map_or(body.len(), |p| p.byte() as usize);
                return Err(ImportError::Malformed {
                    line: lines.line_of(from + offset.min(body.len())),
                    reason: format!("format CSV non reconnu ({e})."),
                });
            }
        }
        // Cells trimmed once, here (Unicode whitespace, which includes the ASCII whitespace csv could trim).
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let offset = record.position().map_or(0, |p| p.byte() as usize);
        let line = lines.record_line(text, from + offset);
        let row = Row::new(line, record.iter().map(str::trim))
            .ok_or_else(|| ImportError::Malformed { line, reason: "ligne de plus de 4 Go.".to_owned() })?;
        rows.push(row);
    }
    Ok(rows)
}

/// Byte offset → 1-based line number. Line breaks are `\n`, `\r\n` and a lone `\r` (old Mac Excel's "CSV
/// (Macintosh)"), like the csv crate's record terminators.
struct LineIndex {
    /// Byte offset at which each line starts; `starts[0] == 0`.
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for i in memchr::memchr2_iter(b'\n', b'\r', bytes) {
            if bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n') {
                starts.push(i + 1);
            }
        }
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }

    /// Line of a record reported by csv at `offset`: csv reports the end of the previous record, before its line
    /// break and any blank lines, so those are skipped first.
    fn record_line(&self, text: &str, offset: usize) -> usize {
        let skipped = text[offset..].bytes().take_while(|&b| b == b'\r' || b == b'\n').count();
        self.line_of(offset + skipped)
    }
}
