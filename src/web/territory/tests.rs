//! Tests of the territory pages' helpers: thresholds form, query strings.

use super::thresholds::{THRESHOLD_FIELDS, as_points, parse_thresholds, threshold_values};
use super::views::href_with;
use crate::territory::classify::Thresholds;

fn form(values: [&str; 6]) -> Vec<(String, String)> {
    THRESHOLD_FIELDS.iter().zip(values).map(|((n, _, _), v)| (n.to_string(), v.to_string())).collect()
}

#[test]
fn thresholds_are_read_in_points() {
    let t = parse_thresholds(&form(["5", "2,5", "5", "35", "10", "20"])).unwrap();
    assert!((t.closeness - 0.025).abs() < 1e-12 && (t.abstention_left_min - 0.35).abs() < 1e-12);
    assert_eq!(threshold_values(&Thresholds::default()).map(as_points), ["5", "5", "5", "35", "10", "20"]);
    assert_eq!(as_points(0.025), "2,5");
    let err = parse_thresholds(&form(["5", "abc", "5", "35", "10", "20"])).unwrap_err();
    assert!(err.contains("Écart serré") && err.contains("nombre"), "{err}");
    assert!(parse_thresholds(&form(["150", "5", "5", "35", "10", "20"])).unwrap_err().contains("entre 0 et 100"));
    // The domain's own check: no persuadable scale.
    let err = parse_thresholds(&form(["5", "5", "5", "35", "10", "0"])).unwrap_err();
    assert!(err.contains("positif") && err.contains("rien n'a été changé"), "{err}");
}

#[test]
fn query_strings_drop_empty_values() {
    assert_eq!(href_with("/t", &[("carte", "".into()), ("page", "2".into())]), "/t?page=2");
    assert_eq!(href_with("/t", &[("classe", "".into())]), "/t");
}
