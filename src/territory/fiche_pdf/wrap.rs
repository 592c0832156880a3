//! Line breaking: text measured with the fonts' advance widths, wrapped at ASCII spaces, capped with "…".

use super::Style;
use super::fonts::{Face, Fonts};

/// A run of text in one style, at `x` from the start of its line.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Frag {
    pub(super) x: f32,
    pub(super) text: String,
    pub(super) style: Style,
}

/// A wrapped line and its measured width.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct WLine {
    pub(super) frags: Vec<Frag>,
    pub(super) width: f32,
}

/// A word (no ASCII space inside; may mix styles): its pieces with their widths, and the width of the space
/// before it.
#[derive(Debug, Default)]
struct Word {
    pieces: Vec<(String, Style, f32)>,
    width: f32,
    space: f32,
}

impl Word {
    fn push(&mut self, c: char, style: Style, width: f32) {
        match self.pieces.last_mut() {
            Some((text, s, w)) if *s == style => {
                text.push(c);
                *w += width;
            }
            _ => self.pieces.push((c.to_string(), style, width)),
        }
        self.width += width;
    }
}

/// Appends a word to a line, after its space when the line is not empty; merges runs of the same style.
fn place(line: &mut WLine, word: Word) {
    if !line.frags.is_empty() {
        if let Some(last) = line.frags.last_mut() {
            last.text.push(' ');
        }
        line.width += word.space;
    }
    for (text, style, width) in word.pieces {
        match line.frags.last_mut() {
            Some(last) if last.style == style => last.text.push_str(&text),
            _ => line.frags.push(Frag { x: line.width, text, style }),
        }
        line.width += width;
    }
}

impl Fonts {
    pub(super) fn face(&self, style: Style) -> &Face {
        if style.bold { &self.bold } else { &self.regular }
    }

    fn char_width(&self, c: char, style: Style) -> f32 {
        self.face(style).advance(c) * style.size
    }

    pub(super) fn width(&self, text: &str, style: Style) -> f32 {
        let face = self.face(style);
        text.chars().map(|c| face.advance(c)).sum::<f32>() * style.size
    }

    /// Collapses runs of ASCII whitespace and control characters into one space and trims; U+202F is replaced
    /// when the fonts lack it. No-break spaces are kept: they are not break opportunities.
    pub(super) fn clean(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut space = false;
        for c in text.chars() {
            if c.is_ascii_whitespace() || c.is_control() {
                space = !out.is_empty();
                continue;
            }
            if space {
                out.push(' ');
                space = false;
            }
            out.push(if c == '\u{202F}' { self.narrow_nbsp } else { c });
        }
        out
    }

    /// Greedy line breaking of styled spans at ASCII spaces (only), lines at most `max_width` wide. The spans must
    /// have been [cleaned](Self::clean).
    pub(super) fn wrap(&self, spans: &[(&str, Style)], max_width: f32) -> Vec<WLine> {
        let max_width = max_width.max(1.0);
        let mut words = Vec::new();
        let mut word = Word::default();
        let mut pending_space = 0.0;
        for &(text, style) in spans {
            for c in text.chars() {
                if c == ' ' {
                    if !word.pieces.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    pending_space = self.char_width(' ', style);
                    continue;
                }
                if word.pieces.is_empty() {
                    word.space = pending_space;
                }
                word.push(c, style, self.char_width(c, style));
            }
        }
        if !word.pieces.is_empty() {
            words.push(word);
        }

        let mut lines = Vec::new();
        let mut line = WLine::default();
        for word in words {
            if !line.frags.is_empty() && line.width + word.space + word.width > max_width {
                lines.push(std::mem::take(&mut line));
            }
            if line.frags.is_empty() && word.width > max_width {
                let mut chunks = self.split_word(word, max_width);
                let last = chunks.pop();
                for chunk in chunks {
                    let mut full = WLine::default();
                    place(&mut full, chunk);
                    lines.push(full);
                }
                if let Some(chunk) = last {
                    place(&mut line, chunk);
                }
                continue;
            }
            place(&mut line, word);
        }
        if !line.frags.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Cuts a word wider than the line between characters (at least one character per chunk).
    fn split_word(&self, word: Word, max_width: f32) -> Vec<Word> {
        let mut chunks = Vec::new();
        let mut chunk = Word::default();
        for (text, style, _) in word.pieces {
            for c in text.chars() {
                let w = self.char_width(c, style);
                if !chunk.pieces.is_empty() && chunk.width + w > max_width {
                    chunks.push(std::mem::take(&mut chunk));
                }
                chunk.push(c, style, w);
            }
        }
        if !chunk.pieces.is_empty() {
            chunks.push(chunk);
        }
        chunks
    }

    /// Keeps at most `max` lines (at least one); the last kept one ends with "…" when lines were dropped.
    pub(super) fn cap_lines(&self, lines: &mut Vec<WLine>, max: usize, max_width: f32) {
        if lines.len() > max.max(1) {
            lines.truncate(max.max(1));
            if let Some(last) = lines.last_mut() {
                self.ellipsize(last, max_width);
            }
        }
    }

    /// Appends "…" to a line, dropping characters at its end until it fits.
    fn ellipsize(&self, line: &mut WLine, max_width: f32) {
        while let Some(frag) = line.frags.last_mut() {
            let trimmed = frag.text.trim_end().len();
            frag.text.truncate(trimmed);
            if frag.text.is_empty() {
                line.frags.pop();
                continue;
            }
            let width = frag.x + self.width(&frag.text, frag.style) + self.width("…", frag.style);
            if width <= max_width || frag.text.chars().count() <= 1 {
                frag.text.push('…');
                line.width = width;
                return;
            }
            frag.text.pop();
        }
    }
}
