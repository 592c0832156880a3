//! Contacts spreadsheet import: bytes in, validated candidate people out.
//!
//! Pure functions only (no database, no async, no HTTP), in the order an import goes through them:
//!
//! 1. [`decode`]: volunteers upload what French Excel writes ("CSV (séparateur : point-virgule)" is
//!    Windows-1252, "CSV UTF-8" has a BOM) and NationBuilder exports (UTF-8, commas).
//! 2. [`sniff_delimiter`] then [`parse`] into a [`Table`] whose rows remember their physical line, so that
//!    error messages can say "ligne 42" and volunteers find the row in their spreadsheet.
//! 3. [`guess_mapping`] proposes a [`Field`] per column; the mapping form lets the volunteer correct it.
//! 4. [`validate_row`] turns each row into a [`Candidate`] or the list of everything wrong with it.
//! 5. [`rejected_rows_csv`] gives the rejected rows back as a file Excel opens, to fix and re-import.
//!
//! UI strings (labels, error reasons) are French; they are shown as is.

use serde::{Deserialize, Serialize};

use super::contacts;

// ---------------------------------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------------------------------

/// The character encoding a file was read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    /// What French Excel writes for "CSV (séparateur : point-virgule)"; a superset of ISO-8859-1 that also has
    /// `€`, `œ` and typographic quotes.
    Windows1252,
}

impl Encoding {
    /// Name shown to the volunteer ("Encodage détecté : …").
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Windows1252 => "Windows-1252 (Excel)",
        }
    }
}

/// A decoded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
    pub had_bom: bool,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// UTF-8 BOM → UTF-8 (BOM stripped); valid UTF-8 → UTF-8; otherwise Windows-1252 (`encoding_rs::WINDOWS_1252`).
///
/// There is no charset label on an uploaded file, so this guesses. The guess is safe in this order: a file that is
/// valid UTF-8 is almost never Windows-1252 text with accents (accented letters in Windows-1252 are lone high
/// bytes, which are invalid UTF-8), and every byte sequence decodes as Windows-1252, so the fallback never fails.
/// A file with a UTF-8 BOM but invalid bytes further on is still UTF-8 (the BOM says so): bad bytes become U+FFFD.
///
/// Takes the file's bytes, so that a UTF-8 file becomes the text without a copy (a million-row file is 126 MB).
pub fn decode(mut bytes: Vec<u8>) -> Decoded {
    let had_bom = bytes.starts_with(UTF8_BOM);
    if had_bom {
        bytes.drain(..UTF8_BOM.len());
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded { text, encoding: Encoding::Utf8, had_bom },
        Err(e) if had_bom => {
            let (text, _) = encoding_rs::UTF_8.decode_without_bom_handling(e.as_bytes());
            Decoded { text: text.into_owned(), encoding: Encoding::Utf8, had_bom }
        }
        Err(e) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(e.as_bytes());
            Decoded { text: text.into_owned(), encoding: Encoding::Windows1252, had_bom }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Delimiter sniffing
// ---------------------------------------------------------------------------------------------------------------------

/// Delimiters tried by [`sniff_delimiter`], in tie-break order: `;` first because it is what French Excel writes.
const DELIMITERS: [u8; 3] = [b';', b',', b'\t'];

/// How many records [`sniff_delimiter`] looks at: enough to out-vote a few odd lines, cheap on big files.
const SNIFF_RECORDS: usize = 30;

/// Detects the delimiter among `,` `;` and tab from the first lines (ignoring delimiters inside double quotes): the
/// one giving the most consistent non-zero field count per line; ties prefer `;` then `,` then tab.
///
/// "Most consistent" = the largest number of records sharing the same non-zero delimiter count. This is why a
/// `;` file whose addresses contain commas ("12, rue de la Paix") is still read as `;`: the commas appear on some
/// lines only, with varying counts. A file with no delimiter at all (one column) gets `;`, which reads it fine.
///
/// An Excel `sep=;` first line, when present, decides.
pub fn sniff_delimiter(text: &str) -> u8 {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if let Some((delimiter, _)) = excel_sep_line(text) {
        return delimiter;
    }
    let mut best = (DELIMITERS[0], 0);
    for delimiter in DELIMITERS {
        let counts = scan(text, delimiter, SNIFF_RECORDS).delimiter_counts;
        let mut tally: Vec<(usize, usize)> = Vec::new(); // (delimiter count, records having it)
        for count in counts.into_iter().filter(|&c| c > 0) {
            match tally.iter_mut().find(|(c, _)| *c == count) {
                Some((_, n)) => *n += 1,
                None => tally.push((count, 1)),
            }
        }
        let consistency = tally.iter().map(|&(_, n)| n).max().unwrap_or(0);
        // Strictly greater: on a tie the delimiter tried first (`;`, then `,`) keeps the place.
        if consistency > best.1 {
            best = (delimiter, consistency);
        }
    }
    best.0
}

/// Excel understands a first line `sep=;` (written by some exports and by people who know the trick) as "this file
/// uses `;`". Returns the delimiter and the byte length of that line including its line break.
fn excel_sep_line(text: &str) -> Option<(u8, usize)> {
    let end = text.find(['\r', '\n']).unwrap_or(text.len());
    let delimiter = match &text.as_bytes()[..end] {
        [s, e, p, b'=', d] if [*s, *e, *p].eq_ignore_ascii_case(b"sep") && DELIMITERS.contains(d) => *d,
        _ => return None,
    };
    let mut len = end;
    if text[len..].starts_with("\r\n") {
        len += 2;
    } else if len < text.len() {
        len += 1;
    }
    Some((delimiter, len))
}

/// What [`scan`] learns about a text for one delimiter.
struct Scan {
    /// Per non-blank record (in order, at most `max_records`), the number of delimiters outside quotes.
    delimiter_counts: Vec<usize>,
}

/// Splits `text` into records the way the csv crate (csv-core) does: a double quote opens a quoted field only as
/// the first byte of a field, `""` inside quotes is a literal quote, a closing quote followed by other bytes
/// continues the field unquoted, and `\r`, `\n` or `\r\n` end a record outside quotes. All these bytes are ASCII,
/// so scanning bytes is UTF-8 safe. Records made only of whitespace are not counted.
fn scan(text: &str, delimiter: u8, max_records: usize) -> Scan {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        /// Just read a quote inside a quoted field: either the first of `""` or the closing quote.
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut counts = Vec::new();
    let mut count = 0;
    let mut has_content = false;
    for &b in text.as_bytes() {
        match state {
            State::Quoted => {
                if b == b'"' {
                    state = State::QuoteInQuoted;
                }
                continue;
            }
            State::QuoteInQuoted if b == b'"' => {
                state = State::Quoted;
                continue;
            }
            // The quoted part is over; this byte is read as in an unquoted field, below.
            State::QuoteInQuoted => state = State::Unquoted,
            State::FieldStart | State::Unquoted => {}
        }
        if b == delimiter {
            count += 1;
            has_content = true;
            state = State::FieldStart;
        } else if b == b'\r' || b == b'\n' {
            if has_content {
                counts.push(count);
                if counts.len() >= max_records {
                    return Scan { delimiter_counts: counts };
                }
            }
            count = 0;
            has_content = false;
            state = State::FieldStart;
        } else if b == b'"' && state == State::FieldStart {
            has_content = true;
            state = State::Quoted;
        } else {
            has_content |= !b.is_ascii_whitespace();
            state = State::Unquoted;
        }
    }
    if has_content {
        counts.push(count);
    }
    Scan { delimiter_counts: counts }
}

/// The quoted fields of `text` in order, as (opening quote, closing quote) byte offsets; the closing one is `None`
/// for a quote never closed (the last item then). Quotes are read as [`scan`] reads them (a quote opens a field only
/// as its first byte; `""` inside is a literal quote), but jumping from quote to quote: this runs over every
/// imported file, and a byte-by-byte walk was a fifth of the time parsing a 1M-row file took.
fn quoted_fields(text: &str, delimiter: u8) -> impl Iterator<Item = (usize, Option<usize>)> + '_ {
    let bytes = text.as_bytes();
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let quote = from + memchr::memchr(b'"', bytes.get(from..)?)?;
            from = quote + 1;
            let field_start = quote == 0 || matches!(bytes[quote - 1], b'\r' | b'\n') || bytes[quote - 1] == delimiter;
            if !field_start {
                continue; // a literal quote inside an unquoted field (or after a quoted part)
            }
            // A quoted field: it ends at a quote that is not the first of a pair.
            loop {
                let Some(found) = memchr::memchr(b'"', &bytes[from..]) else {
                    from = bytes.len();
                    return Some((quote, None));
                };
                let close = from + found;
                if bytes.get(close + 1) == Some(&b'"') {
                    from = close + 2;
                } else {
                    // Whatever follows the closing quote continues the field unquoted: a quote there is literal,
                    // which the field-start test above sees (its previous byte is neither a delimiter nor a line
                    // break).
                    from = close + 1;
                    return Some((quote, Some(close)));
                }
            }
        }
    })
}

/// Byte offset of an opening quote that is never closed (the csv crate would then silently read the rest of the file
/// as a single cell, so [`parse`] reports it instead).
fn unclosed_quote(text: &str, delimiter: u8) -> Option<usize> {
    quoted_fields(text, delimiter).find_map(|(open, close)| close.is_none().then_some(open))
}

/// Offset just after the first `\n` at or after `from` that ends a record, i.e. lies outside every quoted field;
/// `None` when there is none. Where [`parse`] splits a big file.
fn record_boundary(text: &str, delimiter: u8, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut newline = from + memchr::memchr(b'\n', bytes.get(from..)?)?;
    for (open, close) in quoted_fields(text, delimiter) {
        if open > newline {
            break; // every quoted field before the line break is closed before it
        }
        let close = close?;
        if close > newline {
            // The line break is inside this field: the next one after it.
            newline = close + memchr::memchr(b'\n', &bytes[close..])?;
        }
    }
    Some(newline + 1)
}

// ---------------------------------------------------------------------------------------------------------------------
// Fields and header guessing
// ---------------------------------------------------------------------------------------------------------------------

/// What a column of the file holds, as chosen on the mapping form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Ignore,
    FirstName,
    LastName,
    /// "Jean Dupont" in one cell; split by [`validate_row`] when there are no separate name columns.
    FullName,
    Email,
    Phone,
    Address,
    Postcode,
    City,
    /// The INSEE code of the commune (not the postcode: one postcode can cover several communes).
    CommuneCode,
    Category,
    Tags,
    Skills,
    Notes,
    /// The person's id in the tool the file comes from (e.g. `nationbuilder_id`), to recognise them on re-import.
    ExternalId,
}

impl Field {
    /// Every field, in the order of the mapping form's drop-down (and of the discriminants: `ALL[f as usize] == f`).
    pub const ALL: [Field; 15] = [
        Field::Ignore,
        Field::FirstName,
        Field::LastName,
        Field::FullName,
        Field::Email,
        Field::Phone,
        Field::Address,
        Field::Postcode,
        Field::City,
        Field::CommuneCode,
        Field::Category,
        Field::Tags,
        Field::Skills,
        Field::Notes,
        Field::ExternalId,
    ];

    /// Stable identifier, the same as the serde form: used in form values and stored mappings.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ignore => "ignore",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::FullName => "full_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Postcode => "postcode",
            Field::City => "city",
            Field::CommuneCode => "commune_code",
            Field::Category => "category",
            Field::Tags => "tags",
            Field::Skills => "skills",
            Field::Notes => "notes",
            Field::ExternalId => "external_id",
        }
    }

    /// Inverse of [`Field::as_str`] (exact match: these come from our own form, not from people).
    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// French label for the mapping form.
    pub fn label(self) -> &'static str {
        match self {
            Field::Ignore => "(ignorer)",
            Field::FirstName => "Prénom",
            Field::LastName => "Nom",
            Field::FullName => "Nom complet",
            Field::Email => "Adresse e-mail",
            Field::Phone => "Téléphone",
            Field::Address => "Adresse",
            Field::Postcode => "Code postal",
            Field::City => "Commune",
            Field::CommuneCode => "Code INSEE",
            Field::Category => "Catégorie",
            Field::Tags => "Étiquettes",
            Field::Skills => "Compétences",
            Field::Notes => "Notes",
            Field::ExternalId => "Identifiant externe",
        }
    }
}

/// Whether a header names its field outright or is only a stand-in when nothing better is in the file.
#[derive(Clone, Copy, PartialEq)]
enum Rank {
    Primary,
    /// `primary_address2` is the address only when there is no `primary_address1`. A further e-mail or phone
    /// column (`email2`, a mobile) is always mapped too: the row's first filled value is the person's, the others
    /// are kept as further ones.
    Fallback,
}

/// The field a header names, from its [`fold`]ed form ("Code postal", "code_postal" and "CODE-POSTAL" all give
/// "codepostal"). Exact matches only: prefixes would turn "Adresse mail" into an address.
fn header_field(folded: &str) -> Option<(Field, Rank)> {
    use Field::*;
    use Rank::*;
    Some(match folded {
        "prenom" | "prenoms" | "firstname" | "givenname" => (FirstName, Primary),
        "nom" | "nomdefamille" | "nomdusage" | "lastname" | "surname" | "familyname" => (LastName, Primary),
        "nomcomplet" | "nometprenom" | "prenometnom" | "nomprenom" | "prenomnom" | "fullname" | "name" => {
            (FullName, Primary)
        }
        "email"
        | "mail"
        | "courriel"
        | "mel"
        | "adressemail"
        | "adresseemail"
        | "adressecourriel"
        | "adresseelectronique"
        | "emailaddress"
        | "email1" => (Email, Primary),
        "email2" | "email3" | "email4" | "email5" | "autreemail" | "autreadressemail" | "emailpro"
        | "emailprofessionnel" | "workemail" => (Email, Fallback),
        "telephone" | "tel" | "telfixe" | "telephonefixe" | "fixe" | "numerodetelephone" | "phone" | "phonenumber"
        | "telephonenumber" => (Phone, Primary),
        "portable"
        | "mobile"
        | "telportable"
        | "telephoneportable"
        | "telmobile"
        | "telephonemobile"
        | "cellulaire"
        | "gsm"
        | "mobilenumber"
        | "mobilephone"
        | "cellphone"
        | "workphonenumber"
        | "telpro"
        | "telephonepro"
        | "telephoneprofessionnel"
        | "workphone" => (Phone, Fallback),
        "adresse" | "adressepostale" | "adresse1" | "rue" | "address" | "address1" | "addressline1" | "street"
        | "primaryaddress1" => (Address, Primary),
        "adresse2" | "complementdadresse" | "address2" | "addressline2" | "primaryaddress2" => (Address, Fallback),
        "codepostal" | "cp" | "zip" | "zipcode" | "postcode" | "postalcode" | "primaryzip" => (Postcode, Primary),
        "ville" | "commune" | "localite" | "city" | "town" | "primarycity" => (City, Primary),
        "codeinsee" | "insee" | "codecommune" | "communecode" | "inseecode" => (CommuneCode, Primary),
        "categorie" | "category" | "statut" | "status" => (Category, Primary),
        "tags" | "tag" | "taglist" | "etiquettes" | "etiquette" | "motscles" => (Tags, Primary),
        "competences" | "competence" | "skills" | "savoirfaire" | "causes" | "cause" | "centresdinteret"
        | "interets" | "themes" => (Skills, Primary),
        "notes" | "note" | "commentaire" | "commentaires" | "remarques" | "remarque" | "observations" | "comments"
        | "comment" => (Notes, Primary),
        "nationbuilderid" | "externalid" | "identifiantexterne" | "identifiant" | "id" => (ExternalId, Primary),
        _ => return None,
    })
}

/// Guesses the field of each header: case/accent/space/punctuation-insensitive matching of French and English
/// headers and of the NationBuilder people export headers. Unknown headers → [`Field::Ignore`].
///
/// Each field is given to at most one column, the first that matches. Stand-in headers ([`Rank::Fallback`]: second
/// address line) only get their field if no column names it outright, whatever the column order. The exceptions are
/// lists: every e-mail column (`email`, `email1` to `email4`) and every phone column (fixed, mobile, work) is mapped,
/// each row's first value being the person's first address or number and the others further ones; several tag or
/// skill/cause columns are merged.
pub fn guess_mapping(headers: &[String]) -> Vec<Field> {
    let guesses: Vec<Option<(Field, Rank)>> = headers.iter().map(|h| header_field(&fold(h))).collect();
    let mut mapping = vec![Field::Ignore; headers.len()];
    let mut taken = [false; Field::ALL.len()];
    for pass in [Rank::Primary, Rank::Fallback] {
        for (column, guess) in guesses.iter().enumerate() {
            if let Some((field, rank)) = *guess
                && rank == pass
                && (!taken[field as usize]
                    || matches!(field, Field::Email | Field::Phone | Field::Tags | Field::Skills))
            {
                taken[field as usize] = true;
                mapping[column] = field;
            }
        }
    }
    mapping
}

/// Lower-cases, removes French (and common Latin) accents and drops everything but ASCII letters and digits:
/// "Tél. portable" → "telportable", "E-mail" → "email", "Adhérent·e" → "adherente".
fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'î' | 'ï' | 'í' | 'ì' => out.push('i'),
            'ñ' => out.push('n'),
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => out.push('o'),
            'ù' | 'û' | 'ü' | 'ú' => out.push('u'),
            'ÿ' | 'ý' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------------

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
fn parse_in(text: &str, delimiter: u8, parts: usize) -> Result<Table, ImportError> {
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

// ---------------------------------------------------------------------------------------------------------------------
// Categories
// ---------------------------------------------------------------------------------------------------------------------

/// Where a person stands with the party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Adhérent·e: pays dues.
    Member,
    /// Sympathisant·e: supports without being a member.
    Sympathiser,
    /// Curieux·se: met at a stall, signed a petition…
    Curious,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Member => "member",
            Category::Sympathiser => "sympathiser",
            Category::Curious => "curious",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Member => "Adhérent·e",
            Category::Sympathiser => "Sympathisant·e",
            Category::Curious => "Curieux·se",
        }
    }

    /// Reads what volunteers type: "Adhérent", "adherente", "Adhérent(e)", "adhérent·e", "MEMBRE", "militant",
    /// "Sympathisant·e", "supporter", "curieuse", "prospect", "contact"… (case, accents, punctuation and plural
    /// `s` ignored), and our own [`Category::as_str`] and [`Category::label`] forms.
    pub fn parse_loose(s: &str) -> Option<Category> {
        let folded = fold(s);
        let word = folded.strip_suffix('s').filter(|w| !w.is_empty() && *w != "curiou").unwrap_or(&folded);
        match word {
            "adherent" | "adherente" | "membre" | "member" | "militant" | "militante" => Some(Category::Member),
            "sympathisant" | "sympathisante" | "sympathiser" | "supporter" => Some(Category::Sympathiser),
            // "curieuxse" is "Curieux·se" folded; "curieux" is both singular and plural.
            "curieux" | "curieuse" | "curieuxse" | "curious" | "prospect" | "contact" => Some(Category::Curious),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------------
// Row validation
// ---------------------------------------------------------------------------------------------------------------------

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
fn has_control(cell: &str) -> bool {
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
fn collapse_whitespace(s: &str) -> String {
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
fn normalise_commune_code(s: &str) -> Option<String> {
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

// ---------------------------------------------------------------------------------------------------------------------
// E-mail addresses and phone numbers
// ---------------------------------------------------------------------------------------------------------------------

/// Characters refused anywhere in an address: legal only in quoted local parts or comments, which real people's
/// addresses never use and which mostly come from "Nom <adresse>" or lists pasted into one cell.
const EMAIL_FORBIDDEN: &[char] = &['"', '<', '>', ',', ';', '(', ')', '[', ']', '\\', ':', '`'];

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

// ---------------------------------------------------------------------------------------------------------------------
// Export of rejected rows
// ---------------------------------------------------------------------------------------------------------------------

/// First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Neutralises spreadsheet formulas in an exported cell (OWASP CSV injection): cells starting with = + - @ tab or
/// CR get a leading `'`, so that `=HYPERLINK(…)` typed into a form by anyone is shown, not run, when a volunteer
/// opens the file. Phone numbers such as "+33 6…" get one too, which also keeps Excel from turning them into
/// numbers; [`validate_row`] removes it on re-import.
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

// ---------------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn row(line: usize, cells: &[&str]) -> Row {
        Row::new(line, cells.iter().copied()).unwrap()
    }

    #[test]
    fn a_row_keeps_its_cells_in_one_piece() {
        let r = row(7, &["Hélène", "", "d'Œuf", "", "Lyon 4e"]);
        assert_eq!(r.cells().collect::<Vec<_>>(), ["Hélène", "", "d'Œuf", "", "Lyon 4e"]);
        assert_eq!((r.line, r.len(), r.cell(2), r.cell(3), r.cell(5)), (7, 5, Some("d'Œuf"), Some(""), None));
        assert!(row(1, &[]).is_empty());
        assert_eq!(row(1, &[""]).cells().collect::<Vec<_>>(), [""]);
    }

    /// decode → sniff → parse, as the upload handler does.
    fn read(bytes: &[u8]) -> Result<Table, ImportError> {
        let decoded = decode(bytes.to_vec());
        parse(&decoded.text, sniff_delimiter(&decoded.text))
    }

    // --- decode -----------------------------------------------------------------------------------------------------

    #[test]
    fn decodes_excel_windows_1252_with_semicolons_and_accents() {
        let bytes = b"Pr\xe9nom;Nom\r\nH\xe9l\xe8ne;Dupr\xe9\r\n";
        let decoded = decode(bytes.to_vec());
        assert_eq!(decoded.encoding, Encoding::Windows1252);
        assert!(!decoded.had_bom);
        assert_eq!(decoded.text, "Prénom;Nom\r\nHélène;Dupré\r\n");
        assert_eq!(sniff_delimiter(&decoded.text), b';');

        let table = read(bytes).unwrap();
        assert_eq!(table.headers, strings(&["Prénom", "Nom"]));
        assert_eq!(table.rows, vec![row(2, &["Hélène", "Dupré"])]);
        assert_eq!(guess_mapping(&table.headers), vec![Field::FirstName, Field::LastName]);
    }

    #[test]
    fn decodes_windows_1252_specials() {
        // € (0x80), œ (0x9C) and the typographic apostrophe (0x92) are where Windows-1252 differs from Latin-1.
        let decoded = decode(b"\x80 \x9cuvre l\x92\xe9t\xe9".to_vec());
        assert_eq!(decoded.text, "€ œuvre l’été");
    }

    #[test]
    fn decodes_utf8_with_bom() {
        let decoded = decode("\u{FEFF}Prénom,Nom\nHélène,Dupré\n".as_bytes().to_vec());
        assert_eq!(decoded.encoding, Encoding::Utf8);
        assert!(decoded.had_bom);
        assert_eq!(decoded.text, "Prénom,Nom\nHélène,Dupré\n");
        let table = read("\u{FEFF}Prénom,Nom\nHélène,Dupré\n".as_bytes()).unwrap();
        assert_eq!(table.headers[0], "Prénom", "the BOM must not stick to the first header");
    }

    #[test]
    fn decodes_utf8_without_bom() {
        let decoded = decode("Prénom;Nom\nÉloïse;Œillet\n".as_bytes().to_vec());
        assert_eq!(decoded.encoding, Encoding::Utf8);
        assert!(!decoded.had_bom);
        assert_eq!(decoded.text, "Prénom;Nom\nÉloïse;Œillet\n");
    }

    #[test]
    fn decodes_bom_with_invalid_bytes_as_utf8_with_replacement() {
        let decoded = decode(b"\xEF\xBB\xBFa\xe9b".to_vec());
        assert_eq!(decoded.encoding, Encoding::Utf8);
        assert_eq!(decoded.text, "a\u{FFFD}b");
    }

    // --- sniff_delimiter --------------------------------------------------------------------------------------------

    #[test]
    fn sniffs_each_delimiter() {
        assert_eq!(sniff_delimiter("a;b;c\n1;2;3\n"), b';');
        assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
        assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
    }

    #[test]
    fn sniff_prefers_consistency_over_raw_counts() {
        // Commas in some addresses, a consistent single `;` on every line.
        let text = "Nom;Adresse\nA;12, rue de la Paix, bât. B\nB;3 place du Marché\nC;5, allée des Tilleuls\n";
        assert_eq!(sniff_delimiter(text), b';');
        // A NationBuilder-like export: commas, tags with ", " inside quotes, a `;` in one note.
        let text = "first_name,last_name,tag_list,note\nA,B,\"x, y, z\",rien\nC,D,,\"a; b\"\nE,F,x,\n";
        assert_eq!(sniff_delimiter(text), b',');
    }

    #[test]
    fn sniff_ignores_delimiters_inside_quotes_even_across_lines() {
        let text = "Nom;Notes\n\"Dupont\";\"a, b, c\nd, e, f\"\nMartin;\"g, h\"\n";
        assert_eq!(sniff_delimiter(text), b';');
    }

    #[test]
    fn sniff_ties_prefer_semicolon_then_comma() {
        assert_eq!(sniff_delimiter("a;b,c\n"), b';');
        assert_eq!(sniff_delimiter("a,b\tc\n"), b',');
        assert_eq!(sniff_delimiter("Nom\nDupont\n"), b';', "a single column reads fine with `;`");
        assert_eq!(sniff_delimiter(""), b';');
    }

    #[test]
    fn sniff_honours_excel_sep_line() {
        assert_eq!(sniff_delimiter("sep=,\r\na;b;c\r\n1;2;3\r\n"), b',');
        assert_eq!(sniff_delimiter("\u{FEFF}SEP=;\na,b\n"), b';');
    }

    // --- parse ------------------------------------------------------------------------------------------------------

    #[test]
    fn quoted_newlines_keep_line_numbers_right() {
        let text = "Nom;Notes\r\nDupont;\"première ligne\r\ndeuxième ligne\r\ntroisième\"\r\nMartin;ok\r\n";
        let table = parse(text, b';').unwrap();
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].line, 2);
        assert_eq!(table.rows[0].cell(1).unwrap(), "première ligne\r\ndeuxième ligne\r\ntroisième");
        assert_eq!(table.rows[1].line, 5, "the record after a 3-line cell starts on line 5");
        assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["Martin", "ok"]);
    }

    #[test]
    fn blank_lines_are_skipped_and_counted() {
        let text = "Nom;Prénom\n\nDupont;Jean\n   \n;;\n\r\nMartin;Léa\n\n";
        let table = parse(text, b';').unwrap();
        let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 7]);
    }

    #[test]
    fn crlf_lines_are_numbered_like_an_editor() {
        let table = parse("a;b\r\n1;2\r\n\r\n3;4\r\n", b';').unwrap();
        let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4]);
    }

    #[test]
    fn old_mac_carriage_returns_are_line_breaks() {
        let table = parse("a;b\r1;2\r\r3;4", b';').unwrap();
        let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 4]);
    }

    #[test]
    fn doubled_quotes_and_trimming() {
        let text = "Nom,Surnom\n  Dupont  ,\"Jean \"\"le Grand\"\"\"\n\"Martin, Léa\",\"\"\n";
        let table = parse(text, b',').unwrap();
        assert_eq!(table.rows[0].cells().collect::<Vec<_>>(), ["Dupont", "Jean \"le Grand\""]);
        assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["Martin, Léa", ""]);
    }

    #[test]
    fn tab_separated() {
        let text = "Prénom\tNom\tE-mail\nJean\tDupont\tjean@example.fr\n";
        assert_eq!(sniff_delimiter(text), b'\t');
        let table = parse(text, b'\t').unwrap();
        assert_eq!(table.headers, strings(&["Prénom", "Nom", "E-mail"]));
        assert_eq!(table.rows, vec![row(2, &["Jean", "Dupont", "jean@example.fr"])]);
    }

    #[test]
    fn ragged_rows_are_accepted() {
        let table = parse("a;b;c\n1\n1;2;3;4\n", b';').unwrap();
        assert_eq!(table.rows[0].cells().collect::<Vec<_>>(), ["1"]);
        assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["1", "2", "3", "4"]);
    }

    #[test]
    fn header_only_file() {
        assert!(matches!(parse("Prénom;Nom\r\n", b';'), Err(ImportError::HeaderOnly)));
        assert!(matches!(parse("Prénom;Nom\r\n;;\r\n\r\n", b';'), Err(ImportError::HeaderOnly)));
        assert_eq!(
            ImportError::HeaderOnly.to_string(),
            "Le fichier ne contient que la ligne d'en-tête : aucune personne à importer."
        );
    }

    #[test]
    fn empty_or_blank_file() {
        for text in ["", "   ", "\r\n\r\n", " \t\n  \n", "\u{FEFF}", ";;;\n;;\n", "sep=;\n"] {
            assert!(matches!(parse(text, b';'), Err(ImportError::Empty)), "{text:?}");
        }
        assert!(matches!(read(b""), Err(ImportError::Empty)));
        assert_eq!(ImportError::Empty.to_string(), "Le fichier est vide.");
    }

    /// The byte-by-byte state machine `unclosed_quote` replaced (`scan`'s reading of quotes), kept as the
    /// reference it must match.
    fn unclosed_quote_reference(text: &str, delimiter: u8) -> Option<usize> {
        #[derive(PartialEq)]
        enum State {
            FieldStart,
            Unquoted,
            Quoted,
            QuoteInQuoted,
        }
        let mut state = State::FieldStart;
        let mut quote_at = 0;
        for (i, &b) in text.as_bytes().iter().enumerate() {
            state = match state {
                State::Quoted if b == b'"' => State::QuoteInQuoted,
                State::Quoted => State::Quoted,
                State::QuoteInQuoted if b == b'"' => State::Quoted,
                _ if b == delimiter || b == b'\r' || b == b'\n' => State::FieldStart,
                State::FieldStart if b == b'"' => {
                    quote_at = i;
                    State::Quoted
                }
                _ => State::Unquoted,
            };
        }
        (state == State::Quoted).then_some(quote_at)
    }

    /// [`normalise_email`] as first written, character by character.
    fn normalise_email_reference(s: &str) -> Option<String> {
        let s = s.trim();
        let s = match s.get(..7) {
            Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &s[7..],
            _ => s,
        };
        let email = s.to_lowercase();
        if email.len() > 254 || email.contains("..") {
            return None;
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control() || EMAIL_FORBIDDEN.contains(&c)) {
            return None;
        }
        let (local, domain) = email.split_once('@')?;
        if local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.') {
            return None;
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let tld = labels.last()?;
        if labels.len() < 2 || !labels.iter().all(label_ok) || tld.len() < 2 || tld.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        Some(email)
    }

    proptest::proptest! {
        #[test]
        fn record_boundaries_are_the_line_breaks_outside_quoted_fields(
            text in "[a\"; \r\n]{0,40}",
            from in 0usize..40,
        ) {
            proptest::prop_assume!(unclosed_quote(&text, b';').is_none() && from <= text.len());
            let expected = (from..text.len())
                .find(|&i| text.as_bytes()[i] == b'\n' && unclosed_quote_reference(&text[..i], b';').is_none())
                .map(|i| i + 1);
            proptest::prop_assert_eq!(record_boundary(&text, b';', from), expected);
        }

        #[test]
        fn a_file_parsed_in_pieces_reads_as_in_one(
            text in "((([a\" ;]{0,6}|\"[a;\n\"]{0,6}\");){0,4}[a ]?\r?\n{1,2}){2,12}",
            parts in 2usize..5,
        ) {
            let whole = parse_in(&text, b';', 1);
            let pieces = parse_in(&text, b';', parts);
            proptest::prop_assert_eq!(format!("{whole:?}"), format!("{pieces:?}"));
        }

        #[test]
        fn unclosed_quotes_are_found_as_the_byte_by_byte_reading_finds_them(
            text in "[a\"; ,\r\n]{0,40}",
        ) {
            proptest::prop_assert_eq!(unclosed_quote(&text, b';'), unclosed_quote_reference(&text, b';'));
            proptest::prop_assert_eq!(unclosed_quote(&text, b','), unclosed_quote_reference(&text, b','));
        }

        #[test]
        fn email_addresses_are_normalised_as_character_by_character(
            text in "(mailto:)?[aZé. \t\u{0}\u{a0}\"<,'@-]{0,8}@?[aZ0-9.\u{e9}-]{0,8}",
        ) {
            proptest::prop_assert_eq!(normalise_email(&text), normalise_email_reference(&text));
        }

        #[test]
        fn whitespace_and_control_characters_are_found_as_character_by_character(
            text in "[a é\t\n\r\u{0}\u{7f}\u{85}\u{9f}\u{a0}\u{ab}\u{202f}\u{3000}]{0,12}",
        ) {
            let words: Vec<&str> = text.split_whitespace().collect();
            proptest::prop_assert_eq!(collapse_whitespace(&text), words.join(" "));
            let control = text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
            proptest::prop_assert_eq!(has_control(&text), control);
        }
    }

    #[test]
    fn unclosed_quote_is_reported_where_it_opens() {
        let err = parse("Nom;Notes\nDupont;ok\nMartin;\"oups\nLéa;ok\n", b';').unwrap_err();
        match err {
            ImportError::Malformed { line, ref reason } => {
                assert_eq!(line, 3);
                assert!(reason.contains("guillemet"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().starts_with("Fichier illisible à la ligne 3 : "));
        // A quote in the middle of a cell is an ordinary character, as for the csv crate.
        let table = parse("Nom;Taille\nDupont;5\" et demi\n", b';').unwrap();
        assert_eq!(table.rows[0].cell(1).unwrap(), "5\" et demi");
    }

    #[test]
    fn utf16_file_is_reported() {
        // Excel's "Texte Unicode": UTF-16LE with a BOM, which is invalid UTF-8 and so decodes as Windows-1252.
        let bytes: Vec<u8> =
            "\u{FEFF}Nom\tPrénom\r\nDupont\tJean\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
        match read(&bytes) {
            Err(ImportError::Malformed { line: 1, reason }) => assert!(reason.contains("UTF-16"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn excel_sep_line_is_skipped_but_counted() {
        let text = "sep=;\r\nPrénom;Nom\r\nJean;Dupont\r\n";
        let table = parse(text, sniff_delimiter(text)).unwrap();
        assert_eq!(table.headers, strings(&["Prénom", "Nom"]));
        assert_eq!(table.rows, vec![row(3, &["Jean", "Dupont"])]);
    }

    // --- Field and guess_mapping ------------------------------------------------------------------------------------

    #[test]
    fn field_strings_round_trip_and_match_serde() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, i, "ALL is in discriminant order");
            assert_eq!(Field::parse(field.as_str()), Some(field));
            assert_eq!(serde_json::to_string(&field).unwrap(), format!("\"{}\"", field.as_str()));
            assert!(!field.label().is_empty());
        }
        assert_eq!(Field::parse("nope"), None);
        assert_eq!(Field::Email.label(), "Adresse e-mail");
        assert_eq!(Field::Ignore.label(), "(ignorer)");
    }

    #[test]
    fn guesses_french_and_english_headers() {
        let headers = strings(&[
            "Prénom",
            "NOM DE FAMILLE",
            "Courriel",
            "Tél.",
            "Adresse",
            "Code postal",
            "Ville",
            "Code INSEE",
            "Statut",
            "Étiquettes",
            "Compétences",
            "Commentaire",
            "Date de naissance",
        ]);
        use Field::*;
        assert_eq!(
            guess_mapping(&headers),
            vec![
                FirstName,
                LastName,
                Email,
                Phone,
                Address,
                Postcode,
                City,
                CommuneCode,
                Category,
                Tags,
                Skills,
                Notes,
                Ignore
            ]
        );
        let headers = strings(&["first_name", "Last Name", "E-mail", "phone", "zip", "city", "Skills", "Notes"]);
        assert_eq!(guess_mapping(&headers), vec![FirstName, LastName, Email, Phone, Postcode, City, Skills, Notes]);
        let headers = strings(&["prenom", "Nom", "Adresse mail", "CP", "Commune", "catégorie", "tags"]);
        assert_eq!(guess_mapping(&headers), vec![FirstName, LastName, Email, Postcode, City, Category, Tags]);
        let headers = strings(&["Nom complet", "email", "Portable"]);
        assert_eq!(guess_mapping(&headers), vec![FullName, Email, Phone]);
    }

    #[test]
    fn guesses_nationbuilder_export_headers() {
        let headers = strings(&[
            "nationbuilder_id",
            "first_name",
            "middle_name",
            "last_name",
            "email",
            "email1",
            "email2",
            "phone_number",
            "mobile_number",
            "work_phone_number",
            "primary_address1",
            "primary_address2",
            "primary_city",
            "primary_state",
            "primary_zip",
            "primary_country_code",
            "tag_list",
            "note",
            "external_id",
        ]);
        use Field::*;
        assert_eq!(
            guess_mapping(&headers),
            vec![
                ExternalId, FirstName, Ignore, LastName, Email, Email, Email, Phone, Phone, Phone, Address, Ignore,
                City, Ignore, Postcode, Ignore, Tags, Notes, Ignore
            ]
        );
    }

    #[test]
    fn stand_in_headers_only_fill_free_fields() {
        use Field::*;
        // No phone column: the mobile is the phone.
        assert_eq!(guess_mapping(&strings(&["nom", "mobile_number"])), vec![LastName, Phone]);
        // A mobile column is a phone column as well.
        assert_eq!(guess_mapping(&strings(&["Portable", "Téléphone"])), vec![Phone, Phone]);
        // The second address line is the address only without a first line.
        assert_eq!(guess_mapping(&strings(&["primary_address2"])), vec![Address]);
        assert_eq!(guess_mapping(&strings(&["primary_address2", "primary_address1"])), vec![Ignore, Address]);
        // Each field once: the first matching column wins; but every e-mail column is kept.
        assert_eq!(
            guess_mapping(&strings(&["Email", "Courriel", "Ville", "Commune"])),
            vec![Email, Email, City, Ignore]
        );
        assert_eq!(guess_mapping(&strings(&["email2", "E-mail pro", "Tél. pro"])), vec![Email, Email, Phone]);
        // Our own rejects columns mean nothing.
        assert_eq!(guess_mapping(&strings(&["ligne", "erreurs", ""])), vec![Ignore, Ignore, Ignore]);
    }

    // --- Category ---------------------------------------------------------------------------------------------------

    #[test]
    fn categories_are_read_loosely() {
        use Category::*;
        let cases = [
            ("Adhérent", Member),
            ("adherente", Member),
            ("Adhérent(e)", Member),
            ("ADHÉRENT·E", Member),
            ("membre", Member),
            ("Member", Member),
            ("militante", Member),
            ("Sympathisant·e", Sympathiser),
            ("sympathisants", Sympathiser),
            ("supporter", Sympathiser),
            ("sympathiser", Sympathiser),
            ("Curieux", Curious),
            ("curieuse", Curious),
            ("Curieux·se", Curious),
            ("curious", Curious),
            ("Prospect", Curious),
            ("contact", Curious),
        ];
        for (text, expected) in cases {
            assert_eq!(Category::parse_loose(text), Some(expected), "{text}");
        }
        for category in [Member, Sympathiser, Curious] {
            assert_eq!(Category::parse_loose(category.as_str()), Some(category));
            assert_eq!(Category::parse_loose(category.label()), Some(category));
            assert_eq!(serde_json::to_string(&category).unwrap(), format!("\"{}\"", category.as_str()));
        }
        assert_eq!(Category::parse_loose("truc"), None);
        assert_eq!(Category::parse_loose(""), None);
        assert_eq!(Category::parse_loose("s"), None);
    }

    // --- normalise_email --------------------------------------------------------------------------------------------

    #[test]
    fn emails_differing_in_case_normalise_equal() {
        let a = normalise_email("  Jean.Dupont@Example.FR ").unwrap();
        let b = normalise_email("jean.dupont@example.fr").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, "jean.dupont@example.fr");
        assert_eq!(normalise_email("j.e.a.n@gmail.com").unwrap(), "j.e.a.n@gmail.com", "Gmail dots are kept");
        assert_eq!(normalise_email("mailto:Lea@Example.org").unwrap(), "lea@example.org");
        assert_eq!(normalise_email("o'neil+tag@sub.example-domain.ie").unwrap(), "o'neil+tag@sub.example-domain.ie");
    }

    #[test]
    fn invalid_emails_are_refused() {
        let long_local = format!("{}@example.fr", "a".repeat(65));
        let long_total = format!("a@{}.fr", "b.".repeat(130));
        for bad in [
            "",
            "jean",
            "jean@",
            "@example.fr",
            "jean@@example.fr",
            "jean@dupont@example.fr",
            "jean@example",
            "jean dupont@example.fr",
            "\"jean\"@example.fr",
            "Jean <jean@example.fr>",
            "jean@example.fr, lea@example.fr",
            "jean@example.fr;lea@example.fr",
            "jean..dupont@example.fr",
            ".jean@example.fr",
            "jean.@example.fr",
            "jean@example..fr",
            "jean@.example.fr",
            "jean@-example.fr",
            "jean@example-.fr",
            "jean@exa_mple.fr",
            "jean@example.f",
            "jean@1.2.3.4",
            "jean@exämple.fr",
            &long_local,
            &long_total,
        ] {
            assert_eq!(normalise_email(bad), None, "{bad:?}");
        }
    }

    // --- normalise_phone --------------------------------------------------------------------------------------------

    #[test]
    fn french_phone_formats() {
        for text in [
            "06 12 34 56 78",
            "06.12.34.56.78",
            "06-12-34-56-78",
            "0612345678",
            "06\u{a0}12\u{a0}34\u{a0}56\u{a0}78",
            "+33 6 12 34 56 78",
            "+33612345678",
            "+33 (0)6 12 34 56 78",
            "+33 06 12 34 56 78",
            "0033612345678",
            "0033 6 12 34 56 78",
            "612345678",   // Excel dropped the 0
            "33612345678", // Excel dropped the +
        ] {
            assert_eq!(normalise_phone(text).as_deref(), Some("+33612345678"), "{text:?}");
        }
        assert_eq!(normalise_phone("01 23 45 67 89").as_deref(), Some("+33123456789"));
        assert_eq!(normalise_phone("09 87 65 43 21").as_deref(), Some("+33987654321"));
    }

    #[test]
    fn overseas_departement_phones() {
        let cases = [
            ("0690 12 34 56", "+590690123456"),
            ("0590 12 34 56", "+590590123456"),
            ("0694 12 34 56", "+594694123456"),
            ("0594 12 34 56", "+594594123456"),
            ("0696 12 34 56", "+596696123456"),
            ("0596 12 34 56", "+596596123456"),
            ("0262 12 34 56", "+262262123456"),
            ("0692 12 34 56", "+262692123456"),
            ("0693 12 34 56", "+262693123456"),
            ("0269 12 34 56", "+262269123456"),
            ("0639 12 34 56", "+262639123456"),
            ("+33 6 90 12 34 56", "+590690123456"),
            ("+590 690 12 34 56", "+590690123456"),
            ("+262 692 12 34 56", "+262692123456"),
        ];
        for (text, expected) in cases {
            assert_eq!(normalise_phone(text).as_deref(), Some(expected), "{text:?}");
        }
    }

    #[test]
    fn foreign_phones_are_kept_international() {
        assert_eq!(normalise_phone("+32 470 12 34 56").as_deref(), Some("+32470123456"));
        assert_eq!(normalise_phone("0041 79 123 45 67").as_deref(), Some("+41791234567"));
        assert_eq!(normalise_phone("+44 (0)20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(normalise_phone("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
        // 00 is the international prefix, whatever follows.
        assert_eq!(normalise_phone("00 12 34 56 78").as_deref(), Some("+12345678"));
    }

    #[test]
    fn invalid_phones_are_refused() {
        for bad in [
            "",
            "12",
            "06 12 34 56",
            "06 12 34 56 78 9",
            "06 12 34 56 78 / 01 23 45 67 89",
            "06 12 34 56 78 poste 12",
            "tél : 0612345678",
            "+33 6 12 34 56",
            "+33 0 12 34 56 78",
            "+0 612 345 678",
            "+1234567",
            "+1234567890123456",
            "06+12345678",
            "++33612345678",
        ] {
            assert_eq!(normalise_phone(bad), None, "{bad:?}");
        }
    }

    // --- validate_row -----------------------------------------------------------------------------------------------

    #[test]
    fn validates_a_full_row() {
        use Field::*;
        let mapping = [
            FirstName,
            LastName,
            Email,
            Phone,
            Address,
            Postcode,
            City,
            CommuneCode,
            Category,
            Tags,
            Skills,
            Notes,
            ExternalId,
            Ignore,
        ];
        let r = row(
            2,
            &[
                " Hélène ",
                "Dupré  de   la Tour",
                "Helene.Dupre@Example.fr",
                "06 12 34 56 78",
                "12 rue de la\nPaix",
                "1000",
                "Bourg-en-Bresse",
                "1053",
                "Adhérente",
                "tractage, Porte-à-porte; TRACTAGE | ",
                "graphisme",
                "Disponible le samedi.\r\nA une voiture.",
                "12345",
                "=ignored",
            ],
        );
        let candidate = validate_row(&mapping, &r).unwrap();
        assert_eq!(
            candidate,
            Candidate {
                first_name: "Hélène".into(),
                last_name: "Dupré de la Tour".into(),
                email: Some("helene.dupre@example.fr".into()),
                phone: Some("+33612345678".into()),
                other_emails: Vec::new(),
                other_phones: Vec::new(),
                address: "12 rue de la Paix".into(),
                postcode: "01000".into(),
                city: "Bourg-en-Bresse".into(),
                commune_code: "01053".into(),
                category: Some(super::Category::Member),
                tags: strings(&["tractage", "porte-à-porte"]),
                skills: strings(&["graphisme"]),
                notes: "Disponible le samedi.\nA une voiture.".into(),
                external_id: "12345".into(),
            }
        );
    }

    #[test]
    fn postcode_gets_its_leading_zero_back() {
        let mapping = [Field::LastName, Field::Postcode];
        let candidate = validate_row(&mapping, &row(2, &["Dupont", "1000"])).unwrap();
        assert_eq!(candidate.postcode, "01000");
        assert_eq!(validate_row(&mapping, &row(2, &["Dupont", "75 011"])).unwrap().postcode, "75011");
        for bad in ["750", "750011", "75O11", "Paris"] {
            let errors = validate_row(&mapping, &row(2, &["Dupont", bad])).unwrap_err();
            assert_eq!(errors, vec![format!("code postal invalide : « {bad} »")]);
        }
    }

    #[test]
    fn commune_codes() {
        assert_eq!(normalise_commune_code("75056").as_deref(), Some("75056"));
        assert_eq!(normalise_commune_code("2a004").as_deref(), Some("2A004"));
        assert_eq!(normalise_commune_code("2B033").as_deref(), Some("2B033"));
        assert_eq!(normalise_commune_code("1053").as_deref(), Some("01053"));
        for bad in ["", "750", "750560", "2C004", "2A04", "20A04", "ABCDE"] {
            assert_eq!(normalise_commune_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn all_errors_are_listed_at_once() {
        use Field::*;
        let mapping = [LastName, Email, Phone, Category, CommuneCode];
        let errors = validate_row(&mapping, &row(7, &["Dupont", "x", "12", "truc", "99"])).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "adresse e-mail invalide : « x »",
                "téléphone invalide : « 12 »",
                "code INSEE invalide : « 99 »",
                "catégorie inconnue : « truc »",
            ]
        );
    }

    #[test]
    fn a_row_needs_a_name_an_email_or_a_phone() {
        use Field::*;
        let mapping = [FirstName, LastName, Email, Phone, City];
        let errors = validate_row(&mapping, &row(3, &["", "", "", "", "Lyon"])).unwrap_err();
        assert_eq!(errors, vec!["ni nom, ni adresse e-mail, ni téléphone"]);
        // Any one of them is enough.
        assert!(validate_row(&mapping, &row(3, &["Jean", "", "", "", ""])).is_ok());
        assert!(validate_row(&mapping, &row(3, &["", "", "jean@example.fr", "", ""])).is_ok());
        assert!(validate_row(&mapping, &row(3, &["", "", "", "0612345678", ""])).is_ok());
        // A filled but invalid e-mail is reported as such, not as missing.
        let errors = validate_row(&mapping, &row(3, &["", "", "jean@", "", ""])).unwrap_err();
        assert_eq!(errors, vec!["adresse e-mail invalide : « jean@ »"]);
        // Short rows: missing cells are empty.
        let errors = validate_row(&mapping, &row(3, &[])).unwrap_err();
        assert_eq!(errors, vec!["ni nom, ni adresse e-mail, ni téléphone"]);
    }

    #[test]
    fn full_name_is_split_when_there_are_no_name_columns() {
        let mapping = [Field::FullName];
        let split = |full: &str| {
            let c = validate_row(&mapping, &row(2, &[full])).unwrap();
            (c.first_name, c.last_name)
        };
        assert_eq!(split("Jean Dupont"), ("Jean".into(), "Dupont".into()));
        assert_eq!(split("  Jean   Dupont  de la Tour "), ("Jean".into(), "Dupont de la Tour".into()));
        assert_eq!(split("DUPONT Jean"), ("Jean".into(), "DUPONT".into()));
        assert_eq!(split("DE LA TOUR Marie-Hélène"), ("Marie-Hélène".into(), "DE LA TOUR".into()));
        assert_eq!(split("Jean-Pierre DUPONT"), ("Jean-Pierre".into(), "DUPONT".into()));
        assert_eq!(split("Dupont"), (String::new(), "Dupont".into()));
        assert_eq!(split("DUPONT"), (String::new(), "DUPONT".into()));
        assert_eq!(split("J. Dupont"), ("J.".into(), "Dupont".into()));

        // With name columns filled, the full name is not used.
        let mapping = [Field::FirstName, Field::LastName, Field::FullName];
        let c = validate_row(&mapping, &row(2, &["Léa", "Martin", "Jean Dupont"])).unwrap();
        assert_eq!((c.first_name.as_str(), c.last_name.as_str()), ("Léa", "Martin"));
        // Mapped but empty: the full name fills in.
        let c = validate_row(&mapping, &row(2, &["", "", "Jean Dupont"])).unwrap();
        assert_eq!((c.first_name.as_str(), c.last_name.as_str()), ("Jean", "Dupont"));
    }

    #[test]
    fn length_limits() {
        use Field::*;
        let mapping = [FirstName, LastName, Notes];
        let ok = validate_row(&mapping, &row(2, &[&"é".repeat(100), "Dupont", &"n".repeat(2000)]));
        assert!(ok.is_ok());
        let errors =
            validate_row(&mapping, &row(2, &[&"é".repeat(101), &"d".repeat(101), &"n".repeat(2001)])).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "prénom trop long (plus de 100 caractères)",
                "nom trop long (plus de 100 caractères)",
                "notes trop longues (plus de 2000 caractères)",
            ]
        );
    }

    #[test]
    fn control_characters_are_refused_but_notes_keep_tabs_and_newlines() {
        use Field::*;
        let mapping = [LastName, Notes];
        let c = validate_row(&mapping, &row(2, &["Dupont", "a\tb\nc"])).unwrap();
        assert_eq!(c.notes, "a\tb\nc");
        let errors = validate_row(&mapping, &row(2, &["Dup\u{7}ont", "x\u{0}y"])).unwrap_err();
        assert_eq!(
            errors,
            vec![
                "caractère de contrôle invisible dans le champ « Nom »",
                "caractère de contrôle invisible dans le champ « Notes »",
            ]
        );
        // In single-line fields, tabs and line breaks become spaces.
        let c = validate_row(&mapping, &row(2, &["Dupont\tde\nla Tour", ""])).unwrap();
        assert_eq!(c.last_name, "Dupont de la Tour");
    }

    #[test]
    fn tags_and_skills_are_split_and_deduplicated() {
        let mapping = [Field::LastName, Field::Tags, Field::Skills, Field::Tags];
        let c = validate_row(
            &mapping,
            &row(
                2,
                &[
                    "Dupont",
                    "Tractage, porte-à-porte;; |PHONING| tractage",
                    "Rédaction|rédaction, ",
                    "Phoning, Réseaux",
                ],
            ),
        )
        .unwrap();
        assert_eq!(c.tags, strings(&["tractage", "porte-à-porte", "phoning", "réseaux"]));
        assert_eq!(c.skills, strings(&["Rédaction"]));
    }

    #[test]
    fn several_columns_for_one_field() {
        use Field::*;
        let mapping = [LastName, Address, Address, Notes, Notes, Email, Email];
        let c = validate_row(
            &mapping,
            &row(2, &["Dupont", "12 rue de la Paix", "Bât. B", "Note 1", "Note 2", "", "jean@example.fr"]),
        )
        .unwrap();
        assert_eq!(c.address, "12 rue de la Paix, Bât. B");
        assert_eq!(c.notes, "Note 1\nNote 2");
        assert_eq!(c.email.as_deref(), Some("jean@example.fr"), "the first non-empty e-mail cell");
    }

    #[test]
    fn further_emails_and_phones_are_kept_in_order_without_repeats() {
        use Field::*;
        let mapping = [LastName, Email, Email, Email, Phone, Phone, Phone];
        let cells =
            ["Dupont", "", "Jean@Example.fr", "jean.pro@travail.fr", "06 12 34 56 78", "0612345678", "01 23 45 67 89"];
        let c = validate_row(&mapping, &row(2, &cells)).unwrap();
        assert_eq!(c.email.as_deref(), Some("jean@example.fr"));
        assert_eq!(c.other_emails, strings(&["jean.pro@travail.fr"]));
        assert_eq!(c.phone.as_deref(), Some("+33612345678"));
        assert_eq!(c.other_phones, strings(&["+33123456789"]), "the same number twice is one number");
        // A repeated address (any case) is one address.
        let c = validate_row(&mapping, &row(2, &["Dupont", "a@b.fr", "A@B.FR", "", "", "", ""])).unwrap();
        assert!(c.other_emails.is_empty());
        // Every further value is checked like the first.
        let errors =
            validate_row(&mapping, &row(2, &["Dupont", "a@b.fr", "pas-une-adresse", "", "", "12", ""])).unwrap_err();
        assert_eq!(errors, ["adresse e-mail invalide : « pas-une-adresse »", "téléphone invalide : « 12 »"]);
        // A list pasted by mistake.
        let many: Vec<String> = (0..12).map(|i| format!("p{i}@x.fr")).collect();
        let mapping = vec![Email; many.len()];
        let errors = validate_row(&mapping, &Row::new(2, many.iter().map(String::as_str)).unwrap()).unwrap_err();
        assert_eq!(errors, ["trop d'adresses e-mail (11 au plus)"]);
    }

    #[test]
    fn neutralised_cells_re_import() {
        let mapping = [Field::LastName, Field::Phone];
        let c = validate_row(&mapping, &row(2, &["Dupont", "'+33 6 12 34 56 78"])).unwrap();
        assert_eq!(c.phone.as_deref(), Some("+33612345678"));
        // An apostrophe that is not ours stays.
        let c = validate_row(&mapping, &row(2, &["'Dupont", ""])).unwrap();
        assert_eq!(c.last_name, "'Dupont");
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let errors =
            validate_row(&[Field::LastName, Field::Email], &row(2, &["Dupont", &"x".repeat(500)])).unwrap_err();
        assert_eq!(errors, vec![format!("adresse e-mail invalide : « {}… »", "x".repeat(60))]);
    }

    // --- neutralise_formula and rejected_rows_csv -------------------------------------------------------------------

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(neutralise_formula("=HYPERLINK(\"http://evil\")"), "'=HYPERLINK(\"http://evil\")");
        assert_eq!(neutralise_formula("+33 6 12 34 56 78"), "'+33 6 12 34 56 78");
        assert_eq!(neutralise_formula("-2+3"), "'-2+3");
        assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise_formula("\t=1"), "'\t=1");
        assert_eq!(neutralise_formula("\r=1"), "'\r=1");
        assert_eq!(neutralise_formula("Dupont"), "Dupont");
        assert_eq!(neutralise_formula("a=b"), "a=b");
        assert_eq!(neutralise_formula(""), "");
    }

    #[test]
    fn rejected_rows_csv_for_french_excel() {
        let headers = strings(&["Nom", "E-mail", "Téléphone"]);
        let rejected = vec![
            (
                row(3, &["=cmd|' /C calc'!A0", "x", "12"]),
                vec!["adresse e-mail invalide : « x »".to_owned(), "téléphone invalide : « 12 »".to_owned()],
            ),
            (row(8, &["", "", "", "en trop"]), vec!["ni nom, ni adresse e-mail, ni téléphone".to_owned()]),
        ];
        let csv = rejected_rows_csv(&headers, &rejected);
        assert!(csv.starts_with('\u{FEFF}'));
        assert_eq!(
            csv,
            "\u{FEFF}Nom;E-mail;Téléphone;;ligne;erreurs\r\n\
             '=cmd|' /C calc'!A0;x;12;;3;\"adresse e-mail invalide : « x » ; téléphone invalide : « 12 »\"\r\n\
             ;;;en trop;8;ni nom, ni adresse e-mail, ni téléphone\r\n"
        );

        // The file reads back: same delimiter, same columns, the fixed rows validate.
        let table = read(csv.as_bytes()).unwrap();
        assert_eq!(table.headers.len(), 6);
        assert_eq!(table.rows[0].line, 2);
        assert_eq!(table.rows[0].cell(0).unwrap(), "'=cmd|' /C calc'!A0");
        assert_eq!(table.rows[0].cell(5).unwrap(), "adresse e-mail invalide : « x » ; téléphone invalide : « 12 »");
    }

    #[test]
    fn rejected_rows_csv_quotes_and_replaces_stale_columns() {
        let headers = strings(&["Nom", "Notes", "ligne", "erreurs"]);
        let rejected =
            vec![(row(2, &["Dupont", "a; \"b\"\nc", "5", "ancienne erreur"]), vec!["nouvelle erreur".to_owned()])];
        let csv = rejected_rows_csv(&headers, &rejected);
        assert_eq!(csv, "\u{FEFF}Nom;Notes;ligne;erreurs\r\nDupont;\"a; \"\"b\"\"\nc\";2;nouvelle erreur\r\n");
    }

    // --- end to end -------------------------------------------------------------------------------------------------

    #[test]
    fn nationbuilder_export_end_to_end() {
        let file = "nationbuilder_id,first_name,last_name,email,phone_number,mobile_number,primary_address1,\
                    primary_address2,primary_city,primary_zip,tag_list,note\n\
                    42,Jean,Dupont,Jean.Dupont@Example.com,,+33 6 12 34 56 78,12 rue de la Paix,Bât. B,Paris,75002,\
                    \"tractage, phoning\",\"Rencontré au marché,\nà rappeler\"\n\
                    43,Léa,Martin,lea@,0123,,,,Lyon,69001,,\n";
        let table = read(file.as_bytes()).unwrap();
        let mapping = guess_mapping(&table.headers);
        let jean = validate_row(&mapping, &table.rows[0]).unwrap();
        assert_eq!(jean.external_id, "42");
        assert_eq!(jean.email.as_deref(), Some("jean.dupont@example.com"));
        assert_eq!(jean.phone.as_deref(), Some("+33612345678"), "the mobile fills in for an empty phone_number");
        assert_eq!(jean.address, "12 rue de la Paix");
        assert_eq!(jean.tags, strings(&["tractage", "phoning"]));
        assert_eq!(jean.notes, "Rencontré au marché,\nà rappeler");
        assert_eq!(table.rows[1].line, 4);
        let errors = validate_row(&mapping, &table.rows[1]).unwrap_err();
        assert_eq!(errors, vec!["adresse e-mail invalide : « lea@ »", "téléphone invalide : « 0123 »"]);
    }
}
