//! Server-side SVG choropleth maps: GeoJSON contours → one `<path>` per zone, filled by class, with a legend.
//!
//! - [`load_geojson`] reads a FeatureCollection (plain or gzip) of Polygon / MultiPolygon features into [`Zone`]s;
//!   [`load_shipped`] reads the contours shipped in `data/geo/` (see `data/geo/SOURCES.md` for producers and
//!   licences: display [`ATTRIBUTION_IGN`] or [`ATTRIBUTION_PARIS`] with the maps).
//! - [`render_svg`] projects the zones with a local equirectangular projection (longitudes scaled by the cosine of
//!   the mean latitude), fitted to the requested width, and writes a compact, accessible SVG: root `role="img"`
//!   (`role="group"` when zones are links, so that assistive technologies still reach the links) labelled by a
//!   `<title>` and a `<desc>` listing the number of zones per class; each zone is one `<path class="zone">` with an
//!   `id`, a `fill` and a `<title>` child "Nom (code) — classe", optionally wrapped in `<a href>`.
//! - The SVG only uses presentation attributes, never `style` (the app's Content-Security-Policy forbids inline
//!   styles): the app's stylesheet may restyle `.zone`, `a:focus-visible .zone`, `.map-label`, `.map-legend`.
//! - [`classes`], [`equal_breaks`], [`class_of`], [`break_labels`] and [`ramp`] build legends for continuous values;
//!   [`label_points`] gives interior points (pole of inaccessibility) used for zone labels on small maps;
//!   [`inset_overseas`] moves overseas territories into boxes next to metropolitan France for national maps.

mod geometry;
mod legend;
mod load;
mod svg;
#[cfg(test)]
mod tests;

pub use geometry::{Insets, Projection, inset_overseas, label_points};
pub use legend::{break_labels, class_of, classes, equal_breaks, format_fr, ramp};
pub use load::{
    ATTRIBUTION_IGN, ATTRIBUTION_PARIS, Loaded, MapError, SHIPPED, ShippedLayer, bureau_code, load_geojson,
    load_geojson_report, load_shipped,
};
pub use svg::{Category, Frame, LABEL_MAX_ZONES, Layer, Legend, MapOptions, escape, render_svg};

/// Rings (first the outer ring, then its holes) of (longitude, latitude) points.
pub type Polygon = Vec<Vec<(f64, f64)>>;

/// One zone of a map (département, circonscription, commune, bureau de vote…).
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub code: String,
    pub name: String,
    /// Polygons → rings (first the outer ring, then its holes) → (longitude, latitude).
    pub rings: Vec<Vec<Vec<(f64, f64)>>>,
}

impl Zone {
    fn points(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.rings.iter().flatten().flatten().copied()
    }
}
