use super::*;

#[test]
fn presidential_2017_candidates() {
    for (label, bloc) in [
        ("MÉLENCHON", Bloc::Gauche),
        ("MÉLENCHON Jean-Luc", Bloc::Gauche),
        ("HAMON", Bloc::Gauche),
        ("POUTOU", Bloc::Gauche),
        ("ARTHAUD Nathalie", Bloc::Gauche),
        ("MACRON", Bloc::Centre),
        ("FILLON", Bloc::Droite),
        ("DUPONT-AIGNAN Nicolas", Bloc::Droite),
        ("LE PEN", Bloc::ExtremeDroite),
        ("LE PEN Marine", Bloc::ExtremeDroite),
        ("ASSELINEAU", Bloc::Autre),
        ("CHEMINADE", Bloc::Autre),
        ("LASSALLE Jean", Bloc::Autre),
        ("HAMONIC Pierre", Bloc::Autre),
    ] {
        assert_eq!(default_bloc(label, None), bloc, "{label}");
    }
}

#[test]
fn nuances_win_over_names() {
    assert_eq!(default_bloc("FI", Some("FI")), Bloc::Gauche);
    assert_eq!(default_bloc("REM", Some("REM")), Bloc::Centre);
    assert_eq!(default_bloc("UDI", Some("UDI")), Bloc::Centre);
    assert_eq!(default_bloc("DLF", Some("DLF")), Bloc::ExtremeDroite);
    assert_eq!(default_bloc("REG", Some("REG")), Bloc::Autre);
    assert_eq!(default_bloc("CADALEN Pierre-Yves", Some("UG")), Bloc::Gauche);
    assert_eq!(default_bloc("BRÉHIER Tristan", Some("ENS")), Bloc::Centre);
    assert_eq!(default_bloc("KERVELLA Denis", Some("RN")), Bloc::ExtremeDroite);
    assert_eq!(default_bloc("X", Some("UXD")), Bloc::ExtremeDroite);
    // An unknown nuance falls back to the name.
    assert_eq!(default_bloc("MACRON Emmanuel", Some("XYZ")), Bloc::Centre);
}

#[test]
fn european_lists_2019() {
    assert_eq!(default_bloc("LA FRANCE INSOUMISE", None), Bloc::Gauche);
    assert_eq!(default_bloc("EUROPE ÉCOLOGIE", None), Bloc::Gauche);
    assert_eq!(default_bloc("LUTTE OUVRIÈRE", None), Bloc::Gauche);
    assert_eq!(default_bloc("RENAISSANCE", None), Bloc::Centre);
    assert_eq!(default_bloc("UNION DROITE-CENTRE", None), Bloc::Droite);
    assert_eq!(default_bloc("PRENEZ LE POUVOIR", None), Bloc::ExtremeDroite);
    assert_eq!(default_bloc("ENSEMBLE POUR LE FREXIT", None), Bloc::Autre);
    assert_eq!(default_bloc("PARTI ANIMALISTE", None), Bloc::Autre);
}

#[test]
fn kinds_and_keys() {
    assert_eq!(ElectionKind::parse("Présidentielle"), Some(ElectionKind::Presidentielle));
    assert_eq!(ElectionKind::parse("europeennes"), Some(ElectionKind::Europeennes));
    assert_eq!(ElectionKind::parse("cantonales"), None);
    let info = |key: &str| ElectionInfo {
        key: key.into(),
        label: "x".into(),
        kind: ElectionKind::Autre,
        round: 1,
        year: 2017,
        source_file: String::new(),
    };
    assert!(info("pres2017t1").check().is_ok());
    assert!(info("Pres 2017").check().is_err());
    assert!(info("").check().is_err());
    assert_eq!(bureau_key("69123", "0101"), "69123-0101");
}

#[test]
fn lines_are_counted_in_plain_and_gzip_files() {
    use std::io::Write;
    let text = b"a,b\n1,2\n3,4";
    assert_eq!(count_lines(text), 3);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"a,b\n1,2\n").unwrap();
    assert_eq!(count_lines(&gz.finish().unwrap()), 2);
}
