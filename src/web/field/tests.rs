//! Unit tests of the field pages' helpers: local times and the commune field.

use super::forms::{local_input, parse_local};
use super::profile::commune_code;

#[test]
fn local_times_round_trip_in_paris_time() {
    // 28 November: UTC+1; 1 July: UTC+2.
    let winter = parse_local("2026-11-28T10:00").unwrap();
    assert_eq!(winter, 1_795_856_400);
    assert_eq!(local_input(winter), "2026-11-28T10:00");
    let summer = parse_local("2026-07-01T10:00").unwrap();
    assert_eq!(local_input(summer), "2026-07-01T10:00");
    assert!(parse_local("28/11/2026").is_none());
}

#[test]
fn commune_field_accepts_code_or_name_with_code() {
    assert_eq!(commune_code("Vénissieux (69259)"), "69259");
    assert_eq!(commune_code(" 69259 "), "69259");
}
