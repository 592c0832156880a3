//! Rendering: the map parsed, the squeeze-until-it-fits loop, and the pages drawn into the PDF document.

use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Size, Transform};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::TextDirection;
use krilla_svg::{SurfaceExt, SvgSettings};

use super::fonts::{FONT_FAMILY, Fonts, fonts};
use super::layout::{Op, Params, layout, line_ops};
use super::paginate::{clip_pages, paginate};
use super::{
    CONTENT_W, FicheDoc, MARGIN_BOTTOM, MARGIN_TOP, MARGIN_X, MAX_PAGES, PAGE_H, PAGE_W, PdfError, SMALL,
    SMALL_MAX_LINES, Style,
};

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
