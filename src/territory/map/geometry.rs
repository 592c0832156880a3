//! Geometry: the map projection, interior label points (pole of inaccessibility) and the overseas insets.

use std::collections::{BTreeMap, BinaryHeap};

use super::{Frame, Zone};

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
    pub(super) fn project_tenths(&self, point: (f64, f64)) -> (i64, i64) {
        let (x, y) = self.project(point);
        ((x * 10.0).round() as i64, (y * 10.0).round() as i64)
    }
}

pub(super) fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Option<(f64, f64, f64, f64)> {
    points.fold(None, |acc, (x, y)| {
        Some(match acc {
            None => (x, y, x, y),
            Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
        })
    })
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

pub(super) fn ring_area(ring: &[(f64, f64)]) -> f64 {
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
pub(super) fn pole_of_inaccessibility(polygon: &[Vec<(f64, f64)>]) -> (f64, f64) {
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
pub(super) fn signed_distance(point: (f64, f64), polygon: &[Vec<(f64, f64)>]) -> f64 {
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
///
/// [`MapOptions::frames`]: super::MapOptions::frames
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
