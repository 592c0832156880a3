//! Tests of the shared helpers: Paris time, French integer grouping.

#[test]
fn times_are_shown_in_paris_time() {
    // 2026-01-15 12:00 UTC is 13:00 in winter; 2026-07-15 12:00 UTC is 14:00 in summer.
    assert_eq!(super::format_time(1_768_478_400), "15/01/2026 13:00");
    assert_eq!(super::format_time(1_784_116_800), "15/07/2026 14:00");
    // The switch: 2026-03-29 01:00 UTC (02:00 CET becomes 03:00 CEST).
    assert_eq!(super::format_time(1_774_745_999), "29/03/2026 01:59");
    assert_eq!(super::format_time(1_774_746_000), "29/03/2026 03:00");
}

#[test]
fn integers_are_grouped_the_french_way() {
    assert_eq!(super::format_int(1_914_667), "1\u{202f}914\u{202f}667");
    assert_eq!(super::format_int(266), "266");
    assert_eq!(super::format_int(-1000), "-1\u{202f}000");
}
