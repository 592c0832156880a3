//! Paris local time (the UI shows and reads times in Europe/Paris), without a time-zone database.

/// Offset of Paris from UTC at a Unix time: CET (+1 h), or CEST (+2 h) from the last Sunday of March 01:00 UTC
/// to the last Sunday of October 01:00 UTC (EU rule since 1996).
pub fn offset(unix: i64) -> i64 {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else { return 3600 };
    let last_sunday = |month: time::Month| -> Option<time::OffsetDateTime> {
        let first_next = if month == time::Month::December {
            time::Date::from_calendar_date(t.year() + 1, time::Month::January, 1)
        } else {
            time::Date::from_calendar_date(t.year(), month.next(), 1)
        }
        .ok()?;
        let last = first_next.previous_day()?;
        let back = last.weekday().number_days_from_sunday() as i64;
        Some((last - time::Duration::days(back)).with_hms(1, 0, 0).ok()?.assume_utc())
    };
    match (last_sunday(time::Month::March), last_sunday(time::Month::October)) {
        (Some(start), Some(end)) if t >= start && t < end => 7200,
        _ => 3600,
    }
}
