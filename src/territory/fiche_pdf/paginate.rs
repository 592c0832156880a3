//! Pagination: units placed on pages, and the truncation notice when they exceed two pages.

use super::fonts::Fonts;
use super::layout::{Unit, line_ops};
use super::{CONTENT_W, MARGIN_TOP, MAX_PAGES, MORE};

/// Units of one page with their top y (absolute).
type Page = Vec<(usize, f32)>;

/// Stacks the units from `top` to `bottom`, starting a page when a unit (or a heading and the unit after it)
/// does not fit. A unit taller than a page gets a page of its own and overflows it.
pub(super) fn paginate(units: &[Unit], top: f32, bottom: f32) -> Vec<Page> {
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
pub(super) fn clip_pages(units: &mut Vec<Unit>, pages: &mut Vec<Page>, fonts: &Fonts, bottom: f32) {
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
