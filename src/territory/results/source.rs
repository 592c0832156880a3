//! Opening a result file: gzip detection, encoding and separator sniffing, header reading and exact line numbers.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Read};

use encoding_rs::WINDOWS_1252;
use flate2::read::MultiGzDecoder;

use super::{Layout, ParseError, TextEncoding, detect_layout};

/// How many decoded bytes are inspected to choose the encoding and the separator.
const SNIFF_LEN: u64 = 64 * 1024;

/// Passes bytes through and remembers where line breaks are, so that a record's line number is exact even after
/// blank lines and with CRLF endings (the csv crate's own record position points before skipped blank lines and
/// before the LF of a CRLF).
pub(super) struct LineTracker<R> {
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

pub(super) type CsvReader<'a> = csv::Reader<LineTracker<Box<dyn Read + Send + 'a>>>;

/// Line of the record just read (or of the failed read).
pub(super) fn record_line(reader: &mut CsvReader<'_>, position: Option<&csv::Position>) -> u64 {
    let start = position.map_or_else(|| reader.position().byte(), csv::Position::byte);
    reader.get_mut().line_at(start)
}

/// A decoded, delimited text stream with its header read.
pub struct Source<'a> {
    pub(super) reader: CsvReader<'a>,
    pub(super) header: Vec<String>,
    header_line: u64,
    pub(super) encoding: TextEncoding,
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

pub(super) fn is_blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace))
}

pub(super) fn decode(bytes: &[u8], encoding: TextEncoding) -> Cow<'_, str> {
    let utf8 = if encoding == TextEncoding::Utf8 { std::str::from_utf8(bytes).ok() } else { None };
    match utf8 {
        Some(s) => Cow::Borrowed(s),
        None => WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}
