//! Tests of the campaign analytics: counts, rates, series, heat map and CSV export.

use super::*;

/// A small well-formedness check: tags balance, attributes are quoted, text and attributes only use the
/// five XML entities.
fn assert_well_formed(xml: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = xml;
    let check_text = |t: &str| {
        for (i, _) in t.match_indices('&') {
            let after = &t[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| after.starts_with(e)),
                "bare & in {t:?}"
            );
        }
    };
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt]);
        let gt = lt + rest[lt..].find('>').expect("unclosed tag");
        let tag = &rest[lt + 1..gt];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
        check_text(tag);
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else {
            let name = tag.trim_end_matches('/').split_whitespace().next().expect("tag name").to_string();
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "tag name {name}");
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[gt + 1..];
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

#[test]
fn the_checker_catches_broken_xml() {
    assert!(std::panic::catch_unwind(|| assert_well_formed("<svg><g></svg>")).is_err());
    assert!(std::panic::catch_unwind(|| assert_well_formed("<svg>a & b</svg>")).is_err());
    assert_well_formed("<svg><g a=\"1\"/><text>a &amp; b</text></svg>");
}

#[test]
fn heat_map_has_one_rect_per_cell_and_is_well_formed() {
    let mut grid = [[0i64; 24]; 7];
    grid[1][18] = 12;
    grid[4][9] = 3;
    let svg = heat_map_svg("hm", "Meilleur <moment> & \"heure\"", "Ouvertures", &grid, "ouvertures & clics");
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<rect class=\"heat-cell\"").count(), 7 * 24);
    assert!(svg.contains("role=\"img\"") && svg.contains("aria-labelledby=\"hm-title hm-desc\""));
    assert!(svg.contains("Meilleur &lt;moment&gt; &amp; &quot;heure&quot;"));
    assert!(svg.contains(&format!(
        "fill=\"{}\" stroke=\"#ffffff\" stroke-width=\"1\"><title>mardi 18 h – 19 h : 12 ",
        HEAT_COLORS[4]
    )));
    assert!(!svg.contains("style="));
    assert_eq!(best_slot(&grid), Some((1, 18, 12)));
    assert_eq!(best_slot(&[[0; 24]; 7]), None);
}

#[test]
fn charts_are_well_formed_without_inline_styles() {
    let opens = [0, 5, 12, 3];
    let clicks = [0, 1, 4, 0];
    let svg = line_chart(
        "series",
        "Ouvertures & clics",
        "Par heure",
        1_768_478_400,
        3600,
        &[
            Line { name: "Ouvertures", color: "#1b3a6b", dash: None, values: &opens },
            Line { name: "Clics", color: "#d62839", dash: Some("6 4"), values: &clicks },
        ],
    );
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains("<title id=\"series-title\">Ouvertures &amp; clics</title>"));
    assert!(svg.contains("15/01 13 h"), "x labels in Paris time: {svg}");
    assert!(!svg.contains("style="));
    let empty = line_chart("e", "Vide", "Rien", 0, 3600, &[Line { name: "x", color: "#000", dash: None, values: &[] }]);
    assert_well_formed(&empty);
    let single =
        line_chart("s", "Un point", "", 0, 3600, &[Line { name: "x", color: "#000", dash: None, values: &[4] }]);
    assert_well_formed(&single);

    let bars = vec![
        Bar { label: "01/03".into(), tooltip: "Lettre <mars>".into(), value: Some(0.42) },
        Bar { label: "01/04".into(), tooltip: "Avril & co".into(), value: None },
    ];
    let svg = bar_chart("trend", "Taux d'ouverture", "Dernières lettres", &bars);
    assert_well_formed(&svg);
    assert_eq!(svg.matches("<rect class=\"chart-bar\"").count(), 1);
    assert!(svg.contains("42,0\u{202f}%"));
    assert!(!svg.contains("style="));
}

#[test]
fn axis_maxima_are_round() {
    assert_eq!(nice_max(0), 4);
    assert_eq!(nice_max(3), 4);
    assert_eq!(nice_max(7), 8);
    assert_eq!(nice_max(12), 20);
    assert_eq!(nice_max(130), 200);
    assert_eq!(nice_max(1000), 1000);
    assert_eq!(nice_max(90), 100);
}

#[test]
fn rates_follow_the_documented_definitions() {
    let f = Figures {
        recipients: 5,
        sent: 5,
        tracked_sent: 3,
        bounced: 1,
        opens: 6,
        unique_opens: 2,
        clicks: 3,
        unique_clicks: 1,
        unsubscribes: 1,
        ..Figures::default()
    };
    assert_eq!(f.delivered(), 4);
    assert_eq!(percent(f.open_rate()), "66,7\u{202f}%");
    assert_eq!(percent(f.click_rate()), "33,3\u{202f}%");
    assert_eq!(percent(f.click_to_open()), "50,0\u{202f}%");
    assert_eq!(percent(f.unsubscribe_rate()), "25,0\u{202f}%");
    assert_eq!(percent(Figures::default().open_rate()), "—");
}

#[test]
fn paris_time_round_trips() {
    // Winter: 13:00 in Paris is 12:00 UTC; summer: 14:00 in Paris is 12:00 UTC.
    assert_eq!(parse_paris("2026-01-15", "13:00"), Some(1_768_478_400));
    assert_eq!(parse_paris("2026-07-15", "14:00"), Some(1_784_116_800));
    // Skipped hour (29 March 2026, 02:30 does not exist): read as winter time, 01:30 UTC.
    assert_eq!(parse_paris("2026-03-29", "02:30"), Some(1_774_747_800));
    // Repeated hour (25 October 2026, 02:30 happens twice): the first one, 00:30 UTC.
    assert_eq!(parse_paris("2026-10-25", "02:30"), Some(1_792_888_200));
    assert_eq!(parse_paris("2026-13-01", "10:00"), None);
    assert_eq!(parse_paris("2026-01-15", "25:00"), None);
    // 2026-01-15 was a Thursday; 12:00 UTC is 13 h in Paris.
    assert_eq!(paris_weekday_hour(1_768_478_400), (3, 13));
    // 2026-07-13 (Monday) 22:30 UTC is Tuesday 00:30 in Paris.
    assert_eq!(paris_weekday_hour(1_783_981_800), (1, 0));
}

#[test]
fn hourly_series_starts_with_the_campaign() {
    let start = 1_768_478_400 + 1800; // 12:30 UTC
    let h0 = 1_768_478_400 / 3600;
    let rows = vec![
        (h0, "open".to_string(), 3),
        (h0 + 2, "open".to_string(), 1),
        (h0 + 2, "click".to_string(), 2),
        (h0 - 5, "open".to_string(), 1),
    ];
    let s = hourly_series(&rows, Some(start));
    assert_eq!(s.start, h0 * 3600);
    assert_eq!(s.opens, vec![4, 0, 1]);
    assert_eq!(s.clicks, vec![0, 0, 2]);
    assert!(!s.truncated);
    let far = vec![(h0 + MAX_HOURS as i64 + 3, "open".to_string(), 1)];
    let s = hourly_series(&far, Some(start));
    assert_eq!(s.opens.len(), MAX_HOURS);
    assert!(s.truncated);
    assert_eq!(hourly_series(&[], None), Hourly::default());
}

#[test]
fn heat_grid_uses_paris_weekdays_and_hours() {
    // Thursday 2026-01-15 12:00 UTC = 13 h in Paris.
    let grid = heat_grid(&[(1_768_478_400 / 3600, 5), (1_768_478_400 / 3600, 0)]);
    assert_eq!(grid[3][13], 5);
    assert_eq!(grid.iter().flatten().sum::<i64>(), 5);
}

#[test]
fn csv_exports_neutralise_formulas() {
    let f = Figures { recipients: 2, sent: 2, tracked_sent: 2, opens: 3, unique_opens: 1, ..Figures::default() };
    let links = vec![LinkClicks { idx: 0, url: "https://example.org/a;b".into(), clicks: 4 }];
    let csv = campaign_csv("=HYPERLINK(\"x\")", &f, &links, &Hourly::default());
    assert!(csv.starts_with('\u{feff}'));
    assert!(csv.contains("Lettre;\"'=HYPERLINK(\"\"x\"\")\""));
    assert!(csv.contains("Taux d'ouverture (%);50,0\r\n"));
    assert!(csv.contains("1;\"https://example.org/a;b\";4\r\n"));
}
