//! Helpers shared by the field pages: reading submitted form pairs, Paris local times, mission dates, choices.

use crate::error::Error;
use crate::field::Method;
use crate::field::missions::Mission;
use crate::web::pages::format_time;

pub(super) type Pairs = Vec<(String, String)>;

pub(super) fn values<'a>(pairs: &'a Pairs, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

pub(super) fn first<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.trim()).unwrap_or("")
}

pub(super) fn number(pairs: &Pairs, key: &str, label: &str) -> Result<i64, Error> {
    let v = first(pairs, key);
    if v.is_empty() {
        return Ok(0);
    }
    v.parse().map_err(|_| Error::Invalid(format!("{label} : un nombre entier.")))
}

pub(super) fn opt_id(pairs: &Pairs, key: &str, label: &str) -> Result<Option<i64>, Error> {
    match first(pairs, key) {
        "" => Ok(None),
        v => v.parse().map(Some).map_err(|_| Error::Invalid(format!("{label} : choix invalide."))),
    }
}

pub(super) fn ids(pairs: &Pairs, key: &str) -> Result<Vec<i64>, Error> {
    values(pairs, key).map(|v| v.parse().map_err(|_| Error::Invalid("Choix invalide.".into()))).collect()
}

/// "2026-11-28T10:00" (Paris time, from a datetime-local input) → unix seconds.
pub fn parse_local(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let naive = time::PrimitiveDateTime::parse(s.trim(), &fmt).ok()?.assume_utc().unix_timestamp();
    Some(naive - crate::paris::offset(naive - 3_600))
}

/// Unix seconds → "2026-11-28T10:00" in Paris time, for datetime-local inputs.
pub(super) fn local_input(unix: i64) -> String {
    if unix == 0 {
        return String::new();
    }
    let local = time::OffsetDateTime::from_unix_timestamp(unix + crate::paris::offset(unix))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    local.format(&fmt).unwrap_or_default()
}

/// "samedi 28/11/2026 10:00 – 13:00".
pub(super) fn when(m: &Mission) -> String {
    let start = format_time(m.starts_at);
    let end = format_time(m.ends_at);
    let same_day = start.get(..10) == end.get(..10);
    let weekday = time::OffsetDateTime::from_unix_timestamp(m.starts_at + crate::paris::offset(m.starts_at))
        .map(|t| match t.weekday() {
            time::Weekday::Monday => "lundi",
            time::Weekday::Tuesday => "mardi",
            time::Weekday::Wednesday => "mercredi",
            time::Weekday::Thursday => "jeudi",
            time::Weekday::Friday => "vendredi",
            time::Weekday::Saturday => "samedi",
            time::Weekday::Sunday => "dimanche",
        })
        .unwrap_or("");
    if same_day {
        format!("{weekday} {start} – {}", end.get(11..).unwrap_or(""))
    } else {
        format!("{weekday} {start} – {end}")
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub(super) fn method_choices(selected: &str) -> Vec<Choice> {
    Method::ALL
        .iter()
        .map(|m| Choice { value: m.as_str().into(), label: m.label().into(), selected: m.as_str() == selected })
        .collect()
}
