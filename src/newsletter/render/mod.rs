//! Newsletter renderer.
//!
//! Volunteers compose a [`Document`] from [`Block`]s; HQ ships [`Template`]s that lock the graphic
//! charter. At send time a campaign is compiled ONCE with [`compile`] into three lists of parts
//! (subject, HTML, plain text): literal strings and holes (first name, last name, commune, link n,
//! unsubscribe URL, open pixel). Rendering for one recipient ([`Compiled::render_html`],
//! [`Compiled::render_text`], [`Compiled::render_subject`]) only pushes `&str`s into the caller's
//! `String`: no parsing, no sanitising and no allocation besides growing that `String`.
//!
//! Personalisation placeholders (subject, preheader, titles, text, button labels, quotes, cards):
//! `{{ prénom }}` (or `{{ prenom }}`), `{{ nom }}`, `{{ commune }}`, any whitespace, any case,
//! optionally with a fallback used when the value is empty: `{{ prénom | "ami·e" }}` (double,
//! single or typographic quotes; an unquoted fallback is accepted too). Without a fallback an empty
//! value renders as the empty string for all three fields (choice documented here; `spam_hints`
//! reminds the author when `{{ prénom }}` has no fallback). Unknown placeholders and unclosed `{{`
//! are validation errors. Values are HTML-escaped in the HTML part, raw in the text part, and
//! control characters are replaced by spaces in the subject.
//!
//! Tracking: every distinct http(s) link of the content gets an index ([`Compiled::links`]). The
//! tracking hook is `&dyn Fn(usize, &mut String)`: it appends the tracked URL for link `i` to the
//! output directly, which keeps the per-recipient path allocation-free (a `Fn(usize) -> String`
//! would allocate once per link per recipient). In the HTML part, what the hook appended is
//! HTML-escaped in place when (rarely) it contains `&`, `<`, `>`, `"` or `'`. mailto links, the
//! unsubscribe link and image sources are never tracked.
//!
//! Markdown goes through pulldown-cmark, then ammonia (allow-list of tags, http/https/mailto only,
//! `rel="noopener"`), then a small re-emitter that only knows the allowed tags and writes inline
//! styles, so mail clients that drop `<style>` still render the charter.

mod blocks;
mod markdown;
mod text;
mod validate;

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use blocks::{compile_block, html_footer, html_head, network_label, text_footer};
use markdown::compile_markdown;
use text::{Seg, TextWriter};
use validate::{excerpt, validate_sender};
pub use validate::{spam_hints, validate};

// ---------------------------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------------------------

/// One block of a newsletter, as composed in the editor.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Title {
        text: String,
    },
    /// Markdown, sanitised at compile time.
    Text {
        markdown: String,
    },
    Image {
        src: String,
        alt: String,
        #[serde(default)]
        href: Option<String>,
    },
    Button {
        label: String,
        href: String,
    },
    Quote {
        text: String,
        #[serde(default)]
        author: Option<String>,
    },
    Card {
        kind: CardKind,
        title: String,
        when: String,
        place: String,
        href: String,
    },
    Social {
        links: Vec<SocialLink>,
    },
    Separator,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CardKind {
    Event,
    Mission,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SocialLink {
    pub network: String,
    pub url: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Document {
    pub subject: String,
    pub preheader: String,
    pub blocks: Vec<Block>,
}

/// A template HQ ships; the charter values a federation cannot change.
#[derive(Debug)]
pub struct Template {
    pub id: &'static str,
    pub name: &'static str,
    pub primary: &'static str,
    pub accent: &'static str,
    pub background: &'static str,
    pub text: &'static str,
    pub font_stack: &'static str,
}

static TEMPLATES: [Template; 3] = [
    Template {
        id: "classique",
        name: "Classique",
        primary: "#1b3a6b",
        accent: "#d62839",
        background: "#eef1f5",
        text: "#1f2933",
        font_stack: "Helvetica, Arial, sans-serif",
    },
    Template {
        id: "mobilisation",
        name: "Mobilisation",
        primary: "#b5121b",
        accent: "#ffc21a",
        background: "#fff3e3",
        text: "#1b1b1b",
        font_stack: "'Trebuchet MS', Helvetica, Arial, sans-serif",
    },
    Template {
        id: "sobre",
        name: "Sobre",
        primary: "#222222",
        accent: "#2457a5",
        background: "#f6f6f4",
        text: "#222222",
        font_stack: "Georgia, 'Times New Roman', Times, serif",
    },
];

/// The templates HQ ships.
pub fn templates() -> &'static [Template] {
    &TEMPLATES
}

/// Looks a template up by id.
pub fn template(id: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.id == id)
}

/// Fixed per campaign: who sends and why, for the legal footer (French law / GDPR).
#[derive(Clone, Debug, Default)]
pub struct Sender {
    /// e.g. "Fédération du Rhône".
    pub organisation: String,
    pub postal_address: String,
    /// Why the person receives it.
    pub reason: String,
    /// Absolute http(s) URL.
    pub logo_url: String,
}

/// Tracking hook: `f(i, out)` appends the tracked URL of link `i` to `out` (no allocation needed).
pub type TrackLink = dyn Fn(usize, &mut String);

/// One recipient at send time. Empty names fall back to the placeholder's fallback.
pub struct Recipient<'a> {
    pub first_name: &'a str,
    pub last_name: &'a str,
    pub commune: &'a str,
    /// Never tracked, never rewritten.
    pub unsubscribe_url: &'a str,
    /// None = tracking off: links go to their real URL and no pixel is emitted.
    /// Some(f): `f(i, out)` appends the tracked URL of link `i` (index into [`Compiled::links`]).
    pub tracking: Option<&'a TrackLink>,
    /// Only emitted when tracking is on.
    pub open_pixel_url: Option<&'a str>,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HintLevel {
    Warning,
    Info,
}

/// Deliverability advice shown to the author before sending.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Hint {
    pub level: HintLevel,
    pub message: String,
}

/// One problem found by [`validate()`] or [`compile`].
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Issue {
    /// Index (0-based) of the faulty block, None for the subject, preheader or footer.
    pub block: Option<usize>,
    /// French, ready to show.
    pub message: String,
}

/// Every problem found at once, so the editor can show them all.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RenderError {
    pub issues: Vec<Issue>,
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, issue) in self.issues.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            f.write_str(&issue.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for RenderError {}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

const MAX_SUBJECT_CHARS: usize = 150;
const MAX_BLOCKS: usize = 60;
const MAX_MARKDOWN_CHARS: usize = 200_000;
const MAX_FIELD_CHARS: usize = 1_000;
const GMAIL_CLIP_BYTES: usize = 102 * 1024;
const MAX_LINKS: usize = 25;
const WRAP: usize = 76;
const CONTENT_WIDTH: u32 = 536;
/// Assumed length of a tracked URL when estimating the HTML size.
const TRACKED_URL_ESTIMATE: usize = 90;
/// First code point of the private-use sentinels standing for placeholders inside markdown.
const SENTINEL_BASE: u32 = 0xF0000;
const SENTINEL_LAST: u32 = 0xFFFFD;

// ---------------------------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    FirstName,
    LastName,
    Commune,
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Field(Field, String),
}

const KNOWN_PLACEHOLDERS: &str = "{{ prénom }}, {{ nom }}, {{ commune }}";

/// Splits `s` into literal text and placeholders. Errors are French messages.
fn parse_placeholders(s: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(format!(
                "balise de personnalisation non fermée : « {} » (il manque « }}}} »).",
                excerpt(&rest[open..], 40)
            ));
        };
        let inner = &after[..close];
        let raw = &rest[open..open + 2 + close + 2];
        let (name, fallback) = match inner.split_once('|') {
            Some((n, f)) => (n.trim(), Some(unquote(f.trim()))),
            None => (inner.trim(), None),
        };
        let field = match name.to_lowercase().as_str() {
            "prénom" | "prenom" | "pre\u{301}nom" => Field::FirstName,
            "nom" => Field::LastName,
            "commune" => Field::Commune,
            _ => {
                return Err(format!(
                    "balise de personnalisation inconnue : « {} ». Balises possibles : {KNOWN_PLACEHOLDERS}.",
                    excerpt(raw, 60)
                ));
            }
        };
        pieces.push(Piece::Field(field, fallback.unwrap_or_default().to_string()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

fn unquote(s: &str) -> &str {
    for (open, close) in [('"', '"'), ('\'', '\''), ('“', '”'), ('«', '»')] {
        if let Some(inner) = s.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
            return inner.trim_matches(|c| c == ' ' || c == '\u{a0}' || c == '\u{202f}');
        }
    }
    s
}

fn is_sentinel(c: char) -> bool {
    (SENTINEL_BASE..=0x10FFFF).contains(&(c as u32))
}

// ---------------------------------------------------------------------------------------------
// Compiled parts and per-recipient rendering
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Part {
    Lit(Box<str>),
    /// `fallback` is already in the target form (HTML-escaped in HTML parts, upper-cased when `upper`).
    Field {
        field: Field,
        fallback: Box<str>,
        upper: bool,
    },
    Link(usize),
    Unsubscribe,
    Pixel,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Html,
    Text,
    Subject,
}

/// Accumulates parts, merging consecutive literals.
#[derive(Default)]
struct PartsBuilder {
    parts: Vec<Part>,
    pending: String,
}

impl PartsBuilder {
    fn lit(&mut self, s: &str) {
        self.pending.push_str(s);
    }

    fn hole(&mut self, part: Part) {
        self.flush();
        self.parts.push(part);
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.parts.push(Part::Lit(std::mem::take(&mut self.pending).into_boxed_str()));
        }
    }

    fn finish(mut self) -> Vec<Part> {
        self.flush();
        self.parts.shrink_to_fit();
        self.parts
    }
}

impl fmt::Write for PartsBuilder {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.pending.push_str(s);
        Ok(())
    }
}

/// `put!(builder, "fmt", args…)`: formatted literal into a [`PartsBuilder`] (compile time only).
macro_rules! put {
    ($b:expr, $($arg:tt)*) => {{
        let _ = fmt::Write::write_fmt(&mut $b, format_args!($($arg)*));
    }};
}
// Path-based import so that submodules can `use super::put;`.
use put;

#[derive(Clone, Debug, Default)]
struct Stats {
    /// Visible characters of content text (titles, text, buttons, quotes, cards), footer excluded.
    content_chars: usize,
    images: usize,
    /// Link occurrences in the content (http(s) and mailto).
    link_occurrences: usize,
    /// (visible text, href) of links whose visible text is another URL.
    mismatched: Vec<(String, String)>,
    /// Estimated HTML size with tracked links.
    html_bytes: usize,
    first_name_without_fallback: bool,
}

/// A campaign compiled once, rendered per recipient.
#[derive(Clone, Debug)]
pub struct Compiled {
    subject: Vec<Part>,
    html: Vec<Part>,
    text: Vec<Part>,
    links: Vec<String>,
    links_html: Vec<String>,
    html_reserve: usize,
    text_reserve: usize,
    stats: Stats,
}

impl Compiled {
    /// Every distinct http(s) link of the content, in order; the index is the link number.
    pub fn links(&self) -> &[String] {
        &self.links
    }

    /// Appends the HTML part for `r` to `out`.
    pub fn render_html(&self, r: &Recipient<'_>, out: &mut String) {
        out.reserve(self.html_reserve);
        self.render(&self.html, r, Mode::Html, out);
    }

    /// Appends the plain-text part for `r` to `out`.
    pub fn render_text(&self, r: &Recipient<'_>, out: &mut String) {
        out.reserve(self.text_reserve);
        self.render(&self.text, r, Mode::Text, out);
    }

    /// Appends the personalised subject (raw text, no line breaks) to `out`.
    pub fn render_subject(&self, r: &Recipient<'_>, out: &mut String) {
        self.render(&self.subject, r, Mode::Subject, out);
    }

    /// The personalised subject.
    pub fn subject(&self, r: &Recipient<'_>) -> String {
        let mut out = String::new();
        self.render_subject(r, &mut out);
        out
    }

    fn render(&self, parts: &[Part], r: &Recipient<'_>, mode: Mode, out: &mut String) {
        for part in parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Field { field, fallback, upper } => {
                    let value = match field {
                        Field::FirstName => r.first_name,
                        Field::LastName => r.last_name,
                        Field::Commune => r.commune,
                    }
                    .trim();
                    if value.is_empty() {
                        out.push_str(fallback);
                    } else {
                        match mode {
                            Mode::Html => push_escaped(out, value),
                            Mode::Text if *upper => out.extend(value.chars().flat_map(char::to_uppercase)),
                            Mode::Text => out.push_str(value),
                            Mode::Subject => out.extend(value.chars().map(|c| if c.is_control() { ' ' } else { c })),
                        }
                    }
                }
                Part::Link(i) => match r.tracking {
                    Some(track) => {
                        let start = out.len();
                        track(*i, out);
                        if mode == Mode::Html {
                            escape_tail(out, start);
                        }
                    }
                    None if mode == Mode::Html => out.push_str(&self.links_html[*i]),
                    None => out.push_str(&self.links[*i]),
                },
                Part::Unsubscribe => match mode {
                    Mode::Html => push_escaped(out, r.unsubscribe_url),
                    _ => out.push_str(r.unsubscribe_url),
                },
                Part::Pixel => {
                    if let (Some(pixel), Some(_)) = (r.open_pixel_url, r.tracking) {
                        out.push_str("<img src=\"");
                        push_escaped(out, pixel);
                        out.push_str(
                            "\" width=\"1\" height=\"1\" alt=\"\" \
                             style=\"display:block;width:1px;height:1px;border:0;margin:0;padding:0\">",
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------

struct Palette {
    font: &'static str,
    primary: &'static str,
    on_primary: &'static str,
    accent: &'static str,
    on_accent: &'static str,
    background: &'static str,
    text: &'static str,
    card: &'static str,
}

const MUTED: &str = "#5c5c5c";
const RULE: &str = "#dcdcdc";
const SURFACE: &str = "#ffffff";

impl Palette {
    fn new(tpl: &Template) -> Self {
        let card = if tpl.background.eq_ignore_ascii_case("#ffffff") { "#f4f4f4" } else { tpl.background };
        Palette {
            font: tpl.font_stack,
            primary: tpl.primary,
            on_primary: readable_on(tpl.primary),
            accent: tpl.accent,
            on_accent: readable_on(tpl.accent),
            background: tpl.background,
            text: tpl.text,
            card,
        }
    }
}

/// Where a link points once classified.
enum Target {
    /// Index into the links table.
    Tracked(usize),
    /// mailto: never tracked.
    Mailto(String),
}

struct Ctx {
    pal: Palette,
    html: PartsBuilder,
    text: TextWriter,
    links: Vec<String>,
    link_index: HashMap<String, usize>,
    stats: Stats,
    titles: usize,
}

impl Ctx {
    /// Registers a link; `None` when it is neither http(s) nor mailto (dropped).
    fn target(&mut self, href: &str) -> Option<Target> {
        let href = href.trim();
        if href.chars().any(is_sentinel) || href.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let lower = href.to_ascii_lowercase();
        if lower.starts_with("mailto:") {
            self.stats.link_occurrences += 1;
            return Some(Target::Mailto(href.to_string()));
        }
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return None;
        }
        self.stats.link_occurrences += 1;
        let n = self.links.len();
        let i = *self.link_index.entry(href.to_string()).or_insert(n);
        if i == n {
            self.links.push(href.to_string());
        }
        Some(Target::Tracked(i))
    }

    /// Writes an href attribute value (without quotes) for a target.
    fn href(&mut self, t: &Target) {
        match t {
            Target::Tracked(i) => self.html.hole(Part::Link(*i)),
            Target::Mailto(m) => self.html.lit(&escape(m)),
        }
    }

    fn text_link(t: &Target) -> Seg {
        match t {
            Target::Tracked(i) => Seg::Link(*i),
            Target::Mailto(m) => Seg::Word(m["mailto:".len()..].to_string()),
        }
    }

    /// Plain text with placeholders into the HTML part, escaped.
    fn html_pieces(&mut self, pieces: &[Piece], line_breaks: bool) {
        for piece in pieces {
            match piece {
                Piece::Text(t) => {
                    let escaped = escape(t);
                    if line_breaks {
                        self.html.lit(&escaped.replace("\r\n", "\n").replace('\n', "<br>"));
                    } else {
                        self.html.lit(&escaped.replace(['\r', '\n'], " "));
                    }
                }
                Piece::Field(field, fallback) => {
                    self.html.hole(Part::Field { field: *field, fallback: escape(fallback).into(), upper: false })
                }
            }
        }
    }
}

/// Compiles a campaign once. Validates the document and the sender first.
pub fn compile(doc: &Document, tpl: &Template, sender: &Sender) -> Result<Compiled, RenderError> {
    let mut issues = match validate(doc) {
        Ok(()) => Vec::new(),
        Err(e) => e.issues,
    };
    validate_sender(sender, &mut issues);
    if !issues.is_empty() {
        return Err(RenderError { issues });
    }
    // Validation passed, so parsing cannot fail below.
    let parse = |s: &str| parse_placeholders(s).unwrap_or_else(|_| vec![Piece::Text(s.to_string())]);
    let subject_pieces = parse(doc.subject.trim());
    let preheader_pieces = parse(doc.preheader.trim());

    let mut c = Ctx {
        pal: Palette::new(tpl),
        html: PartsBuilder::default(),
        text: TextWriter::default(),
        links: Vec::new(),
        link_index: HashMap::new(),
        stats: Stats::default(),
        titles: 0,
    };

    // Subject.
    let mut subject = PartsBuilder::default();
    for piece in &subject_pieces {
        match piece {
            Piece::Text(t) => subject.lit(&t.replace(|c: char| c.is_control(), " ")),
            Piece::Field(field, fallback) => {
                subject.hole(Part::Field { field: *field, fallback: fallback.as_str().into(), upper: false })
            }
        }
    }
    c.stats.first_name_without_fallback = subject_pieces
        .iter()
        .chain(&preheader_pieces)
        .any(|p| matches!(p, Piece::Field(Field::FirstName, f) if f.is_empty()));

    html_head(&mut c, &subject_pieces, &preheader_pieces, sender);
    c.text.counting = true;
    for block in &doc.blocks {
        compile_block(&mut c, block, &parse);
    }
    c.text.counting = false;
    html_footer(&mut c, sender);
    text_footer(&mut c.text, sender);

    let Ctx { html, text, links, mut stats, .. } = c;
    stats.content_chars = text.content_chars;
    let html = html.finish();
    let text = text.b.finish();
    let links_html: Vec<String> = links.iter().map(|l| escape(l)).collect();
    let lit_len = |parts: &[Part]| -> usize {
        parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.len(),
                Part::Field { fallback, .. } => fallback.len().max(12),
                Part::Link(i) => links_html[*i].len().max(TRACKED_URL_ESTIMATE),
                Part::Unsubscribe => 100,
                Part::Pixel => 200,
            })
            .sum()
    };
    stats.html_bytes = lit_len(&html);
    let text_reserve = lit_len(&text) + 64;
    Ok(Compiled {
        subject: subject.finish(),
        html_reserve: stats.html_bytes + 64,
        text_reserve,
        html,
        text,
        links,
        links_html,
        stats,
    })
}

fn plain(pieces: &[Piece]) -> String {
    pieces.iter().map(|p| if let Piece::Text(t) = p { t.as_str() } else { "" }).collect()
}

fn pieces_to_segs(pieces: &[Piece], line_breaks: bool) -> Vec<Seg> {
    let mut segs = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) if line_breaks => {
                for (n, line) in t.split('\n').enumerate() {
                    if n > 0 {
                        segs.push(Seg::Break);
                    }
                    segs.push(Seg::Text(line.trim_end_matches('\r').to_string()));
                }
            }
            Piece::Text(t) => segs.push(Seg::Text(t.clone())),
            Piece::Field(f, fallback) => segs.push(Seg::Field(*f, fallback.clone())),
        }
    }
    segs
}

fn looks_like_url(s: &str) -> bool {
    let l = s.trim().to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://") || l.starts_with("www.")
}

fn normalize_url(s: &str) -> String {
    let l = s.trim().to_ascii_lowercase();
    let l = l.strip_prefix("https://").or_else(|| l.strip_prefix("http://")).unwrap_or(&l);
    let l = l.strip_prefix("www.").unwrap_or(l);
    l.trim_end_matches('/').to_string()
}

fn note_mismatch(stats: &mut Stats, visible: &str, href: &str) {
    if looks_like_url(visible) && normalize_url(visible) != normalize_url(href) {
        stats.mismatched.push((visible.trim().to_string(), href.trim().to_string()));
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn escape_byte(b: u8) -> Option<&'static str> {
    match b {
        b'&' => Some("&amp;"),
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'"' => Some("&quot;"),
        b'\'' => Some("&#39;"),
        _ => None,
    }
}

/// Appends `s` HTML-escaped (text and attribute safe), without allocating.
fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut last = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = escape_byte(b) {
            out.push_str(&s[last..i]);
            out.push_str(rep);
            last = i + 1;
        }
    }
    out.push_str(&s[last..]);
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

/// Escapes in place what a tracking hook appended from `start`, in the rare case it needs it.
fn escape_tail(out: &mut String, start: usize) {
    if out.as_bytes()[start..].iter().any(|&b| escape_byte(b).is_some()) {
        let tail = out.split_off(start);
        push_escaped(out, &tail);
    }
}

/// White or near-black, whichever contrasts best with `hex` (`#rrggbb`).
fn readable_on(hex: &str) -> &'static str {
    let h = hex.trim_start_matches('#');
    let channel = |i: usize| {
        let v = h.get(i..i + 2).and_then(|x| u8::from_str_radix(x, 16).ok()).unwrap_or(0) as f64 / 255.0;
        if v <= 0.03928 { v / 12.92 } else { ((v + 0.055) / 1.055).powf(2.4) }
    };
    let l = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    let with_white = 1.05 / (l + 0.05);
    let with_dark = (l + 0.05) / (0.0056 + 0.05);
    if with_white >= with_dark { "#ffffff" } else { "#111111" }
}

#[cfg(test)]
mod tests;
