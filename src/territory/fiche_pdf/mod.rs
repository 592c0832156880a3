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

mod fonts;
mod layout;
mod paginate;
mod render;
#[cfg(test)]
mod tests;
mod wrap;

pub use render::render_pdf;

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
