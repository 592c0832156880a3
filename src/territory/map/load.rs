//! Reading contours: GeoJSON FeatureCollections (plain or gzip) into zones, and the layers shipped in `data/geo/`.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};

use super::{Polygon, Zone};

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
