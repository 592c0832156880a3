//! Unit tests of zone names, pages and arrondissements.

use super::info::{CommuneRow, arrondissement_of};
use super::*;

#[test]
fn circonscriptions_are_named_the_french_way() {
    assert_eq!(circonscription_name("Rhône", "69-02"), "Rhône, 2e circonscription");
    assert_eq!(circonscription_name("Ain", "01-01"), "Ain, 1re circonscription");
    assert_eq!(circonscription_name("Guadeloupe", "971-04"), "Guadeloupe, 4e circonscription");
    assert_eq!(circonscription_name("X", "bad"), "Circonscription bad");
    assert_eq!(page_path(Level::Bureau, "69123-0101"), "/territoire/bureaux/69123-0101");
    assert_eq!(departement_path("2A"), "/territoire/departements/2A");
}

#[test]
fn arrondissements_map_to_their_commune_and_bureau_prefix() {
    let row = |code: &str, kind: &str, parent: Option<&str>| CommuneRow {
        code: code.into(),
        name: String::new(),
        kind: kind.into(),
        departement_code: String::new(),
        parent_code: parent.map(Into::into),
        federation_id: None,
    };
    assert_eq!(
        arrondissement_of(&row("75101", "arrondissement-municipal", Some("75056"))),
        Some(("75056".into(), "01".into()))
    );
    assert_eq!(
        arrondissement_of(&row("13216", "arrondissement-municipal", Some("13055"))),
        Some(("13055".into(), "16".into()))
    );
    assert_eq!(arrondissement_of(&row("69259", "commune-actuelle", None)), None);
}
