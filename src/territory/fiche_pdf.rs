//! "Fiche militante": a canvasser's briefing sheet rendered as a one- or two-page A4 PDF.
//!
//! The module is self-contained (std, krilla, krilla-svg, usvg, skrifa, flate2, thiserror): [`render_pdf`] takes a
//! [`FicheDoc`] whose strings are already in French and returns the PDF bytes.
//!
//! - Text is set in Lato (OFL, `data/fonts/`), embedded and subset by krilla, so `pdftotext` gives it back.
//! - Lines are wrapped with the fonts' real advance widths, on ASCII spaces only: French puts no-break spaces
//!   (U+00A0, U+202F) before `: ; ! ?` and inside numbers ("19 870 €"), those never break. A word wider than the
//!   line is cut between characters rather than overflowing.
//! - The sheet never exceeds two pages. The map shrinks (down to 70 %) if that saves the second page, or avoids
//!   cuts; then every section gets the same line budget, the largest that fits (binary search): a list shows its
//!   items while they fit, then "… et N autres"; paragraphs end with "…". As a last resort the second page ends
//!   with a truncation notice.
//! - The map (an SVG from our own renderer) is drawn as vector graphics by krilla-svg; an SVG that fails to parse is
//!   left out, the rest of the sheet is still rendered.
//! - Black on white, bold headings and rules: nothing relies on colour except the map itself, whose legend
//!   (patterns, labels) comes with the SVG.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, OnceLock};

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Size, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla_svg::{SurfaceExt, SvgSettings};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size as FontSize};

/// One line of a list: a short bold label and its detail ("Santé" — "citée dans 3 fiches d'observation").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Line {
    pub label: String,
    pub detail: String,
}

/// Everything printed on a fiche militante; empty fields and lists are left out of the sheet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FicheDoc {
    /// "Fiche militante — Vénissieux (69259)"
    pub title: String,
    /// "Porte-à-porte « Défendre l'hôpital » · samedi 28 novembre 2026, 10 h" (may be empty)
    pub subtitle: String,
    /// Shown as "Version 3".
    pub version: i64,
    /// "22/11/2026 08:15"
    pub generated_at: String,
    /// An SVG document drawn as a vector map.
    pub map_svg: Option<String>,
    /// Legend / attribution line under the map.
    pub map_caption: String,
    /// Key facts: ("Abstention", "41,2 % (département 27,0 %)"), ("Revenu médian", "19 870 €")…
    pub facts: Vec<Line>,
    /// A paragraph: classification and explanation (line breaks start new paragraphs).
    pub profile: String,
    /// Bullets: whom to focus on.
    pub targeting: Vec<String>,
    /// Local issues (headquarters and field reports).
    pub issues: Vec<Line>,
    /// Methods that worked here or in similar zones.
    pub methods: Vec<Line>,
    /// A short script, in paragraphs.
    pub script: Vec<String>,
    /// Practical advice bullets.
    pub advice: Vec<String>,
    /// People to re-mobilise (name, detail); may be empty.
    pub people: Vec<Line>,
    /// Footer: data sources.
    pub sources: String,
}

/// Why no PDF could be produced (an unusable map is not an error: the sheet is rendered without it).
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("embedded font unusable: {0}")]
    Font(String),
    #[error("PDF generation failed: {0}")]
    Pdf(String),
}

// --- Page geometry (PDF points, origin at the top left) -------------------------------------------------------

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 42.0;
const MARGIN_TOP: f32 = 38.0;
const MARGIN_BOTTOM: f32 = 28.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
const MAX_PAGES: usize = 2;
/// Horizontal space between the map and the facts column.
const GUTTER: f32 = 14.0;
/// Text indent of bullet items.
const BULLET_INDENT: f32 = 11.0;
/// Text indent of the script (a vertical bar sits in the margin).
const SCRIPT_INDENT: f32 = 10.0;
/// Maximum map height (scaled down under pressure), beside the facts and alone.
const MAP_MAX_H_SIDE: f32 = 290.0;
const MAP_MAX_H_ALONE: f32 = 330.0;
/// Lines at most for the title and the subtitle, and for the map caption and the sources.
const TITLE_MAX_LINES: usize = 3;
const SMALL_MAX_LINES: usize = 2;

const FONT_FAMILY: &str = "Lato";
static REGULAR_GZ: &[u8] = include_bytes!("../../data/fonts/Lato-Regular.ttf.gz");
static BOLD_GZ: &[u8] = include_bytes!("../../data/fonts/Lato-Bold.ttf.gz");

/// A text style: weight, size (pt) and grey level (0 = black).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Style {
    bold: bool,
    size: f32,
    gray: u8,
}

impl Style {
    const fn new(bold: bool, size: f32, gray: u8) -> Self {
        Style { bold, size, gray }
    }

    fn line_height(self) -> f32 {
        self.size * 1.3
    }
}

const TITLE: Style = Style::new(true, 17.0, 0);
const SUBTITLE: Style = Style::new(false, 11.5, 0);
const META: Style = Style::new(false, 9.0, 0x3a);
const HEADING: Style = Style::new(true, 12.5, 0);
const SUBHEADING: Style = Style::new(true, 9.5, 0);
const BODY: Style = Style::new(false, 9.5, 0);
const BODY_BOLD: Style = Style::new(true, 9.5, 0);
const MORE: Style = Style::new(false, 9.0, 0x3a);
const SMALL: Style = Style::new(false, 7.5, 0x3a);

// --- Fonts ----------------------------------------------------------------------------------------------------

/// One font with its advance widths (in em) per character, for line breaking.
struct Face {
    font: Font,
    advances: HashMap<char, f32>,
    /// Advance of `.notdef`, drawn for characters the font lacks.
    missing: f32,
}

impl Face {
    fn load(gz: &[u8]) -> Result<(Face, Arc<Vec<u8>>), String> {
        let mut data = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut data).map_err(|e| format!("gzip: {e}"))?;
        let data = Arc::new(data);
        let font_ref = skrifa::FontRef::new(&data).map_err(|e| format!("{e}"))?;
        let upem = f32::from(font_ref.metrics(FontSize::unscaled(), LocationRef::default()).units_per_em.max(1));
        let metrics = font_ref.glyph_metrics(FontSize::unscaled(), LocationRef::default());
        let advances = font_ref
            .charmap()
            .mappings()
            .filter_map(|(code, glyph)| Some((char::from_u32(code)?, metrics.advance_width(glyph)? / upem)))
            .collect();
        let missing = metrics.advance_width(skrifa::GlyphId::NOTDEF).unwrap_or(0.0) / upem;
        let font = Font::new(krilla::Data::from(data.clone()), 0).ok_or("krilla rejected the font")?;
        Ok((Face { font, advances, missing }, data))
    }

    fn advance(&self, c: char) -> f32 {
        self.advances.get(&c).copied().unwrap_or(self.missing)
    }
}

/// The two faces (parsed once per process) and a font database for the text of the map.
struct Fonts {
    regular: Face,
    bold: Face,
    /// Lato under its own name and as every generic family, for `<text>` in the SVG map.
    svg_fontdb: Arc<usvg::fontdb::Database>,
    /// What U+202F (narrow no-break space) is drawn as: itself when both faces have it.
    narrow_nbsp: char,
}

fn fonts() -> Result<&'static Fonts, PdfError> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS.get_or_init(load_fonts).as_ref().map_err(|e| PdfError::Font(e.clone()))
}

fn load_fonts() -> Result<Fonts, String> {
    let (regular, regular_data) = Face::load(REGULAR_GZ).map_err(|e| format!("Lato-Regular: {e}"))?;
    let (bold, bold_data) = Face::load(BOLD_GZ).map_err(|e| format!("Lato-Bold: {e}"))?;
    let mut db = usvg::fontdb::Database::new();
    db.load_font_source(usvg::fontdb::Source::Binary(regular_data));
    db.load_font_source(usvg::fontdb::Source::Binary(bold_data));
    db.set_sans_serif_family(FONT_FAMILY);
    db.set_serif_family(FONT_FAMILY);
    db.set_monospace_family(FONT_FAMILY);
    db.set_cursive_family(FONT_FAMILY);
    db.set_fantasy_family(FONT_FAMILY);
    let both = |c: char| regular.advances.contains_key(&c) && bold.advances.contains_key(&c);
    let narrow_nbsp = ['\u{202F}', '\u{2009}', '\u{00A0}'].into_iter().find(|&c| both(c)).unwrap_or('\u{00A0}');
    Ok(Fonts { regular, bold, svg_fontdb: Arc::new(db), narrow_nbsp })
}

// --- Line breaking --------------------------------------------------------------------------------------------

/// A run of text in one style, at `x` from the start of its line.
#[derive(Debug, Clone, PartialEq)]
struct Frag {
    x: f32,
    text: String,
    style: Style,
}

/// A wrapped line and its measured width.
#[derive(Debug, Clone, Default, PartialEq)]
struct WLine {
    frags: Vec<Frag>,
    width: f32,
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
    fn face(&self, style: Style) -> &Face {
        if style.bold { &self.bold } else { &self.regular }
    }

    fn char_width(&self, c: char, style: Style) -> f32 {
        self.face(style).advance(c) * style.size
    }

    fn width(&self, text: &str, style: Style) -> f32 {
        let face = self.face(style);
        text.chars().map(|c| face.advance(c)).sum::<f32>() * style.size
    }

    /// Collapses runs of ASCII whitespace and control characters into one space and trims; U+202F is replaced
    /// when the fonts lack it. No-break spaces are kept: they are not break opportunities.
    fn clean(&self, text: &str) -> String {
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
    fn wrap(&self, spans: &[(&str, Style)], max_width: f32) -> Vec<WLine> {
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
    fn cap_lines(&self, lines: &mut Vec<WLine>, max: usize, max_width: f32) {
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

// --- Layout: units of content stacked down the pages ----------------------------------------------------------

/// A drawing operation, relative to the top left of its unit (x from the left margin).
#[derive(Debug, Clone)]
enum Op {
    /// Text at a baseline.
    Text { x: f32, y: f32, text: String, style: Style },
    /// A straight stroke.
    Stroke { x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: u8 },
    /// The map, `w`×`h` at (`x`, `y`), with a thin frame.
    Map { x: f32, y: f32, w: f32, h: f32 },
}

/// A block that is never split across pages: one line of text, a heading, the map and its facts…
#[derive(Debug, Clone, Default)]
struct Unit {
    height: f32,
    /// Space above the unit, dropped at the top of a page.
    gap: f32,
    /// A heading stays on the page of the unit after it.
    keep_with_next: bool,
    ops: Vec<Op>,
}

/// Draws a wrapped line at (`x0`, `top`); returns its height.
fn line_ops(ops: &mut Vec<Op>, line: &WLine, x0: f32, top: f32, style: Style) -> f32 {
    let size = line.frags.iter().map(|f| f.style.size).fold(style.size, f32::max);
    let height = line.frags.iter().map(|f| f.style.line_height()).fold(style.line_height(), f32::max);
    let baseline = top + height / 2.0 + size * 0.33;
    for frag in &line.frags {
        ops.push(Op::Text { x: x0 + frag.x, y: baseline, text: frag.text.clone(), style: frag.style });
    }
    height
}

fn shift(ops: Vec<Op>, dx: f32, dy: f32) -> impl Iterator<Item = Op> {
    ops.into_iter().map(move |op| match op {
        Op::Text { x, y, text, style } => Op::Text { x: x + dx, y: y + dy, text, style },
        Op::Stroke { x1, y1, x2, y2, width, gray } => {
            Op::Stroke { x1: x1 + dx, y1: y1 + dy, x2: x2 + dx, y2: y2 + dy, width, gray }
        }
        Op::Map { x, y, w, h } => Op::Map { x: x + dx, y: y + dy, w, h },
    })
}

/// How hard the content is squeezed to fit on two pages.
#[derive(Debug, Clone, Copy)]
struct Params {
    /// Factor on the maximum map height.
    map_scale: f32,
    /// Lines per section (list or paragraphs; rows for the facts), `None` for everything. A list shows its items
    /// while they fit in that many lines (at least one item), then "… et N autres".
    cap: Option<usize>,
}

impl Params {
    fn section_lines(self) -> usize {
        self.cap.map_or(usize::MAX, |k| k.max(1))
    }

    fn item_lines(self) -> usize {
        self.cap.map_or(usize::MAX, |k| (k / 3).max(2))
    }

    fn paragraph_lines(self) -> usize {
        self.cap.map_or(usize::MAX, |k| k.max(3))
    }
}

/// "… et 3 autres"
fn more_label(hidden: usize) -> String {
    if hidden == 1 { "… et 1 autre".to_owned() } else { format!("… et {hidden} autres") }
}

struct Layout<'a> {
    fonts: &'a Fonts,
    p: Params,
    units: Vec<Unit>,
}

impl Layout<'_> {
    /// One unit per line, the first one `gap` below what precedes.
    fn lines(&mut self, lines: &[WLine], x0: f32, gap: f32, style: Style) {
        for (i, line) in lines.iter().enumerate() {
            let mut unit = Unit { gap: if i == 0 { gap } else { 0.0 }, ..Unit::default() };
            unit.height = line_ops(&mut unit.ops, line, x0, 0.0, style);
            self.units.push(unit);
        }
    }

    fn heading_ops(&self, title: &str, width: f32) -> (Vec<Op>, f32) {
        let mut ops = Vec::new();
        let mut lines = self.fonts.wrap(&[(title, HEADING)], width);
        self.fonts.cap_lines(&mut lines, 2, width);
        let mut y = 0.0;
        for line in &lines {
            y += line_ops(&mut ops, line, 0.0, y, HEADING);
        }
        y += 1.0;
        ops.push(Op::Stroke { x1: 0.0, y1: y, x2: width, y2: y, width: 0.8, gray: 0 });
        (ops, y + 4.0)
    }

    fn heading(&mut self, title: &str) {
        let (ops, height) = self.heading_ops(title, CONTENT_W);
        self.units.push(Unit { height, gap: 13.0, keep_with_next: true, ops });
    }

    fn subheading(&mut self, title: &str) {
        let lines = self.fonts.wrap(&[(title, SUBHEADING)], CONTENT_W);
        self.lines(&lines, 0.0, 5.0, SUBHEADING);
        if let Some(last) = self.units.last_mut() {
            last.keep_with_next = true;
        }
    }

    /// Paragraphs (cleaned, non-empty) with at most `max_lines` lines in all.
    fn paragraphs(&mut self, paragraphs: &[String], x0: f32, bar: bool) {
        let width = CONTENT_W - x0;
        let mut budget = self.p.paragraph_lines();
        for paragraph in paragraphs {
            if budget == 0 {
                break;
            }
            let mut lines = self.fonts.wrap(&[(paragraph, BODY)], width);
            let full = lines.len();
            self.fonts.cap_lines(&mut lines, budget, width);
            budget -= lines.len();
            if lines.len() < full {
                budget = 0;
            }
            let first = self.units.len();
            self.lines(&lines, x0, 4.0, BODY);
            if bar {
                for unit in &mut self.units[first..] {
                    unit.ops.push(Op::Stroke { x1: 1.5, y1: 0.0, x2: 1.5, y2: unit.height, width: 2.0, gray: 0x55 });
                }
            }
        }
    }

    /// A bullet list of styled items (each a list of cleaned spans), cut to the current number of lines.
    fn bullets(&mut self, items: &[Vec<(String, Style)>]) {
        let width = CONTENT_W - BULLET_INDENT;
        let (mut shown, mut used) = (0, 0);
        for item in items {
            let spans: Vec<(&str, Style)> = item.iter().map(|(t, s)| (t.as_str(), *s)).collect();
            let mut lines = self.fonts.wrap(&spans, width);
            self.fonts.cap_lines(&mut lines, self.p.item_lines(), width);
            if shown > 0 && used + lines.len() > self.p.section_lines() {
                break;
            }
            shown += 1;
            used += lines.len();
            let first = self.units.len();
            self.lines(&lines, BULLET_INDENT, 2.5, BODY);
            if let Some(unit) = self.units.get_mut(first) {
                let baseline = unit.height / 2.0 + BODY.size * 0.33;
                unit.ops.push(Op::Text { x: 2.0, y: baseline, text: "•".to_owned(), style: BODY });
            }
        }
        if shown < items.len() {
            let lines = self.fonts.wrap(&[(&more_label(items.len() - shown), MORE)], width);
            self.lines(&lines, BULLET_INDENT, 2.5, MORE);
        }
    }

    /// Rows of a two-column table (bold label, detail), each one unit, `width` wide; `hidden` adds a last row.
    fn fact_rows(&self, facts: &[(String, String)], hidden: usize, width: f32) -> Vec<Unit> {
        let widest = facts.iter().map(|(l, _)| self.fonts.width(l, BODY_BOLD)).fold(0.0, f32::max);
        let label_w = widest.min(width * 0.42).ceil();
        let detail_x = if label_w > 0.0 { label_w + 8.0 } else { 0.0 };
        let detail_w = width - detail_x;
        let mut rows = Vec::new();
        for (label, detail) in facts {
            let mut unit = Unit::default();
            let mut labels = self.fonts.wrap(&[(label, BODY_BOLD)], label_w);
            let mut details = self.fonts.wrap(&[(detail, BODY)], detail_w);
            self.fonts.cap_lines(&mut labels, self.p.item_lines(), label_w);
            self.fonts.cap_lines(&mut details, self.p.item_lines(), detail_w);
            let (mut left, mut right) = (2.0, 2.0);
            for line in &labels {
                left += line_ops(&mut unit.ops, line, 0.0, left, BODY_BOLD);
            }
            for line in &details {
                right += line_ops(&mut unit.ops, line, detail_x, right, BODY);
            }
            unit.height = f32::max(left, right) + 2.0;
            unit.ops.push(Op::Stroke { x1: 0.0, y1: unit.height, x2: width, y2: unit.height, width: 0.4, gray: 0x88 });
            rows.push(unit);
        }
        if hidden > 0 {
            let mut unit = Unit::default();
            if let Some(line) = self.fonts.wrap(&[(&more_label(hidden), MORE)], width).first() {
                unit.height = line_ops(&mut unit.ops, line, 0.0, 2.0, MORE) + 2.0;
            }
            rows.push(unit);
        }
        rows
    }

    /// The map with its caption and, beside it (or alone), the key facts.
    fn map_and_facts(&mut self, doc: &FicheDoc, map: Option<&usvg::Tree>) {
        let facts: Vec<(String, String)> = doc
            .facts
            .iter()
            .map(|l| (self.fonts.clean(&l.label), self.fonts.clean(&l.detail)))
            .filter(|(l, d)| !l.is_empty() || !d.is_empty())
            .collect();
        let shown = facts.len().min(self.p.section_lines());
        let hidden = facts.len() - shown;
        let facts = &facts[..shown];
        const FACTS_TITLE: &str = "Chiffres clés";

        let Some(tree) = map else {
            if !facts.is_empty() || hidden > 0 {
                self.heading(FACTS_TITLE);
                let rows = self.fact_rows(facts, hidden, CONTENT_W);
                self.units.extend(rows);
            }
            return;
        };

        // The map: as wide as its column allows, no taller than the (scaled) maximum height.
        let beside = !facts.is_empty();
        let (column_w, max_h) = if beside { (CONTENT_W * 0.56, MAP_MAX_H_SIDE) } else { (CONTENT_W, MAP_MAX_H_ALONE) };
        let max_h = max_h * self.p.map_scale;
        let aspect = tree.size().height() / tree.size().width();
        let (mut w, mut h) = (column_w, column_w * aspect);
        if h > max_h {
            (w, h) = (max_h / aspect, max_h);
        }
        let mut block = Unit { gap: 10.0, ..Unit::default() };
        block.ops.push(Op::Map { x: 0.0, y: 0.0, w, h });
        let mut left = h;
        // The caption needs some room even under a narrow map.
        let caption_w = w.max(column_w.min(200.0));
        let caption = self.fonts.clean(&doc.map_caption);
        if !caption.is_empty() {
            let mut lines = self.fonts.wrap(&[(&caption, SMALL)], caption_w);
            self.fonts.cap_lines(&mut lines, SMALL_MAX_LINES, caption_w);
            left += 3.0;
            for line in &lines {
                left += line_ops(&mut block.ops, line, 0.0, left, SMALL);
            }
        }
        if !beside {
            block.height = left;
            self.units.push(block);
            if hidden > 0 {
                self.heading(FACTS_TITLE);
                let rows = self.fact_rows(&[], hidden, CONTENT_W);
                self.units.extend(rows);
            }
            return;
        }

        // The facts column: rows as long as they stay beside the map, the others below at full width.
        let x = caption_w + GUTTER;
        let width = CONTENT_W - x;
        let (heading, mut right) = self.heading_ops(FACTS_TITLE, width);
        block.ops.extend(shift(heading, x, 0.0));
        let mut rows = self.fact_rows(facts, hidden, width).into_iter().enumerate().peekable();
        let mut beside_count = 0;
        while let Some((_, row)) = rows.next_if(|(i, r)| *i == 0 || right + r.height <= left) {
            block.ops.extend(shift(row.ops, x, right));
            right += row.height;
            beside_count += 1;
        }
        block.height = left.max(right);
        self.units.push(block);
        if beside_count < facts.len() + usize::from(hidden > 0) {
            let mut rest = self.fact_rows(&facts[beside_count.min(facts.len())..], hidden, CONTENT_W);
            if let Some(first) = rest.first_mut() {
                first.gap = 6.0;
            }
            self.units.extend(rest);
        }
    }
}

/// Every unit of the sheet (header, map and facts, sections) for one squeeze level.
fn layout(doc: &FicheDoc, fonts: &Fonts, map: Option<&usvg::Tree>, p: Params) -> Vec<Unit> {
    let mut l = Layout { fonts, p, units: Vec::new() };

    // Header: title, subtitle, version and date, a thick rule.
    for (text, style) in [(&doc.title, TITLE), (&doc.subtitle, SUBTITLE)] {
        let text = fonts.clean(text);
        let mut lines = fonts.wrap(&[(&text, style)], CONTENT_W);
        fonts.cap_lines(&mut lines, TITLE_MAX_LINES, CONTENT_W);
        l.lines(&lines, 0.0, 2.0, style);
    }
    let date = fonts.clean(&doc.generated_at);
    let meta = if date.is_empty() {
        format!("Version {}", doc.version)
    } else {
        format!("Version {} · générée le {date}", doc.version)
    };
    let mut lines = fonts.wrap(&[(&meta, META)], CONTENT_W);
    fonts.cap_lines(&mut lines, 1, CONTENT_W);
    l.lines(&lines, 0.0, 3.0, META);
    l.units.push(Unit {
        height: 2.0,
        gap: 4.0,
        keep_with_next: false,
        ops: vec![Op::Stroke { x1: 0.0, y1: 1.0, x2: CONTENT_W, y2: 1.0, width: 2.0, gray: 0 }],
    });

    l.map_and_facts(doc, map);

    let clean_all =
        |items: &[String]| -> Vec<String> { items.iter().map(|s| fonts.clean(s)).filter(|s| !s.is_empty()).collect() };
    let plain =
        |items: Vec<String>| -> Vec<Vec<(String, Style)>> { items.into_iter().map(|s| vec![(s, BODY)]).collect() };
    let labelled = |items: &[Line]| -> Vec<Vec<(String, Style)>> {
        items
            .iter()
            .map(|line| (fonts.clean(&line.label), fonts.clean(&line.detail)))
            .filter(|(label, detail)| !label.is_empty() || !detail.is_empty())
            .map(|(label, detail)| match (label.is_empty(), detail.is_empty()) {
                (false, false) => vec![(label, BODY_BOLD), ("\u{a0}— ".to_owned(), BODY), (detail, BODY)],
                (false, true) => vec![(label, BODY_BOLD)],
                _ => vec![(detail, BODY)],
            })
            .collect()
    };

    // Profil du secteur: the paragraph(s), then whom to focus on.
    let profile: Vec<String> = doc.profile.split('\n').map(|p| fonts.clean(p)).filter(|p| !p.is_empty()).collect();
    let targeting = plain(clean_all(&doc.targeting));
    if !profile.is_empty() || !targeting.is_empty() {
        l.heading("Profil du secteur");
        l.paragraphs(&profile, 0.0, false);
        if !targeting.is_empty() {
            l.subheading("Publics à privilégier");
            l.bullets(&targeting);
        }
    }

    for (title, items) in [("Enjeux locaux", labelled(&doc.issues)), ("Ce qui marche", labelled(&doc.methods))] {
        if !items.is_empty() {
            l.heading(title);
            l.bullets(&items);
        }
    }

    let script: Vec<String> =
        doc.script.iter().flat_map(|s| s.split('\n')).map(|p| fonts.clean(p)).filter(|p| !p.is_empty()).collect();
    if !script.is_empty() {
        l.heading("Script");
        l.paragraphs(&script, SCRIPT_INDENT, true);
    }

    for (title, items) in
        [("Conseils pratiques", plain(clean_all(&doc.advice))), ("Personnes à remobiliser", labelled(&doc.people))]
    {
        if !items.is_empty() {
            l.heading(title);
            l.bullets(&items);
        }
    }
    l.units
}

// --- Pagination -----------------------------------------------------------------------------------------------

/// Units of one page with their top y (absolute).
type Page = Vec<(usize, f32)>;

/// Stacks the units from `top` to `bottom`, starting a page when a unit (or a heading and the unit after it)
/// does not fit. A unit taller than a page gets a page of its own and overflows it.
fn paginate(units: &[Unit], top: f32, bottom: f32) -> Vec<Page> {
    let mut pages: Vec<Page> = vec![Vec::new()];
    let mut y = top;
    for (i, unit) in units.iter().enumerate() {
        let empty = pages.last().is_none_or(Vec::is_empty);
        let mut need = if empty { 0.0 } else { unit.gap } + unit.height;
        if let Some(next) = units.get(i + 1).filter(|_| unit.keep_with_next) {
            need += next.gap + next.height;
        }
        if !empty && y + need > bottom {
            pages.push(Vec::new());
            y = top;
        }
        let page = pages.last_mut().expect("at least one page");
        if !page.is_empty() {
            y += unit.gap;
        }
        page.push((i, y));
        y += unit.height;
    }
    pages
}

/// Last resort: keeps the first pages and ends the last one with a notice of truncation.
fn clip_pages(units: &mut Vec<Unit>, pages: &mut Vec<Page>, fonts: &Fonts, bottom: f32) {
    if pages.len() <= MAX_PAGES {
        return;
    }
    pages.truncate(MAX_PAGES);
    let mut notice = Unit { gap: 6.0, ..Unit::default() };
    if let Some(line) = fonts.wrap(&[("… (fiche tronquée : trop de contenu pour deux pages)", MORE)], CONTENT_W).first()
    {
        notice.height = line_ops(&mut notice.ops, line, 0.0, 0.0, MORE);
    }
    let Some(page) = pages.last_mut() else { return };
    loop {
        let end = page.last().map_or(MARGIN_TOP, |&(i, y)| y + units[i].height);
        if end + notice.gap + notice.height <= bottom || page.len() <= 1 {
            units.push(notice);
            page.push((units.len() - 1, end + 6.0));
            return;
        }
        page.pop();
    }
}

// --- Rendering ------------------------------------------------------------------------------------------------

/// Parses the map; `None` when it is not a usable SVG (the sheet is then rendered without it).
fn parse_map(svg: &str, fonts: &Fonts) -> Option<usvg::Tree> {
    let options = usvg::Options {
        font_family: FONT_FAMILY.to_owned(),
        fontdb: fonts.svg_fontdb.clone(),
        // Our maps reference no external files: never read one from disk.
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).ok()?;
    let size = tree.size();
    (size.width() >= 1.0 && size.height() >= 1.0 && size.width().is_finite() && size.height().is_finite())
        .then_some(tree)
}

fn gray_fill(gray: u8) -> Fill {
    Fill { paint: rgb::Color::new(gray, gray, gray).into(), opacity: NormalizedF32::ONE, rule: Default::default() }
}

fn draw_stroke(surface: &mut Surface, (x1, y1): (f32, f32), (x2, y2): (f32, f32), width: f32, gray: u8) {
    let mut pb = PathBuilder::new();
    pb.move_to(x1, y1);
    pb.line_to(x2, y2);
    let Some(path) = pb.finish() else { return };
    surface.set_fill(None);
    surface.set_stroke(Some(Stroke { paint: rgb::Color::new(gray, gray, gray).into(), width, ..Stroke::default() }));
    surface.draw_path(&path);
    surface.set_stroke(None);
}

fn draw_text(surface: &mut Surface, fonts: &Fonts, (x, y): (f32, f32), text: &str, style: Style) {
    surface.set_fill(Some(gray_fill(style.gray)));
    let font = fonts.face(style).font.clone();
    surface.draw_text(Point::from_xy(x, y), font, style.size, text, false, TextDirection::LeftToRight);
}

fn draw_op(surface: &mut Surface, fonts: &Fonts, op: &Op, (dx, dy): (f32, f32), map: Option<&usvg::Tree>) {
    match op {
        Op::Text { x, y, text, style } => draw_text(surface, fonts, (dx + x, dy + y), text, *style),
        Op::Stroke { x1, y1, x2, y2, width, gray } => {
            draw_stroke(surface, (dx + x1, dy + y1), (dx + x2, dy + y2), *width, *gray)
        }
        Op::Map { x, y, w, h } => {
            let Some(tree) = map else { return };
            let Some(size) = Size::from_wh(*w, *h) else { return };
            let (x, y) = (dx + x, dy + y);
            surface.push_transform(&Transform::from_translate(x, y));
            surface.draw_svg(tree, size, SvgSettings::default());
            surface.pop();
            let gray = 0x99;
            draw_stroke(surface, (x, y), (x + w, y), 0.5, gray);
            draw_stroke(surface, (x + w, y), (x + w, y + h), 0.5, gray);
            draw_stroke(surface, (x + w, y + h), (x, y + h), 0.5, gray);
            draw_stroke(surface, (x, y + h), (x, y), 0.5, gray);
        }
    }
}

/// Renders the fiche to PDF bytes: A4 portrait, one or two pages.
pub fn render_pdf(doc: &FicheDoc) -> Result<Vec<u8>, PdfError> {
    let fonts = fonts()?;
    let map = doc.map_svg.as_deref().and_then(|svg| parse_map(svg, fonts));

    // Footer: sources on at most two lines, "page N/M" on the right of the first one.
    let page_label_w = fonts.width("page 00/00", SMALL);
    let sources = fonts.clean(&doc.sources);
    let sources_w = CONTENT_W - page_label_w - 12.0;
    let mut footer_lines = fonts.wrap(&[(&sources, SMALL)], sources_w);
    fonts.cap_lines(&mut footer_lines, SMALL_MAX_LINES, sources_w);
    let footer_h = 5.0 + SMALL.line_height() * footer_lines.len().max(1) as f32;
    let footer_top = PAGE_H - MARGIN_BOTTOM - footer_h;
    let bottom = footer_top - 8.0;

    // Squeeze until the sheet fits: a smaller map rather than a second page, then a smaller map rather than cuts,
    // then a common cap on the lines of every section (the largest that fits, by binary search).
    let attempt = |p: Params, max_pages: usize| {
        let units = layout(doc, fonts, map.as_ref(), p);
        let pages = paginate(&units, MARGIN_TOP, bottom);
        (pages.len() <= max_pages).then_some((units, pages))
    };
    let fits = |p: Params| attempt(p, MAX_PAGES);
    let scales = [1.0, 0.85, 0.7];
    let squeezed = scales[scales.len() - 1];
    let mut result = (1..=MAX_PAGES)
        .flat_map(|pages| scales.iter().map(move |&map_scale| (Params { map_scale, cap: None }, pages)))
        .find_map(|(p, pages)| attempt(p, pages));
    if result.is_none() {
        // The largest cap in 2..=512 that fits, else 1.
        let (mut lo, mut hi) = (1_usize, 512);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            match fits(Params { map_scale: squeezed, cap: Some(mid) }) {
                Some(found) => {
                    result = Some(found);
                    lo = mid;
                }
                None => hi = mid - 1,
            }
        }
        if lo == 1 && result.is_none() {
            result = fits(Params { map_scale: squeezed, cap: Some(1) });
        }
    }
    let (units, mut pages) = match result {
        Some(found) => found,
        None => {
            let mut units = layout(doc, fonts, map.as_ref(), Params { map_scale: 0.5, cap: Some(1) });
            let mut pages = paginate(&units, MARGIN_TOP, bottom);
            clip_pages(&mut units, &mut pages, fonts, bottom);
            (units, pages)
        }
    };
    if pages.is_empty() {
        pages.push(Vec::new());
    }

    let mut document = Document::new();
    let mut metadata = Metadata::new().language("fr-FR".to_owned()).creator("Terrain".to_owned());
    let title = fonts.clean(&doc.title);
    if !title.is_empty() {
        metadata = metadata.title(title);
    }
    document.set_metadata(metadata);
    let count = pages.len();
    for (n, placed) in pages.iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| PdfError::Pdf("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for &(i, y) in placed {
            for op in &units[i].ops {
                draw_op(&mut surface, fonts, op, (MARGIN_X, y), map.as_ref());
            }
        }
        draw_stroke(&mut surface, (MARGIN_X, footer_top), (MARGIN_X + CONTENT_W, footer_top), 0.5, 0x55);
        let mut y = footer_top + 3.0;
        let page_label = format!("page {}/{count}", n + 1);
        let label_w = fonts.width(&page_label, SMALL);
        let mut ops = Vec::new();
        let first_height = footer_lines.first().map_or(SMALL.line_height(), |l| line_ops(&mut ops, l, 0.0, y, SMALL));
        let label_baseline = y + first_height / 2.0 + SMALL.size * 0.33;
        y += first_height;
        for line in footer_lines.iter().skip(1) {
            y += line_ops(&mut ops, line, 0.0, y, SMALL);
        }
        ops.push(Op::Text { x: CONTENT_W - label_w, y: label_baseline, text: page_label, style: SMALL });
        for op in &ops {
            draw_op(&mut surface, fonts, op, (MARGIN_X, 0.0), None);
        }
        surface.finish();
        page.finish();
    }
    document.finish().map_err(|e| PdfError::Pdf(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    /// A map like the territory renderer's: zones wrapped in links with titles, a hatched pattern for missing
    /// data, labels with a halo, a legend of coloured squares and an attribution.
    fn sample_svg(columns: usize, rows: usize) -> String {
        let colours = ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"];
        let (w, h) = ((columns as f64 * 40.0 + 16.0).max(440.0), rows as f64 * 36.0 + 70.0);
        let mut out = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             role=\"group\" aria-labelledby=\"carte-title carte-desc\" font-family=\"sans-serif\" font-size=\"12\">\
             <title id=\"carte-title\">Abstention au 1er tour, par bureau de vote</title>\
             <desc id=\"carte-desc\">Quarante zones, cinq classes.</desc>\
             <defs><pattern id=\"carte-missing\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
             patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f5f5f5\"/>\
             <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#9e9e9e\" stroke-width=\"2\"/></pattern></defs>\
             <g class=\"zones\" stroke=\"#ffffff\" stroke-width=\"0.7\" stroke-linejoin=\"round\">"
        );
        for r in 0..rows {
            for c in 0..columns {
                let (x, y) = (8.0 + c as f64 * 40.0, 8.0 + r as f64 * 36.0);
                let jitter = ((r * 7 + c * 13) % 9) as f64;
                let k = r * columns + c;
                let fill = if k % 11 == 3 { "url(#carte-missing)".to_owned() } else { colours[k % 5].to_owned() };
                let _ = write!(
                    out,
                    "<a href=\"/territoire/bureaux/69259-{k:04}\"><path id=\"carte-69259-{k:04}\" class=\"zone\" \
                     fill=\"{fill}\" fill-rule=\"evenodd\" d=\"M{x},{y}L{},{}L{},{}L{},{}L{},{}Z M{},{}l6,0l0,6l-6,0Z\">\
                     <title>Bureau {k} (69259-{k:04}) — classe {}</title></path></a>",
                    x + 40.0,
                    y + jitter / 3.0,
                    x + 38.0 + jitter / 2.0,
                    y + 36.0,
                    x + 2.0,
                    y + 34.0 - jitter / 4.0,
                    x,
                    y + 18.0,
                    x + 15.0,
                    y + 14.0,
                    k % 5 + 1,
                );
            }
        }
        out.push_str(
            "</g><g class=\"map-label\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1a1a1a\" stroke=\"#ffffff\" \
             stroke-width=\"2.5\" stroke-linejoin=\"round\" paint-order=\"stroke\" pointer-events=\"none\">\
             <text x=\"60\" y=\"30\" dy=\"0.35em\">Parilly-Nord</text><text x=\"180\" y=\"80\" dy=\"0.35em\">Centre</text>\
             </g><g class=\"map-legend\">",
        );
        let legend_y = rows as f64 * 36.0 + 20.0;
        let _ = write!(
            out,
            "<text x=\"8\" y=\"{}\" font-size=\"13\" font-weight=\"bold\" fill=\"#1a1a1a\">Abstention</text>",
            legend_y
        );
        for (i, colour) in colours.iter().chain(["url(#carte-missing)"].iter()).enumerate() {
            let x = 8.0 + i as f64 * 70.0;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\" stroke=\"#757575\" \
                 stroke-width=\"0.5\"/><text x=\"{}\" y=\"{}\" fill=\"#1a1a1a\">{}</text>",
                legend_y + 8.0,
                x + 20.0,
                legend_y + 19.5,
                if i < 5 { format!("≤ {} %", 20 + i * 5) } else { "n. d.".to_owned() }
            );
        }
        let _ = write!(
            out,
            "</g><text class=\"map-attribution\" x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" \
             fill=\"#616161\">© IGN, Ministère de l'Intérieur</text></svg>",
            w - 8.0,
            h - 6.0
        );
        out
    }

    fn line(label: &str, detail: &str) -> Line {
        Line { label: label.to_owned(), detail: detail.to_owned() }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn full_doc() -> FicheDoc {
        FicheDoc {
            title: "Fiche militante — Vénissieux (69259)".into(),
            subtitle: "Porte-à-porte « Défendre l'hôpital » · samedi 28 novembre 2026, 10\u{a0}h".into(),
            version: 3,
            generated_at: "22/11/2026 08:15".into(),
            map_svg: Some(sample_svg(8, 5)),
            map_caption: "Abstention au 1er tour des municipales 2026 par bureau de vote ; hachures : données \
                          manquantes. Fond : IGN Admin Express."
                .into(),
            facts: vec![
                line("Abstention", "41,2\u{a0}% (département 27,0\u{a0}%)"),
                line("Revenu médian", "19\u{a0}870\u{a0}€ par unité de consommation"),
                line("Population", "67\u{a0}129 habitants"),
                line("Logement social", "48\u{a0}% des résidences principales"),
                line("Moins de 25 ans", "35,1\u{a0}%"),
                line("Dernier score", "38,5\u{a0}% au 1er tour (2026)"),
            ],
            profile: "Bastion populaire en voie de démobilisation\u{202f}: l'abstention progresse dans les grands \
                      ensembles tandis que le vote reste fort dans le centre ancien. Les jeunes adultes et les \
                      familles monoparentales sont les moins mobilisés."
                .into(),
            targeting: strings(&[
                "Locataires des Minguettes (tours Monmousseau, Darnaise)",
                "Abstentionnistes intermittents de 25 à 40 ans",
                "Parents d'élèves des écoles Jean-Moulin et Parmentier",
            ]),
            issues: vec![
                line("Santé", "citée dans 3 fiches d'observation : fermeture des urgences de nuit"),
                line("Transports", "ligne de tram T4 saturée aux heures de pointe"),
                line("Logement", "charges en hausse de 12\u{a0}% (amicale des locataires)"),
            ],
            methods: vec![
                line("Porte-à-porte en binôme", "taux d'ouverture de 38\u{a0}% le samedi matin"),
                line("Tractage au marché", "dimanche 9\u{a0}h – 12\u{a0}h, place Léon-Sublet"),
            ],
            script: strings(&[
                "Bonjour, je suis bénévole pour la campagne « Défendre l'hôpital ». Avez-vous deux minutes\u{202f}?",
                "Les urgences de nuit de l'hôpital ferment en janvier. Qu'en pensez-vous\u{202f}?",
                "Nous organisons une réunion publique jeudi à 19\u{a0}h à la salle Joliot-Curie.",
            ]),
            advice: strings(&[
                "Éviter 12\u{a0}h – 14\u{a0}h ; privilégier le samedi matin.",
                "Toujours laisser un tract avec la date de la réunion publique.",
            ]),
            people: vec![
                line("Mme Amina B.", "ancienne assesseure, 2022"),
                line("M. Jean D.", "signataire de la pétition"),
            ],
            sources: "Sources : Insee (Filosofi 2021, RP 2021), ministère de l'Intérieur (résultats 2026), fiches \
                      d'observation des équipes locales."
                .into(),
        }
    }

    /// Text of the PDF by `pdftotext` (no-break spaces turned into plain ones), `None` when it is not installed.
    fn pdftotext(pdf: &[u8]) -> Option<String> {
        let mut child = match Command::new("pdftotext")
            .args(["-enc", "UTF-8", "-", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                eprintln!("pdftotext unavailable ({e}): text checks skipped");
                return None;
            }
        };
        let mut stdin = child.stdin.take().expect("stdin");
        let bytes = pdf.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&bytes));
        let output = child.wait_with_output().expect("pdftotext output");
        writer.join().expect("writer thread").expect("write to pdftotext");
        assert!(output.status.success(), "pdftotext: {}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).expect("UTF-8 text");
        Some(text.replace(['\u{a0}', '\u{202f}', '\u{2009}'], " "))
    }

    /// Page objects in the PDF ("/Type/Page" or "/Type /Page", not "/Pages"); krilla writes no object streams.
    fn page_count(pdf: &[u8]) -> usize {
        let needle = b"/Type";
        let mut count = 0;
        for (i, _) in pdf.windows(needle.len()).enumerate().filter(|(_, w)| w == needle) {
            let rest = &pdf[i + needle.len()..];
            let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
            if rest.starts_with(b"/Page") && !rest.get(5).is_some_and(|b| b.is_ascii_alphanumeric()) {
                count += 1;
            }
        }
        count
    }

    fn save(name: &str, pdf: &[u8]) {
        if let Ok(dir) = std::env::var("FICHE_PDF_OUT") {
            std::fs::write(std::path::Path::new(&dir).join(name), pdf).expect("write sample PDF");
        }
    }

    #[test]
    fn full_fiche_renders_with_extractable_text() {
        let doc = full_doc();
        let pdf = render_pdf(&doc).expect("PDF");
        save("fiche.pdf", &pdf);
        assert!(pdf.starts_with(b"%PDF"));
        let pages = page_count(&pdf);
        assert!((1..=2).contains(&pages), "{pages} pages");
        eprintln!("full fiche: {pages} page(s), {} bytes", pdf.len());
        let Some(text) = pdftotext(&pdf) else { return };
        assert_eq!(text.matches('\u{c}').count(), pages, "form feeds = pages");
        for expected in [
            "Fiche militante — Vénissieux (69259)",
            "Porte-à-porte « Défendre l'hôpital »",
            "Version 3 · générée le 22/11/2026 08:15",
            "Chiffres clés",
            "Abstention",
            "41,2 % (département 27,0 %)",
            "19 870 €",
            "Profil du secteur",
            "démobilisation :",
            "Publics à privilégier",
            "Enjeux locaux",
            "Santé — citée dans 3 fiches d'observation",
            "Ce qui marche",
            "Porte-à-porte en binôme",
            "Script",
            "Avez-vous deux minutes ?",
            "Conseils pratiques",
            "Personnes à remobiliser",
            "Mme Amina B.",
            "Sources : Insee",
            &format!("page 1/{pages}"),
            "Parilly-Nord",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert!(!text.contains("autres"), "nothing cut:\n{text}");
    }

    #[test]
    fn huge_fiche_fits_on_two_pages() {
        let long = "Les habitants rencontrés évoquent la fermeture des urgences de nuit, la hausse des charges et le \
                    manque de transports le soir\u{202f}; ils attendent des propositions concrètes. "
            .repeat(40);
        let doc = FicheDoc {
            profile: long.clone(),
            targeting: (0..50).map(|i| format!("Public cible numéro {i} : {}", &long[..120])).collect(),
            issues: (0..200).map(|i| line(&format!("Enjeu {i}"), &long[..200])).collect(),
            methods: (0..60).map(|i| line(&format!("Méthode {i}"), "porte-à-porte en binôme")).collect(),
            script: (0..20).map(|_| long.clone()).collect(),
            advice: (0..80).map(|i| format!("Conseil {i} : {}", &long[..90])).collect(),
            people: (0..100).map(|i| line(&format!("Personne {i}"), "militante depuis 2012")).collect(),
            facts: (0..40).map(|i| line(&format!("Indicateur {i}"), "12,5\u{a0}%")).collect(),
            sources: long.clone(),
            ..full_doc()
        };
        let pdf = render_pdf(&doc).expect("PDF");
        save("huge.pdf", &pdf);
        let pages = page_count(&pdf);
        assert!((1..=2).contains(&pages), "{pages} pages");
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("autres"), "{text}");
        for heading in ["Enjeux locaux", "Ce qui marche", "Script", "Conseils pratiques", "Personnes à remobiliser"] {
            assert!(text.contains(heading), "missing {heading:?} in:\n{text}");
        }
        assert!(text.contains(&format!("page {pages}/{pages}")));
    }

    #[test]
    fn title_only_fiche_is_one_page() {
        let doc = FicheDoc { title: "Fiche militante — Givors (69091)".into(), ..FicheDoc::default() };
        let pdf = render_pdf(&doc).expect("PDF");
        assert_eq!(page_count(&pdf), 1);
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("Fiche militante — Givors (69091)"), "{text}");
        assert!(text.contains("Version 0"), "{text}");
        assert!(text.contains("page 1/1"), "{text}");
        assert!(!text.contains("Enjeux locaux") && !text.contains("Chiffres clés"), "{text}");
        let empty = render_pdf(&FicheDoc::default()).expect("PDF of an empty fiche");
        assert_eq!(page_count(&empty), 1);
    }

    #[test]
    fn broken_map_is_left_out() {
        for svg in ["<svg><path d=\"M0,0L10", "not svg at all", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", ""] {
            let doc = FicheDoc { map_svg: Some(svg.to_owned()), ..full_doc() };
            let pdf = render_pdf(&doc).expect("PDF without its map");
            assert!((1..=2).contains(&page_count(&pdf)));
            let Some(text) = pdftotext(&pdf) else { return };
            assert!(text.contains("Enjeux locaux") && text.contains("Revenu médian"), "{text}");
            assert!(!text.contains("Parilly-Nord"), "no map labels");
        }
    }

    #[test]
    fn overlong_words_are_cut() {
        let word = "Saint-Rémy-de-Provence-".repeat(40);
        let doc = FicheDoc {
            title: word.clone(),
            issues: vec![line(&word, &word)],
            facts: vec![line(&word, &word)],
            advice: vec![word.clone()],
            sources: word.clone(),
            ..full_doc()
        };
        let pdf = render_pdf(&doc).expect("PDF");
        assert!((1..=2).contains(&page_count(&pdf)));

        let fonts = fonts().expect("fonts");
        let lines = fonts.wrap(&[(&word, BODY_BOLD)], 100.0);
        assert!(lines.len() > 10);
        assert!(lines.iter().all(|l| l.width <= 100.0 + 1e-3), "{lines:?}");
        let text: String = lines.iter().flat_map(|l| l.frags.iter().map(|f| f.text.as_str())).collect();
        assert_eq!(text, word, "nothing lost");
        assert_eq!(fonts.wrap(&[("W", TITLE)], 0.5).len(), 1, "one character per line at worst");
    }

    #[test]
    fn wraps_only_at_ascii_spaces() {
        let fonts = fonts().expect("fonts");
        let text = fonts.clean("Revenu médian\u{a0}: 19\u{a0}870\u{a0}€ —\tvoir  la\u{202f}note\n");
        assert_eq!(text, format!("Revenu médian\u{a0}: 19\u{a0}870\u{a0}€ — voir la{}note", fonts.narrow_nbsp));
        let width = fonts.width("médian\u{a0}: 19", BODY) + 0.5;
        let lines = fonts.wrap(&[(&text, BODY)], width);
        let texts: Vec<String> = lines.iter().map(|l| l.frags.iter().map(|f| f.text.as_str()).collect()).collect();
        assert!(texts.iter().any(|t| t.starts_with("19\u{a0}870\u{a0}€")), "{texts:?}");
        assert!(texts.iter().all(|t| !t.ends_with('\u{a0}') && !t.starts_with(':')), "{texts:?}");
        assert!(lines.iter().all(|l| l.width <= width), "{lines:?}");

        // Mixed styles: a bold label glued to its dash, fragments placed at their measured offsets.
        let lines = fonts.wrap(&[("Santé", BODY_BOLD), ("\u{a0}— ", BODY), ("citée trois fois", BODY)], 500.0);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].frags.len(), 2);
        assert!((lines[0].frags[1].x - fonts.width("Santé", BODY_BOLD)).abs() < 1e-3);
        assert!(
            (lines[0].width - fonts.width("Santé", BODY_BOLD) - fonts.width("\u{a0}— citée trois fois", BODY)).abs()
                < 1e-3
        );

        let mut lines = fonts.wrap(&[("un deux trois quatre cinq six sept huit", BODY)], 60.0);
        fonts.cap_lines(&mut lines, 2, 60.0);
        assert_eq!(lines.len(), 2);
        let last: String = lines[1].frags.iter().map(|f| f.text.as_str()).collect();
        assert!(last.ends_with('…') && lines[1].width <= 60.0, "{last:?}");
    }

    #[test]
    fn odd_characters_do_not_panic() {
        let odd =
            "Émoji 👍, combinant e\u{301}, arabe مرحبا, tab\there\r\nnouvelle ligne, \u{7}contrôle, \u{202f}\u{a0} ";
        let doc = FicheDoc {
            title: odd.into(),
            subtitle: odd.into(),
            generated_at: odd.into(),
            version: -1,
            map_caption: odd.into(),
            facts: vec![line(odd, odd), line("", ""), line("", "sans libellé")],
            profile: format!("{odd}\n\n{odd}"),
            targeting: vec![String::new(), odd.into()],
            issues: vec![line("", ""), line(odd, "")],
            script: vec![odd.into(), "\n".into()],
            sources: odd.into(),
            ..full_doc()
        };
        let pdf = render_pdf(&doc).expect("PDF");
        assert!((1..=2).contains(&page_count(&pdf)));
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("sans libellé") && text.contains("Version -1"), "{text}");
    }

    #[test]
    fn pagination_keeps_headings_with_their_content_and_clips_at_two_pages() {
        let fonts = fonts().expect("fonts");
        let line = |keep_with_next| Unit { height: 100.0, gap: 10.0, keep_with_next, ops: Vec::new() };
        // 4 units of 100 fit between 0 and 450 (with gaps: 430); a heading in 4th place moves with its content.
        let units = vec![line(false), line(false), line(false), line(true), line(false)];
        let pages = paginate(&units, 0.0, 450.0);
        assert_eq!(pages, vec![vec![(0, 0.0), (1, 110.0), (2, 220.0)], vec![(3, 0.0), (4, 110.0)]]);

        let mut units: Vec<Unit> = (0..20).map(|_| line(false)).collect();
        let mut pages = paginate(&units, 0.0, 450.0);
        assert_eq!(pages.len(), 5);
        clip_pages(&mut units, &mut pages, fonts, 450.0);
        assert_eq!(pages.len(), MAX_PAGES);
        let &(notice, y) = pages[1].last().expect("notice");
        assert_eq!(notice, units.len() - 1);
        assert!(y + units[notice].height <= 450.0, "{y}");
        assert!(matches!(&units[notice].ops[0], Op::Text { text, .. } if text.contains("fiche tronquée")));
    }

    #[test]
    fn render_time() {
        let doc = full_doc();
        render_pdf(&doc).expect("warm-up (fonts)");
        let runs = if cfg!(debug_assertions) { 2 } else { 20 };
        let start = std::time::Instant::now();
        for _ in 0..runs {
            render_pdf(&doc).expect("PDF");
        }
        let per_pdf = start.elapsed() / runs;
        eprintln!(
            "render_pdf: {per_pdf:?} per fiche (with a {}-byte map)",
            doc.map_svg.as_ref().map_or(0, String::len)
        );
        assert!(per_pdf.as_millis() < 3000, "{per_pdf:?}");
        let doc = FicheDoc { map_svg: None, ..full_doc() };
        let start = std::time::Instant::now();
        for _ in 0..runs {
            render_pdf(&doc).expect("PDF");
        }
        eprintln!("render_pdf without map: {:?} per fiche", start.elapsed() / runs);
        let doc = FicheDoc { map_svg: Some(sample_svg(30, 30)), ..full_doc() };
        let start = std::time::Instant::now();
        for _ in 0..runs {
            render_pdf(&doc).expect("PDF");
        }
        eprintln!("render_pdf with a 900-zone map: {:?} per fiche", start.elapsed() / runs);
    }
}
