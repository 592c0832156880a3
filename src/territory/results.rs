//! Official French election results by polling station (bureau de vote) and INSEE Filosofi files, parsed into
//! normalised records.
//!
//! Three result layouts are understood ([`Layout`]):
//!
//! - [`Layout::NationalWide`]: the national files cleaned by the aktiur/resultats-electoraux project
//!   (`departement,commune,bureau,[circonscription,]commune_libelle,inscrits,votants,blancs,exprimes,<choices…>`), one
//!   column per candidate / list / nuance. `commune` is the 3-digit number *within* the département (`01` + `001` →
//!   `01001`). Overseas and abroad use the Ministry's letter codes with a 3-digit number whose first digit repeats
//!   the territory: `ZA 101` → `97101` (Guadeloupe), `ZB` 972, `ZC` 973, `ZD` 974, `ZS` 975, `ZM 501` → `97601`,
//!   `ZX 701` → `97701` (Saint-Barthélemy) and `ZX 801` → `97801` (Saint-Martin), `ZW 001` → `98601` (Wallis-et-Futuna
//!   as one pseudo-commune: INSEE has no code for the whole territory), `ZP 011` → `98711`, `ZN 801` → `98801`.
//!   `ZZ` (French people abroad) keeps département `ZZ` and gets the pseudo-commune `ZZ` + number (`ZZ001` = Abidjan).
//!   Circonscriptions become `DD-NN` (`971-01`, `977-01` for Saint-Barthélemy and Saint-Martin, `99-09` abroad).
//!   Bureaux are 4 characters and may be alphanumeric (`01.1` in Caen). `nuls` is not given: nuls = votants − blancs −
//!   exprimés. In the five shipped files (presidential 2017 rounds 1–2, legislative 2017 rounds 1–2, European 2019)
//!   every row satisfies votants ≤ inscrits, blancs + exprimés ≤ votants and Σ voix = exprimés.
//! - [`Layout::Official2017`]: the data.gouv.fr "résultats par bureau de vote" files up to 2017 (`;`, decimal commas,
//!   often Latin-1): the header names only the first candidate group (`N°Panneau;Sexe;Nom;Prénom;[Nuance;]Voix;…`)
//!   and rows repeat the group once per candidate. Département and commune codes are coded as in the national files.
//! - [`Layout::Official2024`]: the 2024 official files: `Code commune` is the 5-character INSEE code, `Code BV` is not
//!   zero-padded, candidate fields are numbered (`Nuance candidat k`, `Nom candidat k`, `Voix k`…); empty trailing
//!   groups are skipped.
//!
//! Input may be gzip-compressed (detected by its magic bytes), UTF-8 (with or without BOM) or Windows-1252/Latin-1;
//! the separator (`;`, `,` or tab) is detected from the first line. Records are streamed: only the (possibly
//! compressed) input and one record are held in memory.
//!
//! Choices are identified by label ("Nom Prénom", else the list label) and nuance, so a candidate standing in
//! several bureaux is one choice; two homonymous candidates with the same nuance would share one.
//!
//! Every row is checked (numbers, votants ≤ inscrits, exprimés ≤ votants, blancs + nuls + exprimés = votants when
//! both are known, Σ voix = exprimés); a failing row yields a [`RowError`] with its line number and a French message,
//! and parsing goes on with the next row.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, Read};

use encoding_rs::WINDOWS_1252;
use flate2::read::MultiGzDecoder;
use serde::Serialize;

/// How many decoded bytes are inspected to choose the encoding and the separator.
const SNIFF_LEN: u64 = 64 * 1024;

/// Layout of an election result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Layout {
    /// One row per bureau, one column per candidate / list / nuance (aktiur/resultats-electoraux national files).
    NationalWide,
    /// Official data.gouv.fr layout up to 2017: the candidate group is repeated along each row.
    Official2017,
    /// Official 2024 layout: numbered candidate columns (`Voix 1`, `Voix 2`…).
    Official2024,
}

/// Text encoding chosen for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TextEncoding {
    /// UTF-8 (a field that is not valid UTF-8 is still read as Windows-1252).
    Utf8,
    /// Windows-1252, a superset of Latin-1 for printable characters.
    Windows1252,
}

/// A problem with the file as a whole: nothing can be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("lecture du fichier impossible : {0}")]
    Io(#[from] io::Error),
    #[error("lecture du fichier impossible : {0}")]
    Csv(String),
    #[error("le fichier est vide")]
    Empty,
    #[error("format de fichier non reconnu (colonnes : {0})")]
    UnknownLayout(String),
    #[error("colonne « {0} » introuvable dans l'en-tête")]
    MissingColumn(String),
}

impl From<csv::Error> for ParseError {
    fn from(e: csv::Error) -> Self {
        ParseError::Csv(e.to_string())
    }
}

/// A candidate, a list or a nuance, as the file names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Choice {
    /// Candidate "Nom Prénom", or the list / nuance label, as in the file.
    pub label: String,
    /// Political nuance ("FI", "SOC", "LR"…) when the file gives it.
    pub nuance: Option<String>,
}

/// Results of one bureau de vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BureauRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// "69", "2A", "971", "ZZ"…
    pub departement: String,
    /// INSEE code, 5 characters ("69123", "2A004", "97101"; "ZZ001" for a consulate abroad).
    pub commune: String,
    /// 4 characters, left-padded with zeros ("0001", "01.1").
    pub bureau: String,
    /// "DD-NN" ("69-08", "971-01", "99-09") when the file gives it.
    pub circonscription: Option<String>,
    pub inscrits: u32,
    pub votants: u32,
    pub blancs: Option<u32>,
    pub nuls: Option<u32>,
    pub exprimes: u32,
    /// (index into [`Parser::choices`], voix). Wide files list every column, zeros included.
    pub votes: Vec<(u32, u32)>,
}

/// A row that could not be read or failed a check; `message` is French and starts with "ligne N : ".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl RowError {
    fn new(line: u64, message: impl std::fmt::Display) -> Self {
        RowError { line, message: format!("ligne {line} : {message}") }
    }
}

/// One commune of an INSEE Filosofi file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilosofiRow {
    pub line: u64,
    /// INSEE code, 5 characters.
    pub commune: String,
    /// (indicator code as in the header, e.g. "MED21"; value, None for the statistical secret `s` or an empty cell).
    pub values: Vec<(String, Option<f64>)>,
}

/// Passes bytes through and remembers where line breaks are, so that a record's line number is exact even after
/// blank lines and with CRLF endings (the csv crate's own record position points before skipped blank lines and
/// before the LF of a CRLF).
struct LineTracker<R> {
    inner: R,
    offset: u64,
    /// Line breaks seen so far (LF, CRLF or a lone CR).
    breaks: u64,
    prev_cr: bool,
    in_run: bool,
    /// Maximal runs of CR/LF bytes not yet passed by the reader: (start, end, line breaks before end).
    runs: VecDeque<(u64, u64, u64)>,
}

impl<R: Read> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker { inner, offset: 0, breaks: 0, prev_cr: false, in_run: false, runs: VecDeque::new() }
    }

    fn scan(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if !self.in_run {
                // Fast path: jump to the next line terminator.
                match bytes[i..].iter().position(|&b| b == b'\n' || b == b'\r') {
                    Some(p) => i += p,
                    None => break,
                }
                self.runs.push_back((self.offset + i as u64, 0, 0));
                self.in_run = true;
            }
            let b = bytes[i];
            if self.prev_cr && b != b'\n' {
                self.breaks += 1;
            }
            self.prev_cr = b == b'\r';
            match b {
                b'\n' => self.breaks += 1,
                b'\r' => {}
                _ => {
                    let breaks = self.breaks;
                    if let Some(run) = self.runs.back_mut() {
                        run.1 = self.offset + i as u64;
                        run.2 = breaks;
                    }
                    self.in_run = false;
                }
            }
            i += 1;
        }
        self.offset += bytes.len() as u64;
    }

    /// 1-based line of the first character at or after byte `start` that is not a line terminator. Calls must come
    /// with non-decreasing `start`.
    fn line_at(&mut self, start: u64) -> u64 {
        while self.runs.len() >= 2 && self.runs[1].0 <= start {
            self.runs.pop_front();
        }
        match self.runs.front() {
            Some(&(run_start, _, breaks)) if run_start <= start => breaks + 1,
            _ => 1,
        }
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scan(&buf[..n]);
        Ok(n)
    }
}

type CsvReader<'a> = csv::Reader<LineTracker<Box<dyn Read + Send + 'a>>>;

/// Line of the record just read (or of the failed read).
fn record_line(reader: &mut CsvReader<'_>, position: Option<&csv::Position>) -> u64 {
    let start = position.map_or_else(|| reader.position().byte(), csv::Position::byte);
    reader.get_mut().line_at(start)
}

/// A decoded, delimited text stream with its header read.
pub struct Source<'a> {
    reader: CsvReader<'a>,
    header: Vec<String>,
    header_line: u64,
    encoding: TextEncoding,
    delimiter: u8,
    compressed: bool,
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("header", &self.header)
            .field("encoding", &self.encoding)
            .field("delimiter", &(self.delimiter as char))
            .field("compressed", &self.compressed)
            .finish_non_exhaustive()
    }
}

impl Source<'_> {
    pub fn header(&self) -> &[String] {
        &self.header
    }
    /// Line of the header (1 unless blank lines precede it).
    pub fn header_line(&self) -> u64 {
        self.header_line
    }
    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }
    /// True when the input was gzip-compressed.
    pub fn compressed(&self) -> bool {
        self.compressed
    }
    pub fn layout(&self) -> Option<Layout> {
        detect_layout(&self.header)
    }
}

/// Opens in-memory bytes: gzip is decompressed on the fly, the encoding and the separator are detected, the header
/// is read.
pub fn open(bytes: &[u8]) -> Result<Source<'_>, ParseError> {
    open_reader(bytes)
}

/// Same as [`open`] over any reader (e.g. a `File`), streaming.
pub fn open_reader<'a, R: Read + Send + 'a>(mut input: R) -> Result<Source<'a>, ParseError> {
    let mut magic = Vec::with_capacity(2);
    (&mut input).take(2).read_to_end(&mut magic)?;
    let compressed = magic == [0x1f, 0x8b];
    let raw: Box<dyn Read + Send + 'a> = Box::new(io::Cursor::new(magic).chain(input));
    let mut stream: Box<dyn Read + Send + 'a> = if compressed { Box::new(MultiGzDecoder::new(raw)) } else { raw };

    let mut prefix = Vec::with_capacity(SNIFF_LEN as usize);
    (&mut stream).take(SNIFF_LEN).read_to_end(&mut prefix)?;
    if prefix.starts_with(b"\xEF\xBB\xBF") {
        prefix.drain(..3);
    }
    if prefix.iter().all(u8::is_ascii_whitespace) {
        return Err(ParseError::Empty);
    }
    let encoding = match std::str::from_utf8(&prefix) {
        Ok(_) => TextEncoding::Utf8,
        // A multi-byte character cut by the end of the sniffed prefix.
        Err(e) if e.error_len().is_none() && prefix.len() as u64 == SNIFF_LEN => TextEncoding::Utf8,
        Err(_) => TextEncoding::Windows1252,
    };
    let delimiter = sniff_delimiter(&prefix);
    let stream: Box<dyn Read + Send + 'a> = Box::new(io::Cursor::new(prefix).chain(stream));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(LineTracker::new(stream));
    let mut record = csv::ByteRecord::new();
    loop {
        if !reader.read_byte_record(&mut record)? {
            return Err(ParseError::Empty);
        }
        if !is_blank(&record) {
            break;
        }
    }
    let header_line = record_line(&mut reader, record.position());
    let header = record.iter().map(|f| decode(f, encoding).trim().to_string()).collect();
    Ok(Source { reader, header, header_line, encoding, delimiter, compressed })
}

/// Most frequent of `;`, `,` and tab (outside quotes) on the first non-blank line; `,` when none occurs.
fn sniff_delimiter(prefix: &[u8]) -> u8 {
    let first_line = prefix
        .split(|&b| b == b'\n' || b == b'\r')
        .find(|line| !line.iter().all(u8::is_ascii_whitespace))
        .unwrap_or_default();
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in first_line {
        match b {
            b'"' => quoted = !quoted,
            b';' if !quoted => counts[0] += 1,
            b',' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let candidates = [b';', b',', b'\t'];
    let (best, n) = counts.iter().enumerate().max_by_key(|&(i, n)| (*n, usize::MAX - i)).unwrap_or((1, &0));
    if *n == 0 { b',' } else { candidates[best] }
}

fn is_blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

fn decode(bytes: &[u8], encoding: TextEncoding) -> Cow<'_, str> {
    let utf8 = if encoding == TextEncoding::Utf8 { std::str::from_utf8(bytes).ok() } else { None };
    match utf8 {
        Some(s) => Cow::Borrowed(s),
        None => WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// Header name reduced to lowercase ASCII letters and digits, accents removed: "Code du b.vote" → "codedubvote",
/// "N°Panneau" → "npanneau", "Exprimés" → "exprimes".
fn norm(name: &str) -> String {
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

const DEP: &[&str] = &["codedudepartement", "codedepartement", "codedpt", "departement"];
const COMMUNE: &[&str] = &["codedelacommune", "codecommune", "codecom", "codeinsee", "commune"];
const BUREAU: &[&str] = &[
    "codedubvote",
    "codebvote",
    "codedubureaudevote",
    "codebureaudevote",
    "codebv",
    "numerodubureau",
    "bureaudevote",
    "bureau",
];
const CIRC: &[&str] = &[
    "codedelacirconscription",
    "codecirconscription",
    "codecirconscriptionlegislative",
    "codedelacirconscriptionlegislative",
    "circonscription",
];
const GROUP_START: &[&str] = &[
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
const NUANCE: &[&str] = &["nuance", "codenuance", "nuanceliste", "codenuanceliste", "nuancecandidat"];
const NOM: &[&str] = &["nom", "nomcandidat"];
const PRENOM: &[&str] = &["prenom", "prenomcandidat"];
const LIST_LABEL: &[&str] =
    &["libelledeliste", "libelledelaliste", "libelleliste", "libelleabregedeliste", "libelleabregeliste", "liste"];

fn find(norms: &[String], names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| norms.iter().position(|h| h == n))
}

fn find_in(norms: &[String], range: std::ops::Range<usize>, names: &[&str]) -> Option<usize> {
    names.iter().find_map(|n| norms[range.clone()].iter().position(|h| h == n).map(|i| i + range.start))
}

/// Splits "Voix 12" into ("voix", 12).
fn numbered(name: &str) -> Option<(String, u32)> {
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

/// Columns shared by every layout.
#[derive(Debug, Clone)]
struct Fixed {
    dep: Option<usize>,
    commune: usize,
    bureau: usize,
    circ: Option<usize>,
    inscrits: usize,
    votants: usize,
    blancs: Option<usize>,
    nuls: Option<usize>,
    exprimes: usize,
}

/// Where a candidate's fields are (absolute column indices, or offsets within a repeated group).
#[derive(Debug, Clone)]
struct GroupFields {
    nom: Option<usize>,
    prenom: Option<usize>,
    label: Option<usize>,
    nuance: Option<usize>,
    voix: usize,
}

#[derive(Debug, Clone)]
enum Candidates {
    /// Choice `i` is column `columns[i]`.
    Wide { columns: Vec<usize> },
    /// Groups of `len` columns from `start` to the end of the row; `fields` are offsets within a group.
    Repeated { start: usize, len: usize, fields: GroupFields },
    /// Numbered groups with absolute indices, by increasing number.
    Numbered { groups: Vec<GroupFields> },
}

/// Streaming parser of an election result file. The choice table grows as new candidates appear.
pub struct Parser<'a> {
    reader: CsvReader<'a>,
    header: Vec<String>,
    layout: Layout,
    encoding: TextEncoding,
    fixed: Fixed,
    candidates: Candidates,
    /// Fewest columns a row must have (Wide: exactly this many).
    min_len: usize,
    choices: Vec<Choice>,
    choice_index: HashMap<String, u32>,
    record: csv::ByteRecord,
    key: String,
    done: bool,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("layout", &self.layout)
            .field("encoding", &self.encoding)
            .field("choices", &self.choices.len())
            .finish_non_exhaustive()
    }
}

/// Everything parsed from one file.
#[derive(Debug, Clone, Serialize)]
pub struct ParsedResults {
    pub layout: Layout,
    pub choices: Vec<Choice>,
    pub rows: Vec<BureauRow>,
    pub errors: Vec<RowError>,
}

/// Parses a whole result file into memory (rows that fail a check are in `errors`).
pub fn parse_results(bytes: &[u8]) -> Result<ParsedResults, ParseError> {
    let mut parser = Parser::from_bytes(bytes)?;
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    while let Some(row) = parser.next_row() {
        match row {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    Ok(ParsedResults { layout: parser.layout, choices: parser.choices, rows, errors })
}

impl<'a> Parser<'a> {
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ParseError> {
        Self::new(open(bytes)?)
    }

    pub fn from_reader<R: Read + Send + 'a>(input: R) -> Result<Self, ParseError> {
        Self::new(open_reader(input)?)
    }

    pub fn new(source: Source<'a>) -> Result<Self, ParseError> {
        let Source { reader, header, encoding, .. } = source;
        let layout = detect_layout(&header).ok_or_else(|| ParseError::UnknownLayout(header.join(", ")))?;
        let norms: Vec<String> = header.iter().map(|h| norm(h)).collect();
        let need = |names: &[&str], shown: &str| find(&norms, names).ok_or(ParseError::MissingColumn(shown.into()));
        let fixed = Fixed {
            dep: find(&norms, DEP),
            commune: need(COMMUNE, "commune")?,
            bureau: need(BUREAU, "bureau")?,
            circ: find(&norms, CIRC),
            inscrits: need(&["inscrits"], "Inscrits")?,
            votants: need(&["votants"], "Votants")?,
            blancs: find(&norms, &["blancs"]),
            nuls: find(&norms, &["nuls"]),
            exprimes: need(&["exprimes"], "Exprimés")?,
        };
        let fixed_end = [
            fixed.dep,
            Some(fixed.commune),
            Some(fixed.bureau),
            fixed.circ,
            Some(fixed.inscrits),
            Some(fixed.votants),
            fixed.blancs,
            fixed.nuls,
            Some(fixed.exprimes),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
            + 1;
        let mut choices = Vec::new();
        let mut choice_index = HashMap::new();
        let (candidates, min_len) = match layout {
            Layout::NationalWide => {
                let known: [&[&str]; 5] = [DEP, COMMUNE, BUREAU, CIRC, &["inscrits", "votants", "blancs", "nuls"]];
                let columns: Vec<usize> = (fixed.exprimes + 1..header.len())
                    .filter(|&i| !known.iter().any(|names| names.contains(&norms[i].as_str())))
                    .filter(|&i| !norms[i].contains("libelle") && !header[i].is_empty())
                    .collect();
                // Legislative files have one column per nuance code ("FI", "SOC", "REM"…).
                let nuances = columns
                    .iter()
                    .all(|&i| (2..=4).contains(&header[i].len()) && header[i].bytes().all(|b| b.is_ascii_uppercase()));
                for &i in &columns {
                    let label = header[i].clone();
                    let nuance = nuances.then(|| label.clone());
                    choice_index.insert(choice_key(&label, nuance.as_deref()), choices.len() as u32);
                    choices.push(Choice { label, nuance });
                }
                (Candidates::Wide { columns }, header.len())
            }
            Layout::Official2017 => {
                let start = (fixed.exprimes + 1..header.len())
                    .find(|&i| GROUP_START.contains(&norms[i].as_str()))
                    .ok_or(ParseError::MissingColumn("N°Panneau".into()))?;
                let end = (start + 1..header.len()).find(|&i| norms[i] == norms[start]).unwrap_or(header.len());
                let rel = |i: Option<usize>| i.map(|i| i - start);
                let fields = GroupFields {
                    nom: rel(find_in(&norms, start..end, NOM)),
                    prenom: rel(find_in(&norms, start..end, PRENOM)),
                    label: rel(find_in(&norms, start..end, LIST_LABEL)),
                    nuance: rel(find_in(&norms, start..end, NUANCE)),
                    voix: rel(find_in(&norms, start..end, &["voix"]))
                        .ok_or(ParseError::MissingColumn("Voix".into()))?,
                };
                if fields.nom.is_none() && fields.label.is_none() {
                    return Err(ParseError::MissingColumn("Nom".into()));
                }
                (Candidates::Repeated { start, len: end - start, fields }, fixed_end.max(start))
            }
            Layout::Official2024 => {
                let mut by_number: BTreeMap<u32, [Option<usize>; 5]> = BTreeMap::new();
                for (i, name) in header.iter().enumerate() {
                    let Some((base, k)) = numbered(name) else { continue };
                    let slot = match base.as_str() {
                        b if NOM.contains(&b) => 0,
                        b if PRENOM.contains(&b) => 1,
                        b if LIST_LABEL.contains(&b) => 2,
                        b if NUANCE.contains(&b) => 3,
                        "voix" => 4,
                        _ => continue,
                    };
                    let fields = by_number.entry(k).or_default();
                    // Prefer the first matching column (full list label before the abbreviated one).
                    if fields[slot].is_none() {
                        fields[slot] = Some(i);
                    }
                }
                let groups: Vec<GroupFields> = by_number
                    .into_values()
                    .filter_map(|[nom, prenom, label, nuance, voix]| {
                        Some(GroupFields { nom, prenom, label, nuance, voix: voix? })
                    })
                    .collect();
                if groups.is_empty() {
                    return Err(ParseError::MissingColumn("Voix 1".into()));
                }
                (Candidates::Numbered { groups }, fixed_end)
            }
        };
        Ok(Parser {
            reader,
            header,
            layout,
            encoding,
            fixed,
            candidates,
            min_len,
            choices,
            choice_index,
            record: csv::ByteRecord::new(),
            key: String::new(),
            done: false,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Candidates / lists / nuances seen so far; `BureauRow::votes` index into it.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// Next bureau, or the error of a row that failed; `None` at the end of the file.
    pub fn next_row(&mut self) -> Option<Result<BureauRow, RowError>> {
        if self.done {
            return None;
        }
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) if is_blank(&self.record) => continue,
                Ok(true) => break,
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // I/O errors (truncated or corrupt gzip…) end the stream.
                    self.done = true;
                    let line = record_line(&mut self.reader, e.position());
                    return Some(Err(RowError::new(line, format!("lecture impossible ({e})"))));
                }
            }
        }
        let line = record_line(&mut self.reader, self.record.position());
        Some(self.parse_record(line))
    }

    fn parse_record(&mut self, line: u64) -> Result<BureauRow, RowError> {
        let Parser { record, header, encoding, fixed, candidates, min_len, choices, choice_index, key, .. } = self;
        let (record, encoding) = (&*record, *encoding);
        let wide = matches!(candidates, Candidates::Wide { .. });
        if (wide && record.len() != *min_len) || record.len() < *min_len {
            let message = if wide {
                format!("{} colonnes au lieu de {min_len} attendues", record.len())
            } else {
                format!("{} colonnes alors qu'il en faut au moins {min_len}", record.len())
            };
            return Err(RowError::new(line, message));
        }
        let text = |i: usize| match record.get(i) {
            Some(bytes) => match decode(bytes, encoding) {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
            },
            None => Cow::Borrowed(""),
        };
        let count = |i: usize, name: &str| -> Result<u32, RowError> {
            let raw = text(i);
            parse_count(&raw).ok_or_else(|| {
                if raw.is_empty() {
                    RowError::new(line, format!("« {name} » est vide"))
                } else {
                    RowError::new(line, format!("« {name} » n'est pas un nombre (« {raw} »)"))
                }
            })
        };
        let (departement, commune) = normalise_location(&fixed.dep.map(text).unwrap_or_default(), &text(fixed.commune))
            .map_err(|m| RowError::new(line, m))?;
        let bureau = normalise_bureau(&text(fixed.bureau)).map_err(|m| RowError::new(line, m))?;
        let circonscription = fixed.circ.and_then(|i| normalise_circonscription(&departement, &text(i)));
        let inscrits = count(fixed.inscrits, &header[fixed.inscrits])?;
        let votants = count(fixed.votants, &header[fixed.votants])?;
        let mut blancs = fixed.blancs.map(|i| count(i, &header[i])).transpose()?;
        let mut nuls = fixed.nuls.map(|i| count(i, &header[i])).transpose()?;
        let exprimes = count(fixed.exprimes, &header[fixed.exprimes])?;

        let mut votes = Vec::new();
        match candidates {
            Candidates::Wide { columns } => {
                votes.reserve_exact(columns.len());
                for (choice, &i) in columns.iter().enumerate() {
                    votes.push((choice as u32, count(i, &header[i])?));
                }
            }
            Candidates::Repeated { start, len, fields } => {
                let mut group_start = *start;
                let mut n = 1;
                while group_start < record.len() {
                    let at = |offset: Option<usize>| offset.map(|o| group_start + o);
                    let group = GroupFields {
                        nom: at(fields.nom),
                        prenom: at(fields.prenom),
                        label: at(fields.label),
                        nuance: at(fields.nuance),
                        voix: group_start + fields.voix,
                    };
                    let empty = (group_start..(group_start + *len).min(record.len())).all(|i| text(i).is_empty());
                    if !empty {
                        let name = format!("{} (candidat {n})", header[*start + fields.voix]);
                        let voix = count(group.voix, &name)?;
                        let choice = intern_choice(&group, &text, choices, choice_index, key)
                            .ok_or_else(|| RowError::new(line, format!("candidat {n} sans nom")))?;
                        votes.push((choice, voix));
                    }
                    group_start += *len;
                    n += 1;
                }
            }
            Candidates::Numbered { groups } => {
                for group in groups.iter() {
                    let named =
                        [group.nom, group.prenom, group.label].into_iter().flatten().any(|i| !text(i).is_empty());
                    if !named && text(group.voix).is_empty() {
                        continue;
                    }
                    let voix = count(group.voix, &header[group.voix])?;
                    let choice = intern_choice(group, &text, choices, choice_index, key).ok_or_else(|| {
                        RowError::new(line, format!("candidat sans nom pour « {} »", header[group.voix]))
                    })?;
                    votes.push((choice, voix));
                }
            }
        }

        if votants > inscrits {
            return Err(RowError::new(line, format!("votants ({votants}) supérieurs aux inscrits ({inscrits})")));
        }
        if exprimes > votants {
            return Err(RowError::new(line, format!("exprimés ({exprimes}) supérieurs aux votants ({votants})")));
        }
        match (blancs, nuls) {
            (Some(b), Some(n)) if u64::from(b) + u64::from(n) + u64::from(exprimes) != u64::from(votants) => {
                return Err(RowError::new(
                    line,
                    format!("blancs ({b}) + nuls ({n}) + exprimés ({exprimes}) différent des votants ({votants})"),
                ));
            }
            (Some(b), None) => {
                nuls = Some(votants.checked_sub(exprimes).and_then(|r| r.checked_sub(b)).ok_or_else(|| {
                    RowError::new(
                        line,
                        format!("blancs ({b}) + exprimés ({exprimes}) supérieurs aux votants ({votants})"),
                    )
                })?);
            }
            (None, Some(n)) => {
                blancs = Some(votants.checked_sub(exprimes).and_then(|r| r.checked_sub(n)).ok_or_else(|| {
                    RowError::new(
                        line,
                        format!("nuls ({n}) + exprimés ({exprimes}) supérieurs aux votants ({votants})"),
                    )
                })?);
            }
            _ => {}
        }
        let sum: u64 = votes.iter().map(|&(_, v)| u64::from(v)).sum();
        if sum != u64::from(exprimes) {
            return Err(RowError::new(line, format!("la somme des voix ({sum}) diffère des exprimés ({exprimes})")));
        }
        Ok(BureauRow {
            line,
            departement,
            commune,
            bureau,
            circonscription,
            inscrits,
            votants,
            blancs,
            nuls,
            exprimes,
            votes,
        })
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<BureauRow, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

fn choice_key(label: &str, nuance: Option<&str>) -> String {
    let mut key = String::with_capacity(label.len() + 8);
    push_choice_key(&mut key, label, nuance);
    key
}

fn push_choice_key(key: &mut String, label: &str, nuance: Option<&str>) {
    key.clear();
    key.push_str(label);
    key.push('\u{1f}');
    key.push_str(nuance.unwrap_or(""));
}

/// Index of the group's candidate ("Nom Prénom", else the list label), added to the table when new; None when the
/// group has no name at all.
fn intern_choice<'r>(
    group: &GroupFields,
    text: &impl Fn(usize) -> Cow<'r, str>,
    choices: &mut Vec<Choice>,
    index: &mut HashMap<String, u32>,
    key: &mut String,
) -> Option<u32> {
    let get = |i: Option<usize>| i.map(text).filter(|s| !s.is_empty());
    let label: Cow<'r, str> = match (get(group.nom), get(group.prenom), get(group.label)) {
        (Some(nom), Some(prenom), _) => Cow::Owned(format!("{nom} {prenom}")),
        (Some(nom), None, _) => nom,
        (None, _, Some(label)) => label,
        (None, _, None) => return None,
    };
    let nuance = get(group.nuance);
    push_choice_key(key, &label, nuance.as_deref());
    if let Some(&i) = index.get(key.as_str()) {
        return Some(i);
    }
    let i = choices.len() as u32;
    index.insert(key.clone(), i);
    choices.push(Choice { label: label.into_owned(), nuance: nuance.map(Cow::into_owned) });
    Some(i)
}

/// Non-negative integer; spaces, no-break spaces and narrow no-break spaces are thousands separators.
fn parse_count(raw: &str) -> Option<u32> {
    let mut value: u32 = 0;
    let mut digits = 0;
    for c in raw.chars() {
        match c {
            '0'..='9' => {
                value = value.checked_mul(10)?.checked_add(c as u32 - '0' as u32)?;
                digits += 1;
            }
            ' ' | '\u{a0}' | '\u{202f}' if digits > 0 => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(value)
}

/// INSEE prefix of the Ministry's letter codes for overseas territories (3-digit commune numbers whose first digit
/// repeats the territory: ZA 101 → 97101).
fn overseas_prefix(dep: &str, number: &str) -> Option<&'static str> {
    Some(match dep {
        "ZA" => "971",
        "ZB" => "972",
        "ZC" => "973",
        "ZD" => "974",
        "ZS" => "975",
        "ZM" => "976",
        "ZX" if number.starts_with('8') => "978",
        "ZX" => "977",
        "ZW" => "986",
        "ZP" => "987",
        "ZN" => "988",
        _ => return None,
    })
}

/// (département, INSEE commune) from the file's codes: a 5-character commune code is kept, a commune number is
/// prefixed by the département (see the module documentation for overseas and abroad).
fn normalise_location(dep_raw: &str, commune_raw: &str) -> Result<(String, String), String> {
    let mut dep = dep_raw.trim().to_ascii_uppercase();
    if dep.len() == 1 && dep.bytes().all(|b| b.is_ascii_digit()) {
        dep.insert(0, '0');
    }
    let mut commune = commune_raw.trim().to_ascii_uppercase();
    if commune.is_empty() {
        return Err("code commune manquant".into());
    }
    if !commune.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("code commune invalide (« {commune_raw} »)"));
    }
    // Spreadsheets drop the leading zero of "01001".
    if commune.len() == 4 && commune.bytes().all(|b| b.is_ascii_digit()) && (dep.is_empty() || dep.starts_with('0')) {
        commune.insert(0, '0');
    }
    if commune.len() == 5 {
        let dep = if commune.starts_with("ZZ") {
            "ZZ".to_string()
        } else if commune.starts_with("97") || commune.starts_with("98") {
            commune[..3].to_string()
        } else {
            commune[..2].to_string()
        };
        return Ok((dep, commune));
    }
    if commune.len() > 3 {
        return Err(format!("code commune invalide (« {commune_raw} »)"));
    }
    let number = format!("{commune:0>3}");
    if let Some(prefix) = overseas_prefix(&dep, &number) {
        return Ok((prefix.to_string(), format!("{prefix}{}", &number[1..])));
    }
    match dep.len() {
        2 if dep == "ZZ" => Ok((dep, format!("ZZ{number}"))),
        2 => {
            let code = format!("{dep}{number}");
            Ok((dep, code))
        }
        3 if dep.starts_with("97") || dep.starts_with("98") => {
            let code = format!("{dep}{}", &number[1..]);
            Ok((dep, code))
        }
        0 => Err(format!("code département manquant pour la commune « {commune_raw} »")),
        _ => Err(format!("code département invalide (« {dep_raw} »)")),
    }
}

fn normalise_bureau(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("code bureau de vote manquant".into());
    }
    Ok(format!("{raw:0>4}"))
}

/// "DD-NN" from a circonscription number ("8", "08") or a code ending with it ("6908"); abroad is "99",
/// Saint-Barthélemy and Saint-Martin share "977-01".
fn normalise_circonscription(departement: &str, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.contains('-') {
        return Some(raw.to_string());
    }
    let prefix = match departement {
        "ZZ" => "99",
        "978" => "977",
        d => d,
    };
    let number = if raw.len() > 2 { &raw[raw.len() - 2..] } else { raw };
    match number.parse::<u32>() {
        Ok(n) => Some(format!("{prefix}-{n:02}")),
        Err(_) => Some(raw.to_string()),
    }
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
fn parse_indicator(raw: &str) -> Option<Option<f64>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NATIONAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/national/");
    const RHONE_T1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/rhone-69/pres2017_t1_bv_69.csv.gz");
    const RHONE_T2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/rhone-69/pres2017_t2_bv_69.csv.gz");
    const FINISTERE: &str =
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/finistere-29/leg2024_t1_bv_29_circ2-3.csv.gz");
    const FILOSOFI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/socio/filosofi2021_communes_69.csv.gz");
    const NATIONAL_FILES: [(&str, usize, usize); 5] = [
        ("2017-presidentielle-1", 69_242, 11),
        ("2017-presidentielle-2", 69_242, 2),
        ("2017-legislatives-1", 69_242, 17),
        ("2017-legislatives-2", 68_767, 16),
        ("2019-europeennes", 69_297, 34),
    ];

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn national(name: &str) -> Vec<u8> {
        read(&format!("{NATIONAL}{name}_par_bureau_large.csv.gz"))
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn choice(parsed: &ParsedResults, label: &str) -> u32 {
        parsed.choices.iter().position(|c| c.label == label).unwrap_or_else(|| panic!("no choice {label}")) as u32
    }

    fn votes_for(row: &BureauRow, choice: u32) -> u32 {
        row.votes.iter().find(|&&(c, _)| c == choice).map_or(0, |&(_, v)| v)
    }

    fn row<'p>(parsed: &'p ParsedResults, commune: &str, bureau: &str) -> &'p BureauRow {
        parsed.rows.iter().find(|r| r.commune == commune && r.bureau == bureau).expect("bureau not found")
    }

    #[test]
    fn national_presidential_2017_round_1_totals() {
        let parsed = parse_results(&national("2017-presidentielle-1")).unwrap();
        assert_eq!(parsed.layout, Layout::NationalWide);
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.rows.len(), 69_242);
        assert_eq!(parsed.choices.len(), 11);
        let melenchon = choice(&parsed, "MÉLENCHON");
        assert_eq!(parsed.choices[melenchon as usize].nuance, None);
        let total = |f: &dyn Fn(&BureauRow) -> u32| parsed.rows.iter().map(|r| u64::from(f(r))).sum::<u64>();
        assert_eq!(total(&|r| votes_for(r, melenchon)), 7_059_951);
        let macron = choice(&parsed, "MACRON");
        assert_eq!(total(&|r| votes_for(r, macron)), 8_656_346);
        // Official figure (metropolitan France, overseas and abroad).
        assert_eq!(total(&|r| r.inscrits), 47_582_183);
        assert_eq!(total(&|r| r.votants), 37_003_728);
        assert_eq!(total(&|r| r.exprimes), 36_054_394);

        let first = &parsed.rows[0];
        assert_eq!((first.line, first.departement.as_str(), first.commune.as_str()), (2, "01", "01001"));
        assert_eq!((first.bureau.as_str(), first.circonscription.as_deref()), ("0001", Some("01-04")));
        assert_eq!(
            (first.inscrits, first.votants, first.blancs, first.nuls, first.exprimes),
            (598, 506, Some(2), Some(9), 495)
        );
        assert_eq!(votes_for(first, melenchon), 59);

        let lyon = row(&parsed, "69123", "0101");
        assert_eq!(
            (lyon.departement.as_str(), lyon.circonscription.as_deref(), lyon.inscrits),
            ("69", Some("69-02"), 828)
        );
        assert_eq!(row(&parsed, "14118", "01.1").inscrits, 1267);
        assert_eq!(row(&parsed, "2A004", "0001").departement, "2A");
        let abymes = row(&parsed, "97101", "0001");
        assert_eq!(
            (abymes.departement.as_str(), abymes.circonscription.as_deref(), abymes.inscrits),
            ("971", Some("971-01"), 510)
        );
        assert_eq!(row(&parsed, "97601", "0025").departement, "976");
        assert_eq!(row(&parsed, "98711", "0001").departement, "987");
        assert_eq!(row(&parsed, "98801", "0001").departement, "988");
        assert_eq!(row(&parsed, "97501", "0001").departement, "975");
        assert_eq!(row(&parsed, "97701", "0001").circonscription.as_deref(), Some("977-01"));
        let saint_martin = parsed.rows.iter().find(|r| r.commune == "97801").unwrap();
        assert_eq!(
            (saint_martin.departement.as_str(), saint_martin.circonscription.as_deref()),
            ("978", Some("977-01"))
        );
        assert_eq!(row(&parsed, "98601", "0001").inscrits, 8464);
        let abidjan = row(&parsed, "ZZ001", "0001");
        assert_eq!((abidjan.departement.as_str(), abidjan.circonscription.as_deref()), ("ZZ", Some("99-09")));
        assert_eq!(abidjan.inscrits, 11294);
        assert!(parsed.rows.iter().all(|r| r.commune.len() == 5 && r.bureau.len() == 4));
    }

    #[test]
    fn every_national_file_parses_without_errors() {
        for (name, rows, choices) in NATIONAL_FILES {
            let parsed = parse_results(&national(name)).unwrap();
            assert_eq!(parsed.layout, Layout::NationalWide, "{name}");
            assert_eq!(parsed.errors, vec![], "{name}");
            assert_eq!((parsed.rows.len(), parsed.choices.len()), (rows, choices), "{name}");
            let legislative = name.contains("legislatives");
            assert!(parsed.choices.iter().all(|c| c.nuance.is_some() == legislative), "{name}");
            assert_eq!(parsed.rows.iter().all(|r| r.circonscription.is_some()), !name.contains("europeennes"));
        }
    }

    #[test]
    fn national_legislative_nuances() {
        let parsed = parse_results(&national("2017-legislatives-1")).unwrap();
        let fi = choice(&parsed, "FI");
        assert_eq!(parsed.choices[fi as usize].nuance.as_deref(), Some("FI"));
        assert_eq!(parsed.rows.iter().map(|r| u64::from(votes_for(r, fi))).sum::<u64>(), 2_497_622);
    }

    #[test]
    fn rhone_official_2017() {
        let bytes = read(RHONE_T1);
        let source = open(&bytes).unwrap();
        assert!(source.compressed());
        assert_eq!(
            (source.delimiter(), source.encoding(), source.layout()),
            (b';', TextEncoding::Utf8, Some(Layout::Official2017))
        );
        let parsed = parse_results(&bytes).unwrap();
        assert_eq!(parsed.layout, Layout::Official2017);
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(parsed.rows.len(), 1287);
        assert_eq!(parsed.choices.len(), 11);
        assert_eq!(parsed.choices[0], Choice { label: "DUPONT-AIGNAN Nicolas".into(), nuance: None });
        let melenchon = choice(&parsed, "MÉLENCHON Jean-Luc");
        let affoux = &parsed.rows[0];
        assert_eq!((affoux.line, affoux.departement.as_str(), affoux.commune.as_str()), (2, "69", "69001"));
        assert_eq!((affoux.bureau.as_str(), affoux.circonscription.as_deref()), ("0001", Some("69-08")));
        assert_eq!(
            (affoux.inscrits, affoux.votants, affoux.blancs, affoux.nuls, affoux.exprimes),
            (259, 230, Some(0), Some(3), 227)
        );
        assert_eq!(votes_for(affoux, melenchon), 24);
        assert_eq!(affoux.votes.len(), 11);
        assert_eq!(parsed.rows.iter().map(|r| u64::from(r.inscrits)).sum::<u64>(), 1_155_604);

        let t2 = parse_results(&read(RHONE_T2)).unwrap();
        assert_eq!((t2.errors.len(), t2.rows.len(), t2.choices.len()), (0, 1287, 2));
    }

    #[test]
    fn latin1_and_utf8_give_identical_rows() {
        let utf8 = gunzip(&read(RHONE_T1));
        let text = std::str::from_utf8(&utf8).unwrap();
        let (latin1, _, unmappable) = WINDOWS_1252.encode(text);
        assert!(!unmappable);
        assert_ne!(latin1.as_ref(), utf8.as_slice());
        assert!(std::str::from_utf8(&latin1).is_err());
        assert_eq!(open(&latin1).unwrap().encoding(), TextEncoding::Windows1252);
        let (a, b) = (parse_results(&utf8).unwrap(), parse_results(&latin1).unwrap());
        assert_eq!(a.rows, b.rows);
        assert_eq!(a.choices, b.choices);
        assert_eq!(a.errors, b.errors);
        // Latin-1 header names are recognised too.
        assert_eq!(b.layout, Layout::Official2017);
    }

    #[test]
    fn gzip_bom_and_plain_text_are_equivalent() {
        let compressed = read(RHONE_T2);
        let plain = gunzip(&compressed);
        assert!(!open(&plain).unwrap().compressed());
        let mut with_bom = b"\xEF\xBB\xBF".to_vec();
        with_bom.extend_from_slice(&plain);
        let reference = parse_results(&compressed).unwrap();
        for bytes in [plain, with_bom.clone(), gzip(&with_bom)] {
            let parsed = parse_results(&bytes).unwrap();
            assert_eq!((parsed.rows, parsed.choices), (reference.rows.clone(), reference.choices.clone()));
        }
        // Streaming from a reader gives the same rows.
        let streamed: Vec<_> = Parser::from_reader(io::Cursor::new(compressed)).unwrap().map(Result::unwrap).collect();
        assert_eq!(streamed, reference.rows);
    }

    #[test]
    fn finistere_official_2024_with_nuances() {
        let parsed = parse_results(&read(FINISTERE)).unwrap();
        assert_eq!(parsed.layout, Layout::Official2024);
        assert_eq!(parsed.errors, vec![]);
        assert_eq!((parsed.rows.len(), parsed.choices.len()), (201, 18));
        assert!(parsed.choices.iter().all(|c| c.nuance.is_some()));
        let cadalen = choice(&parsed, "CADALEN Pierre-Yves");
        assert_eq!(parsed.choices[cadalen as usize].nuance.as_deref(), Some("UG"));
        let bohars = row(&parsed, "29011", "0001");
        assert_eq!((bohars.departement.as_str(), bohars.circonscription.as_deref()), ("29", None));
        assert_eq!(
            (bohars.inscrits, bohars.votants, bohars.blancs, bohars.nuls, bohars.exprimes),
            (997, 787, Some(8), Some(3), 776)
        );
        assert_eq!(votes_for(bohars, cadalen), 223);
        assert_eq!(bohars.votes.len(), 10);
        let mut group_counts: Vec<usize> = parsed.rows.iter().map(|r| r.votes.len()).collect();
        group_counts.sort_unstable();
        group_counts.dedup();
        assert_eq!(group_counts, vec![8, 10]);
        assert!(parsed.rows.iter().any(|r| r.commune == "29299"));
    }

    #[test]
    fn filosofi_secret_is_none() {
        let (rows, errors) = parse_filosofi(&read(FILOSOFI)).unwrap();
        assert_eq!(errors, vec![]);
        assert_eq!(rows.len(), 265);
        let value = |commune: &str, code: &str| {
            let row = rows.iter().find(|r| r.commune == commune).unwrap();
            row.values.iter().find(|(c, _)| c == code).unwrap().1
        };
        assert_eq!(value("69001", "MED21"), Some(24970.0));
        assert_eq!(value("69001", "TP6021"), None);
        assert_eq!(value("69003", "TP6021"), Some(11.0));
        assert_eq!(value("69003", "PIMPOT21"), Some(-20.8));
        assert_eq!(value("69003", "D121"), Some(13400.0));
        assert_eq!(rows[0].values.len(), 27);
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn filosofi_reports_bad_cells_and_rows() {
        let text = "CODGEO;LIBGEO;MED21;TP6021\n1001;Abergement;22 150;s\n69002;X;12x;\n69003;Y\n";
        let (rows, errors) = parse_filosofi(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].commune, "01001");
        assert_eq!(rows[0].values, vec![("MED21".into(), Some(22150.0)), ("TP6021".into(), None)]);
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(errors[0].message, "ligne 3 : « MED21 » n'est pas un nombre (« 12x »)");
    }

    #[test]
    fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
        let text = "CODGEO;LIBGEO;MED21\r\n69001;\"A\r\nB\";1\r\n\r\n\r\n69002;C;x\r\n69003;D;2";
        for ending in ["\r\n", "\n", "\r"] {
            let text = format!("\n{}", text.replace("\r\n", ending));
            let (rows, errors) = parse_filosofi(text.as_bytes()).unwrap();
            assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 7, 8], "{ending:?}");
            assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![7], "{ending:?}");
        }
        let source = open(b"\r\n\r\ndepartement,commune,bureau,inscrits,exprimes,X\n").unwrap();
        assert_eq!(source.header_line(), 3);
    }

    /// Replaces the `field`-th field of 1-based line `line`, or truncates the line to `field` fields.
    fn corrupt(text: &str, line: usize, field: usize, value: Option<&str>) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let mut fields: Vec<&str> = lines[line - 1].split(';').collect();
        match value {
            Some(v) => fields[field] = v,
            None => fields.truncate(field),
        }
        lines[line - 1] = fields.join(";");
        // The official files end lines with CRLF.
        lines.join("\r\n")
    }

    #[test]
    fn corrupted_file_reports_line_numbers() {
        let text = String::from_utf8(gunzip(&read(RHONE_T1))).unwrap();
        let text = corrupt(&text, 57, 7, Some("12a"));
        let text = corrupt(&text, 120, 5, None);
        let text = corrupt(&text, 300, 25, Some("77777"));
        let text = corrupt(&text, 400, 10, Some("99999"));
        let parsed = parse_results(gzip(text.as_bytes()).as_slice()).unwrap();
        let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![57, 120, 300, 400]);
        assert_eq!(parsed.errors[0].message, "ligne 57 : « Inscrits » n'est pas un nombre (« 12a »)");
        assert_eq!(parsed.errors[1].message, "ligne 120 : 5 colonnes alors qu'il en faut au moins 21");
        assert!(parsed.errors[2].message.starts_with("ligne 300 : la somme des voix ("), "{}", parsed.errors[2]);
        assert!(parsed.errors[3].message.contains("supérieurs aux inscrits"), "{}", parsed.errors[3]);
        assert_eq!(parsed.rows.len(), 1287 - 4);
    }

    #[test]
    fn wide_rows_are_checked() {
        let header = "departement,commune,bureau,commune_libelle,inscrits,votants,blancs,exprimes,A LIST,B LIST\n";
        let body = "1,1,1,X,\"1 200\",1000,10,990,490,500\n\
                    \n\
                    01,002,1,Y,100,101,0,101,1,100\n\
                    01,003,1,Z,100,50,5,45,40\n\
                    01,004,2,W,100,50,10,45,40,5\n\
                    01,005,A1,V,100,50,0,45,45,0\n";
        let parsed = parse_results(format!("{header}{body}").as_bytes()).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        let r = &parsed.rows[0];
        assert_eq!((r.commune.as_str(), r.bureau.as_str(), r.inscrits, r.nuls), ("01001", "0001", 1200, Some(0)));
        assert_eq!(parsed.rows[1].bureau, "00A1");
        assert_eq!(parsed.rows[1].nuls, Some(5));
        let messages: Vec<&str> = parsed.errors.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "ligne 4 : votants (101) supérieurs aux inscrits (100)",
                "ligne 5 : 9 colonnes au lieu de 10 attendues",
                "ligne 6 : blancs (10) + exprimés (45) supérieurs aux votants (50)",
            ]
        );
    }

    #[test]
    fn numbers_accept_thousands_separators() {
        assert_eq!(parse_count("12 345"), Some(12_345));
        assert_eq!(parse_count("12\u{a0}345"), Some(12_345));
        assert_eq!(parse_count("1\u{202f}234\u{202f}567"), Some(1_234_567));
        assert_eq!(parse_count("12a"), None);
        assert_eq!(parse_count(""), None);
        assert_eq!(parse_count("-3"), None);
        assert_eq!(parse_count("99999999999"), None);
        assert_eq!(parse_indicator("1 234,5"), Some(Some(1234.5)));
        assert_eq!(parse_indicator("s"), Some(None));
        assert_eq!(parse_indicator("abc"), None);
    }

    #[test]
    fn layout_detection_and_errors() {
        let h = |s: &str, d: char| s.split(d).map(str::to_string).collect::<Vec<_>>();
        assert_eq!(
            detect_layout(&h("departement,commune,bureau,commune_libelle,inscrits,votants,blancs,exprimes,X", ',')),
            Some(Layout::NationalWide)
        );
        assert_eq!(
            detect_layout(&h(
                "Code du departement;Code de la commune;Code B.Vote;Inscrits;Votants;Exprimes;N°Panneau;Nom;Voix",
                ';'
            )),
            Some(Layout::Official2017)
        );
        assert_eq!(
            detect_layout(&h(
                "Code département;Code commune;Code BV;Inscrits;Votants;Exprimés;Nuance liste 1;Voix 1",
                ';'
            )),
            Some(Layout::Official2024)
        );
        assert_eq!(detect_layout(&h("CODGEO;MED21", ';')), None);
        let err = Parser::from_bytes(b"a;b;c\n1;2;3\n").unwrap_err();
        assert_eq!(err.to_string(), "format de fichier non reconnu (colonnes : a, b, c)");
        assert_eq!(Parser::from_bytes(b"\n\n").unwrap_err().to_string(), "le fichier est vide");
        assert!(matches!(open(b"\x1f\x8bnot gzip"), Err(ParseError::Io(_))));
    }

    #[test]
    fn tab_separated_official_2017_legislative_with_nuance() {
        let text = "Code du département\tCode de la circonscription\tCode de la commune\tCode du b.vote\tInscrits\t\
                    Votants\tBlancs\tNuls\tExprimés\tN°Panneau\tSexe\tNom\tPrénom\tNuance\tVoix\n\
                    ZA\t1\t101\t12\t100\t60\t2\t3\t55\t1\tF\tDURAND\tAnne\tFI\t30\t2\tM\tMARTIN\tLuc\tREM\t25\n\
                    ZZ\t5\t3\t1\t100\t60\t2\t3\t55\t2\tM\tMARTIN\tLuc\tREM\t55\t\t\t\t\t\t\n";
        let parsed = parse_results(text.as_bytes()).unwrap();
        assert_eq!(parsed.errors, vec![]);
        assert_eq!(
            parsed.choices,
            vec![
                Choice { label: "DURAND Anne".into(), nuance: Some("FI".into()) },
                Choice { label: "MARTIN Luc".into(), nuance: Some("REM".into()) },
            ]
        );
        let (a, b) = (&parsed.rows[0], &parsed.rows[1]);
        assert_eq!((a.departement.as_str(), a.commune.as_str(), a.bureau.as_str()), ("971", "97101", "0012"));
        assert_eq!(a.circonscription.as_deref(), Some("971-01"));
        assert_eq!(a.votes, vec![(0, 30), (1, 25)]);
        assert_eq!(
            (b.departement.as_str(), b.commune.as_str(), b.circonscription.as_deref()),
            ("ZZ", "ZZ003", Some("99-05"))
        );
        assert_eq!(b.votes, vec![(1, 55)]);
    }

    /// Release timing: `cargo test --release -- --ignored --nocapture national_timing`.
    #[test]
    #[ignore]
    fn national_timing() {
        let files: Vec<Vec<u8>> = NATIONAL_FILES.iter().map(|(name, _, _)| national(name)).collect();
        let started = std::time::Instant::now();
        let mut rows = 0usize;
        for bytes in &files {
            for row in Parser::from_bytes(bytes).unwrap() {
                rows += usize::from(row.is_ok());
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!("{rows} rows in {elapsed:.2} s: {:.0} rows/s", rows as f64 / elapsed);
    }
}
