//! SVG drawing: the inputs of a map (layer, legend, options) and [`render_svg`] with its path, label and text helpers.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::geometry::ring_area;
use super::{Projection, Zone, label_points};

/// Margin around the map, in px.
pub(super) const MARGIN: f64 = 8.0;
/// Labels are only drawn on maps with at most this many zones.
pub const LABEL_MAX_ZONES: usize = 60;
/// Fill of the pattern used for zones without data.
const MISSING_BACKGROUND: &str = "#f0f0f0";
const MISSING_HATCH: &str = "#b4b4b4";
/// Maps taller than `width × MAX_ASPECT` are scaled down (and centred) to stay at that height.
const MAX_ASPECT: f64 = 1.5;
const LABEL_FONT_SIZE: f64 = 10.0;
/// Outline and hatching of highlighted zones.
const TURF_STROKE: &str = "#000000";

/// Zones and the class of each (by zone code; zones absent from `values` are drawn as missing data).
pub struct Layer<'a> {
    pub zones: &'a [Zone],
    pub values: &'a HashMap<String, Category>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Index into [`Legend::entries`].
    Class(usize),
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Legend {
    pub title: String,
    /// (label, fill colour `#rrggbb`), one per class.
    pub entries: Vec<(String, String)>,
    /// Label of zones without data (drawn hatched), e.g. "Données manquantes".
    pub missing_label: String,
}

/// A rectangle drawn around an inset (lon/lat of its corners, in the relocated coordinates of [`inset_overseas`]).
///
/// [`inset_overseas`]: super::inset_overseas
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub min: (f64, f64),
    pub max: (f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct MapOptions {
    /// Width in px (the height follows from the shape of the territory and the legend).
    pub width: u32,
    /// Accessible title of the map (the root `<title>`).
    pub title: String,
    /// When set, each zone links to `format!("{prefix}{code}")` (the code percent-encoded when needed).
    pub link_prefix: Option<String>,
    /// Prefix of every `id` of the SVG (keep ids unique when a page shows several maps), e.g. `carte-`.
    pub id_prefix: String,
    /// Draw zone names at their interior point (only on maps of at most [`LABEL_MAX_ZONES`] zones).
    pub labels: bool,
    /// Source line drawn at the bottom (e.g. [`ATTRIBUTION_IGN`](super::ATTRIBUTION_IGN)).
    pub attribution: Option<String>,
    /// Inset frames to draw (from [`inset_overseas`](super::inset_overseas)).
    pub frames: Vec<Frame>,
    /// Codes of zones to single out (a mission's turf): drawn on top with a thick black outline and black hatching
    /// over their fill, the other zones paler, so that they stand out in black and white too.
    pub highlight: Vec<String>,
    /// Legend label of the highlighted zones, e.g. "Zone de la mission".
    pub highlight_label: String,
    /// Draw the legend under the map (pages may show it as HTML instead: the `<desc>` still counts zones per class).
    pub legend: bool,
}

impl Default for MapOptions {
    fn default() -> Self {
        MapOptions {
            width: 800,
            title: "Carte".into(),
            link_prefix: None,
            id_prefix: "carte-".into(),
            labels: false,
            attribution: None,
            frames: Vec::new(),
            highlight: Vec::new(),
            highlight_label: "Zone ciblée".into(),
            legend: true,
        }
    }
}

/// Renders the choropleth as a standalone SVG document (also fit for inlining into HTML).
pub fn render_svg(layer: &Layer<'_>, legend: &Legend, options: &MapOptions) -> String {
    let width = f64::from(options.width.max(100));
    let frame_points = options.frames.iter().flat_map(|f| [f.min, f.max]);
    let projection = Projection::fit(
        layer.zones.iter().flat_map(Zone::points).chain(frame_points),
        width,
        MARGIN,
        width * MAX_ASPECT,
    );
    let id = sanitize_id(&options.id_prefix);

    // Class of each zone, and counts per class for the description.
    let categories: Vec<Option<usize>> = layer
        .zones
        .iter()
        .map(|zone| match layer.values.get(&zone.code) {
            Some(Category::Class(i)) if *i < legend.entries.len() => Some(*i),
            _ => None,
        })
        .collect();
    let mut counts = vec![0usize; legend.entries.len()];
    let mut missing = 0usize;
    for category in &categories {
        match category {
            Some(i) => counts[*i] += 1,
            None => missing += 1,
        }
    }

    // Legend layout (below the map), computed first for the total height.
    let mut items: Vec<(&str, String)> =
        legend.entries.iter().map(|(label, colour)| (label.as_str(), colour.clone())).collect();
    if missing > 0 {
        items.push((legend.missing_label.as_str(), format!("url(#{id}missing)")));
    }
    let highlighted: Vec<usize> = if options.highlight.is_empty() {
        Vec::new()
    } else {
        (0..layer.zones.len()).filter(|&i| options.highlight.contains(&layer.zones[i].code)).collect()
    };
    if !highlighted.is_empty() {
        items.push((options.highlight_label.as_str(), format!("url(#{id}turf)")));
    }
    if !options.legend {
        items.clear();
    }
    let mut y = projection.height.ceil() + 4.0;
    let legend_top = y;
    if options.legend && !legend.title.is_empty() {
        y += 20.0;
    }
    let mut x = MARGIN;
    let mut placed = Vec::with_capacity(items.len());
    for (label, fill) in items {
        let item_width = 20.0 + text_width(label, 12.0) + 16.0;
        if x > MARGIN && x + item_width > width - MARGIN {
            x = MARGIN;
            y += 20.0;
        }
        placed.push((round1(x), round1(y), label, fill));
        x += item_width;
    }
    if !placed.is_empty() {
        y += 20.0;
    }
    if options.attribution.is_some() {
        y += 14.0;
    }
    let height = (y + 4.0).ceil();

    let point_count: usize = layer.zones.iter().map(|z| z.points().count()).sum();
    let mut out = String::with_capacity(2048 + point_count * 9 + layer.zones.len() * 160);
    let linked = options.link_prefix.is_some();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {height}\" width=\"{w}\" height=\"{height}\" \
         role=\"{role}\" aria-labelledby=\"{id}title {id}desc\" font-family=\"sans-serif\" font-size=\"12\">",
        w = width,
        role = if linked { "group" } else { "img" },
    );
    let _ = write!(out, "<title id=\"{id}title\">{}</title>", escape(&options.title));
    let mut desc = description(layer.zones.len(), legend, &counts, missing);
    if !highlighted.is_empty() {
        let names: Vec<&str> = highlighted.iter().map(|&i| layer.zones[i].name.as_str()).collect();
        let _ = write!(desc, " {} : {}.", options.highlight_label, names.join(", "));
    }
    let _ = write!(out, "<desc id=\"{id}desc\">{}</desc>", escape(&desc));
    if missing > 0 || !highlighted.is_empty() {
        out.push_str("<defs>");
        if missing > 0 {
            let _ = write!(
                out,
                "<pattern id=\"{id}missing\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
                 patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"{MISSING_BACKGROUND}\"/>\
                 <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"{MISSING_HATCH}\" stroke-width=\"2\"/></pattern>"
            );
        }
        if !highlighted.is_empty() {
            // Black hatching on a transparent background: drawn over the zone's own fill.
            let _ = write!(
                out,
                "<pattern id=\"{id}turf\" patternUnits=\"userSpaceOnUse\" width=\"5\" height=\"5\" \
                 patternTransform=\"rotate(-45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"5\" stroke=\"{TURF_STROKE}\" \
                 stroke-width=\"1.4\"/></pattern>"
            );
        }
        out.push_str("</defs>");
    }

    let stroke_width = if layer.zones.len() > 300 { "0.4" } else { "0.7" };
    // With zones singled out, the others are paler (an attribute of the group: one per map, not per zone).
    let _ = write!(
        out,
        "<g class=\"zones\" stroke=\"#ffffff\" stroke-width=\"{stroke_width}\" stroke-linejoin=\"round\"{}>",
        if highlighted.is_empty() { "" } else { " fill-opacity=\"0.6\"" }
    );
    let mut d = String::new();
    let mut scratch = Vec::new();
    for (zone, category) in layer.zones.iter().zip(&categories) {
        d.clear();
        path_data(zone, &projection, &mut d, &mut scratch);
        if d.is_empty() {
            continue;
        }
        let (label, fill) = match category {
            Some(i) => (legend.entries[*i].0.as_str(), escape(&legend.entries[*i].1)),
            None => (legend.missing_label.as_str(), format!("url(#{id}missing)")),
        };
        if let Some(prefix) = &options.link_prefix {
            let _ = write!(out, "<a href=\"{}{}\">", escape(prefix), escape(&percent_encode(&zone.code)));
        }
        let _ = write!(
            out,
            "<path id=\"{id}{}\" class=\"zone\" fill=\"{fill}\" fill-rule=\"evenodd\" d=\"{d}\"><title>{} ({}) — {}</title></path>",
            sanitize_id(&zone.code),
            escape(&zone.name),
            escape(&zone.code),
            escape(label),
        );
        if linked {
            out.push_str("</a>");
        }
    }
    out.push_str("</g>");

    if !highlighted.is_empty() {
        // The singled-out zones again, on top: full colour, hatching, thick outline. Decorative copies of shapes
        // already titled above, hidden from assistive technologies.
        let _ = write!(
            out,
            "<g class=\"turf\" aria-hidden=\"true\" stroke=\"{TURF_STROKE}\" stroke-width=\"2.5\" stroke-linejoin=\"round\">"
        );
        for &i in &highlighted {
            d.clear();
            path_data(&layer.zones[i], &projection, &mut d, &mut scratch);
            if d.is_empty() {
                continue;
            }
            let fill = match categories[i] {
                Some(c) => escape(&legend.entries[c].1),
                None => format!("url(#{id}missing)"),
            };
            let _ = write!(out, "<path fill=\"{fill}\" fill-rule=\"evenodd\" d=\"{d}\"/>");
            let _ = write!(out, "<path fill=\"url(#{id}turf)\" fill-rule=\"evenodd\" d=\"{d}\"/>");
        }
        out.push_str("</g>");
    }

    if !options.frames.is_empty() {
        out.push_str("<g class=\"map-frames\" fill=\"none\" stroke=\"#9e9e9e\" stroke-width=\"0.6\">");
        for frame in &options.frames {
            let (x0, y1) = projection.project(frame.min);
            let (x1, y0) = projection.project(frame.max);
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                round1(x0),
                round1(y0),
                round1(x1 - x0),
                round1(y1 - y0)
            );
        }
        out.push_str("</g>");
    }

    let zones_with_geometry = layer.zones.iter().filter(|z| !z.rings.is_empty()).count();
    if options.labels && zones_with_geometry <= LABEL_MAX_ZONES {
        let _ = write!(
            out,
            "<g class=\"map-label\" font-size=\"{LABEL_FONT_SIZE}\" text-anchor=\"middle\" fill=\"#1a1a1a\" stroke=\"#ffffff\" \
             stroke-width=\"2.5\" stroke-linejoin=\"round\" paint-order=\"stroke\" pointer-events=\"none\">",
        );
        for (x, y, name) in place_labels(layer.zones, &projection, width) {
            let _ = write!(out, "<text x=\"{x}\" y=\"{y}\" dy=\"0.35em\">{}</text>", escape(name));
        }
        out.push_str("</g>");
    }

    out.push_str("<g class=\"map-legend\">");
    if options.legend && !legend.title.is_empty() {
        let _ = write!(
            out,
            "<text x=\"{MARGIN}\" y=\"{}\" font-size=\"13\" font-weight=\"bold\" fill=\"#1a1a1a\">{}</text>",
            round1(legend_top + 14.0),
            escape(&legend.title)
        );
    }
    let turf_fill = format!("url(#{id}turf)");
    for (x, y, label, fill) in placed {
        let (stroke, stroke_width) = if fill == turf_fill { (TURF_STROKE, "2") } else { ("#757575", "0.5") };
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{y}\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"{stroke_width}\"/>\
             <text x=\"{}\" y=\"{}\" fill=\"#1a1a1a\">{}</text>",
            if fill.starts_with("url(") { fill } else { escape(&fill) },
            round1(x + 20.0),
            round1(y + 11.5),
            escape(label)
        );
    }
    out.push_str("</g>");
    if let Some(attribution) = &options.attribution {
        let _ = write!(
            out,
            "<text class=\"map-attribution\" x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">{}</text>",
            width - MARGIN,
            height - 6.0,
            escape(attribution)
        );
    }
    out.push_str("</svg>");
    out
}

/// Label positions (px, rounded) and texts: largest zones first, a label overlapping an earlier one is left out
/// (the zone keeps its hover title), labels are shifted horizontally to stay inside the canvas.
fn place_labels<'z>(zones: &'z [Zone], projection: &Projection, width: f64) -> Vec<(f64, f64, &'z str)> {
    let names: HashMap<&str, (&str, f64)> = zones
        .iter()
        .map(|z| (z.code.as_str(), (z.name.as_str(), z.rings.iter().map(|p| ring_area(&p[0])).sum::<f64>())))
        .collect();
    let mut candidates: Vec<(f64, (f64, f64), &str)> = label_points(zones)
        .into_iter()
        .filter_map(|(code, point)| names.get(code.as_str()).map(|&(name, area)| (area, point, name)))
        .collect();
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut placed: Vec<[f64; 4]> = Vec::new();
    let mut out = Vec::new();
    for (_, point, name) in candidates {
        let (x, y) = projection.project(point);
        let half = text_width(name, LABEL_FONT_SIZE) / 2.0 + 1.0;
        let x = x.clamp(MARGIN + half, (width - MARGIN - half).max(MARGIN + half));
        let rect = [x - half, y - LABEL_FONT_SIZE * 0.6, x + half, y + LABEL_FONT_SIZE * 0.6];
        if placed.iter().any(|r| rect[0] < r[2] && r[0] < rect[2] && rect[1] < r[3] && r[1] < rect[3]) {
            continue;
        }
        placed.push(rect);
        out.push((round1(x), round1(y), name));
    }
    out
}

/// Writes the `d` of one zone: each ring as `M x y l dx dy … z` in px rounded to 0.1, consecutive duplicates
/// dropped; rings reduced to fewer than 3 points are left out (with their holes when the outer ring vanishes),
/// but a zone never disappears entirely.
pub(super) fn path_data(zone: &Zone, projection: &Projection, d: &mut String, points: &mut Vec<(i64, i64)>) {
    let mut fallback: Option<Vec<(i64, i64)>> = None;
    for polygon in &zone.rings {
        for (i, ring) in polygon.iter().enumerate() {
            points.clear();
            for &point in ring {
                let p = projection.project_tenths(point);
                if points.last() != Some(&p) {
                    points.push(p);
                }
            }
            while points.len() > 1 && points.first() == points.last() {
                points.pop();
            }
            if points.len() < 3 {
                if fallback.is_none() && !points.is_empty() {
                    fallback = Some(points.clone());
                }
                if i == 0 {
                    break;
                }
                continue;
            }
            write_ring(d, points);
        }
    }
    if let Some(points) = fallback.filter(|_| d.is_empty()) {
        write_ring(d, &points);
    }
}

pub(super) fn write_ring(d: &mut String, points: &[(i64, i64)]) {
    let (x0, y0) = points[0];
    d.push('M');
    push_tenths(d, x0, false);
    push_tenths(d, y0, true);
    let mut previous = (x0, y0);
    for (n, &(x, y)) in points.iter().enumerate().skip(1) {
        if n == 1 {
            d.push('l');
        }
        push_tenths(d, x - previous.0, n > 1);
        push_tenths(d, y - previous.1, true);
        previous = (x, y);
    }
    d.push('z');
}

/// Writes a number given in tenths ("12.3", "-.5", "7"), preceded by a space when it follows another number and
/// does not start with '-'.
fn push_tenths(d: &mut String, value: i64, after_number: bool) {
    let negative = value < 0;
    let magnitude = value.unsigned_abs();
    let (int, frac) = (magnitude / 10, magnitude % 10);
    if negative {
        d.push('-');
    } else if after_number {
        d.push(' ');
    }
    if int != 0 || frac == 0 {
        let _ = write!(d, "{int}");
    }
    if frac != 0 {
        d.push('.');
        d.push(char::from(b'0' + frac as u8));
    }
}

fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// Rough width of a text in px (average sans-serif glyph ≈ 0.55 em).
fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().count() as f64 * font_size * 0.55
}

fn description(zone_count: usize, legend: &Legend, counts: &[usize], missing: usize) -> String {
    let mut out = format!("Carte de {}", plural(zone_count, "zone", "zones"));
    if !legend.title.is_empty() {
        let _ = write!(out, ", « {} »", legend.title);
    }
    out.push_str(" : ");
    let mut parts: Vec<String> = legend
        .entries
        .iter()
        .zip(counts)
        .map(|((label, _), count)| format!("{label} : {}", plural(*count, "zone", "zones")))
        .collect();
    if missing > 0 {
        parts.push(format!("{} : {}", legend.missing_label, plural(missing, "zone", "zones")));
    }
    out.push_str(&parts.join(" ; "));
    out.push('.');
    out
}

fn plural(count: usize, singular: &str, plural: &str) -> String {
    format!("{count} {}", if count <= 1 { singular } else { plural })
}

/// Escapes text for XML content and attribute values; drops characters XML 1.0 forbids.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// Keeps `[A-Za-z0-9_.-]`, replaces anything else by `_`.
fn sanitize_id(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}
