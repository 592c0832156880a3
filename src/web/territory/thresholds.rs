//! The classification thresholds as HQ's form shows and reads them (points and percents).

use super::views::capitalise;
use crate::territory::classify::Thresholds;

/// A threshold as the form shows it: in points or percent (the settings store fractions).
pub struct ThresholdField {
    pub name: &'static str,
    pub label: &'static str,
    pub help: &'static str,
    pub value: String,
}

pub(super) const THRESHOLD_FIELDS: [(&str, &str, &str); 6] = [
    (
        "volatility",
        "Volatilité (points)",
        "Une zone dont la part de la gauche a bougé d'au moins autant entre les deux élections est hésitante.",
    ),
    ("closeness", "Écart serré (points)", "Gauche et droite à au plus autant d'écart : la zone est hésitante."),
    (
        "abstention_gap",
        "Surcroît d'abstention (points)",
        "Foyer d'abstention : abstention supérieure d'au moins autant à celle du département…",
    ),
    ("abstention_left_min", "Part minimale de la gauche (%)", "… et gauche à au moins autant des exprimés."),
    (
        "persuadable_share",
        "Électeurs persuadables d'une zone à égalité (%)",
        "Part des votants d'une zone où gauche et droite sont à égalité comptés comme persuadables dans la priorité.",
    ),
    (
        "closeness_scale",
        "Écart sans persuadables (points)",
        "À partir de cet écart entre gauche et droite, plus aucun votant n'est compté persuadable.",
    ),
];

pub(super) fn threshold_values(t: &Thresholds) -> [f64; 6] {
    [t.volatility, t.closeness, t.abstention_gap, t.abstention_left_min, t.persuadable_share, t.closeness_scale]
}

/// 0.05 → "5", 0.025 → "2,5".
pub(super) fn as_points(x: f64) -> String {
    let text = format!("{:.2}", x * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').replace('.', ",")
}

pub(super) fn threshold_fields(values: &[String; 6]) -> Vec<ThresholdField> {
    THRESHOLD_FIELDS
        .iter()
        .zip(values)
        .map(|((name, label, help), value)| ThresholdField { name, label, help, value: value.clone() })
        .collect()
}

/// Reads the form (points and percents, decimal comma or point) into thresholds; French message on bad input.
pub(super) fn parse_thresholds(form: &[(String, String)]) -> Result<Thresholds, String> {
    let mut values = [0.0; 6];
    for (i, (name, label, _)) in THRESHOLD_FIELDS.iter().enumerate() {
        let raw = form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim()).unwrap_or("");
        let number: f64 = raw
            .replace(',', ".")
            .replace(['\u{202f}', '\u{a0}', ' '], "")
            .parse()
            .map_err(|_| format!("« {label} » : un nombre est attendu (par exemple 5 ou 2,5)."))?;
        if !number.is_finite() || !(0.0..=100.0).contains(&number) {
            return Err(format!("« {label} » : entre 0 et 100."));
        }
        values[i] = number / 100.0;
    }
    let t = Thresholds {
        volatility: values[0],
        closeness: values[1],
        abstention_gap: values[2],
        abstention_left_min: values[3],
        persuadable_share: values[4],
        closeness_scale: values[5],
    };
    t.check().map_err(|m| format!("{} ; rien n'a été changé.", capitalise(&m)))?;
    Ok(t)
}
