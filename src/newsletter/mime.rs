//! Minimal, allocation-light MIME builder for newsletter messages.
//!
//! [`build`] writes a complete RFC 5322 message (CRLF line endings) with a
//! `multipart/alternative` body holding a text/plain and a text/html part, both
//! UTF-8 and quoted-printable. Headers carry RFC 2369 / RFC 8058 list headers so
//! that mailbox providers offer one-click unsubscription.

use std::io::Write as _;

/// Maximum length of a header line we produce (RFC 5322 "SHOULD" limit), without CRLF.
const MAX_LINE: usize = 78;
/// Maximum length of one RFC 2047 encoded word.
const MAX_ENCODED_WORD: usize = 75;
/// Maximum length of a quoted-printable line, including a trailing soft-break `=`.
const QP_MAX_LINE: usize = 76;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Everything that goes into the header of one message.
pub struct Envelope<'a> {
    /// Display name of the sender, e.g. "Fédération du Rhône" (may be empty).
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub reply_to: Option<&'a str>,
    /// Recipient, either a bare address or an already formatted `Name <address>`.
    pub to: &'a str,
    pub subject: &'a str,
    /// Message-ID without the angle brackets.
    pub message_id: &'a str,
    /// Unix timestamp (seconds) for the `Date` header.
    pub date: i64,
    /// e.g. "Lettre du Rhône <lettre-69.terrain.example.org>"
    pub list_id: &'a str,
    pub unsubscribe_https: &'a str,
    pub unsubscribe_mailto: &'a str,
    /// Additional headers written verbatim (CR/LF are replaced by spaces), e.g. ("X-Terrain-Campaign", "12").
    pub extra_headers: &'a [(&'a str, &'a str)],
}

/// Builds the complete message into `out` (cleared first, its capacity is reused).
pub fn build(env: &Envelope<'_>, text: &str, html: &str, out: &mut Vec<u8>) {
    out.clear();
    // QP expands plain French text by a few percent; HTML a bit more (`=3D` in attributes).
    out.reserve(2048 + text.len() + text.len() / 8 + html.len() + html.len() / 6);

    // Date
    out.extend_from_slice(b"Date: ");
    write_date(out, env.date);
    out.extend_from_slice(b"\r\n");

    // From
    let mut h = HeaderWriter::start(out, "From");
    h.phrase(env.from_name);
    h.angle_addr(env.from_address);
    h.finish();

    let mut h = HeaderWriter::start(out, "To");
    h.mailbox(env.to);
    h.finish();

    if let Some(reply_to) = env.reply_to.filter(|r| !r.trim().is_empty()) {
        let mut h = HeaderWriter::start(out, "Reply-To");
        h.mailbox(reply_to);
        h.finish();
    }

    // Subject
    let mut h = HeaderWriter::start(out, "Subject");
    h.unstructured(env.subject);
    h.finish();

    // Message-ID
    let mut h = HeaderWriter::start(out, "Message-ID");
    h.angle_addr(env.message_id);
    h.finish();

    out.extend_from_slice(b"MIME-Version: 1.0\r\n");

    // List-Id: "phrase <id>"; the phrase may need RFC 2047 encoding.
    if !env.list_id.trim().is_empty() {
        let mut h = HeaderWriter::start(out, "List-Id");
        match (env.list_id.rfind('<'), env.list_id.ends_with('>')) {
            (Some(lt), true) => {
                h.phrase(env.list_id[..lt].trim());
                h.angle_addr(&env.list_id[lt + 1..env.list_id.len() - 1]);
            }
            _ => h.angle_addr(env.list_id.trim().trim_start_matches('<').trim_end_matches('>')),
        }
        h.finish();
    }

    // List-Unsubscribe (RFC 2369) and one-click (RFC 8058).
    let https = env.unsubscribe_https.trim();
    let mailto = env.unsubscribe_mailto.trim();
    if !https.is_empty() || !mailto.is_empty() {
        let mut h = HeaderWriter::start(out, "List-Unsubscribe");
        let mut first = true;
        for uri in [https, mailto].into_iter().filter(|u| !u.is_empty()) {
            if !first {
                h.out.push(b',');
                h.col += 1;
            }
            h.angle_addr(uri);
            first = false;
        }
        h.finish();
        if !https.is_empty() {
            out.extend_from_slice(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
        }
    }

    for (name, value) in env.extra_headers {
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            continue; // an invalid field name would corrupt the header block
        }
        let mut h = HeaderWriter::start(out, name);
        if value.is_ascii() {
            h.raw_words(value);
        } else {
            h.unstructured(value);
        }
        h.finish();
    }

    // The boundary starts with "=_", a sequence that can never appear in quoted-printable
    // output (a literal '=' is always encoded as "=3D"), so it cannot collide with the content.
    let digest = ring::digest::digest(&ring::digest::SHA256, env.message_id.as_bytes());
    let mut boundary = [0u8; 2 + 8 + 24];
    boundary[..10].copy_from_slice(b"=_terrain_");
    for (i, b) in digest.as_ref()[..12].iter().enumerate() {
        boundary[10 + 2 * i] = HEX[(b >> 4) as usize].to_ascii_lowercase();
        boundary[11 + 2 * i] = HEX[(b & 15) as usize].to_ascii_lowercase();
    }

    out.extend_from_slice(b"Content-Type: multipart/alternative;\r\n boundary=\"");
    out.extend_from_slice(&boundary);
    out.extend_from_slice(b"\"\r\n\r\nThis is a multi-part message in MIME format.\r\n");

    for (subtype, content) in [("plain", text), ("html", html)] {
        out.extend_from_slice(b"\r\n--");
        out.extend_from_slice(&boundary);
        out.extend_from_slice(b"\r\nContent-Type: text/");
        out.extend_from_slice(subtype.as_bytes());
        out.extend_from_slice(b"; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
        quoted_printable(content.as_bytes(), out);
    }
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(&boundary);
    out.extend_from_slice(b"--\r\n");
}

/// RFC 2822 date, always in UTC: "Thu, 01 Jan 2026 12:00:00 +0000".
fn write_date(out: &mut Vec<u8>, unix: i64) {
    let dt = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let _ = write!(
        out,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[dt.weekday().number_days_from_monday() as usize],
        dt.day(),
        MONTHS[dt.month() as usize - 1],
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
}

/// Appends the quoted-printable encoding (RFC 2045 §6.7) of `input` to `out`.
///
/// Line breaks of the input (LF or CRLF) become hard CRLF breaks; lines are soft-broken
/// so that no encoded line exceeds 76 characters; whitespace at the end of a line, '=',
/// control characters, lone CRs and all non-ASCII bytes are escaped.
pub fn quoted_printable(input: &[u8], out: &mut Vec<u8>) {
    let mut rest = input;
    loop {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(nl) => {
                let end = if nl > 0 && rest[nl - 1] == b'\r' { nl - 1 } else { nl };
                (&rest[..end], Some(&rest[nl + 1..]))
            }
            None => (rest, None),
        };
        qp_line(line, out);
        match next {
            Some(n) => {
                out.extend_from_slice(b"\r\n");
                rest = n;
            }
            None => break,
        }
    }
}

/// Quoted-printable encoding of one line (without its line break): runs of printable bytes are copied as they are,
/// other bytes become `=XX`, and soft breaks (`=` CRLF) keep lines within 76 characters. A space or tab is encoded
/// only at the end of the line. Copies whole runs rather than byte by byte: this runs over every message sent.
fn qp_line(line: &[u8], out: &mut Vec<u8>) {
    let Some((&last, mut rest)) = line.split_last() else { return };
    out.reserve(line.len() + line.len() / 8 + 4);
    // Before the last byte, every token must leave room for a soft break's '=' (a line has at most 75 + '=').
    const ROOM: usize = QP_MAX_LINE - 1;
    let mut col = 0;
    while !rest.is_empty() {
        let run = plain_run(rest);
        let (mut plain, tail) = rest.split_at(run);
        while !plain.is_empty() {
            if col == ROOM {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            let take = (ROOM - col).min(plain.len());
            out.extend_from_slice(&plain[..take]);
            col += take;
            plain = &plain[take..];
        }
        rest = tail;
        if let Some((&b, tail)) = rest.split_first() {
            if col + 3 > ROOM {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            col += 3;
            rest = tail;
        }
    }
    // The last byte may use the whole line; a space or tab there is encoded (it would be lost in transit).
    let literal = matches!(last, b'!'..=b'<' | b'>'..=b'~');
    let len = if literal { 1 } else { 3 };
    if col + len > QP_MAX_LINE {
        out.extend_from_slice(b"=\r\n");
    }
    if literal {
        out.push(last);
    } else {
        out.extend_from_slice(&[b'=', HEX[(last >> 4) as usize], HEX[(last & 15) as usize]]);
    }
}

/// Length of the run of bytes at the start of `bytes` that quoted-printable leaves as they are (printable ASCII but
/// '=', space, tab). Eight bytes at a time while none needs a look: no control byte (tab included, rare), nothing
/// above '~', no '='.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // A byte's high bit in each term flags: below 0x20, above 0x7e (0x7f and up), equal to '='.
        let below = x.wrapping_sub(ONES * 0x20) & !x;
        let above = (x.wrapping_add(ONES) | x) & HIGHS;
        let eq = x ^ (ONES * b'=' as u64);
        let is_eq = eq.wrapping_sub(ONES) & !eq;
        if (below | above | is_eq) & HIGHS != 0 {
            break;
        }
        i += 8;
    }
    i + bytes[i..]
        .iter()
        .position(|&b| !matches!(b, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t'))
        .unwrap_or(bytes.len() - i)
}

/// Writes one header field, folding at whitespace so that lines stay within 78 characters.
struct HeaderWriter<'o> {
    out: &'o mut Vec<u8>,
    col: usize,
    /// Whether anything has been written after "Name:" yet.
    started: bool,
}

impl<'o> HeaderWriter<'o> {
    fn start(out: &'o mut Vec<u8>, name: &str) -> Self {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        HeaderWriter { col: name.len() + 1, out, started: false }
    }

    /// Writes a separating space (or a fold) followed by `token`, which must not contain whitespace.
    fn token(&mut self, token: &[u8]) {
        if self.started && self.col + 1 + token.len() > MAX_LINE {
            self.out.extend_from_slice(b"\r\n ");
            self.col = 1;
        } else {
            self.out.push(b' ');
            self.col += 1;
        }
        self.out.extend_from_slice(token);
        self.col += token.len();
        self.started = true;
    }

    /// Whitespace-separated words written as they are (CR/LF/control characters dropped).
    fn raw_words(&mut self, value: &str) {
        for word in value.split(|c: char| c.is_ascii_whitespace() || c.is_control()).filter(|w| !w.is_empty()) {
            self.token(word.as_bytes());
        }
    }

    /// A bare address, or "Display Name <address>" whose name is quoted or encoded as needed
    /// (an already quoted name is kept as is).
    fn mailbox(&mut self, value: &str) {
        let value = value.trim();
        match (value.rfind('<'), value.ends_with('>')) {
            (Some(lt), true) => {
                let name = value[..lt].trim();
                if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') && !needs_encoding(name) {
                    self.raw_words(name);
                } else {
                    self.phrase(name);
                }
                self.angle_addr(&value[lt + 1..value.len() - 1]);
            }
            _ => self.raw_words(value),
        }
    }

    /// `<addr>` after some previous token.
    fn angle_addr(&mut self, addr: &str) {
        let addr = sanitize_token(addr);
        let mut buf = Vec::with_capacity(addr.len() + 2);
        buf.push(b'<');
        buf.extend_from_slice(addr.as_bytes());
        buf.push(b'>');
        self.token(&buf);
    }

    /// A display name (RFC 5322 phrase): atoms as is, quoted-string when it contains specials,
    /// RFC 2047 encoded words when it contains non-ASCII characters.
    fn phrase(&mut self, name: &str) {
        let name = name.trim();
        if name.is_empty() {
            return;
        }
        if !needs_encoding(name) {
            const SPECIALS: &[u8] = b"()<>[]:;@\\,.\"";
            if name.bytes().any(|b| SPECIALS.contains(&b)) {
                let mut q = Vec::with_capacity(name.len() + 4);
                q.push(b'"');
                for b in name.bytes() {
                    if b == b'"' || b == b'\\' {
                        q.push(b'\\');
                    }
                    q.push(b);
                }
                q.push(b'"');
                self.token(&q);
            } else {
                self.raw_words(name);
            }
        } else {
            self.encoded_words(name);
        }
    }

    /// Unstructured text (Subject): words as they are when plain ASCII, else RFC 2047 encoded words.
    fn unstructured(&mut self, value: &str) {
        if needs_encoding(value) {
            self.encoded_words(value);
        } else {
            self.raw_words(value);
        }
    }

    /// Encodes `text` as a sequence of RFC 2047 encoded words (Q or B, whichever is shorter),
    /// each at most 75 characters, never splitting a UTF-8 character, folding between words.
    fn encoded_words(&mut self, text: &str) {
        // Q cost of each byte, using the restricted set allowed in phrases (RFC 2047 §5(3)).
        let q_len: usize = text.bytes().map(|b| if q_literal(b) { 1 } else { 3 }).sum();
        let b_len = text.len().div_ceil(3) * 4;
        // Q keeps mostly-Latin text readable in raw headers; B wins for other scripts and emoji.
        let use_q = q_len <= b_len + b_len / 3;
        let overhead = "=?utf-8?Q??=".len();

        let mut chars = text.char_indices().peekable();
        let mut word = Vec::with_capacity(MAX_ENCODED_WORD);
        while chars.peek().is_some() {
            // Budget for this word: what is left on the current line, or a new line.
            let room_here = MAX_LINE.saturating_sub(self.col + 1).min(MAX_ENCODED_WORD);
            let budget = if room_here >= overhead + 12 { room_here } else { MAX_ENCODED_WORD.min(MAX_LINE - 1) };
            let payload_budget = budget - overhead;

            // Take as many whole characters as fit into the payload budget.
            let start = chars.peek().map(|&(i, _)| i).unwrap_or(text.len());
            let mut end = start;
            let mut cost = 0;
            while let Some(&(i, c)) = chars.peek() {
                let clen = c.len_utf8();
                let new_cost = if use_q {
                    cost + text.as_bytes()[i..i + clen].iter().map(|&b| if q_literal(b) { 1 } else { 3 }).sum::<usize>()
                } else {
                    (end + clen - start).div_ceil(3) * 4
                };
                if new_cost > payload_budget && end > start {
                    break;
                }
                cost = new_cost;
                end = i + clen;
                chars.next();
            }

            word.clear();
            word.extend_from_slice(if use_q { b"=?utf-8?Q?" } else { b"=?utf-8?B?" });
            let chunk = &text.as_bytes()[start..end];
            if use_q {
                for &b in chunk {
                    if b == b' ' {
                        word.push(b'_');
                    } else if q_literal(b) {
                        word.push(b);
                    } else {
                        word.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                    }
                }
            } else {
                let at = word.len();
                word.resize(at + data_encoding::BASE64.encode_len(chunk.len()), 0);
                data_encoding::BASE64.encode_mut(chunk, &mut word[at..]);
            }
            word.extend_from_slice(b"?=");
            self.token(&word);
        }
    }

    fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// Bytes written literally in a Q-encoded word (space is written as '_', costing one byte too).
fn q_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/' | b' ')
}

/// Whether a header text must be RFC 2047 encoded: non-ASCII, control characters, or
/// something that would be mistaken for an encoded word.
fn needs_encoding(s: &str) -> bool {
    s.bytes().any(|b| !(b == b' ' || b.is_ascii_graphic())) || s.contains("=?")
}

/// Drops whitespace and control characters, which are never valid inside an address or URI.
fn sanitize_token(s: &str) -> std::borrow::Cow<'_, str> {
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_graphic() || b >= 0x80) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qp(s: &str) -> String {
        let mut out = Vec::new();
        quoted_printable(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    fn qp_decode(s: &[u8]) -> Vec<u8> {
        let hex = |b: u8| (b as char).to_digit(16).unwrap() as u8;
        let mut out = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'=' {
                if s[i + 1..].starts_with(b"\r\n") {
                    i += 3;
                } else {
                    out.push(hex(s[i + 1]) << 4 | hex(s[i + 2]));
                    i += 3;
                }
            } else {
                out.push(s[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn quoted_printable_known_vectors() {
        assert_eq!(qp(""), "");
        assert_eq!(qp("a=b"), "a=3Db");
        assert_eq!(qp("café"), "caf=C3=A9");
        assert_eq!(qp("Fête — 10 €"), "F=C3=AAte =E2=80=94 10 =E2=82=AC");
        assert_eq!(qp("trailing space \nnext"), "trailing space=20\r\nnext");
        assert_eq!(qp("tab\t"), "tab=09");
        assert_eq!(qp("a  b"), "a  b");
        assert_eq!(qp("a\r\nb\nc\n"), "a\r\nb\r\nc\r\n");
        assert_eq!(qp("a\rb"), "a=0Db");
        assert_eq!(qp(".dot\nFrom x"), ".dot\r\nFrom x");
        assert_eq!(qp("<a href=\"x\">"), "<a href=3D\"x\">");
        // 76 characters fit on one line; 77 need a soft break after 75.
        let l76 = "a".repeat(76);
        assert_eq!(qp(&l76), l76);
        assert_eq!(qp(&"a".repeat(77)), format!("{}=\r\naa", "a".repeat(75)));
        // An escape is never split by a soft break.
        let s = format!("{}é", "a".repeat(73));
        assert_eq!(qp(&s), format!("{}=\r\n=C3=A9", "a".repeat(73)));
        // A space before a soft break is not trailing whitespace.
        let s = format!("{} {}", "a".repeat(74), "b".repeat(10));
        assert_eq!(qp(&s), format!("{} =\r\n{}", "a".repeat(74), "b".repeat(10)));
        // A final space right at the limit is escaped on its own line.
        let s = format!("{} ", "a".repeat(75));
        assert_eq!(qp(&s), format!("{}=\r\n=20", "a".repeat(75)));
    }

    #[test]
    fn quoted_printable_round_trip_and_line_limits() {
        let pieces = ["a", "b", " ", "\t", "=", "é", "€", "\n", "\r\n", ".", "\r", "🎉", "xyz ", "  "];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut input = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 300) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                input.push_str(pieces[(seed % pieces.len() as u64) as usize]);
            }
            let mut out = Vec::new();
            quoted_printable(input.as_bytes(), &mut out);
            for line in out.split(|&b| b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                assert!(line.len() <= 76, "line too long in {out:?}");
                assert!(!matches!(line.last(), Some(b' ' | b'\t')), "trailing whitespace in {out:?}");
                assert!(line.iter().all(|&b| (b' '..=b'~').contains(&b) || b == b'\t'));
            }
            assert!(!out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "bare LF");
            // Expected: LF and CRLF become CRLF, everything else unchanged.
            let mut expected = Vec::new();
            let bytes = input.as_bytes();
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'\n' {
                    if i == 0 || bytes[i - 1] != b'\r' {
                        expected.push(b'\r');
                    }
                } else if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    // kept, the LF follows
                }
                expected.push(b);
            }
            assert_eq!(qp_decode(&out), expected, "input {input:?}");
        }
    }

    /// The byte-by-byte encoder `qp_line` replaced, kept as the reference it must match.
    fn qp_line_reference(line: &[u8], out: &mut Vec<u8>) {
        let mut col = 0;
        let last = line.len().wrapping_sub(1);
        for (i, &b) in line.iter().enumerate() {
            let is_last = i == last;
            let literal = match b {
                b'!'..=b'<' | b'>'..=b'~' => true,
                b' ' | b'\t' => !is_last,
                _ => false,
            };
            let len = if literal { 1 } else { 3 };
            let limit = if is_last { QP_MAX_LINE } else { QP_MAX_LINE - 1 };
            if col + len > limit {
                out.extend_from_slice(b"=\r\n");
                col = 0;
            }
            if literal {
                out.push(b);
            } else {
                out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
            }
            col += len;
        }
    }

    proptest::proptest! {
        #[test]
        fn qp_line_matches_the_byte_by_byte_encoder(
            line in proptest::collection::vec(
                proptest::prop_oneof![8 => 32u8..127, 1 => proptest::num::u8::ANY, 1 => proptest::strategy::Just(b'=')],
                0..400,
            )
        ) {
            let (mut fast, mut reference) = (Vec::new(), Vec::new());
            qp_line(&line, &mut fast);
            qp_line_reference(&line, &mut reference);
            proptest::prop_assert_eq!(fast, reference);
        }

        #[test]
        fn plain_runs_are_measured_exactly(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![12 => 32u8..127, 1 => proptest::num::u8::ANY, 1 => proptest::strategy::Just(b'=')],
                0..100,
            )
        ) {
            let plain = |b: &u8| matches!(b, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t');
            proptest::prop_assert_eq!(plain_run(&bytes), bytes.iter().take_while(|b| plain(b)).count());
        }
    }

    pub(super) fn envelope<'a>(subject: &'a str, extra: &'a [(&'a str, &'a str)]) -> Envelope<'a> {
        Envelope {
            from_name: "Fédération du Rhône",
            from_address: "federation-69@terrain.example.org",
            reply_to: Some("contact-69@terrain.example.org"),
            to: "Hélène Dupont <helene.dupont@example.net>",
            subject,
            message_id: "c12.r3456.1767225600@terrain.example.org",
            date: 1_767_225_600,
            list_id: "Lettre du Rhône <lettre-69.terrain.example.org>",
            unsubscribe_https: "https://terrain.example.org/desabonnement/c12/3456?token=Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg",
            unsubscribe_mailto: "mailto:desabonnement+c12.3456@terrain.example.org?subject=unsubscribe",
            extra_headers: extra,
        }
    }

    pub(super) const SUBJECTS: &[&str] = &[
        "Réunion publique à Villeurbanne : venez nombreux pour défendre nos services publics et l'école — \
         inscription obligatoire avant le 15 mars",
        "A fairly long plain ASCII subject line that certainly needs to be folded somewhere because it is long",
        "🎉 Fête de la rose 🌹 2026 — 日本語のテキスト",
        "Court",
        "=?utf-8?Q?not_an_encoded_word?= but looks like one",
    ];

    #[test]
    fn build_produces_well_formed_message() {
        let text = "Bonjour Marie,\n\n.Une ligne qui commence par un point.\nÀ bientôt ! \n";
        let html = "<p style=\"color:red\">Bonjour <b>Marie</b></p>\n<p>À bientôt</p>";
        let extra = [("X-Terrain-Campaign", "12"), ("X-Bad\r\nInjected", "x"), ("X-Note", "a\r\nInjected: yes")];
        let mut out = Vec::new();
        for subject in SUBJECTS {
            build(&envelope(subject, &extra), text, html, &mut out);
            assert!(!out.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "bare LF");
            let s = std::str::from_utf8(&out).unwrap();
            assert!(s.is_ascii());
            let (head, body) = s.split_once("\r\n\r\n").unwrap();
            for line in head.split("\r\n") {
                // Only an unfoldable token (a long URI) may exceed 78 characters.
                assert!(line.len() <= 78 || line.split_whitespace().count() <= 2, "header line too long: {line:?}");
                assert!(!line.trim().is_empty());
                assert!(!line.starts_with("Injected"), "header injection: {line:?}");
            }
            for word in head.split(|c: char| c.is_whitespace()).filter(|w| w.starts_with("=?utf-8?")) {
                assert!(word.len() <= 75, "encoded word too long: {word}");
            }
            assert!(head.starts_with("Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"), "{head}");
            assert!(head.contains("\r\nFrom: =?utf-8?Q?F=C3=A9d=C3=A9ration_du_Rh=C3=B4ne?=\r\n <federation-69@"));
            assert!(head.contains("\r\nList-Id: =?utf-8?Q?Lettre_du_Rh=C3=B4ne?= <lettre-69.terrain.example.org>"));
            assert!(head.contains("\r\nList-Unsubscribe: <https://terrain.example.org/desabonnement/"));
            assert!(head.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
            assert!(head.contains("\r\nX-Terrain-Campaign: 12\r\n"));
            assert!(head.contains("\r\nMessage-ID: <c12.r3456.1767225600@terrain.example.org>\r\n"));
            assert!(head.contains("\r\nReply-To: contact-69@terrain.example.org\r\n"));
            assert!(head.contains("\r\nTo: =?utf-8?Q?H=C3=A9l=C3=A8ne_Dupont?= <helene.dupont@example.net>\r\n"));
            let boundary = head.split("boundary=\"").nth(1).unwrap().split('"').next().unwrap();
            assert_eq!(body.matches(&format!("--{boundary}")).count(), 3);
            assert!(body.ends_with(&format!("\r\n--{boundary}--\r\n")));
            for line in body.split("\r\n") {
                assert!(line.len() <= 76);
            }
        }
        // Boundaries differ between messages.
        let mut other = Vec::new();
        let mut env = envelope("x", &[]);
        env.message_id = "other@terrain.example.org";
        build(&env, "", "", &mut other);
        let b = |m: &[u8]| String::from_utf8_lossy(m).split("boundary=\"").nth(1).unwrap()[..30].to_owned();
        assert_ne!(b(&out), b(&other));
    }

    /// Python's email package must decode exactly what went in.
    #[test]
    fn build_round_trips_through_python_email_parser() {
        let python = "/usr/bin/python3";
        if !std::path::Path::new(python).exists() {
            println!("SKIPPED build_round_trips_through_python_email_parser: {python} not found");
            return;
        }
        let dir = std::env::temp_dir().join(format!("nl-mime-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "Bonjour Marie,\n\n.Une ligne qui commence par un point.\nÀ bientôt ! \n\nlong: ".to_owned()
            + &"é".repeat(100)
            + "\n";
        let html = "<p style=\"color:red\">Bonjour <b>Marie</b></p>\n<p>À bientôt = 100 %</p>\n";
        let script = r#"
import sys
from email import policy
from email.parser import BytesParser
d = sys.argv[1]
m = BytesParser(policy=policy.default).parse(open(d + '/msg.eml', 'rb'))
exp = lambda n: open(d + '/' + n, encoding='utf-8').read()
def check(name, got, want):
    if got != want:
        print('MISMATCH %s: %r != %r' % (name, got, want)); sys.exit(1)
check('subject', str(m['Subject']), exp('subject'))
check('from name', m['From'].addresses[0].display_name, 'Fédération du Rhône')
check('from addr', m['From'].addresses[0].addr_spec, 'federation-69@terrain.example.org')
check('to', str(m['To']), 'Hélène Dupont <helene.dupont@example.net>')
check('list-id', str(m['List-Id']), 'Lettre du Rhône <lettre-69.terrain.example.org>')
check('text', m.get_body(('plain',)).get_content().replace('\r\n', '\n'), exp('text'))
check('html', m.get_body(('html',)).get_content().replace('\r\n', '\n'), exp('html'))
defects = [d for p in m.walk() for d in p.defects]
check('defects', defects, [])
print('OK')
"#;
        let mut out = Vec::new();
        for subject in SUBJECTS {
            build(&envelope(subject, &[]), &text, html, &mut out);
            std::fs::write(dir.join("msg.eml"), &out).unwrap();
            std::fs::write(dir.join("subject"), subject).unwrap();
            std::fs::write(dir.join("text"), &text).unwrap();
            std::fs::write(dir.join("html"), html).unwrap();
            let res = std::process::Command::new(python).arg("-c").arg(script).arg(&dir).output().unwrap();
            let stdout = String::from_utf8_lossy(&res.stdout);
            assert!(
                res.status.success() && stdout.contains("OK"),
                "python: {stdout} {}",
                String::from_utf8_lossy(&res.stderr)
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
