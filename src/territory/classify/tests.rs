//! Unit tests of the shares, classes, priority score, French formatting, explanations and thresholds.

use super::*;

fn tally(inscrits: u64, votants: u64, exprimes: u64, gauche: u64, droite: u64, extreme_droite: u64) -> Tally {
    Tally { inscrits, votants, exprimes, gauche, centre: 0, droite, extreme_droite }
}

#[test]
fn shares_and_their_changes() {
    let t = tally(1000, 600, 580, 290, 100, 74);
    let s = t.shares();
    assert!((s.left - 0.5).abs() < 1e-12);
    assert!((s.right - 0.3).abs() < 1e-12);
    assert!((s.extreme_droite - 74.0 / 580.0).abs() < 1e-12);
    assert!((s.abstention - 0.4).abs() < 1e-12);
    assert_eq!(Tally::default().shares(), Shares::default());
    let a = assess(&t, Some(&tally(1000, 700, 680, 272, 204, 0)), 0.3, &Thresholds::default());
    let d = a.delta.unwrap();
    assert!((d.left - 0.1).abs() < 1e-12);
    assert!((d.right - 0.0).abs() < 1e-12);
    assert!((d.abstention - 0.1).abs() < 1e-12);
}

#[test]
fn classes_follow_their_order() {
    let t = Thresholds::default();
    // Abstention 40 % in a département at 30 %, left 50 %: mobilisable.
    let mobilisable = tally(1000, 600, 580, 290, 174, 0);
    assert_eq!(assess(&mobilisable, None, 0.30, &t).class, ZoneClass::Abstention);
    // Same zone in a département at 36 %: only 4 points above, and left 50 % vs right 30 %.
    assert_eq!(assess(&mobilisable, None, 0.36, &t).class, ZoneClass::AcquisGauche);
    // Exactly at the gap is enough.
    assert_eq!(assess(&mobilisable, None, 0.35, &t).class, ZoneClass::Abstention);
    // High abstention but a weak left: not mobilisable for the party.
    let weak_left = tally(1000, 600, 600, 180, 300, 100);
    assert_eq!(assess(&weak_left, None, 0.20, &t).class, ZoneClass::AcquisDroite);
    // Close: |left − right| ≤ 5 points.
    let close = tally(1000, 800, 800, 300, 200, 140);
    assert_eq!(assess(&close, None, 0.2, &t).class, ZoneClass::Hesitant);
    // Volatile: the left moved by 6 points.
    let before = tally(1000, 800, 800, 400, 300, 0);
    let now = tally(1000, 800, 800, 448, 300, 0);
    let a = assess(&now, Some(&before), 0.2, &t);
    assert!(a.volatile && !a.close);
    assert_eq!(a.class, ZoneClass::Hesitant);
    // Without the previous election the same zone is acquired.
    assert_eq!(assess(&now, None, 0.2, &t).class, ZoneClass::AcquisGauche);
}

#[test]
fn priority_formula() {
    let t = Thresholds::default();
    // 400 abstentions × 50 % = 200; left 50 % vs right 30 %: gap 20 points = closeness_scale → no persuadable.
    let z = tally(1000, 600, 580, 290, 174, 0);
    let a = assess(&z, None, 0.3, &t);
    assert!((a.mobilisable - 200.0).abs() < 1e-9);
    assert!(a.persuadable.abs() < 1e-9);
    // Tied zone: 10 % of the 800 voters are persuadable.
    let tied = tally(1000, 800, 800, 300, 300, 0);
    let a = assess(&tied, None, 0.2, &t);
    assert!((a.persuadable - 80.0).abs() < 1e-9);
    assert!((a.priority - (200.0 * 0.375 + 80.0)).abs() < 1e-9);
    // 10 points apart: half of it.
    let s = Shares { left: 0.4, right: 0.3, ..Shares::default() };
    assert!((closeness_factor(&s, &t) - 0.05).abs() < 1e-12);
}

#[test]
fn french_number_formatting() {
    assert_eq!(format_percent(0.4123), "41,2\u{202f}%");
    assert_eq!(format_percent(0.27), "27,0\u{202f}%");
    assert_eq!(format_percent(1.0), "100,0\u{202f}%");
    assert_eq!(format_points(0.041), "+4,1 points");
    assert_eq!(format_points(-0.02), "−2,0 points");
    assert_eq!(format_points(0.015), "+1,5 point");
    assert_eq!(format_points(-0.0001), "0,0 point");
    assert_eq!(format_count(0), "0");
    assert_eq!(format_count(999), "999");
    assert_eq!(format_count(1234), "1\u{202f}234");
    assert_eq!(format_count(47_582_183), "47\u{202f}582\u{202f}183");
}

#[test]
fn explanations_are_plain_french() {
    let t = Thresholds::default();
    let z = tally(1000, 590, 580, 338, 174, 58);
    let a = assess(&z, Some(&tally(1000, 700, 690, 380, 200, 50)), 0.27, &t);
    assert_eq!(a.class, ZoneClass::Abstention);
    let text = explain(Level::Bureau, &a, 0.27, "Présidentielle 2017, 2d tour");
    assert!(
        text.starts_with(
            "Abstention mobilisable : l'abstention dépasse de 14,0 points celle du département et la gauche fait \
                 58,3\u{202f}% des exprimés. Abstention 41,0\u{202f}% (département 27,0\u{202f}%), gauche \
                 58,3\u{202f}% des exprimés, droite 40,0\u{202f}% (dont extrême droite 10,0\u{202f}%)."
        ),
        "{text}"
    );
    assert!(text.contains("Depuis Présidentielle 2017, 2d tour : gauche +3,2 points"), "{text}");
    let alone = explain(Level::Commune, &assess(&z, None, 0.27, &t), 0.27, "Européennes 2019");
    assert!(
        alone.contains("Commune absente de l'élection précédente (Européennes 2019) : classement sur la seule"),
        "{alone}"
    );
    let close = assess(&tally(1000, 800, 800, 300, 280, 0), None, 0.2, &t);
    let text = explain(Level::Bureau, &close, 0.2, "x");
    assert!(text.starts_with("Hésitant : gauche et droite à 2,5 points d'écart."), "{text}");
}

#[test]
fn thresholds_are_checked() {
    assert!(Thresholds::default().check().is_ok());
    assert!(Thresholds { volatility: 1.5, ..Thresholds::default() }.check().is_err());
    assert!(Thresholds { closeness_scale: 0.0, ..Thresholds::default() }.check().is_err());
    assert!(Thresholds { closeness: f64::NAN, ..Thresholds::default() }.check().is_err());
    // Missing fields take their default.
    let partial: Thresholds = serde_json::from_str(r#"{"volatility": 0.1}"#).unwrap();
    assert_eq!(partial, Thresholds { volatility: 0.1, ..Thresholds::default() });
}
