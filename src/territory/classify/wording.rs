//! French number formatting and the plain-French explanation of an assessment.

use std::fmt::Write as _;

use super::{Assessment, Level, ZoneClass};

/// Narrow no-break space: French thousands separator and space before `%`.
const NNBSP: char = '\u{202f}';

/// "41,2 %" (one decimal, comma, narrow no-break space).
pub fn format_percent(share: f64) -> String {
    let mut out = String::new();
    push_percent(&mut out, share);
    out
}

/// "+4,1 points", "−2,0 points", "0,0 point".
pub fn format_points(delta: f64) -> String {
    let mut out = String::new();
    push_points(&mut out, delta, true);
    out
}

/// "12 345" with narrow no-break spaces between thousands.
pub fn format_count(n: u64) -> String {
    let mut out = String::new();
    push_count(&mut out, n);
    out
}

/// One decimal with a comma: 41.25 → "41,3" (−0.04 shows as "0,0").
fn push_decimal(out: &mut String, x: f64) {
    let tenths = (x * 10.0).round() as i64;
    if tenths < 0 {
        out.push('−');
    }
    let tenths = tenths.unsigned_abs();
    let _ = write!(out, "{},{}", tenths / 10, tenths % 10);
}

fn push_percent(out: &mut String, share: f64) {
    push_decimal(out, share * 100.0);
    out.push(NNBSP);
    out.push('%');
}

/// Points with their sign ("+4,1 points", "−2,0 points") or without it.
fn push_points(out: &mut String, delta: f64, signed: bool) {
    let rounded = (delta * 1000.0).round() / 10.0;
    if signed && rounded > 0.0 {
        out.push('+');
    } else if signed && rounded < 0.0 {
        out.push('−');
    }
    push_decimal(out, rounded.abs());
    out.push_str(if rounded.abs() >= 2.0 { " points" } else { " point" });
}

fn push_count(out: &mut String, n: u64) {
    let digits = n.to_string();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NNBSP);
        }
        out.push(c);
    }
}

/// Plain-French explanation of an assessment, e.g. « Abstention mobilisable : l'abstention dépasse de 14,0 points
/// celle du département… Abstention 41,0 % (département 27,0 %), gauche 58,3 % des exprimés… ».
pub fn explain(level: Level, a: &Assessment, departement_abstention: f64, previous_label: &str) -> String {
    let s = &a.shares;
    let gap = (s.left - s.right).abs();
    let mut out = String::with_capacity(420);
    out.push_str(a.class.label());
    out.push_str(" : ");
    match a.class {
        ZoneClass::Abstention => {
            out.push_str("l'abstention dépasse de ");
            push_points(&mut out, a.abstention_gap, false);
            out.push_str(" celle du département et la gauche fait ");
            push_percent(&mut out, s.left);
            out.push_str(" des exprimés.");
        }
        ZoneClass::Hesitant => {
            if a.close {
                out.push_str("gauche et droite à ");
                push_points(&mut out, gap, false);
                out.push_str(" d'écart");
            }
            if a.volatile
                && let Some(d) = a.delta
            {
                out.push_str(if a.close { ", vote volatil (gauche " } else { "vote volatil (gauche " });
                push_points(&mut out, d.left, true);
                out.push(')');
            }
            out.push('.');
        }
        ZoneClass::AcquisGauche => {
            out.push_str("la gauche devance la droite de ");
            push_points(&mut out, gap, false);
            out.push('.');
        }
        ZoneClass::AcquisDroite => {
            out.push_str("la droite devance la gauche de ");
            push_points(&mut out, gap, false);
            out.push('.');
        }
    }
    out.push_str(" Abstention ");
    push_percent(&mut out, s.abstention);
    out.push_str(" (département ");
    push_percent(&mut out, departement_abstention);
    out.push_str("), gauche ");
    push_percent(&mut out, s.left);
    out.push_str(" des exprimés, droite ");
    push_percent(&mut out, s.right);
    out.push_str(" (dont extrême droite ");
    push_percent(&mut out, s.extreme_droite);
    out.push_str(").");
    match a.delta {
        Some(d) => {
            let _ = write!(out, " Depuis {previous_label} : gauche ");
            push_points(&mut out, d.left, true);
            out.push_str(", droite ");
            push_points(&mut out, d.right, true);
            out.push_str(", abstention ");
            push_points(&mut out, d.abstention, true);
            out.push('.');
        }
        None => {
            let _ = write!(
                out,
                " {} de l'élection précédente ({previous_label}) : classement sur la seule élection de référence, \
                 sans évolution.",
                level.absent()
            );
        }
    }
    let (mobilisable, persuadable) = (a.mobilisable.round() as u64, a.persuadable.round() as u64);
    out.push_str(" Électeurs à gagner : environ ");
    push_count(&mut out, mobilisable + persuadable);
    out.push_str(" (");
    push_count(&mut out, mobilisable);
    out.push_str(if mobilisable > 1 { " abstentionnistes mobilisables, " } else { " abstentionniste mobilisable, " });
    push_count(&mut out, persuadable);
    out.push_str(if persuadable > 1 { " hésitants persuadables)." } else { " hésitant persuadable)." });
    out
}
