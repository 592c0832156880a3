//! Tests of the choropleth maps: loading, SVG output, geometry, legends.

use std::collections::HashMap;

use super::geometry::{bounds, pole_of_inaccessibility, signed_distance};
use super::legend::{oklab, parse_colour};
use super::svg::{MARGIN, path_data, write_ring};
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
            return if rest.trim().is_empty() && stack.is_empty() { Ok(()) } else { Err("texte hors racine".into()) };
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
            let category =
                if r.is_multiple_of(missing_every) { Category::Missing } else { Category::Class((r / 7) as usize % n) };
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
        d.split(|c: char| !(c.is_ascii_digit() || c == '.')).all(|n| n.split('.').nth(1).is_none_or(|f| f.len() <= 1))
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
        let d = svg.split("id=\"carte-12\"").nth(1).unwrap().split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
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
    let line =
        br#"{"features":[{"properties":{"code":"1"},"geometry":{"type":"LineString","coordinates":[[0,0],[1,1]]}}]}"#;
    let err = load_geojson(line, "code", "nom").unwrap_err().to_string();
    assert_eq!(err, "objet n° 1 (1) : géométrie « LineString » non prise en charge (Polygon ou MultiPolygon attendu)");
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
    let big = Zone { code: "b".into(), name: "b".into(), rings: vec![vec![vec![(0.0, 0.0), (1.0, 0.0), (0.0, 1.0)]]] };
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
    assert!(desc.contains("Zone de la mission : ") && desc.contains("Aubervilliers") && desc.contains("Saint-Denis"));
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
    let u = vec![vec![(0.0, 0.0), (3.0, 0.0), (3.0, 3.0), (2.0, 3.0), (2.0, 1.0), (1.0, 1.0), (1.0, 3.0), (0.0, 3.0)]];
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
