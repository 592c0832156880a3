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

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fmt::{self, Write as _};
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

/// Margin around the map, in px.
const MARGIN: f64 = 8.0;
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

/// Attribution to display with maps of départements, circonscriptions or communes.
pub const ATTRIBUTION_IGN: &str = "Contours : IGN, ADMIN EXPRESS COG (Licence Ouverte 2.0)";
/// Attribution to display with maps of the Paris bureaux de vote (required by the ODbL).
pub const ATTRIBUTION_PARIS: &str = "Contours des bureaux de vote : Ville de Paris (ODbL 1.0)";

/// A failure to read contours. Messages are French.
#[derive(Debug)]
pub enum MapError {
    /// The gzip stream could not be decompressed.
    Gzip(std::io::Error),
    /// The bytes are not JSON, or not a GeoJSON FeatureCollection.
    Json(serde_json::Error),
    /// A feature is not usable (unsupported geometry, missing code…).
    Invalid(String),
    /// [`load_shipped`] was asked for a layer that is not shipped.
    UnknownLayer(String),
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Gzip(e) => write!(f, "fichier gzip illisible : {e}"),
            MapError::Json(e) => write!(f, "GeoJSON illisible : {e}"),
            MapError::Invalid(message) => f.write_str(message),
            MapError::UnknownLayer(key) => write!(f, "fond de carte inconnu : « {key} »"),
        }
    }
}

impl std::error::Error for MapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MapError::Gzip(e) => Some(e),
            MapError::Json(e) => Some(e),
            MapError::Invalid(_) | MapError::UnknownLayer(_) => None,
        }
    }
}

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

/// What [`load_geojson_report`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub zones: Vec<Zone>,
    /// Features without geometry (or whose rings all have fewer than 3 points), left out.
    pub skipped_without_geometry: usize,
    /// Features whose code repeats an earlier one: their polygons were added to the earlier zone.
    pub merged_duplicates: usize,
}

/// Reads a GeoJSON FeatureCollection (plain or gzip-compressed) of Polygon and MultiPolygon features.
/// `code_prop` names the property holding the zone code (string or number); `name_prop` the zone name (the code
/// when absent). Features without geometry are left out; see [`load_geojson_report`] for their count.
pub fn load_geojson(bytes: &[u8], code_prop: &str, name_prop: &str) -> Result<Vec<Zone>, MapError> {
    load_geojson_report(bytes, code_prop, name_prop).map(|loaded| loaded.zones)
}

/// [`load_geojson`], also counting the features left out or merged.
pub fn load_geojson_report(bytes: &[u8], code_prop: &str, name_prop: &str) -> Result<Loaded, MapError> {
    let decompressed;
    let json = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).map_err(MapError::Gzip)?;
        decompressed = out;
        decompressed.as_slice()
    } else {
        bytes
    };
    let collection: RawCollection = serde_json::from_slice(json).map_err(MapError::Json)?;
    let mut loaded = Loaded { zones: Vec::new(), skipped_without_geometry: 0, merged_duplicates: 0 };
    let mut index: HashMap<String, usize> = HashMap::new();
    for (number, feature) in collection.features.into_iter().enumerate() {
        let number = number + 1;
        let properties = feature.properties.unwrap_or_default();
        let code = properties.get(code_prop).and_then(property_text).ok_or_else(|| {
            MapError::Invalid(format!("objet n° {number} : propriété « {code_prop} » absente ou vide"))
        })?;
        let rings = match feature.geometry {
            None => Vec::new(),
            Some(geometry) => geometry_rings(geometry)
                .map_err(|message| MapError::Invalid(format!("objet n° {number} ({code}) : {message}")))?,
        };
        if rings.is_empty() {
            loaded.skipped_without_geometry += 1;
            continue;
        }
        if let Some(&existing) = index.get(&code) {
            loaded.zones[existing].rings.extend(rings);
            loaded.merged_duplicates += 1;
            continue;
        }
        let name = properties.get(name_prop).and_then(property_text).unwrap_or_else(|| code.clone());
        index.insert(code.clone(), loaded.zones.len());
        loaded.zones.push(Zone { code, name, rings });
    }
    Ok(loaded)
}

fn property_text(value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_string(),
            None => n.to_string(),
        },
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

#[derive(Deserialize)]
struct RawCollection {
    features: Vec<RawFeature>,
}

#[derive(Deserialize)]
struct RawFeature {
    #[serde(default)]
    properties: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    geometry: Option<RawGeometry>,
}

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coordinates: Option<Coords>,
}

/// Nested GeoJSON coordinates, read without knowing the geometry type first (`type` may come after them).
enum Coords {
    Number(f64),
    Position(f64, f64),
    List(Vec<Coords>),
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CoordsVisitor)
    }
}

struct CoordsVisitor;

impl<'de> Visitor<'de> for CoordsVisitor {
    type Value = Coords;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("des coordonnées GeoJSON")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coords, E> {
        Ok(Coords::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coords, E> {
        Ok(Coords::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coords, E> {
        Ok(Coords::Number(v as f64))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Coords, A::Error> {
        let Some(first) = seq.next_element::<Coords>()? else {
            return Ok(Coords::List(Vec::new()));
        };
        if let Coords::Number(x) = first {
            let y: f64 = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(1, &"une position [longitude, latitude]"))?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Coords::Position(x, y));
        }
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(8).max(1));
        items.push(first);
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Coords::List(items))
    }
}

fn geometry_rings(geometry: RawGeometry) -> Result<Vec<Polygon>, String> {
    let coordinates = geometry.coordinates.unwrap_or(Coords::List(Vec::new()));
    let polygons = match geometry.kind.as_str() {
        "Polygon" => vec![coordinates],
        "MultiPolygon" => list(coordinates, "une liste de polygones")?,
        other => return Err(format!("géométrie « {other} » non prise en charge (Polygon ou MultiPolygon attendu)")),
    };
    let mut out = Vec::with_capacity(polygons.len());
    for polygon in polygons {
        let mut rings = Vec::new();
        for (i, ring) in list(polygon, "une liste d'anneaux")?.into_iter().enumerate() {
            let mut points = Vec::new();
            for position in list(ring, "une liste de positions")? {
                let Coords::Position(lon, lat) = position else {
                    return Err("position [longitude, latitude] attendue".into());
                };
                if !lon.is_finite() || !lat.is_finite() {
                    return Err("coordonnée non finie".into());
                }
                points.push((lon, lat));
            }
            if points.len() > 1 && points.first() == points.last() {
                points.pop();
            }
            if points.len() >= 3 {
                rings.push(points);
            } else if i == 0 {
                break; // a degenerate outer ring: the polygon (and its holes) is left out
            }
        }
        if !rings.is_empty() {
            out.push(rings);
        }
    }
    Ok(out)
}

fn list(coords: Coords, expected: &str) -> Result<Vec<Coords>, String> {
    match coords {
        Coords::List(items) => Ok(items),
        _ => Err(format!("coordonnées invalides : {expected} attendue")),
    }
}

/// A contour layer shipped in `data/geo/` and embedded in the binary.
pub struct ShippedLayer {
    /// Key for [`load_shipped`]: `departements`, `circonscriptions`, `communes-29`, `bureaux-paris-2017`…
    pub key: &'static str,
    /// French description, for menus.
    pub title: &'static str,
    pub code_prop: &'static str,
    pub name_prop: &'static str,
    /// Attribution to display with the map.
    pub attribution: &'static str,
    /// gzip-compressed GeoJSON.
    pub bytes: &'static [u8],
}

macro_rules! geo_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/geo/", $name))
    };
}

/// The contour layers shipped with Terrain. Zone codes: INSEE codes for départements and communes, `DD-NN` for
/// circonscriptions, [`bureau_code`] (`75056_1905`) for the Paris bureaux de vote.
pub const SHIPPED: &[ShippedLayer] = &[
    ShippedLayer {
        key: "departements",
        title: "Départements",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("departements.geojson.gz"),
    },
    ShippedLayer {
        key: "circonscriptions",
        title: "Circonscriptions législatives",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("circonscriptions_legislatives.geojson.gz"),
    },
    ShippedLayer {
        key: "communes-29",
        title: "Communes du Finistère",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("communes_29.geojson.gz"),
    },
    ShippedLayer {
        key: "communes-31",
        title: "Communes de la Haute-Garonne",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("communes_31.geojson.gz"),
    },
    ShippedLayer {
        key: "communes-69",
        title: "Communes du Rhône",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("communes_69.geojson.gz"),
    },
    ShippedLayer {
        key: "communes-93",
        title: "Communes de la Seine-Saint-Denis",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_IGN,
        bytes: geo_file!("communes_93.geojson.gz"),
    },
    ShippedLayer {
        key: "bureaux-paris-2017",
        title: "Bureaux de vote de Paris (2017)",
        code_prop: "code",
        name_prop: "nom",
        attribution: ATTRIBUTION_PARIS,
        bytes: geo_file!("bureaux_paris_2017.geojson.gz"),
    },
];

/// Loads a shipped layer by key (see [`SHIPPED`]).
pub fn load_shipped(key: &str) -> Result<Vec<Zone>, MapError> {
    let layer = SHIPPED.iter().find(|l| l.key == key).ok_or_else(|| MapError::UnknownLayer(key.to_owned()))?;
    load_geojson(layer.bytes, layer.code_prop, layer.name_prop)
}

/// Zone code of a bureau de vote, as in the shipped Paris contours and the official contours' `codeBureauVote`:
/// INSEE commune code + `_` + bureau (4 characters), e.g. `bureau_code("75056", "1905")` = `75056_1905`.
pub fn bureau_code(commune: &str, bureau: &str) -> String {
    format!("{commune}_{bureau}")
}

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
    /// Source line drawn at the bottom (e.g. [`ATTRIBUTION_IGN`]).
    pub attribution: Option<String>,
    /// Inset frames to draw (from [`inset_overseas`]).
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

/// Local equirectangular projection fitted to a box: x = lon × cos(mean latitude), y flipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    kx: f64,
    scale: f64,
    x0: f64,
    y0: f64,
    offset_x: f64,
    offset_y: f64,
    /// Width and height of the fitted map (margins included), in px.
    pub width: f64,
    pub height: f64,
}

impl Projection {
    /// Fits the points into `width` px with `margin` on each side, the height following the shape (at most
    /// `max_height`, the map being then centred horizontally).
    pub fn fit(points: impl Iterator<Item = (f64, f64)>, width: f64, margin: f64, max_height: f64) -> Projection {
        let Some((min_lon, min_lat, max_lon, max_lat)) = bounds(points) else {
            return Projection {
                kx: 1.0,
                scale: 1.0,
                x0: 0.0,
                y0: 0.0,
                offset_x: margin,
                offset_y: margin,
                width,
                height: 2.0 * margin,
            };
        };
        let kx = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.01);
        let (w, h) = ((max_lon - min_lon) * kx, max_lat - min_lat);
        let available = (width - 2.0 * margin).max(1.0);
        let mut scale = if w > 0.0 {
            available / w
        } else if h > 0.0 {
            available / h
        } else {
            1.0
        };
        if h > 0.0 && h * scale > max_height - 2.0 * margin {
            scale = (max_height - 2.0 * margin).max(1.0) / h;
        }
        Projection {
            kx,
            scale,
            x0: min_lon * kx,
            y0: max_lat,
            offset_x: margin + (available - w * scale) / 2.0,
            offset_y: margin,
            width,
            height: h * scale + 2.0 * margin,
        }
    }

    /// (lon, lat) → (x, y) in px.
    pub fn project(&self, (lon, lat): (f64, f64)) -> (f64, f64) {
        ((lon * self.kx - self.x0) * self.scale + self.offset_x, (self.y0 - lat) * self.scale + self.offset_y)
    }

    /// (lon, lat) → (x, y) in tenths of px.
    fn project_tenths(&self, point: (f64, f64)) -> (i64, i64) {
        let (x, y) = self.project(point);
        ((x * 10.0).round() as i64, (y * 10.0).round() as i64)
    }
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, (x, y)| {
        Some(match acc {
            None => (x, y, x, y),
            Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
        })
    })
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
fn path_data(zone: &Zone, projection: &Projection, d: &mut String, points: &mut Vec<(i64, i64)>) {
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

fn write_ring(d: &mut String, points: &[(i64, i64)]) {
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

/// Interior point of each zone with geometry (code, (lon, lat)): the pole of inaccessibility of its largest
/// polygon (the point farthest from the edges), computed in a local projection.
pub fn label_points(zones: &[Zone]) -> Vec<(String, (f64, f64))> {
    let mut out = Vec::with_capacity(zones.len());
    for zone in zones {
        let Some((_, min_lat, _, max_lat)) = bounds(zone.points()) else { continue };
        let kx = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.01);
        let projected: Vec<Vec<Vec<(f64, f64)>>> = zone
            .rings
            .iter()
            .map(|polygon| polygon.iter().map(|ring| ring.iter().map(|&(x, y)| (x * kx, y)).collect()).collect())
            .collect();
        let Some(largest) = projected.iter().max_by(|a, b| ring_area(&a[0]).total_cmp(&ring_area(&b[0]))) else {
            continue;
        };
        let (x, y) = pole_of_inaccessibility(largest);
        out.push((zone.code.clone(), (x / kx, y)));
    }
    out
}

fn ring_area(ring: &[(f64, f64)]) -> f64 {
    signed_area(ring).abs()
}

fn signed_area(ring: &[(f64, f64)]) -> f64 {
    let n = ring.len();
    (0..n).map(|i| ring[i].0 * ring[(i + 1) % n].1 - ring[(i + 1) % n].0 * ring[i].1).sum::<f64>() / 2.0
}

struct Cell {
    x: f64,
    y: f64,
    half: f64,
    distance: f64,
    potential: f64,
}

impl Cell {
    fn new(x: f64, y: f64, half: f64, polygon: &[Vec<(f64, f64)>]) -> Cell {
        let distance = signed_distance((x, y), polygon);
        Cell { x, y, half, distance, potential: distance + half * std::f64::consts::SQRT_2 }
    }
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        self.potential.total_cmp(&other.potential).is_eq()
    }
}
impl Eq for Cell {}
impl PartialOrd for Cell {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Cell {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.potential.total_cmp(&other.potential)
    }
}

/// Polylabel (Mapbox's algorithm): grid cells refined best-first until the gain is below 1 % of the polygon size.
fn pole_of_inaccessibility(polygon: &[Vec<(f64, f64)>]) -> (f64, f64) {
    let Some((min_x, min_y, max_x, max_y)) = bounds(polygon[0].iter().copied()) else { return (0.0, 0.0) };
    let (w, h) = (max_x - min_x, max_y - min_y);
    let cell_size = w.min(h);
    if cell_size <= 0.0 {
        return (min_x, min_y);
    }
    let precision = w.max(h) / 100.0;
    let half = cell_size / 2.0;
    let mut queue = BinaryHeap::new();
    let mut x = min_x;
    while x < max_x {
        let mut y = min_y;
        while y < max_y {
            queue.push(Cell::new(x + half, y + half, half, polygon));
            y += cell_size;
        }
        x += cell_size;
    }
    let (cx, cy) = centroid(&polygon[0]);
    let mut best = Cell::new(cx, cy, 0.0, polygon);
    let centre = Cell::new(min_x + w / 2.0, min_y + h / 2.0, 0.0, polygon);
    if centre.distance > best.distance {
        best = centre;
    }
    let mut budget = 20_000;
    while let Some(cell) = queue.pop() {
        if cell.distance > best.distance {
            best = Cell { x: cell.x, y: cell.y, half: 0.0, distance: cell.distance, potential: cell.distance };
        }
        budget -= 1;
        if budget == 0 || cell.potential - best.distance <= precision {
            if budget == 0 {
                break;
            }
            continue;
        }
        let half = cell.half / 2.0;
        for (dx, dy) in [(-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0)] {
            queue.push(Cell::new(cell.x + dx * half, cell.y + dy * half, half, polygon));
        }
    }
    (best.x, best.y)
}

fn centroid(ring: &[(f64, f64)]) -> (f64, f64) {
    let area = signed_area(ring);
    let n = ring.len();
    if area.abs() < f64::EPSILON {
        let (sx, sy) = ring.iter().fold((0.0, 0.0), |(sx, sy), &(x, y)| (sx + x, sy + y));
        return (sx / n as f64, sy / n as f64);
    }
    let (mut cx, mut cy) = (0.0, 0.0);
    for i in 0..n {
        let (a, b) = (ring[i], ring[(i + 1) % n]);
        let cross = a.0 * b.1 - b.0 * a.1;
        cx += (a.0 + b.0) * cross;
        cy += (a.1 + b.1) * cross;
    }
    (cx / (6.0 * area), cy / (6.0 * area))
}

/// Distance from the point to the polygon's edges, positive inside (even-odd rule over all rings), negative outside.
fn signed_distance(point: (f64, f64), polygon: &[Vec<(f64, f64)>]) -> f64 {
    let mut inside = false;
    let mut min_sq = f64::INFINITY;
    for ring in polygon {
        let n = ring.len();
        for i in 0..n {
            let (a, b) = (ring[i], ring[(i + 1) % n]);
            if (a.1 > point.1) != (b.1 > point.1) && point.0 < (b.0 - a.0) * (point.1 - a.1) / (b.1 - a.1) + a.0 {
                inside = !inside;
            }
            min_sq = min_sq.min(segment_distance_sq(point, a, b));
        }
    }
    let distance = min_sq.sqrt();
    if inside { distance } else { -distance }
}

fn segment_distance_sq(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (mut x, mut y) = a;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    if dx != 0.0 || dy != 0.0 {
        let t = ((p.0 - a.0) * dx + (p.1 - a.1) * dy) / (dx * dx + dy * dy);
        if t > 1.0 {
            (x, y) = b;
        } else if t > 0.0 {
            x += dx * t;
            y += dy * t;
        }
    }
    (p.0 - x).powi(2) + (p.1 - y).powi(2)
}

/// Zones with overseas territories moved into insets, and the frames to draw around them ([`MapOptions::frames`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Insets {
    pub zones: Vec<Zone>,
    pub frames: Vec<Frame>,
}

/// For national maps: moves the zones of overseas territories (codes starting with `97` or `98`: départements
/// `971`, circonscriptions `971-01`, communes `97101`…) into a grid of boxes in the lower-left corner of the
/// metropolitan extent (the Bay of Biscay on a map of France), each territory scaled to fill its box. Zones are
/// returned in the same order; without metropolitan or overseas zones they are returned unchanged.
pub fn inset_overseas(zones: &[Zone]) -> Insets {
    let territory = |zone: &Zone| {
        let code = zone.code.as_str();
        (code.len() >= 3 && (code.starts_with("97") || code.starts_with("98"))).then(|| code[..3].to_owned())
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, zone) in zones.iter().enumerate() {
        if let Some(key) = territory(zone) {
            groups.entry(key).or_default().push(i);
        }
    }
    let metro = bounds(zones.iter().filter(|z| territory(z).is_none()).flat_map(Zone::points));
    let (Some((min_lon, min_lat, max_lon, max_lat)), false) = (metro, groups.is_empty()) else {
        return Insets { zones: zones.to_vec(), frames: Vec::new() };
    };
    let kx = ((min_lat + max_lat) / 2.0).to_radians().cos().max(0.01);
    // Region of the insets, in projected units (x = lon × kx, y = lat).
    let (region_x, region_y) = (min_lon * kx, min_lat);
    let (region_w, region_h) = ((max_lon - min_lon) * kx * 0.22, (max_lat - min_lat) * 0.45);
    let count = groups.len();
    let columns = ((count as f64 * region_w / region_h).sqrt().ceil() as usize).clamp(1, count);
    let rows = count.div_ceil(columns);
    let gap = region_w.min(region_h) * 0.04;
    let box_w = (region_w - gap * (columns as f64 - 1.0)) / columns as f64;
    let box_h = (region_h - gap * (rows as f64 - 1.0)) / rows as f64;
    let pad = box_w.min(box_h) * 0.08;

    let mut out = zones.to_vec();
    let mut frames = Vec::with_capacity(count);
    for (n, members) in groups.values().enumerate() {
        let (column, row) = (n % columns, n / columns);
        let bx = region_x + column as f64 * (box_w + gap);
        let by = region_y + (rows - 1 - row) as f64 * (box_h + gap);
        // Longitudes of a territory straddling the antimeridian are unwrapped.
        let raw = bounds(members.iter().flat_map(|&i| zones[i].points())).unwrap_or_default();
        let unwrap = raw.2 - raw.0 > 180.0;
        let lon = |x: f64| if unwrap && x < 0.0 { x + 360.0 } else { x };
        let (t_min_lon, t_min_lat, t_max_lon, t_max_lat) =
            bounds(members.iter().flat_map(|&i| zones[i].points()).map(|(x, y)| (lon(x), y))).unwrap_or_default();
        let tk = ((t_min_lat + t_max_lat) / 2.0).to_radians().cos().max(0.01);
        let (tw, th) = ((t_max_lon - t_min_lon) * tk, t_max_lat - t_min_lat);
        let scale = ((box_w - 2.0 * pad) / tw.max(1e-9)).min((box_h - 2.0 * pad) / th.max(1e-9));
        let (t_cx, t_cy) = ((t_min_lon + t_max_lon) / 2.0 * tk, (t_min_lat + t_max_lat) / 2.0);
        let (b_cx, b_cy) = (bx + box_w / 2.0, by + box_h / 2.0);
        for &i in members {
            for point in out[i].rings.iter_mut().flatten().flatten() {
                let px = b_cx + (lon(point.0) * tk - t_cx) * scale;
                let py = b_cy + (point.1 - t_cy) * scale;
                *point = (px / kx, py);
            }
        }
        frames.push(Frame { min: (bx / kx, by), max: ((bx + box_w) / kx, by + box_h) });
    }
    Insets { zones: out, frames }
}

/// Quantile breaks splitting `values` into (at most) `n` classes of similar size: ascending thresholds, class `i`
/// holding the values `v` with `breaks[i - 1] <= v < breaks[i]` (see [`class_of`]). NaN values are ignored; equal
/// thresholds are avoided (a class then starts at the next distinct value), so fewer than `n - 1` breaks may come back
/// when many values are equal.
pub fn classes(values: &[f64], n: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    let mut breaks: Vec<f64> = Vec::new();
    if sorted.is_empty() || n < 2 {
        return breaks;
    }
    for k in 1..n {
        let mut value = sorted[(k * sorted.len() / n).min(sorted.len() - 1)];
        let floor = breaks.last().copied().unwrap_or(sorted[0]);
        if value <= floor {
            // Many equal values: the class starts at the next distinct value, if any.
            let next = sorted.partition_point(|&v| v <= floor);
            let Some(&distinct) = sorted.get(next) else { break };
            value = distinct;
        }
        breaks.push(value);
    }
    breaks
}

/// `n - 1` equally spaced breaks between `min` and `max` (fixed-width classes).
pub fn equal_breaks(min: f64, max: f64, n: usize) -> Vec<f64> {
    (1..n.max(1)).map(|k| min + (max - min) * k as f64 / n as f64).collect()
}

/// Class index of `value` for ascending `breaks`: the number of breaks at or below it.
pub fn class_of(value: f64, breaks: &[f64]) -> usize {
    breaks.partition_point(|&b| b <= value)
}

/// French legend labels for the `breaks.len() + 1` classes: "Moins de 10 %", "De 10 à moins de 20 %", "20 % ou plus"
/// (`decimals` digits, decimal comma, narrow no-break spaces as thousands separator and before the unit).
pub fn break_labels(breaks: &[f64], decimals: usize, unit: &str) -> Vec<String> {
    let number = |v: f64| {
        let text = format_fr(v, decimals);
        if unit.is_empty() { text } else { format!("{text}\u{202f}{unit}") }
    };
    if breaks.is_empty() {
        return vec!["Toutes les valeurs".into()];
    }
    let mut labels = Vec::with_capacity(breaks.len() + 1);
    labels.push(format!("Moins de {}", number(breaks[0])));
    for pair in breaks.windows(2) {
        labels.push(format!("De {} à moins de {}", format_fr(pair[0], decimals), number(pair[1])));
    }
    labels.push(format!("{} ou plus", number(breaks[breaks.len() - 1])));
    labels
}

/// A number the French way: `1234.5` → "1 234,5" (narrow no-break space between thousands).
pub fn format_fr(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) if rest.chars().any(|c| c.is_ascii_digit() && c != '0') => ("-", rest),
        Some(rest) => ("", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push(',');
        out.push_str(frac);
    }
    out
}

/// `n` colours from `from` to `to` (`#rrggbb` or `#rgb`), interpolated in the OKLab perceptual space. Invalid
/// colours count as mid grey.
pub fn ramp(n: usize, from: &str, to: &str) -> Vec<String> {
    let (a, b) = (oklab(parse_colour(from)), oklab(parse_colour(to)));
    (0..n)
        .map(|i| {
            let t = if n > 1 { i as f64 / (n - 1) as f64 } else { 0.0 };
            let lab = [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
            let [r, g, b] = from_oklab(lab);
            format!("#{r:02x}{g:02x}{b:02x}")
        })
        .collect()
}

fn parse_colour(text: &str) -> [u8; 3] {
    let hex = text.trim().trim_start_matches('#');
    let digit = |i: usize| u8::from_str_radix(hex.get(i..i + 1)?, 16).ok();
    let parsed = match hex.len() {
        3 => (|| Some([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17]))(),
        6 => (|| Some([digit(0)? * 16 + digit(1)?, digit(2)? * 16 + digit(3)?, digit(4)? * 16 + digit(5)?]))(),
        _ => None,
    };
    parsed.unwrap_or([128, 128, 128])
}

fn oklab([r, g, b]: [u8; 3]) -> [f64; 3] {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let (r, g, b) = (linear(r), linear(g), linear(b));
    let l = (0.412_221_470_8 * r + 0.536_332_536_3 * g + 0.051_445_992_9 * b).cbrt();
    let m = (0.211_903_498_2 * r + 0.680_699_545_1 * g + 0.107_396_956_6 * b).cbrt();
    let s = (0.088_302_461_9 * r + 0.281_718_837_6 * g + 0.629_978_700_5 * b).cbrt();
    [
        0.210_454_255_3 * l + 0.793_617_785_0 * m - 0.004_072_046_8 * s,
        1.977_998_495_1 * l - 2.428_592_205_0 * m + 0.450_593_709_9 * s,
        0.025_904_037_1 * l + 0.782_771_766_2 * m - 0.808_675_766_0 * s,
    ]
}

fn from_oklab([l, a, b]: [f64; 3]) -> [u8; 3] {
    let l_ = (l + 0.396_337_777_4 * a + 0.215_803_757_3 * b).powi(3);
    let m_ = (l - 0.105_561_345_8 * a - 0.063_854_172_8 * b).powi(3);
    let s_ = (l - 0.089_484_177_5 * a - 1.291_485_548_0 * b).powi(3);
    let gamma = |c: f64| {
        let c = if c <= 0.003_130_8 { 12.92 * c } else { 1.055 * c.powf(1.0 / 2.4) - 0.055 };
        (c.clamp(0.0, 1.0) * 255.0).round() as u8
    };
    [
        gamma(4.076_741_662_1 * l_ - 3.307_711_591_3 * m_ + 0.230_969_929_2 * s_),
        gamma(-1.268_438_004_6 * l_ + 2.609_757_401_1 * m_ - 0.341_319_396_5 * s_),
        gamma(-0.004_196_086_3 * l_ - 0.703_418_614_7 * m_ + 1.707_614_701_0 * s_),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(key: &str) -> Loaded {
        let layer = SHIPPED.iter().find(|l| l.key == key).unwrap();
        load_geojson_report(layer.bytes, layer.code_prop, layer.name_prop).unwrap()
    }

    /// Minimal well-formedness check: one root element, balanced tags, quoted unique attributes, valid entity
    /// references, no raw `<` or `&` in text or attributes.
    fn check_xml(xml: &str) -> Result<(), String> {
        fn check_text(text: &str) -> Result<(), String> {
            let mut rest = text;
            while let Some(i) = rest.find('&') {
                rest = &rest[i + 1..];
                let end = rest.find(';').ok_or("& sans ;")?;
                let entity = &rest[..end];
                let ok = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
                    || entity.strip_prefix("#x").is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
                    || entity.strip_prefix('#').is_some_and(|h| h.parse::<u32>().is_ok());
                if !ok {
                    return Err(format!("entité invalide &{entity};"));
                }
            }
            if text.contains('<') {
                return Err("< brut".into());
            }
            Ok(())
        }
        let mut stack: Vec<&str> = Vec::new();
        let mut roots = 0;
        let mut rest = xml.trim();
        while !rest.is_empty() {
            let Some(open) = rest.find('<') else {
                return if rest.trim().is_empty() && stack.is_empty() {
                    Ok(())
                } else {
                    Err("texte hors racine".into())
                };
            };
            let text = &rest[..open];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err("texte hors racine".into());
            }
            check_text(text)?;
            rest = &rest[open + 1..];
            let close = rest.find('>').ok_or("balise non fermée")?;
            let tag = &rest[..close];
            rest = &rest[close + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let top = stack.pop().ok_or("fermeture sans ouverture")?;
                if top != name.trim() {
                    return Err(format!("</{name}> ferme <{top}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
            let name = &tag[..name_end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
                return Err(format!("nom de balise invalide « {name} »"));
            }
            let mut attributes = &tag[name_end..];
            let mut seen = Vec::new();
            loop {
                attributes = attributes.trim_start();
                if attributes.is_empty() {
                    break;
                }
                let eq = attributes.find("=\"").ok_or_else(|| format!("attribut mal formé dans <{name}>"))?;
                let attribute = &attributes[..eq];
                if attribute.is_empty() || attribute.contains(char::is_whitespace) || seen.contains(&attribute) {
                    return Err(format!("attribut « {attribute} » invalide ou répété dans <{name}>"));
                }
                seen.push(attribute);
                attributes = &attributes[eq + 2..];
                let end = attributes.find('"').ok_or("valeur d'attribut non fermée")?;
                check_text(&attributes[..end])?;
                attributes = &attributes[end + 1..];
                if !attributes.is_empty() && !attributes.starts_with(char::is_whitespace) {
                    return Err("attributs non séparés".into());
                }
            }
            if stack.is_empty() {
                roots += 1;
                if roots > 1 {
                    return Err("plusieurs racines".into());
                }
            }
            if !self_closing {
                stack.push(name);
            }
        }
        if stack.is_empty() && roots == 1 { Ok(()) } else { Err(format!("balises non fermées : {stack:?}")) }
    }

    /// Deterministic pseudo-random numbers (xorshift).
    fn random(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    fn legend(n: usize) -> Legend {
        let colours = ramp(n, "#fff5eb", "#7f2704");
        Legend {
            title: "Vote (classes)".into(),
            entries: (0..n).map(|i| (format!("Classe {}", i + 1), colours[i].clone())).collect(),
            missing_label: "Données manquantes".into(),
        }
    }

    fn random_values(zones: &[Zone], n: usize, missing_every: u64) -> HashMap<String, Category> {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        zones
            .iter()
            .map(|z| {
                let r = random(&mut seed);
                let category = if r.is_multiple_of(missing_every) {
                    Category::Missing
                } else {
                    Category::Class((r / 7) as usize % n)
                };
                (z.code.clone(), category)
            })
            .collect()
    }

    fn count(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn shipped_layers_load_with_expected_counts() {
        let departements = shipped("departements");
        assert_eq!(departements.zones.len(), 101);
        let circonscriptions = shipped("circonscriptions");
        assert_eq!(circonscriptions.zones.len(), 566);
        assert_eq!(circonscriptions.skipped_without_geometry, 11);
        let rhone = circonscriptions.zones.iter().find(|z| z.code == "69-03").unwrap();
        assert_eq!(rhone.name, "Rhône, 3e circonscription");
        for (key, expected) in [("communes-29", 277), ("communes-31", 586), ("communes-69", 265), ("communes-93", 39)] {
            let loaded = shipped(key);
            assert_eq!(loaded.zones.len(), expected, "{key}");
            assert_eq!((loaded.skipped_without_geometry, loaded.merged_duplicates), (0, 0), "{key}");
        }
        let bureaux = shipped("bureaux-paris-2017");
        assert_eq!(bureaux.zones.len(), 896);
        assert_eq!(bureaux.merged_duplicates, 0);
        let codes: std::collections::HashSet<&str> = bureaux.zones.iter().map(|z| z.code.as_str()).collect();
        for code in ["75056_0101", "75056_1905", "75056_1038", "75056_1039", "75056_2004", "75056_0204"] {
            assert!(codes.contains(code), "{code}");
        }
        assert_eq!(
            bureaux.zones.iter().find(|z| z.code == bureau_code("75056", "2004")).unwrap().name,
            "Paris 20e, bureau 4"
        );
        assert!(matches!(load_shipped("communes-75"), Err(MapError::UnknownLayer(_))));
    }

    #[test]
    fn rhone_communes_render_one_path_per_zone() {
        let started = std::time::Instant::now();
        let zones = load_shipped("communes-69").unwrap();
        let loaded = started.elapsed();
        let values = random_values(&zones, 5, 11);
        let options = MapOptions {
            title: "Rhône : résultats par commune".into(),
            link_prefix: Some("/territoire/communes/".into()),
            attribution: Some(ATTRIBUTION_IGN.into()),
            labels: true, // ignored: more than 60 zones
            ..MapOptions::default()
        };
        let started = std::time::Instant::now();
        let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend(5), &options);
        let rendered = started.elapsed();
        eprintln!("communes 69: load {loaded:?}, render {rendered:?}, {} bytes", svg.len());
        check_xml(&svg).unwrap();
        assert_eq!(count(&svg, "<path "), zones.len());
        assert_eq!(count(&svg, "<a href=\"/territoire/communes/69"), zones.len());
        assert_eq!(count(&svg, " class=\"zone\""), zones.len());
        assert_eq!(count(&svg, "<text x=\"") - count(&svg, "<text x=\"8\""), 5 + 1, "legend and missing, no labels");
        assert!(!svg.contains("style="));
        assert!(svg.contains("role=\"group\" aria-labelledby=\"carte-title carte-desc\""));
        assert!(svg.contains("id=\"carte-69123\""));
        assert!(svg.contains("<title>Lyon (69123) — "));
        assert!(svg.contains("fill=\"url(#carte-missing)\""));
        let missing = values.values().filter(|c| **c == Category::Missing).count();
        assert!(svg.contains(&format!("Données manquantes : {missing} zones.")));
        // Coordinates within the canvas, 1 decimal at most.
        let d = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(d.starts_with('M') && d.ends_with('z'));
        assert!(
            d.split(|c: char| !(c.is_ascii_digit() || c == '.'))
                .all(|n| n.split('.').nth(1).is_none_or(|f| f.len() <= 1))
        );
    }

    #[test]
    fn text_is_escaped() {
        let square = |x: f64| vec![vec![vec![(x, 0.0), (x + 1.0, 0.0), (x + 1.0, 1.0), (x, 1.0)]]];
        let zones = vec![
            Zone { code: "X&1".into(), name: "A & B <\"C\">".into(), rings: square(0.0) },
            Zone { code: "94041".into(), name: "L'Haÿ-les-Roses".into(), rings: square(2.0) },
            Zone { code: "76575".into(), name: "Saint-Étienne-du-Rouvray".into(), rings: square(4.0) },
        ];
        let values = HashMap::from([("X&1".to_owned(), Category::Class(0))]);
        let legend = Legend {
            title: "Part < 5 % & \"autres\"".into(),
            entries: vec![("< 5 %".into(), "#ff0000".into())],
            missing_label: "Pas de données <n/a>".into(),
        };
        let options = MapOptions {
            title: "Titre & <sous-titre>".into(),
            link_prefix: Some("/z?a=1&code=".into()),
            id_prefix: "m\"1-".into(),
            labels: true,
            attribution: Some("Source : « L'Insee » & co".into()),
            ..MapOptions::default()
        };
        let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend, &options);
        check_xml(&svg).unwrap();
        assert!(svg.contains("<title>A &amp; B &lt;&quot;C&quot;&gt; (X&amp;1) — &lt; 5 %</title>"));
        assert!(svg.contains(">A &amp; B &lt;&quot;C&quot;&gt;</text>"), "label");
        assert!(svg.contains("L&apos;Haÿ-les-Roses (94041) — Pas de données &lt;n/a&gt;"));
        assert!(svg.contains(">Saint-Étienne-du-Rouvray</text>"));
        assert!(svg.contains("href=\"/z?a=1&amp;code=X%261\""));
        assert!(svg.contains("id=\"m_1-X_1\""));
        assert_eq!(count(&svg, "<path "), 3);
        assert_eq!(escape("a\u{1}b\tc"), "ab c");
    }

    #[test]
    fn multipolygon_hole_is_kept_and_gzip_is_read() {
        let geojson = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"code":12,"nom":"Troué"},"geometry":{"coordinates":[
                [[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[1,3],[3,3],[3,1],[1,1]]],
                [[[5,0],[6,0],[6,1],[5,1],[5,0]]]],"type":"MultiPolygon"}},
            {"type":"Feature","properties":{"code":"13"},"geometry":{"type":"Polygon","coordinates":
                [[[7,0,12.5],[8,0,12.5],[8,1,12.5],[7,0,12.5]]]}},
            {"type":"Feature","properties":{"code":"99"},"geometry":null}]}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, geojson.as_bytes()).unwrap();
        for bytes in [geojson.as_bytes().to_vec(), gz.finish().unwrap()] {
            let loaded = load_geojson_report(&bytes, "code", "nom").unwrap();
            assert_eq!(loaded.skipped_without_geometry, 1);
            let zones = loaded.zones;
            assert_eq!(zones.len(), 2);
            assert_eq!((zones[0].code.as_str(), zones[0].name.as_str()), ("12", "Troué"));
            assert_eq!(zones[0].rings.len(), 2);
            assert_eq!(zones[0].rings[0].len(), 2, "outer ring and hole");
            assert_eq!(zones[0].rings[0][1].len(), 4, "closing point dropped");
            assert_eq!(zones[1].name, "13", "name falls back to the code");
            let values = HashMap::new();
            let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend(2), &MapOptions::default());
            check_xml(&svg).unwrap();
            assert_eq!(count(&svg, "<path "), 2);
            let d =
                svg.split("id=\"carte-12\"").nth(1).unwrap().split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
            assert_eq!(count(d, "M"), 3, "{d}");
            assert_eq!(count(d, "z"), 3);
            assert!(svg.contains("id=\"carte-12\" class=\"zone\" fill=\"url(#carte-missing)\" fill-rule=\"evenodd\""));
            assert!(svg.contains("role=\"img\""));
        }
    }

    #[test]
    fn invalid_input_is_reported_in_french() {
        let err = load_geojson(b"{\"type\":\"FeatureCollection\"", "code", "nom").unwrap_err();
        assert!(matches!(err, MapError::Json(_)));
        let line = br#"{"features":[{"properties":{"code":"1"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}"#;
        let err = load_geojson(line, "code", "nom").unwrap_err().to_string();
        assert_eq!(
            err,
            "objet n° 1 (1) : géométrie « LineString » non prise en charge (Polygon ou MultiPolygon attendu)"
        );
        let nocode = br#"{"features":[{"properties":{"nom":"x"},"geometry":null}]}"#;
        let err = load_geojson(nocode, "code", "nom").unwrap_err().to_string();
        assert_eq!(err, "objet n° 1 : propriété « code » absente ou vide");
        assert!(matches!(load_geojson(&[0x1f, 0x8b, 0, 1], "code", "nom"), Err(MapError::Gzip(_))));
    }

    #[test]
    fn duplicate_codes_are_merged_into_one_path() {
        let geojson = br#"{"features":[
            {"properties":{"code":"A"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
            {"properties":{"code":"A"},"geometry":{"type":"Polygon","coordinates":[[[2,0],[3,0],[3,1],[2,0]]]}}]}"#;
        let loaded = load_geojson_report(geojson, "code", "nom").unwrap();
        assert_eq!((loaded.zones.len(), loaded.merged_duplicates, loaded.zones[0].rings.len()), (1, 1, 2));
    }

    #[test]
    fn path_data_is_compact() {
        let mut d = String::new();
        write_ring(&mut d, &[(1234, 567), (1239, 567), (1239, 560), (1200, 600)]);
        assert_eq!(d, "M123.4 56.7l.5 0 0-.7-3.9 4z");
        // Sub-pixel ring shapes collapse but the zone keeps a path.
        let tiny =
            Zone { code: "t".into(), name: "t".into(), rings: vec![vec![vec![(0.0, 0.0), (1e-9, 0.0), (0.0, 1e-9)]]] };
        let big =
            Zone { code: "b".into(), name: "b".into(), rings: vec![vec![vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]]] };
        let projection = Projection::fit([tiny.clone(), big].iter().flat_map(Zone::points), 800.0, MARGIN, 1200.0);
        let mut d = String::new();
        path_data(&tiny, &projection, &mut d, &mut Vec::new());
        assert_eq!(d, "M8 792z");
    }

    #[test]
    fn classes_and_breaks() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let breaks = classes(&values, 4);
        assert_eq!(breaks, vec![26.0, 51.0, 76.0]);
        let mut sizes = [0; 4];
        for v in &values {
            sizes[class_of(*v, &breaks)] += 1;
        }
        assert_eq!(sizes, [25, 25, 25, 25]);
        assert_eq!(classes(&[5.0, 5.0, 5.0, 7.0, f64::NAN], 3), vec![7.0]);
        assert_eq!(classes(&[1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 3.0, 4.0], 4), vec![2.0, 3.0, 4.0]);
        assert!(classes(&[], 5).is_empty());
        assert!(classes(&values, 1).is_empty());
        assert_eq!(equal_breaks(0.0, 100.0, 4), vec![25.0, 50.0, 75.0]);
        assert_eq!((class_of(-1.0, &breaks), class_of(26.0, &breaks), class_of(1000.0, &breaks)), (0, 1, 3));
        assert_eq!(
            break_labels(&[12.5, 20.0], 1, "%"),
            vec!["Moins de 12,5\u{202f}%", "De 12,5 à moins de 20,0\u{202f}%", "20,0\u{202f}% ou plus"]
        );
        assert_eq!(break_labels(&[], 0, ""), vec!["Toutes les valeurs"]);
        assert_eq!(format_fr(21_500.0, 0), "21\u{202f}500");
        assert_eq!(format_fr(-1_234_567.891, 2), "-1\u{202f}234\u{202f}567,89");
        assert_eq!(format_fr(-0.001, 1), "0,0");
        assert_eq!(format_fr(999.0, 0), "999");
    }

    #[test]
    fn ramp_interpolates_between_the_ends() {
        assert_eq!(ramp(3, "#000000", "#ffffff"), vec!["#000000", "#636363", "#ffffff"]);
        let colours = ramp(5, "#fff5eb", "#7f2704");
        assert_eq!(colours.len(), 5);
        assert_eq!((colours[0].as_str(), colours[4].as_str()), ("#fff5eb", "#7f2704"));
        assert!(colours.iter().all(|c| c.len() == 7 && c.starts_with('#')));
        let lightness: Vec<f64> = colours.iter().map(|c| oklab(parse_colour(c))[0]).collect();
        assert!(lightness.windows(2).all(|w| w[0] > w[1]), "{lightness:?}");
        assert_eq!(ramp(1, "#abc", "#000"), vec!["#aabbcc"]);
        assert_eq!(ramp(2, "nope", "#00ff00"), vec!["#808080", "#00ff00"]);
        assert!(ramp(0, "#000", "#fff").is_empty());
    }

    #[test]
    fn highlighted_zones_are_drawn_on_top_hatched_and_outlined() {
        let zones = load_shipped("communes-93").unwrap();
        let values = random_values(&zones, 4, 7);
        let options = MapOptions {
            highlight: vec!["93066".into(), "93001".into(), "00000".into()],
            highlight_label: "Zone de la mission".into(),
            ..MapOptions::default()
        };
        let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend(4), &options);
        check_xml(&svg).unwrap();
        // One titled shape per zone, plus two decorative copies (fill, hatching) per highlighted zone found.
        assert_eq!(count(&svg, " class=\"zone\""), zones.len());
        assert_eq!(count(&svg, "<path "), zones.len() + 4);
        assert!(svg.contains("<g class=\"turf\" aria-hidden=\"true\" stroke=\"#000000\" stroke-width=\"2.5\""));
        assert_eq!(count(&svg, "fill=\"url(#carte-turf)\""), 2 + 1, "two zones and the legend");
        assert!(svg.contains("<pattern id=\"carte-turf\""));
        assert!(svg.contains("fill-opacity=\"0.6\""), "the other zones are paler");
        assert!(svg.contains(">Zone de la mission</text>"));
        let desc = svg.split("<desc").nth(1).unwrap().split("</desc>").next().unwrap();
        assert!(
            desc.contains("Zone de la mission : ") && desc.contains("Aubervilliers") && desc.contains("Saint-Denis")
        );
        // Without highlight, nothing of it.
        let plain = render_svg(&Layer { zones: &zones, values: &values }, &legend(4), &MapOptions::default());
        assert!(!plain.contains("turf") && !plain.contains("fill-opacity"));
    }

    #[test]
    fn paris_bureaux_render_896_paths() {
        let zones = load_shipped("bureaux-paris-2017").unwrap();
        let values = random_values(&zones, 7, 30);
        let options = MapOptions {
            title: "Paris, présidentielle 2017".into(),
            attribution: Some(ATTRIBUTION_PARIS.into()),
            ..MapOptions::default()
        };
        let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend(7), &options);
        check_xml(&svg).unwrap();
        assert_eq!(count(&svg, "<path "), 896);
        assert!(svg.contains("Ville de Paris (ODbL 1.0)"));
        eprintln!("Paris bureaux: {} bytes", svg.len());
    }

    #[test]
    fn small_maps_get_labels_inside_their_zones() {
        let zones = load_shipped("communes-93").unwrap();
        let values = random_values(&zones, 4, 1000);
        let options = MapOptions { labels: true, ..MapOptions::default() };
        let svg = render_svg(&Layer { zones: &zones, values: &values }, &legend(4), &options);
        check_xml(&svg).unwrap();
        // Overlapping labels of small communes are left out.
        assert!((30..39).contains(&count(&svg, "dy=\"0.35em\"")), "{}", count(&svg, "dy=\"0.35em\""));
        assert!(svg.contains(">Saint-Denis</text>"));
        assert!(svg.contains("pointer-events=\"none\""));
    }

    #[test]
    fn label_points_are_interior() {
        for key in ["departements", "communes-69"] {
            let zones = load_shipped(key).unwrap();
            let points = label_points(&zones);
            assert_eq!(points.len(), zones.len());
            for (zone, (code, point)) in zones.iter().zip(&points) {
                assert_eq!(&zone.code, code);
                let inside = zone.rings.iter().any(|polygon| signed_distance(*point, polygon) > 0.0);
                assert!(inside, "{key} {code} {point:?}");
            }
        }
        // A U shape: the centroid is outside, the label point is not.
        let u =
            vec![vec![(0.0, 0.0), (3.0, 0.0), (3.0, 3.0), (2.0, 3.0), (2.0, 1.0), (1.0, 1.0), (1.0, 3.0), (0.0, 3.0)]];
        let (x, y) = pole_of_inaccessibility(&u);
        assert!(signed_distance((x, y), &u) > 0.3, "{x} {y}");
    }

    #[test]
    fn overseas_insets_fit_in_the_metropolitan_extent() {
        let zones = load_shipped("circonscriptions").unwrap();
        let insets = inset_overseas(&zones);
        assert_eq!(insets.zones.len(), zones.len());
        assert_eq!(insets.frames.len(), 10);
        let (min_lon, min_lat, max_lon, max_lat) =
            bounds(zones.iter().filter(|z| !z.code.starts_with('9')).flat_map(Zone::points)).unwrap();
        for zone in &insets.zones {
            for (lon, lat) in zone.points() {
                assert!((min_lon..=max_lon).contains(&lon) && (min_lat..=max_lat).contains(&lat), "{}", zone.code);
            }
        }
        // The boxes stay in the sea west of the Landes coast (lon ≈ -1.3).
        assert!(insets.frames.iter().all(|f| f.max.0 < -1.8 && f.max.1 < 46.0), "{:?}", insets.frames);
        let values = random_values(&insets.zones, 5, 50);
        let options = MapOptions { frames: insets.frames.clone(), ..MapOptions::default() };
        let svg = render_svg(&Layer { zones: &insets.zones, values: &values }, &legend(5), &options);
        check_xml(&svg).unwrap();
        assert_eq!(count(&svg, "<path "), 566);
        assert_eq!(count(&svg, "<rect x="), 10 + 6, "frames + legend swatches");
        // Without overseas zones nothing moves.
        let communes = load_shipped("communes-69").unwrap();
        assert_eq!(inset_overseas(&communes).zones, communes);
    }
}
