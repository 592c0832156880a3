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

use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

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

/// One problem found by [`validate`] or [`compile`].
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

fn html_head(c: &mut Ctx, subject: &[Piece], preheader: &[Piece], sender: &Sender) {
    let p = &c.pal;
    let (font, bg, text, primary, on_primary) = (p.font, p.background, p.text, p.primary, p.on_primary);
    c.html.lit(
        "<!DOCTYPE html>\n<html lang=\"fr\" dir=\"ltr\" xmlns=\"http://www.w3.org/1999/xhtml\">\n<head>\n\
         <meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\">\n\
         <meta name=\"x-apple-disable-message-reformatting\">\n\
         <meta name=\"format-detection\" content=\"telephone=no, date=no, address=no, email=no, url=no\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta name=\"supported-color-schemes\" content=\"light dark\">\n<title>",
    );
    c.html_pieces(subject, false);
    c.html.lit("</title>\n<style>\n");
    c.html.lit(
        ":root{color-scheme:light dark;supported-color-schemes:light dark}\n\
         @media screen and (max-width:620px){\
         .nl-outer{padding:0!important}\
         .nl-pad{padding-left:16px!important;padding-right:16px!important}\
         .nl-h1{font-size:24px!important}\
         .nl-img{width:100%!important}}\n\
         @media (prefers-color-scheme:dark){\
         .nl-bg{background-color:#121417!important}\
         .nl-main{background-color:#1d2025!important}\
         .nl-card{background-color:#2a2e35!important}\
         .nl-text,.nl-text p,.nl-text li,.nl-text h1,.nl-text h2,.nl-text h3,.nl-text blockquote,.nl-text span\
         {color:#e8eaed!important}\
         .nl-text a,.nl-link{color:#9cc3ff!important}\
         .nl-img{color:#e8eaed!important}\
         .nl-muted,.nl-muted p,.nl-muted a{color:#b3b8c0!important}}\n\
         [data-ogsc] .nl-text,[data-ogsc] .nl-text p,[data-ogsc] .nl-text li,[data-ogsc] .nl-text h1,\
         [data-ogsc] .nl-text h2,[data-ogsc] .nl-text h3{color:#e8eaed!important}\n\
         [data-ogsc] .nl-text a,[data-ogsc] .nl-link{color:#9cc3ff!important}\n",
    );
    put!(
        c.html,
        "</style>\n</head>\n<body class=\"nl-bg\" style=\"margin:0;padding:0;width:100%;background-color:{bg};\
         -webkit-text-size-adjust:100%;-ms-text-size-adjust:100%\">\n"
    );
    if !preheader.is_empty() {
        c.html.lit(
            "<div style=\"display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;\
             overflow:hidden;mso-hide:all;color:transparent\">",
        );
        c.html_pieces(preheader, false);
        c.html.lit(&"&#847;&zwnj;&nbsp;".repeat(60));
        c.html.lit("</div>\n");
    }
    put!(
        c.html,
        "<table role=\"presentation\" class=\"nl-bg\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         bgcolor=\"{bg}\" style=\"width:100%;border-collapse:collapse;background-color:{bg}\">\n\
         <tr><td class=\"nl-outer\" align=\"center\" valign=\"top\" style=\"padding:24px 8px\">\n\
         <!--[if mso]><table role=\"presentation\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         align=\"center\"><tr><td><![endif]-->\n\
         <table role=\"presentation\" class=\"nl-main\" width=\"600\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" \
         align=\"center\" bgcolor=\"{SURFACE}\" style=\"width:100%;max-width:600px;margin:0 auto;\
         border-collapse:collapse;background-color:{SURFACE};font-family:{font};color:{text}\">\n\
         <tr><td class=\"nl-pad\" align=\"center\" bgcolor=\"{primary}\" style=\"padding:24px 32px;\
         background-color:{primary}\"><img src=\"{logo}\" alt=\"{org}\" width=\"160\" style=\"display:block;\
         width:160px;max-width:100%;height:auto;border:0;outline:none;text-decoration:none;margin:0 auto;\
         font-family:{font};font-size:20px;font-weight:bold;line-height:1.3;color:{on_primary}\"></td></tr>\n",
        logo = escape(sender.logo_url.trim()),
        org = escape(sender.organisation.trim()),
    );
}

fn compile_block(c: &mut Ctx, block: &Block, parse: &dyn Fn(&str) -> Vec<Piece>) {
    let (font, text, primary, accent, on_accent, card) =
        (c.pal.font, c.pal.text, c.pal.primary, c.pal.accent, c.pal.on_accent, c.pal.card);
    match block {
        Block::Title { text: title } => {
            let pieces = parse(title.trim());
            c.titles += 1;
            let (tag, size, class) = if c.titles == 1 { ("h1", 28, " nl-h1") } else { ("h2", 24, "") };
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" style=\"padding:28px 32px 8px 32px\"><{tag} class=\"nl-title{class}\" \
                 style=\"margin:0;font-family:{font};font-size:{size}px;line-height:1.25;font-weight:bold;\
                 color:{primary}\">"
            );
            c.html_pieces(&pieces, false);
            put!(c.html, "</{tag}></td></tr>\n");
            c.text.para(&pieces_to_segs(&pieces, false), "", "", true, &c.links);
        }
        Block::Text { markdown } => {
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" style=\"padding:8px 32px;font-family:{font};font-size:16px;\
                 line-height:1.6;color:{text}\">"
            );
            compile_markdown(c, markdown);
            c.html.lit("</td></tr>\n");
        }
        Block::Image { src, alt, href } => {
            c.stats.images += 1;
            let target = href.as_deref().filter(|h| !h.trim().is_empty()).and_then(|h| c.target(h));
            put!(c.html, "<tr><td class=\"nl-pad\" align=\"center\" style=\"padding:8px 32px\">");
            if let Some(t) = &target {
                c.html.lit("<a href=\"");
                c.href(t);
                c.html.lit("\" target=\"_blank\" rel=\"noopener\" style=\"text-decoration:none\">");
            }
            put!(
                c.html,
                "<img class=\"nl-img\" src=\"{src}\" alt=\"{alt}\" width=\"{CONTENT_WIDTH}\" \
                 style=\"display:block;max-width:100%;height:auto;border:0;outline:none;text-decoration:none;\
                 margin:0 auto;font-family:{font};font-size:14px;color:{text}\">",
                src = escape(src.trim()),
                alt = escape(alt.trim()),
            );
            if target.is_some() {
                c.html.lit("</a>");
            }
            c.html.lit("</td></tr>\n");
            let mut segs = vec![Seg::Word(format!("[Image : {}]", alt.trim()))];
            if let Some(t) = &target {
                segs.push(Seg::Word("(".into()));
                segs.push(Seg::Glue);
                segs.push(Ctx::text_link(t));
                segs.push(Seg::Glue);
                segs.push(Seg::Word(")".into()));
            }
            let counting = std::mem::replace(&mut c.text.counting, false);
            c.text.para(&segs, "", "", false, &c.links);
            c.text.counting = counting;
        }
        Block::Button { label, href } => {
            let pieces = parse(label.trim());
            let Some(target) = c.target(href) else { return };
            note_mismatch(&mut c.stats, &plain(&pieces), href);
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" align=\"center\" style=\"padding:16px 32px\">\
                 <table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" align=\"center\" \
                 style=\"margin:0 auto;border-collapse:separate\"><tr><td align=\"center\" bgcolor=\"{accent}\" \
                 style=\"border-radius:6px;background-color:{accent}\"><a href=\""
            );
            c.href(&target);
            put!(
                c.html,
                "\" target=\"_blank\" rel=\"noopener\" style=\"display:inline-block;padding:14px 28px;\
                 font-family:{font};font-size:17px;font-weight:bold;line-height:1.2;color:{on_accent};\
                 text-decoration:none;border-radius:6px;border:1px solid {accent};background-color:{accent}\">"
            );
            c.html_pieces(&pieces, false);
            c.html.lit("</a></td></tr></table></td></tr>\n");
            let mut segs = pieces_to_segs(&pieces, false);
            segs.push(Seg::Word(":".into()));
            segs.push(Ctx::text_link(&target));
            c.text.para(&segs, "", "", false, &c.links);
        }
        Block::Quote { text: quote, author } => {
            let pieces = parse(quote.trim());
            let author = author.as_deref().map(str::trim).filter(|a| !a.is_empty()).map(parse);
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:12px 32px\"><table role=\"presentation\" width=\"100%\" \
                 cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;border-collapse:collapse\">\
                 <tr><td class=\"nl-text\" style=\"border-left:4px solid {accent};padding:8px 0 8px 20px;\
                 font-family:{font};font-size:19px;line-height:1.5;font-style:italic;color:{text}\">«&nbsp;"
            );
            c.html_pieces(&pieces, true);
            c.html.lit("&nbsp;»");
            if let Some(a) = &author {
                put!(
                    c.html,
                    "<br><span style=\"display:inline-block;margin-top:8px;font-style:normal;font-size:15px;\
                     font-weight:bold;color:{text}\">— "
                );
                c.html_pieces(a, false);
                c.html.lit("</span>");
            }
            c.html.lit("</td></tr></table></td></tr>\n");
            let mut segs = vec![Seg::Word("«".into())];
            segs.extend(pieces_to_segs(&pieces, true));
            segs.push(Seg::Word("»".into()));
            c.text.para(&segs, "", "", false, &c.links);
            if let Some(a) = &author {
                let mut segs = vec![Seg::Word("—".into())];
                segs.extend(pieces_to_segs(a, false));
                c.text.need_blank = false;
                c.text.para(&segs, "", "", false, &c.links);
            }
        }
        Block::Card { kind, title, when, place, href } => {
            let (label, cta) = match kind {
                CardKind::Event => ("Événement", "Je participe"),
                CardKind::Mission => ("Mission", "Je m'engage"),
            };
            let title = parse(title.trim());
            let when = parse(when.trim());
            let place = parse(place.trim());
            let Some(target) = c.target(href) else { return };
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:12px 32px\"><table role=\"presentation\" class=\"nl-card\" \
                 width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" bgcolor=\"{card}\" \
                 style=\"width:100%;border-collapse:separate;background-color:{card};border-left:6px solid {primary};\
                 border-radius:8px\"><tr><td class=\"nl-text\" style=\"padding:18px 20px;font-family:{font};\
                 color:{text}\"><p style=\"margin:0 0 6px 0;font-family:{font};font-size:12px;line-height:1.4;\
                 letter-spacing:1px;text-transform:uppercase;font-weight:bold;color:{primary}\">{label}</p>\
                 <p style=\"margin:0 0 8px 0;font-family:{font};font-size:20px;line-height:1.3;font-weight:bold;\
                 color:{text}\"><a href=\""
            );
            c.href(&target);
            put!(c.html, "\" target=\"_blank\" rel=\"noopener\" style=\"color:{text};text-decoration:none\">");
            c.html_pieces(&title, false);
            c.html.lit("</a></p>");
            for (name, value) in [("Date", &when), ("Lieu", &place)] {
                if value.is_empty() {
                    continue;
                }
                put!(
                    c.html,
                    "<p style=\"margin:0 0 4px 0;font-family:{font};font-size:15px;line-height:1.5;color:{text}\">\
                     <strong style=\"font-weight:bold\">{name}&nbsp;:</strong> "
                );
                c.html_pieces(value, false);
                c.html.lit("</p>");
            }
            put!(c.html, "<p style=\"margin:12px 0 0 0;font-family:{font};font-size:16px;line-height:1.4\"><a href=\"");
            c.href(&target);
            put!(
                c.html,
                "\" target=\"_blank\" rel=\"noopener\" class=\"nl-link\" style=\"color:{primary};font-weight:bold;\
                 text-decoration:underline\">{cta}&nbsp;→</a></p></td></tr></table></td></tr>\n"
            );
            let mut segs = vec![Seg::Word(format!("{} :", label.to_uppercase()))];
            segs.extend(pieces_to_segs(&title, false));
            c.text.para(&segs, "", "", false, &c.links);
            for (name, value) in [("Date", &when), ("Lieu", &place)] {
                if !value.is_empty() {
                    let mut segs = vec![Seg::Word(format!("{name} :"))];
                    segs.extend(pieces_to_segs(value, false));
                    c.text.need_blank = false;
                    c.text.para(&segs, "", "", false, &c.links);
                }
            }
            c.text.need_blank = false;
            let segs = vec![Seg::Word(format!("{cta} :")), Ctx::text_link(&target)];
            c.text.para(&segs, "", "", false, &c.links);
        }
        Block::Social { links } => {
            let targets: Vec<(String, Target)> =
                links.iter().filter_map(|l| c.target(&l.url).map(|t| (network_label(&l.network), t))).collect();
            if targets.is_empty() {
                return;
            }
            put!(
                c.html,
                "<tr><td class=\"nl-pad nl-text\" align=\"center\" style=\"padding:16px 32px;font-family:{font};\
                 font-size:15px;line-height:1.8;color:{text}\"><p style=\"margin:0 0 4px 0;font-family:{font};\
                 font-size:14px;line-height:1.5;color:{text}\">Suivez-nous</p>"
            );
            for (n, (name, target)) in targets.iter().enumerate() {
                if n > 0 {
                    c.html.lit(" &nbsp;·&nbsp; ");
                }
                c.html.lit("<a href=\"");
                c.href(target);
                put!(
                    c.html,
                    "\" target=\"_blank\" rel=\"noopener\" class=\"nl-link\" style=\"color:{primary};font-weight:bold;\
                     text-decoration:none;white-space:nowrap\">{}</a>",
                    escape(name)
                );
            }
            c.html.lit("</td></tr>\n");
            let counting = std::mem::replace(&mut c.text.counting, false);
            c.text.para(&[Seg::Word("Suivez-nous :".into())], "", "", false, &c.links);
            for (name, target) in &targets {
                c.text.need_blank = false;
                let segs = vec![Seg::Text(format!("{name} :")), Ctx::text_link(target)];
                c.text.para(&segs, "- ", "  ", false, &c.links);
            }
            c.text.counting = counting;
        }
        Block::Separator => {
            put!(
                c.html,
                "<tr><td class=\"nl-pad\" style=\"padding:16px 32px\"><table role=\"presentation\" width=\"100%\" \
                 cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;border-collapse:collapse\">\
                 <tr><td height=\"1\" bgcolor=\"{RULE}\" style=\"height:1px;line-height:1px;font-size:1px;\
                 background-color:{RULE}\">&nbsp;</td></tr></table></td></tr>\n"
            );
            c.text.para(&[Seg::Word("-".repeat(40))], "", "", false, &c.links);
        }
    }
}

fn html_footer(c: &mut Ctx, sender: &Sender) {
    let font = c.pal.font;
    let p = format!("margin:0 0 10px 0;font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}");
    put!(
        c.html,
        "<tr><td class=\"nl-pad nl-muted\" style=\"padding:24px 32px 28px 32px;border-top:1px solid {RULE};\
         font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}\">\
         <p style=\"{p}\"><strong style=\"font-weight:bold\">{}</strong><br>{}</p><p style=\"{p}\">{}</p>\
         <p style=\"margin:0;font-family:{font};font-size:13px;line-height:1.5;color:{MUTED}\"><a href=\"",
        escape(sender.organisation.trim()),
        lines_to_br(sender.postal_address.trim()),
        lines_to_br(sender.reason.trim()),
    );
    c.html.hole(Part::Unsubscribe);
    put!(
        c.html,
        "\" target=\"_blank\" rel=\"noopener\" style=\"color:{MUTED};text-decoration:underline\">Se désinscrire</a>\
         </p></td></tr>\n</table>\n<!--[if mso]></td></tr></table><![endif]-->\n</td></tr>\n</table>\n"
    );
    c.html.hole(Part::Pixel);
    c.html.lit("\n</body>\n</html>\n");
}

fn text_footer(t: &mut TextWriter, sender: &Sender) {
    let none: &[String] = &[];
    t.para(&[Seg::Word("-".repeat(40))], "", "", false, none);
    t.para(&[Seg::Text(sender.organisation.trim().to_string())], "", "", false, none);
    for line in sender.postal_address.lines().map(str::trim).filter(|l| !l.is_empty()) {
        t.need_blank = false;
        t.para(&[Seg::Text(line.to_string())], "", "", false, none);
    }
    t.para(&[Seg::Text(sender.reason.trim().replace(['\r', '\n'], " "))], "", "", false, none);
    t.para(&[Seg::Text("Se désinscrire :".into()), Seg::Unsubscribe], "", "", false, none);
}

fn lines_to_br(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).map(escape).collect::<Vec<_>>().join("<br>")
}

fn network_label(network: &str) -> String {
    let n = network.trim();
    match n.to_lowercase().as_str() {
        "facebook" => "Facebook",
        "x" | "twitter" => "X",
        "instagram" => "Instagram",
        "mastodon" => "Mastodon",
        "bluesky" => "Bluesky",
        "youtube" => "YouTube",
        "tiktok" => "TikTok",
        "linkedin" => "LinkedIn",
        "telegram" => "Telegram",
        "whatsapp" => "WhatsApp",
        "threads" => "Threads",
        "site" | "web" | "site web" => "Site web",
        _ => n,
    }
    .to_string()
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
// Markdown
// ---------------------------------------------------------------------------------------------

fn is_sentinel(c: char) -> bool {
    (SENTINEL_BASE..=0x10FFFF).contains(&(c as u32))
}

/// Replaces placeholders by private-use sentinels (one char each) so they survive markdown and
/// sanitising untouched; user-typed private-use characters of those planes are dropped.
fn markdown_with_sentinels(md: &str) -> (String, Vec<(Field, String)>) {
    let clean: String = md.chars().filter(|c| !is_sentinel(*c)).collect();
    let Ok(pieces) = parse_placeholders(&clean) else { return (clean, Vec::new()) };
    let mut out = String::with_capacity(clean.len());
    let mut fields = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Field(f, fallback) => match char::from_u32(SENTINEL_BASE + fields.len() as u32) {
                Some(ch) if SENTINEL_BASE + (fields.len() as u32) <= SENTINEL_LAST => {
                    out.push(ch);
                    fields.push((f, fallback));
                }
                _ => out.push_str(&fallback),
            },
        }
    }
    (out, fields)
}

/// Markdown to sanitised HTML (ammonia allow-list). Headings are mapped to h2/h3, code to plain
/// text; raw HTML is handed to ammonia, which strips everything outside the allow-list.
fn markdown_to_safe_html(md: &str) -> String {
    use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    let map_level = |l: HeadingLevel| if l <= HeadingLevel::H2 { HeadingLevel::H2 } else { HeadingLevel::H3 };
    let events = Parser::new_ext(md, Options::empty()).filter_map(|e| match e {
        Event::Start(Tag::Heading { level, id, classes, attrs }) => {
            Some(Event::Start(Tag::Heading { level: map_level(level), id, classes, attrs }))
        }
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(map_level(level)))),
        Event::Start(Tag::CodeBlock(_)) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::CodeBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Code(t) => Some(Event::Text(t)),
        Event::Rule => None,
        other => Some(other),
    });
    let mut raw = String::with_capacity(md.len() * 2);
    pulldown_cmark::html::push_html(&mut raw, events);
    let tags: HashSet<&str> =
        ["p", "br", "strong", "em", "b", "i", "u", "a", "ul", "ol", "li", "h2", "h3", "blockquote"].into();
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(tags)
        .clean_content_tags(["script", "style", "title", "textarea", "noscript", "template"].into())
        .generic_attributes(HashSet::new())
        .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
        .url_schemes(["http", "https", "mailto"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener"))
        .strip_comments(true);
    builder.clean(&raw).to_string()
}

#[derive(Debug, PartialEq)]
enum Tok {
    Start(String, Vec<(String, String)>),
    End(String),
    Text(String),
}

/// Tokenizer for ammonia's (well-formed, html5ever-serialised) output.
fn tokenize(html: &str) -> Vec<Tok> {
    let b = html.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = html[i..].find('<').map_or(b.len(), |n| i + n);
            toks.push(Tok::Text(decode_entities(&html[i..end])));
            i = end;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(b.len(), |n| i + n + 3);
            continue;
        }
        i += 1;
        let closing = b.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                i += 1;
                break;
            }
            let an = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
                i += 1;
            }
            let attr = html[an..i].to_ascii_lowercase();
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let vs = i + 1;
                        let ve = html[vs..].find(q as char).map_or(b.len(), |n| vs + n);
                        value = decode_entities(&html[vs..ve]);
                        i = ve + 1;
                    }
                    _ => {
                        let vs = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = decode_entities(&html[vs..i]);
                    }
                }
            }
            if !attr.is_empty() {
                attrs.push((attr, value));
            }
        }
        toks.push(if closing { Tok::End(name) } else { Tok::Start(name, attrs) });
    }
    toks
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

enum TextCtx {
    Quote,
    List { ordered: bool, n: u64, marker: String, first_pending: bool },
}

struct OpenLink {
    target: Option<Target>,
    href: String,
    seg_start: usize,
    visible: String,
}

/// Re-emits sanitised markdown into the HTML part (inline styles, link holes, placeholder holes)
/// and into the text part (wrapped paragraphs, lists, quotes, `texte (url)` links).
fn compile_markdown(c: &mut Ctx, markdown: &str) {
    let (md, fields) = markdown_with_sentinels(markdown);
    let safe = markdown_to_safe_html(&md);
    let (font, text, primary, accent) = (c.pal.font, c.pal.text, c.pal.primary, c.pal.accent);
    let body = format!("font-family:{font};font-size:16px;line-height:1.6;color:{text}");
    let style = |tag: &str| -> Option<String> {
        Some(match tag {
            "p" => format!("margin:0 0 16px 0;{body}"),
            "ul" | "ol" => format!("margin:0 0 16px 0;padding:0 0 0 24px;{body}"),
            "li" => format!("margin:0 0 8px 0;{body}"),
            "h2" => format!(
                "margin:24px 0 12px 0;font-family:{font};font-size:22px;line-height:1.3;font-weight:bold;color:{primary}"
            ),
            "h3" => format!(
                "margin:20px 0 10px 0;font-family:{font};font-size:18px;line-height:1.3;font-weight:bold;color:{primary}"
            ),
            "blockquote" => {
                format!(
                    "margin:0 0 16px 0;padding:4px 0 4px 16px;border-left:4px solid {accent};font-style:italic;{body}"
                )
            }
            "strong" | "b" => "font-weight:bold".into(),
            "em" | "i" => "font-style:italic".into(),
            "u" => "text-decoration:underline".into(),
            _ => return None,
        })
    };

    let mut segs: Vec<Seg> = Vec::new();
    let mut stack: Vec<TextCtx> = Vec::new();
    let mut open_links: Vec<OpenLink> = Vec::new();
    let mut heading: Option<String> = None;

    let flush = |c: &mut Ctx, segs: &mut Vec<Seg>, stack: &mut Vec<TextCtx>, upper: bool| {
        if segs.is_empty() {
            return;
        }
        let (mut first, mut cont) = (String::new(), String::new());
        let innermost_list = stack.iter().rposition(|s| matches!(s, TextCtx::List { .. }));
        for (n, ctx) in stack.iter().enumerate() {
            match ctx {
                TextCtx::Quote => {
                    first.push_str("> ");
                    cont.push_str("> ");
                }
                TextCtx::List { marker, first_pending, .. } => {
                    let pad = " ".repeat(marker.chars().count());
                    if Some(n) == innermost_list && *first_pending {
                        first.push_str(marker);
                    } else {
                        first.push_str(&pad);
                    }
                    cont.push_str(&pad);
                }
            }
        }
        if c.text.para(segs, &first, &cont, upper, &c.links)
            && let Some(TextCtx::List { first_pending, .. }) = innermost_list.map(|i| &mut stack[i])
        {
            *first_pending = false;
        }
        segs.clear();
    };

    for tok in tokenize(&safe) {
        match tok {
            Tok::Text(t) => {
                if let Some(link) = open_links.last_mut() {
                    link.visible.push_str(&t);
                }
                let mut lit = String::new();
                for ch in t.chars() {
                    if is_sentinel(ch) {
                        if !lit.is_empty() {
                            c.html.lit(&escape(&lit));
                            segs.push(Seg::Text(std::mem::take(&mut lit)));
                        }
                        if let Some((f, fallback)) = fields.get((ch as u32 - SENTINEL_BASE) as usize) {
                            let part = Part::Field { field: *f, fallback: escape(fallback).into(), upper: false };
                            c.html.hole(part);
                            segs.push(Seg::Field(*f, fallback.clone()));
                        }
                    } else {
                        lit.push(ch);
                    }
                }
                if !lit.is_empty() {
                    c.html.lit(&escape(&lit));
                    segs.push(Seg::Text(lit));
                }
            }
            Tok::Start(name, attrs) => match name.as_str() {
                "br" => {
                    c.html.lit("<br>");
                    segs.push(Seg::Break);
                }
                "a" => {
                    let href = attrs.iter().find(|(k, _)| k == "href").map(|(_, v)| v.clone()).unwrap_or_default();
                    let target = if href.is_empty() { None } else { c.target(&href) };
                    if let Some(t) = &target {
                        c.html.lit("<a href=\"");
                        c.href(t);
                        put!(
                            c.html,
                            "\" target=\"_blank\" rel=\"noopener\" style=\"color:{primary};text-decoration:underline\">"
                        );
                    }
                    open_links.push(OpenLink { target, href, seg_start: segs.len(), visible: String::new() });
                }
                _ => {
                    let Some(st) = style(&name) else { continue };
                    match name.as_str() {
                        "p" | "h2" | "h3" => {
                            flush(c, &mut segs, &mut stack, false);
                            if name != "p" {
                                heading = Some(name.clone());
                            }
                        }
                        "blockquote" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.push(TextCtx::Quote);
                        }
                        "ul" | "ol" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.push(TextCtx::List {
                                ordered: name == "ol",
                                n: 0,
                                marker: String::new(),
                                first_pending: false,
                            });
                        }
                        "li" => {
                            flush(c, &mut segs, &mut stack, false);
                            let nested = stack.iter().filter(|s| matches!(s, TextCtx::List { .. })).count() > 1;
                            if let Some(TextCtx::List { ordered, n, marker, first_pending }) =
                                stack.iter_mut().rev().find(|s| matches!(s, TextCtx::List { .. }))
                            {
                                *n += 1;
                                *marker = if *ordered { format!("{n}. ") } else { "- ".into() };
                                *first_pending = true;
                                if *n > 1 || nested {
                                    c.text.need_blank = false;
                                }
                            }
                        }
                        _ => {}
                    }
                    put!(c.html, "<{name} style=\"{st}\">");
                }
            },
            Tok::End(name) => match name.as_str() {
                "a" => {
                    let Some(link) = open_links.pop() else { continue };
                    let Some(target) = link.target else { continue };
                    c.html.lit("</a>");
                    note_mismatch(&mut c.stats, &link.visible, &link.href);
                    let visible = link.visible.trim();
                    let same = visible == link.href.trim()
                        || link.href.trim().strip_prefix("mailto:").is_some_and(|m| m == visible);
                    if same {
                        segs.truncate(link.seg_start);
                        segs.push(Ctx::text_link(&target));
                    } else {
                        segs.push(Seg::Text(" (".into()));
                        segs.push(Seg::Glue);
                        segs.push(Ctx::text_link(&target));
                        segs.push(Seg::Glue);
                        segs.push(Seg::Word(")".into()));
                    }
                    // Punctuation right after the link stays attached to it.
                    segs.push(Seg::Glue);
                }
                "br" => {}
                _ => {
                    if style(&name).is_none() {
                        continue;
                    }
                    put!(c.html, "</{name}>");
                    match name.as_str() {
                        "p" | "li" => flush(c, &mut segs, &mut stack, false),
                        "h2" | "h3" => {
                            let upper = heading.take().as_deref() == Some("h2");
                            flush(c, &mut segs, &mut stack, upper);
                        }
                        "blockquote" | "ul" | "ol" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.pop();
                            c.text.need_blank = true;
                        }
                        _ => {}
                    }
                }
            },
        }
    }
    flush(c, &mut segs, &mut stack, false);
}

// ---------------------------------------------------------------------------------------------
// Plain-text layout
// ---------------------------------------------------------------------------------------------

/// Inline content of a text paragraph before wrapping.
#[derive(Clone, Debug)]
enum Seg {
    /// Text that may be wrapped at whitespace.
    Text(String),
    /// An unbreakable word, separated from its neighbours by spaces.
    Word(String),
    /// Joins the previous and next items without a space.
    Glue,
    Field(Field, String),
    Link(usize),
    Unsubscribe,
    /// Hard line break.
    Break,
}

enum Item {
    Lit(String),
    Field(Field, String),
    Link(usize),
    Unsubscribe,
}

#[derive(Default)]
struct TextWriter {
    b: PartsBuilder,
    need_blank: bool,
    started: bool,
    counting: bool,
    content_chars: usize,
}

fn breaks_words(c: char) -> bool {
    c.is_whitespace() && c != '\u{a0}' && c != '\u{202f}'
}

impl TextWriter {
    /// Writes one wrapped paragraph; returns false when it had nothing visible.
    fn para(&mut self, segs: &[Seg], first: &str, cont: &str, upper: bool, links: &[String]) -> bool {
        enum W {
            Word(Vec<Item>, usize),
            Break,
        }
        let mut words: Vec<W> = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let mut lit = String::new();
        let mut width = 0;
        let mut glued = false;
        fn end_word(words: &mut Vec<W>, items: &mut Vec<Item>, lit: &mut String, width: &mut usize) {
            if !lit.is_empty() {
                items.push(Item::Lit(std::mem::take(lit)));
            }
            if !items.is_empty() {
                words.push(W::Word(std::mem::take(items), *width));
            }
            *width = 0;
        }
        let resume = |words: &mut Vec<W>, items: &mut Vec<Item>, width: &mut usize, glued: &mut bool| {
            if std::mem::take(glued)
                && items.is_empty()
                && let Some(W::Word(prev, w)) = words.pop()
            {
                *items = prev;
                *width = w;
            }
        };
        for seg in segs {
            match seg {
                Seg::Text(t) => {
                    for ch in t.chars() {
                        if breaks_words(ch) {
                            end_word(&mut words, &mut items, &mut lit, &mut width);
                            glued = false;
                        } else {
                            resume(&mut words, &mut items, &mut width, &mut glued);
                            if self.counting {
                                self.content_chars += 1;
                            }
                            if upper {
                                lit.extend(ch.to_uppercase());
                            } else {
                                lit.push(ch);
                            }
                            width += 1;
                        }
                    }
                }
                Seg::Word(_) | Seg::Link(_) | Seg::Unsubscribe => {
                    // Standalone words: separated by spaces unless glued.
                    if glued {
                        resume(&mut words, &mut items, &mut width, &mut glued);
                    } else {
                        end_word(&mut words, &mut items, &mut lit, &mut width);
                    }
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    match seg {
                        Seg::Word(w) => {
                            width += w.chars().count();
                            items.push(Item::Lit(w.clone()));
                        }
                        Seg::Link(i) => {
                            width += links.get(*i).map_or(40, |l| l.len());
                            items.push(Item::Link(*i));
                        }
                        _ => {
                            width += 40;
                            items.push(Item::Unsubscribe);
                        }
                    }
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                }
                Seg::Glue => {
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                    glued = true;
                }
                Seg::Field(f, fallback) => {
                    resume(&mut words, &mut items, &mut width, &mut glued);
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    let fallback = if upper { fallback.to_uppercase() } else { fallback.clone() };
                    width += fallback.chars().count().max(6);
                    items.push(Item::Field(*f, fallback));
                }
                Seg::Break => {
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                    glued = false;
                    words.push(W::Break);
                }
            }
        }
        end_word(&mut words, &mut items, &mut lit, &mut width);
        while matches!(words.last(), Some(W::Break)) {
            words.pop();
        }
        while matches!(words.first(), Some(W::Break)) {
            words.remove(0);
        }
        if words.is_empty() {
            return false;
        }
        if self.need_blank && self.started {
            self.b.lit("\n");
        }
        self.b.lit(first);
        let mut col = first.chars().count();
        let mut line_empty = true;
        let cont_width = cont.chars().count();
        for w in words {
            match w {
                W::Word(items, w) => {
                    if !line_empty && col + 1 + w > WRAP {
                        self.b.lit("\n");
                        self.b.lit(cont);
                        col = cont_width;
                        line_empty = true;
                    }
                    if !line_empty {
                        self.b.lit(" ");
                        col += 1;
                    }
                    for item in items {
                        match item {
                            Item::Lit(s) => self.b.lit(&s),
                            Item::Field(field, fallback) => {
                                self.b.hole(Part::Field { field, fallback: fallback.into(), upper })
                            }
                            Item::Link(i) => self.b.hole(Part::Link(i)),
                            Item::Unsubscribe => self.b.hole(Part::Unsubscribe),
                        }
                    }
                    col += w;
                    line_empty = false;
                }
                W::Break => {
                    self.b.lit("\n");
                    self.b.lit(cont);
                    col = cont_width;
                    line_empty = true;
                }
            }
        }
        self.b.lit("\n");
        self.started = true;
        self.need_blank = true;
        true
    }
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

fn block_label(n: usize, block: &Block) -> String {
    let kind = match block {
        Block::Title { .. } => "titre",
        Block::Text { .. } => "texte",
        Block::Image { .. } => "image",
        Block::Button { .. } => "bouton",
        Block::Quote { .. } => "citation",
        Block::Card { kind: CardKind::Event, .. } => "événement",
        Block::Card { kind: CardKind::Mission, .. } => "mission",
        Block::Social { .. } => "réseaux sociaux",
        Block::Separator => "séparateur",
    };
    format!("Bloc {} ({kind})", n + 1)
}

fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Checks a link target; `Err` is a French message fragment.
fn check_href(href: &str, allow_mailto: bool) -> Result<(), String> {
    let h = href.trim();
    if h.is_empty() {
        return Err("le lien est vide.".into());
    }
    let squashed: String =
        h.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
    for scheme in ["javascript:", "vbscript:", "data:", "file:"] {
        if squashed.starts_with(scheme) {
            return Err(format!(
                "lien interdit « {} » : les liens « {scheme} » sont refusés pour des raisons de sécurité.",
                excerpt(h, 50)
            ));
        }
    }
    if h.contains("{{") {
        return Err(format!(
            "le lien « {} » contient une balise de personnalisation, ce qui n'est pas possible dans une adresse.",
            excerpt(h, 50)
        ));
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '`')) {
        return Err(format!("le lien « {} » contient des espaces ou des caractères interdits.", excerpt(h, 50)));
    }
    let lower = h.to_ascii_lowercase();
    let host_ok = |rest: &str| rest.chars().next().is_some_and(|c| c != '/' && c != '?' && c != '#');
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        if host_ok(rest) {
            return Ok(());
        }
    } else if allow_mailto
        && let Some(addr) = lower.strip_prefix("mailto:")
        && addr.contains('@')
    {
        return Ok(());
    }
    Err(if allow_mailto {
        format!(
            "le lien « {} » n'est pas valide : indiquez une adresse complète commençant par https:// \
             (ou mailto: pour une adresse e-mail).",
            excerpt(h, 50)
        )
    } else {
        format!("l'adresse « {} » n'est pas valide : elle doit commencer par https://.", excerpt(h, 50))
    })
}

fn validate_sender(sender: &Sender, issues: &mut Vec<Issue>) {
    let mut footer = |message: &str| issues.push(Issue { block: None, message: message.to_string() });
    if sender.organisation.trim().is_empty() {
        footer("Pied de page : le nom de l'organisation expéditrice est obligatoire.");
    }
    if sender.postal_address.trim().is_empty() {
        footer("Pied de page : l'adresse postale de l'expéditeur est obligatoire.");
    }
    if sender.reason.trim().is_empty() {
        footer("Pied de page : la raison pour laquelle la personne reçoit cette lettre est obligatoire (RGPD).");
    }
    if let Err(e) = check_href(&sender.logo_url, false) {
        footer(&format!("Logo : {e}"));
    }
}

/// Checks a document; every problem is reported with a French message.
pub fn validate(doc: &Document) -> Result<(), RenderError> {
    let mut issues = Vec::new();
    let mut push = |block: Option<usize>, message: String| issues.push(Issue { block, message });

    let subject = doc.subject.trim();
    let subject_len = subject.chars().count();
    if subject.is_empty() {
        push(None, "L'objet de la lettre est vide.".into());
    } else if subject_len > MAX_SUBJECT_CHARS {
        push(None, format!("L'objet est trop long ({subject_len} caractères, {MAX_SUBJECT_CHARS} au maximum)."));
    }
    if subject.contains(['\r', '\n']) {
        push(None, "L'objet ne doit pas contenir de retour à la ligne.".into());
    }
    if let Err(e) = parse_placeholders(subject) {
        push(None, format!("Objet : {e}"));
    }
    if let Err(e) = parse_placeholders(&doc.preheader) {
        push(None, format!("Texte d'aperçu : {e}"));
    }
    if doc.blocks.is_empty() {
        push(None, "La lettre ne contient aucun bloc.".into());
    }
    if doc.blocks.len() > MAX_BLOCKS {
        push(None, format!("La lettre contient trop de blocs ({}, {MAX_BLOCKS} au maximum).", doc.blocks.len()));
    }

    for (n, block) in doc.blocks.iter().enumerate() {
        let label = block_label(n, block);
        let mut err = |message: String| push(Some(n), format!("{label} : {message}"));
        let text_field = |err: &mut dyn FnMut(String), what: &str, value: &str, required: bool| {
            if required && value.trim().is_empty() {
                err(format!("{what} est vide."));
            }
            if value.chars().count() > MAX_FIELD_CHARS {
                err(format!("{what} est trop long ({MAX_FIELD_CHARS} caractères au maximum)."));
            }
            if let Err(e) = parse_placeholders(value) {
                err(e);
            }
        };
        let no_placeholder = |err: &mut dyn FnMut(String), what: &str, value: &str| {
            if value.contains("{{") {
                err(format!("{what} ne peut pas contenir de balise de personnalisation."));
            }
        };
        match block {
            Block::Title { text } => text_field(&mut err, "le titre", text, true),
            Block::Text { markdown } => {
                if markdown.trim().is_empty() {
                    err("le texte est vide.".into());
                }
                let len = markdown.chars().count();
                if len > MAX_MARKDOWN_CHARS {
                    err(format!("le texte est trop long ({len} caractères, {MAX_MARKDOWN_CHARS} au maximum)."));
                }
                if let Err(e) = parse_placeholders(markdown) {
                    err(e);
                }
                check_markdown(markdown, &mut err);
            }
            Block::Image { src, alt, href } => {
                if let Err(e) = check_href(src, false) {
                    err(format!("image : {e}"));
                }
                if alt.trim().is_empty() {
                    err("le texte alternatif est vide : décrivez l'image pour les personnes qui ne la voient pas \
                         (lecteurs d'écran, images bloquées)."
                        .into());
                }
                no_placeholder(&mut err, "Le texte alternatif", alt);
                if let Some(h) = href.as_deref().filter(|h| !h.trim().is_empty())
                    && let Err(e) = check_href(h, true)
                {
                    err(e);
                }
            }
            Block::Button { label, href } => {
                text_field(&mut err, "le libellé du bouton", label, true);
                if let Err(e) = check_href(href, true) {
                    err(e);
                }
            }
            Block::Quote { text, author } => {
                text_field(&mut err, "la citation", text, true);
                text_field(&mut err, "l'auteur", author.as_deref().unwrap_or(""), false);
            }
            Block::Card { title, when, place, href, .. } => {
                text_field(&mut err, "le titre", title, true);
                text_field(&mut err, "la date", when, false);
                text_field(&mut err, "le lieu", place, false);
                if let Err(e) = check_href(href, true) {
                    err(e);
                }
            }
            Block::Social { links } => {
                if links.is_empty() {
                    err("aucun réseau social n'est renseigné.".into());
                }
                for link in links {
                    if link.network.trim().is_empty() {
                        err("le nom d'un réseau social est vide.".into());
                    }
                    no_placeholder(&mut err, "Le nom du réseau", &link.network);
                    if let Err(e) = check_href(&link.url, false) {
                        err(format!("{} : {e}", network_label(&link.network)));
                    }
                }
            }
            Block::Separator => {}
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(RenderError { issues }) }
}

fn check_markdown(markdown: &str, err: &mut dyn FnMut(String)) {
    use pulldown_cmark::{Event, LinkType, Options, Parser, Tag};
    for event in Parser::new_ext(markdown, Options::empty()) {
        match event {
            Event::Start(Tag::Link { link_type: LinkType::Email, .. }) => {}
            Event::Start(Tag::Link { dest_url, .. }) => {
                if let Err(e) = check_href(&dest_url, true) {
                    err(e);
                }
            }
            Event::Start(Tag::Image { .. }) => {
                err("les images ne sont pas possibles dans un bloc de texte : utilisez un bloc « image ».".into())
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spam hints
// ---------------------------------------------------------------------------------------------

const SPAM_WORDS: &[&str] = &[
    "gratuit",
    "urgent",
    "100 %",
    "100\u{a0}%",
    "100\u{202f}%",
    "100%",
    "gagnez",
    "cliquez ici",
    "offre exclusive",
    "dernière chance",
    "argent facile",
    "sans engagement",
];

/// Deliverability advice (French) for a compiled campaign.
pub fn spam_hints(doc: &Document, compiled: &Compiled) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut hint = |level, message: String| hints.push(Hint { level, message });
    let s = &compiled.stats;

    if s.content_chars < 100 {
        hint(
            HintLevel::Warning,
            format!(
                "La version texte est presque vide ({} caractères de texte) : les filtres anti-spam se méfient \
                 des messages sans vraie version texte. Ajoutez du texte.",
                s.content_chars
            ),
        );
    }
    if s.images > 0 && s.content_chars < 200 {
        hint(
            HintLevel::Warning,
            "La lettre est presque uniquement composée d'images (moins de 200 caractères de texte) : elle risque \
             d'être classée en spam et sera illisible si les images sont bloquées."
                .into(),
        );
    }
    let kb = s.html_bytes.div_ceil(1024);
    if s.html_bytes > GMAIL_CLIP_BYTES {
        hint(
            HintLevel::Warning,
            format!(
                "La lettre pèse environ {kb} Ko : Gmail coupe les messages au-delà de 102 Ko (le lien de \
                 désinscription serait masqué). Raccourcissez le contenu."
            ),
        );
    } else if s.html_bytes > GMAIL_CLIP_BYTES * 8 / 10 {
        hint(HintLevel::Info, format!("La lettre pèse environ {kb} Ko, proche de la limite de 102 Ko de Gmail."));
    }

    let subject = doc.subject.trim();
    let literal_subject = parse_placeholders(subject).map(|p| plain(&p)).unwrap_or_else(|_| subject.to_string());
    let letters: Vec<char> = literal_subject.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 8 && upper * 10 >= letters.len() * 8 {
        hint(
            HintLevel::Warning,
            "L'objet est écrit en majuscules : cela ressemble à du spam. Écrivez-le normalement.".into(),
        );
    }
    if subject.contains("!!") {
        hint(HintLevel::Warning, "L'objet contient plusieurs points d'exclamation à la suite : évitez « !!! ».".into());
    }
    let lower = subject.to_lowercase();
    for word in SPAM_WORDS {
        if lower.contains(word) {
            hint(
                HintLevel::Warning,
                format!("L'objet contient « {} », une expression souvent filtrée comme spam.", word.trim()),
            );
        }
    }
    if doc.preheader.trim().is_empty() {
        hint(
            HintLevel::Info,
            "Aucun texte d'aperçu : les messageries afficheront à la place le début de la lettre. Ajoutez une \
             phrase qui donne envie d'ouvrir."
                .into(),
        );
    }
    if s.link_occurrences > MAX_LINKS {
        hint(
            HintLevel::Warning,
            format!(
                "La lettre contient {} liens : au-delà de {MAX_LINKS}, les filtres anti-spam deviennent méfiants.",
                s.link_occurrences
            ),
        );
    }
    for (visible, href) in &s.mismatched {
        hint(
            HintLevel::Warning,
            format!(
                "Le lien affiché « {} » mène en réalité à « {} » : les messageries considèrent cela comme de \
                 l'hameçonnage. Affichez un texte plutôt qu'une adresse, ou la même adresse.",
                excerpt(visible, 60),
                excerpt(href, 60)
            ),
        );
    }
    if s.first_name_without_fallback || doc_uses_first_name_without_fallback(doc) {
        hint(
            HintLevel::Info,
            "{{ prénom }} est utilisé sans valeur de repli : les contacts sans prénom verront un blanc. \
             Exemple : {{ prénom | \"ami·e\" }}."
                .into(),
        );
    }
    hints
}

fn doc_uses_first_name_without_fallback(doc: &Document) -> bool {
    let check = |s: &str| {
        parse_placeholders(s)
            .map(|p| p.iter().any(|p| matches!(p, Piece::Field(Field::FirstName, f) if f.is_empty())))
            .unwrap_or(false)
    };
    doc.blocks.iter().any(|b| match b {
        Block::Title { text } => check(text),
        Block::Text { markdown } => check(markdown),
        Block::Button { label, .. } => check(label),
        Block::Quote { text, author } => check(text) || author.as_deref().is_some_and(check),
        Block::Card { title, when, place, .. } => check(title) || check(when) || check(place),
        _ => false,
    })
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

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        Sender {
            organisation: "Fédération du Rhône".into(),
            postal_address: "12 rue de la République\n69002 Lyon".into(),
            reason: "Vous recevez cette lettre car vous êtes inscrit·e à la lettre de la fédération du Rhône.".into(),
            logo_url: "https://terrain.example.fr/logo.png".into(),
        }
    }

    fn recipient<'a>() -> Recipient<'a> {
        Recipient {
            first_name: "Zoé",
            last_name: "Martin",
            commune: "Lyon",
            unsubscribe_url: "https://terrain.example.fr/d/abc?x=1&y=2",
            tracking: None,
            open_pixel_url: None,
        }
    }

    fn doc(blocks: Vec<Block>) -> Document {
        Document { subject: "Des nouvelles de la fédération".into(), preheader: "Au programme".into(), blocks }
    }

    fn full_doc() -> Document {
        Document {
            subject: "Bonjour {{ prénom | \"ami·e\" }}, la rentrée à {{commune}}".into(),
            preheader: "Réunion publique, porte-à-porte et mission du mois".into(),
            blocks: vec![
                Block::Title { text: "Bonjour {{ prénom | \"ami·e\" }} !".into() },
                Block::Text {
                    markdown: "La rentrée est là, **{{ prénom }}**. Lisez [notre programme](https://parti.example.fr/programme) \
                               et écrivez-nous à [contact](mailto:contact@parti.example.fr).\n\n\
                               ## Au programme\n\n- Réunion publique\n- Porte-à-porte à {{ commune | \"votre commune\" }}\n\n\
                               > Une citation en markdown\n\n1. premier\n2. second"
                        .into(),
                },
                Block::Image {
                    src: "https://parti.example.fr/img/meeting.jpg".into(),
                    alt: "Militants lors du meeting".into(),
                    href: Some("https://parti.example.fr/album".into()),
                },
                Block::Button { label: "Je m'inscris".into(), href: "https://parti.example.fr/inscription".into() },
                Block::Quote { text: "Ensemble, on va plus loin.".into(), author: Some("La secrétaire".into()) },
                Block::Card {
                    kind: CardKind::Event,
                    title: "Réunion publique".into(),
                    when: "Samedi 14 septembre, 18 h".into(),
                    place: "Salle des fêtes, {{ commune }}".into(),
                    href: "https://parti.example.fr/evenements/42".into(),
                },
                Block::Card {
                    kind: CardKind::Mission,
                    title: "Tractage au marché".into(),
                    when: "Dimanche matin".into(),
                    place: "".into(),
                    href: "https://parti.example.fr/programme".into(),
                },
                Block::Separator,
                Block::Social {
                    links: vec![
                        SocialLink { network: "mastodon".into(), url: "https://mastodon.example/@parti".into() },
                        SocialLink { network: "facebook".into(), url: "https://facebook.com/parti".into() },
                    ],
                },
            ],
        }
    }

    fn tpl() -> &'static Template {
        template("classique").unwrap()
    }

    fn html_of(c: &Compiled, r: &Recipient<'_>) -> String {
        let mut s = String::new();
        c.render_html(r, &mut s);
        s
    }

    fn text_of(c: &Compiled, r: &Recipient<'_>) -> String {
        let mut s = String::new();
        c.render_text(r, &mut s);
        s
    }

    fn messages(e: RenderError) -> String {
        e.to_string()
    }

    #[test]
    fn templates_exist() {
        for id in ["classique", "mobilisation", "sobre"] {
            assert_eq!(template(id).unwrap().id, id);
        }
        assert!(templates().len() >= 3);
        assert!(template("inconnu").is_none());
        assert_eq!(readable_on("#ffc21a"), "#111111");
        assert_eq!(readable_on("#1b3a6b"), "#ffffff");
    }

    #[test]
    fn serde_round_trip_every_block() {
        let d = full_doc();
        let json = serde_json::to_string(&d).unwrap();
        assert!(json.contains(r#""type":"separator""#));
        assert!(json.contains(r#""kind":"event""#));
        let back: Document = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        let minimal: Block = serde_json::from_str(r#"{"type":"image","src":"https://a.fr/i.png","alt":"x"}"#).unwrap();
        assert_eq!(minimal, Block::Image { src: "https://a.fr/i.png".into(), alt: "x".into(), href: None });
        let q: Block = serde_json::from_str(r#"{"type":"quote","text":"x"}"#).unwrap();
        assert_eq!(q, Block::Quote { text: "x".into(), author: None });
    }

    #[test]
    fn full_document_structure() {
        for t in templates() {
            let c = compile(&full_doc(), t, &sender()).unwrap();
            let html = html_of(&c, &recipient());
            assert!(html.starts_with("<!DOCTYPE html>"));
            assert!(html.contains(r#"<meta name="color-scheme" content="light dark">"#));
            assert!(html.contains(r#"<meta name="supported-color-schemes" content="light dark">"#));
            assert!(html.contains(r#"role="presentation""#));
            assert!(html.contains(r#"cellpadding="0""#));
            assert!(html.contains("width:100%;max-width:600px"));
            assert!(html.contains(&format!("bgcolor=\"{}\"", t.background)));
            assert!(html.contains(r#"alt="Fédération du Rhône""#), "logo alt");
            assert!(html.contains("display:block;max-width:100%;height:auto"));
            assert!(html.contains(r#"alt="Militants lors du meeting" width="536""#));
            assert!(html.contains("display:none;font-size:1px"), "hidden preheader");
            assert!(html.contains("Réunion publique, porte-à-porte"));
            assert!(html.contains("<p style=\"margin:0 0 16px 0;font-family:"), "inline p style");
            assert!(html.contains("<h2 style="));
            assert!(html.contains("<ul style="));
            assert!(html.contains("Je participe"));
            assert!(html.contains("Je m'engage"));
            assert!(html.contains(">Mastodon</a>"));
            assert!(html.contains("<title>Bonjour Zoé, la rentrée à Lyon</title>"));
            assert!(html.trim_end().ends_with("</html>"));
            // Only the head may carry a <style> element; everything else is inline.
            assert_eq!(html.matches("<style").count(), 1);
            assert!(!html.contains(" class=\"\""));
        }
    }

    #[test]
    fn xss_is_sanitised() {
        let md = "Salut <script>alert('x')</script> toi\n\n<img src=x onerror=alert(1)>\n\n\
                  <a href=\"javascript:alert(1)\">piège</a> et <a href=\"https://ok.example.fr\" onclick=\"x()\">ok</a>\n\n\
                  <div style=\"background:url(javascript:alert(1))\">boîte</div> <iframe src=\"https://evil\"></iframe>";
        let c = compile(&doc(vec![Block::Text { markdown: md.into() }]), tpl(), &sender()).unwrap();
        let html = html_of(&c, &recipient());
        let lower = html.to_lowercase();
        for bad in ["<script", "alert(", "onerror", "onclick", "javascript:", "<iframe", "<div style=\"background"] {
            assert!(!lower.contains(bad), "{bad} survived");
        }
        assert!(html.contains("piège"));
        assert!(html.contains("boîte"));
        assert_eq!(c.links(), ["https://ok.example.fr"]);
        assert!(html.contains("href=\"https://ok.example.fr\" target=\"_blank\" rel=\"noopener\""));

        // A markdown javascript: link is refused by validate…
        let d = doc(vec![Block::Text { markdown: "[clic](javascript:alert(1))".into() }]);
        assert!(messages(validate(&d).unwrap_err()).contains("javascript:"));
        // …and would be stripped by the sanitiser anyway.
        let safe = markdown_to_safe_html("[clic](javascript:alert(1)) [b](JaVaScRiPt:alert(2)) [c](data:text/html,x)");
        assert!(!safe.to_lowercase().contains("javascript"), "{safe}");
        assert!(!safe.contains("data:"), "{safe}");
        assert!(safe.contains("clic"));
        let safe = markdown_to_safe_html("[m](mailto:a@b.fr) [h](https://a.fr/?q=1&r=2)");
        assert!(safe.contains("href=\"mailto:a@b.fr\" rel=\"noopener\""), "{safe}");
        assert!(safe.contains("href=\"https://a.fr/?q=1&amp;r=2\""), "{safe}");
    }

    #[test]
    fn placeholders_escaped_in_html_raw_in_text() {
        let d = Document {
            subject: "{{ prénom }} / {{nom}} / {{ commune | \"ta ville\" }}".into(),
            preheader: String::new(),
            blocks: vec![
                Block::Title { text: "Bonjour {{ prénom | \"ami·e\" }}".into() },
                Block::Text { markdown: "Salut *{{prenom}}* de {{ commune |'ta commune'}}".into() },
                Block::Button { label: "Go {{ PRÉNOM }}".into(), href: "https://a.fr".into() },
                Block::Quote { text: "Merci {{nom|\"toi\"}}".into(), author: None },
            ],
        };
        let c = compile(&d, tpl(), &sender()).unwrap();
        let mut r = recipient();
        r.first_name = "<b>Zoé & co</b>";
        r.commune = "";
        let html = html_of(&c, &r);
        assert!(html.contains("Bonjour &lt;b&gt;Zoé &amp; co&lt;/b&gt;"));
        assert!(
            html.contains("Salut <em style=\"font-style:italic\">&lt;b&gt;Zoé &amp; co&lt;/b&gt;</em> de ta commune")
        );
        assert!(html.contains("Go &lt;b&gt;Zoé &amp; co&lt;/b&gt;"));
        assert!(html.contains("Merci Martin"));
        assert!(!html.contains("<b>Zoé"));
        let text = text_of(&c, &r);
        assert!(text.contains("BONJOUR <B>ZOÉ & CO</B>"), "{text}");
        assert!(text.contains("Salut <b>Zoé & co</b> de ta commune"), "{text}");
        assert_eq!(c.subject(&r), "<b>Zoé & co</b> / Martin / ta ville");

        // Fallbacks when empty (and default empty fallback).
        let r = Recipient { first_name: "  ", last_name: "", commune: "", ..recipient() };
        let html = html_of(&c, &r);
        assert!(html.contains("Bonjour ami·e"));
        assert!(html.contains("Merci toi"));
        assert!(html.contains("Go </a>"));
        let text = text_of(&c, &r);
        assert!(text.contains("BONJOUR AMI·E"), "{text}");
        assert_eq!(c.subject(&r), " /  / ta ville");
        // Subject never carries a line break from data.
        let r = Recipient { first_name: "Zoé\r\nBcc: x", ..recipient() };
        assert!(!c.subject(&r).contains('\n'));
    }

    #[test]
    fn unknown_placeholder_refused() {
        let d = doc(vec![Block::Title { text: "Bonjour {{ âge }}".into() }]);
        let e = validate(&d).unwrap_err();
        assert_eq!(e.issues[0].block, Some(0));
        let m = messages(e);
        assert!(m.contains("Bloc 1 (titre)"), "{m}");
        assert!(m.contains("inconnue : « {{ âge }} »"), "{m}");
        let d = Document { subject: "Salut {{ prénom".into(), ..doc(vec![Block::Separator]) };
        assert!(messages(validate(&d).unwrap_err()).contains("non fermée"));
        let d = doc(vec![Block::Text { markdown: "x {{ email }}".into() }]);
        assert!(compile(&d, tpl(), &sender()).is_err());
    }

    fn track(i: usize, out: &mut String) {
        out.push_str("https://t.example.fr/c/");
        out.push_str(&i.to_string());
    }

    #[test]
    fn tracking_on_and_off() {
        let c = compile(&full_doc(), tpl(), &sender()).unwrap();
        // Off: real hrefs, no pixel.
        let r = Recipient { open_pixel_url: Some("https://t.example.fr/o.gif"), ..recipient() };
        let html = html_of(&c, &r);
        assert!(html.contains("href=\"https://parti.example.fr/programme\""));
        assert!(!html.contains("t.example.fr"));
        assert!(!html.contains("width=\"1\" height=\"1\""));
        assert!(html.contains("href=\"https://terrain.example.fr/d/abc?x=1&amp;y=2\""));
        assert!(html.contains("href=\"mailto:contact@parti.example.fr\""));
        // On: every http(s) link goes through the hook, mailto and unsubscribe untouched, pixel present.
        let hook = |i: usize, out: &mut String| track(i, out);
        let r = Recipient { tracking: Some(&hook), open_pixel_url: Some("https://t.example.fr/o.gif?a=1&b=2"), ..r };
        let html = html_of(&c, &r);
        for l in c.links() {
            assert!(!html.contains(&format!("href=\"{}\"", escape(l))), "{l} not tracked");
        }
        for i in 0..c.links().len() {
            assert!(html.contains(&format!("href=\"https://t.example.fr/c/{i}\"")));
        }
        assert!(html.contains("href=\"mailto:contact@parti.example.fr\""));
        assert!(
            html.contains("href=\"https://terrain.example.fr/d/abc?x=1&amp;y=2\" target=\"_blank\" rel=\"noopener\"")
        );
        assert!(html.contains("<img src=\"https://t.example.fr/o.gif?a=1&amp;b=2\" width=\"1\" height=\"1\" alt=\"\""));
        let pixel_at = html.find("o.gif").unwrap();
        assert!(pixel_at > html.find("Se désinscrire").unwrap());
        let text = text_of(&c, &r);
        assert!(text.contains("Je m'inscris : https://t.example.fr/c/"), "{text}");
        assert!(text.contains("Se désinscrire : https://terrain.example.fr/d/abc?x=1&y=2"));
        assert!(!text.contains("https://parti.example.fr"));
        // A hook returning HTML-special characters is escaped in the HTML part only.
        let odd = |i: usize, out: &mut String| {
            out.push_str("https://t.fr/?l=");
            out.push_str(&i.to_string());
            out.push_str("&\"x");
        };
        let r = Recipient { tracking: Some(&odd), ..recipient() };
        assert!(html_of(&c, &r).contains("href=\"https://t.fr/?l=0&amp;&quot;x\""));
        assert!(text_of(&c, &r).contains("https://t.fr/?l=0&\"x"));
    }

    #[test]
    fn links_dedup_and_order() {
        let c = compile(&full_doc(), tpl(), &sender()).unwrap();
        assert_eq!(
            c.links(),
            [
                "https://parti.example.fr/programme",
                "https://parti.example.fr/album",
                "https://parti.example.fr/inscription",
                "https://parti.example.fr/evenements/42",
                "https://mastodon.example/@parti",
                "https://facebook.com/parti",
            ]
        );
        // The mission card reuses link 0: both occurrences carry the same index.
        let hook = |i: usize, out: &mut String| track(i, out);
        let r = Recipient { tracking: Some(&hook), ..recipient() };
        assert!(html_of(&c, &r).matches("href=\"https://t.example.fr/c/0\"").count() >= 3);
    }

    #[test]
    fn footer_always_present() {
        let minimal = doc(vec![Block::Separator]);
        for d in [minimal, full_doc()] {
            let c = compile(&d, template("sobre").unwrap(), &sender()).unwrap();
            let html = html_of(&c, &recipient());
            assert!(html.contains("Fédération du Rhône"));
            assert!(html.contains("12 rue de la République<br>69002 Lyon"));
            assert!(html.contains("inscrit·e à la lettre de la fédération du Rhône"));
            assert!(html.contains(">Se désinscrire</a>"));
            let text = text_of(&c, &recipient());
            assert!(text.contains("Fédération du Rhône\n12 rue de la République\n69002 Lyon\n"), "{text}");
            assert!(text.contains("inscrit·e à la lettre"));
            assert!(text.contains("Se désinscrire : https://terrain.example.fr/d/abc?x=1&y=2"));
        }
        let e = compile(&doc(vec![Block::Separator]), tpl(), &Sender::default()).unwrap_err();
        let m = messages(e);
        assert!(m.contains("adresse postale"), "{m}");
        assert!(m.contains("raison"), "{m}");
    }

    #[test]
    fn text_part_is_readable() {
        let c = compile(&full_doc(), tpl(), &sender()).unwrap();
        let text = text_of(&c, &recipient());
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.starts_with("BONJOUR ZOÉ !\n\n"), "{text}");
        assert!(flat.contains("notre programme (https://parti.example.fr/programme) et"), "{text}");
        assert!(flat.contains("à contact (contact@parti.example.fr)."), "{text}");
        assert!(text.contains("AU PROGRAMME\n\n- Réunion publique\n- Porte-à-porte à Lyon\n"), "{text}");
        assert!(text.contains("> Une citation en markdown"), "{text}");
        assert!(text.contains("1. premier\n2. second"), "{text}");
        assert!(text.contains("[Image : Militants lors du meeting] (https://parti.example.fr/album)"), "{text}");
        assert!(text.contains("« Ensemble, on va plus loin. »\n— La secrétaire"), "{text}");
        assert!(text.contains("ÉVÉNEMENT : Réunion publique\nDate : Samedi 14 septembre, 18 h\nLieu : Salle des fêtes, Lyon\nJe participe : https://parti.example.fr/evenements/42"), "{text}");
        assert!(text.contains("- Mastodon : https://mastodon.example/@parti"), "{text}");
        assert!(!text.contains('<'), "no markup in the text part");
        let long = "mot ".repeat(100);
        let c = compile(&doc(vec![Block::Text { markdown: long }]), tpl(), &sender()).unwrap();
        for line in text_of(&c, &recipient()).lines() {
            assert!(line.chars().count() <= WRAP, "{line}");
        }
    }

    #[test]
    fn validate_messages() {
        let ok = doc(vec![Block::Separator]);
        assert!(validate(&ok).is_ok());
        let check = |d: Document, needle: &str| {
            let m = messages(validate(&d).unwrap_err());
            assert!(m.contains(needle), "expected «{needle}» in «{m}»");
        };
        check(Document { subject: "  ".into(), ..ok.clone() }, "L'objet de la lettre est vide.");
        check(
            Document { subject: "a".repeat(151), ..ok.clone() },
            "L'objet est trop long (151 caractères, 150 au maximum).",
        );
        check(
            doc(vec![Block::Image { src: "https://a.fr/i.png".into(), alt: " ".into(), href: None }]),
            "Bloc 1 (image) : le texte alternatif est vide",
        );
        check(
            doc(vec![Block::Image { src: "/i.png".into(), alt: "x".into(), href: None }]),
            "doit commencer par https://",
        );
        check(doc(vec![Block::Button { label: "Go".into(), href: "ftp://a.fr".into() }]), "n'est pas valide");
        check(
            doc(vec![Block::Button { label: "Go".into(), href: " javascript:alert(1)".into() }]),
            "« javascript: » sont refusés",
        );
        check(doc(vec![Block::Button { label: "Go".into(), href: "java\tscript:alert(1)".into() }]), "refusés");
        check(
            doc(vec![Block::Button { label: "".into(), href: "https://a.fr".into() }]),
            "le libellé du bouton est vide",
        );
        check(doc(vec![Block::Text { markdown: "[x](/relatif)".into() }]), "adresse complète");
        check(doc(vec![Block::Text { markdown: "![x](https://a.fr/i.png)".into() }]), "bloc « image »");
        check(doc(vec![Block::Separator; 61]), "trop de blocs (61, 60 au maximum)");
        check(doc(vec![]), "aucun bloc");
        check(doc(vec![Block::Social { links: vec![] }]), "aucun réseau");
        check(
            doc(vec![Block::Button { label: "Go".into(), href: "https://a.fr/?n={{ nom }}".into() }]),
            "balise de personnalisation",
        );
        assert!(validate(&doc(vec![Block::Button { label: "Écrire".into(), href: "mailto:a@b.fr".into() }])).is_ok());
        assert!(validate(&full_doc()).is_ok());
        let e = validate(&Document { subject: String::new(), preheader: String::new(), blocks: vec![] }).unwrap_err();
        assert_eq!(e.issues.len(), 2, "all problems reported at once");
    }

    #[test]
    fn spam_hints_image_only_and_heavy() {
        let d = Document {
            subject: "GRATUIT : VENEZ NOMBREUX !!!".into(),
            preheader: String::new(),
            blocks: vec![
                Block::Image { src: "https://a.fr/affiche.jpg".into(), alt: "Affiche".into(), href: None },
                Block::Text { markdown: "Voir [https://parti.example.fr](https://evil.example.com)".into() },
            ],
        };
        let c = compile(&d, tpl(), &sender()).unwrap();
        let hints = spam_hints(&d, &c);
        let all: String = hints.iter().map(|h| h.message.as_str()).collect::<Vec<_>>().join("\n");
        assert!(all.contains("uniquement composée d'images"), "{all}");
        assert!(all.contains("version texte est presque vide"), "{all}");
        assert!(all.contains("majuscules"), "{all}");
        assert!(all.contains("!!!"), "{all}");
        assert!(all.contains("« gratuit »"), "{all}");
        assert!(all.contains("Aucun texte d'aperçu"), "{all}");
        assert!(all.contains("hameçonnage"), "{all}");
        assert!(hints.iter().any(|h| h.level == HintLevel::Info));

        let para = "Un paragraphe assez long pour remplir la lettre de contenu militant et informatif. ".repeat(20);
        let md = vec![para; 100].join("\n\n");
        assert!(md.len() > 150_000);
        let big = doc(vec![Block::Text { markdown: md }]);
        let c = compile(&big, tpl(), &sender()).unwrap();
        let hints = spam_hints(&big, &c);
        assert!(hints.iter().any(|h| h.level == HintLevel::Warning && h.message.contains("102 Ko")), "{hints:?}");
        assert!(!hints.iter().any(|h| h.message.contains("images")));

        let clean = full_doc();
        let c = compile(&clean, tpl(), &sender()).unwrap();
        let hints = spam_hints(&clean, &c);
        assert!(hints.iter().all(|h| h.level == HintLevel::Info), "{hints:?}");
        let many =
            doc((0..30).map(|i| Block::Button { label: "x".into(), href: format!("https://a.fr/{i}") }).collect());
        let c = compile(&many, tpl(), &sender()).unwrap();
        assert!(spam_hints(&many, &c).iter().any(|h| h.message.contains("30 liens")));
    }

    #[test]
    #[ignore]
    fn bench_render_100k() {
        let c = compile(&full_doc(), tpl(), &sender()).unwrap();
        let hook = |i: usize, out: &mut String| {
            out.push_str("https://t.example.fr/c/0123456789abcdef/");
            out.push(char::from(b'0' + (i % 10) as u8));
        };
        let mut html = String::new();
        let mut text = String::new();
        let mut bytes = 0;
        let n = 100_000;
        let start = std::time::Instant::now();
        for k in 0..n {
            html.clear();
            text.clear();
            let r = Recipient {
                first_name: if k % 3 == 0 { "" } else { "Zoé" },
                last_name: "Martin",
                commune: "Villeurbanne",
                unsubscribe_url: "https://terrain.example.fr/d/0123456789abcdef",
                tracking: Some(&hook),
                open_pixel_url: Some("https://t.example.fr/o/0123456789abcdef.gif"),
            };
            c.render_html(&r, &mut html);
            c.render_text(&r, &mut text);
            bytes += html.len() + text.len();
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{n} recipients (html {} B + text {} B) in {secs:.2} s: {:.0} recipients/s, {:.0} MB/s",
            html.len(),
            text.len(),
            n as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
}
