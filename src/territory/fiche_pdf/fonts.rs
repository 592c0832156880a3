//! Fonts: the embedded Lato faces, their advance widths, and the font database for the SVG map.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, OnceLock};

use krilla::text::Font;
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size as FontSize};

use super::PdfError;

pub(super) const FONT_FAMILY: &str = "Lato";
static REGULAR_GZ: &[u8] = include_bytes!("../../../data/fonts/Lato-Regular.ttf.gz");
static BOLD_GZ: &[u8] = include_bytes!("../../../data/fonts/Lato-Bold.ttf.gz");

/// One font with its advance widths (in em) per character, for line breaking.
pub(super) struct Face {
    pub(super) font: Font,
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

    pub(super) fn advance(&self, c: char) -> f32 {
        self.advances.get(&c).copied().unwrap_or(self.missing)
    }
}

/// The two faces (parsed once per process) and a font database for the text of the map.
pub(super) struct Fonts {
    pub(super) regular: Face,
    pub(super) bold: Face,
    /// Lato under its own name and as every generic family, for `<text>` in the SVG map.
    pub(super) svg_fontdb: Arc<usvg::fontdb::Database>,
    /// What U+202F (narrow no-break space) is drawn as: itself when both faces have it.
    pub(super) narrow_nbsp: char,
}

pub(super) fn fonts() -> Result<&'static Fonts, PdfError> {
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
