//! Socio-economic indicators as people read them: French labels and units of the Insee Filosofi codes, values
//! formatted the French way (`s`, the statistical secret, stored as NULL, reads « secret statistique »), and the
//! population-weighted mean used for zones made of several communes.
//!
//! Filosofi codes end with the two digits of the year of the data (`MED21` = median income in 2021): labels are
//! looked up on the code without them, so that the next vintage (`MED22`) needs no change here.

use super::classify::format_count;

/// How a value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A number of households or people.
    Count,
    /// Euros per year.
    Euros,
    /// Already a percentage in the file (16,0 = 16 %).
    Percent,
    /// A ratio (D9 / D1).
    Ratio,
}

/// A known Filosofi indicator: code without its year, French label, unit, and whether pages show it before the
/// details.
pub struct Definition {
    pub base: &'static str,
    pub label: &'static str,
    pub unit: Unit,
    pub main: bool,
}

const fn def(base: &'static str, label: &'static str, unit: Unit, main: bool) -> Definition {
    Definition { base, label, unit, main }
}

/// The indicators of the Filosofi "communes" file, in the order pages list them.
pub const FILOSOFI: &[Definition] = &[
    def("MED", "Revenu médian disponible par UC", Unit::Euros, true),
    def("TP60", "Taux de pauvreté (seuil à 60 % du revenu médian)", Unit::Percent, true),
    def("PIMP", "Part des ménages fiscaux imposés", Unit::Percent, true),
    def("D1", "1er décile du revenu disponible par UC", Unit::Euros, true),
    def("D9", "9e décile du revenu disponible par UC", Unit::Euros, true),
    def("RD", "Rapport interdécile (D9 / D1)", Unit::Ratio, true),
    def("PPSOC", "Part des prestations sociales dans le revenu", Unit::Percent, true),
    def("PPMINI", "Part des minima sociaux dans le revenu", Unit::Percent, true),
    def("PCHO", "Part des indemnités de chômage dans le revenu", Unit::Percent, true),
    def("PPEN", "Part des pensions et retraites dans le revenu", Unit::Percent, true),
    def("NBMENFISC", "Ménages fiscaux", Unit::Count, true),
    def("NBPERSMENFISC", "Personnes des ménages fiscaux", Unit::Count, false),
    def("TP60AGE1", "Taux de pauvreté, référent fiscal de moins de 30 ans", Unit::Percent, false),
    def("TP60AGE2", "Taux de pauvreté, référent de 30 à 39 ans", Unit::Percent, false),
    def("TP60AGE3", "Taux de pauvreté, référent de 40 à 49 ans", Unit::Percent, false),
    def("TP60AGE4", "Taux de pauvreté, référent de 50 à 59 ans", Unit::Percent, false),
    def("TP60AGE5", "Taux de pauvreté, référent de 60 à 74 ans", Unit::Percent, false),
    def("TP60AGE6", "Taux de pauvreté, référent de 75 ans ou plus", Unit::Percent, false),
    def("TP60TOL1", "Taux de pauvreté des propriétaires", Unit::Percent, false),
    def("TP60TOL2", "Taux de pauvreté des locataires", Unit::Percent, false),
    def("PACT", "Part des revenus d'activité", Unit::Percent, false),
    def("PTSA", "Part des salaires et traitements", Unit::Percent, false),
    def("PBEN", "Part des revenus des activités non salariées", Unit::Percent, false),
    def("PPAT", "Part des revenus du patrimoine", Unit::Percent, false),
    def("PPFAM", "Part des prestations familiales", Unit::Percent, false),
    def("PPLOGT", "Part des prestations logement", Unit::Percent, false),
    def("PIMPOT", "Part des impôts (négative)", Unit::Percent, false),
];

/// Label shown for a value under statistical secret or missing.
pub const SECRET: &str = "secret statistique";

/// The code without its year suffix, and the year ("MED21" → ("MED", Some(2021))).
pub fn split_year(code: &str) -> (&str, Option<u32>) {
    let n = code.len();
    if n > 2 && code.is_char_boundary(n - 2) && code[n - 2..].bytes().all(|b| b.is_ascii_digit()) {
        let year = 2000 + code[n - 2..].parse::<u32>().unwrap_or(0);
        (&code[..n - 2], Some(year))
    } else {
        (code, None)
    }
}

/// The definition of a code, with its place in [`FILOSOFI`].
pub fn definition(code: &str) -> Option<(usize, &'static Definition)> {
    let (base, _) = split_year(code);
    FILOSOFI.iter().enumerate().find(|(_, d)| d.base == base)
}

/// "Revenu médian disponible par UC (2021)"; an unknown code is its own label.
pub fn label(code: &str) -> String {
    match (definition(code), split_year(code).1) {
        (Some((_, d)), Some(year)) => format!("{} ({year})", d.label),
        (Some((_, d)), None) => d.label.to_string(),
        (None, _) => code.to_string(),
    }
}

/// The unit of a code (unknown codes read as plain numbers).
pub fn unit(code: &str) -> Option<Unit> {
    definition(code).map(|(_, d)| d.unit)
}

/// A value the French way: "25 430 €", "16,0 %", "3,4", "230 041"; [`SECRET`] for none.
pub fn format_value(value: Option<f64>, unit: Option<Unit>) -> String {
    let Some(v) = value.filter(|v| v.is_finite()) else { return SECRET.to_string() };
    let decimal = |v: f64| super::map::format_fr(v, 1);
    match unit {
        Some(Unit::Count) => format_count(v.round().max(0.0) as u64),
        Some(Unit::Euros) => format!("{}\u{202f}€", super::map::format_fr(v.round(), 0)),
        Some(Unit::Percent) => format!("{}\u{202f}%", decimal(v)),
        Some(Unit::Ratio) | None => decimal(v),
    }
}

/// Aggregate of one indicator over communes: counts add up, the others are averaged with the communes' weights
/// (their population) over the communes whose value is known; None when none is.
pub fn combine(unit: Option<Unit>, values: &[(Option<f64>, f64)]) -> Option<f64> {
    let known: Vec<(f64, f64)> =
        values.iter().filter_map(|(v, w)| v.filter(|v| v.is_finite()).map(|v| (v, *w))).collect();
    if known.is_empty() {
        return None;
    }
    if unit == Some(Unit::Count) {
        return Some(known.iter().map(|(v, _)| v).sum());
    }
    let weight: f64 = known.iter().map(|(_, w)| w.max(0.0)).sum();
    if weight <= 0.0 {
        return Some(known.iter().map(|(v, _)| v).sum::<f64>() / known.len() as f64);
    }
    Some(known.iter().map(|(v, w)| v * w.max(0.0)).sum::<f64>() / weight)
}

/// Order of codes on pages: known indicators in [`FILOSOFI`] order, then the others by code.
pub fn sort_key(code: &str) -> (usize, String) {
    (definition(code).map_or(usize::MAX, |(i, _)| i), code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_lose_their_year_for_labels() {
        assert_eq!(split_year("MED21"), ("MED", Some(2021)));
        assert_eq!(split_year("TP60AGE121"), ("TP60AGE1", Some(2021)));
        assert_eq!(split_year("D921"), ("D9", Some(2021)));
        assert_eq!(split_year("X"), ("X", None));
        assert_eq!(label("MED21"), "Revenu médian disponible par UC (2021)");
        assert_eq!(label("TP6021"), "Taux de pauvreté (seuil à 60 % du revenu médian) (2021)");
        assert_eq!(label("PIMPOT21"), "Part des impôts (négative) (2021)");
        assert_eq!(label("INCONNU"), "INCONNU");
        assert!(sort_key("MED21") < sort_key("TP6021") && sort_key("TP6021") < sort_key("ZZZ"));
    }

    #[test]
    fn values_read_the_french_way() {
        assert_eq!(format_value(Some(25430.0), unit("MED21")), "25\u{202f}430\u{202f}€");
        assert_eq!(format_value(Some(16.0), unit("TP6021")), "16,0\u{202f}%");
        assert_eq!(format_value(Some(-20.8), unit("PIMPOT21")), "-20,8\u{202f}%");
        assert_eq!(format_value(Some(230041.0), unit("NBMENFISC21")), "230\u{202f}041");
        assert_eq!(format_value(Some(3.4), unit("RD21")), "3,4");
        assert_eq!(format_value(None, unit("TP6021")), "secret statistique");
    }

    #[test]
    fn communes_combine_by_population() {
        // Rates: weighted mean of the known values; counts: sums; nothing known: secret.
        let rates = [(Some(10.0), 100.0), (Some(20.0), 300.0), (None, 1000.0)];
        assert!((combine(Some(Unit::Percent), &rates).unwrap() - 17.5).abs() < 1e-9);
        assert_eq!(combine(Some(Unit::Count), &[(Some(5.0), 1.0), (Some(7.0), 9.0), (None, 1.0)]), Some(12.0));
        assert_eq!(combine(Some(Unit::Euros), &[(None, 1.0)]), None);
        assert_eq!(combine(None, &[(Some(2.0), 0.0), (Some(4.0), 0.0)]), Some(3.0));
    }
}
