//! Layout: the sheet's content (header, map and facts, sections) as units stacked down the pages.

use super::fonts::Fonts;
use super::wrap::WLine;
use super::{
    BODY, BODY_BOLD, BULLET_INDENT, CONTENT_W, FicheDoc, GUTTER, HEADING, Line, MAP_MAX_H_ALONE, MAP_MAX_H_SIDE, META,
    MORE, SCRIPT_INDENT, SMALL, SMALL_MAX_LINES, SUBHEADING, SUBTITLE, Style, TITLE, TITLE_MAX_LINES,
};

/// A drawing operation, relative to the top left of its unit (x from the left margin).
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Text at a baseline.
    Text { x: f32, y: f32, text: String, style: Style },
    /// A straight stroke.
    Stroke { x1: f32, y1: f32, x2: f32, y2: f32, width: f32, gray: u8 },
    /// The map, `w`×`h` at (`x`, `y`), with a thin frame.
    Map { x: f32, y: f32, w: f32, h: f32 },
}

/// A block that is never split across pages: one line of text, a heading, the map and its facts…
#[derive(Debug, Clone, Default)]
pub(super) struct Unit {
    pub(super) height: f32,
    /// Space above the unit, dropped at the top of a page.
    pub(super) gap: f32,
    /// A heading stays on the page of the unit after it.
    pub(super) keep_with_next: bool,
    pub(super) ops: Vec<Op>,
}

/// Draws a wrapped line at (`x0`, `top`); returns its height.
pub(super) fn line_ops(ops: &mut Vec<Op>, line: &WLine, x0: f32, top: f32, style: Style) -> f32 {
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
pub(super) struct Params {
    /// Factor on the maximum map height.
    pub(super) map_scale: f32,
    /// Lines per section (list or paragraphs; rows for the facts), `None` for everything. A list shows its items
    /// while they fit in that many lines (at least one item), then "… et N autres".
    pub(super) cap: Option<usize>,
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
pub(super) fn layout(doc: &FicheDoc, fonts: &Fonts, map: Option<&usvg::Tree>, p: Params) -> Vec<Unit> {
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
