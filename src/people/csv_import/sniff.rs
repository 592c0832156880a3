//! Delimiter sniffing and the quote-aware scanning of records that parsing also relies on.

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
pub(super) fn excel_sep_line(text: &str) -> Option<(u8, usize)> {
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
///
/// [`parse`]: super::parse
pub(super) fn unclosed_quote(text: &str, delimiter: u8) -> Option<usize> {
    quoted_fields(text, delimiter).find_map(|(open, close)| close.is_none().then_some(open))
}

/// Offset just after the first `\n` at or after `from` that ends a record, i.e. lies outside every quoted field;
/// `None` when there is none. Where [`parse`] splits a big file.
///
/// [`parse`]: super::parse
pub(super) fn record_boundary(text: &str, delimiter: u8, from: usize) -> Option<usize> {
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
