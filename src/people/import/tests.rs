//! Tests of the import: reference checks of a load, suppression, merging and deduplication.

use super::dedupe::Key;
use super::merge::Draft;
use super::validate::{Item, is_suppressed};
use super::*;
use crate::people::csv_import::Candidate;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_without_foreign_key_checks_finds_references_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
    db.migrate().await.unwrap();
    crate::seed::ensure_seeded(&db).await.unwrap();
    let mut conn = Link::direct(&db).unwrap().expect("a file");
    let federation: i64 = conn.int("SELECT MIN(id) FROM federations", &[]).await.unwrap().unwrap();
    let sql = "INSERT INTO sections (federation_id, name, created_at, updated_at) VALUES ($1, 'Centre', 0, 0)";
    conn.execute(sql, &[Arg::from(federation)]).await.unwrap();
    let section: i64 = conn.int("SELECT MIN(id) FROM sections", &[]).await.unwrap().unwrap();
    let skill: i64 = conn.int("SELECT MIN(id) FROM skills", &[]).await.unwrap().unwrap();
    let commune = conn.text("SELECT MIN(code) FROM communes", &[]).await.unwrap();
    let mut resolver = Resolver {
        federation_id: federation,
        suppression_mac: None,
        suppressed: HashSet::new(),
        communes: HashMap::from([("a".into(), Some(commune)), ("b".into(), None)]),
        sections: HashMap::from([("a".into(), Some(section)), ("b".into(), None)]),
        skills: HashMap::from([("x".into(), skill)]),
    };
    assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 0);
    assert_eq!(references_gone(&mut conn, &resolver, Some(987_654)).await.unwrap(), 1);
    resolver.skills.insert("gone".into(), 987_654);
    resolver.communes.insert("c".into(), Some("00000".into()));
    assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 2);
    resolver.federation_id = 987_654;
    resolver.sections.insert("c".into(), Some(987_654));
    assert_eq!(references_gone(&mut conn, &resolver, None).await.unwrap(), 4);
}

fn options() -> Options {
    Options {
        mapping: Vec::new(),
        category: Category::Sympathiser,
        legal_basis: None,
        origin: "import de test".into(),
        actor: None,
        exclusive: false,
    }
}

fn item(c: Candidate, commune: Option<&str>, section: Option<i64>, skill_ids: &[i64]) -> Item {
    let keys = (super::super::search::name_key(&c.first_name), super::super::search::name_key(&c.last_name));
    Item { candidate: c, commune: commune.map(str::to_string), section, skill_ids: skill_ids.to_vec(), keys }
}

#[test]
fn suppression_check_is_the_suppression_hash() {
    let pepper = "poivre";
    let listed = [
        super::super::suppression_hash(pepper, "email", "lucie@example.org"),
        super::super::suppression_hash(pepper, "phone", "+33601020304"),
    ];
    let resolver = Resolver {
        federation_id: 1,
        suppression_mac: Some(Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).unwrap()),
        suppressed: listed
            .iter()
            .map(|h| data_encoding::HEXLOWER.decode(h.as_bytes()).unwrap().try_into().unwrap())
            .collect(),
        communes: HashMap::new(),
        sections: HashMap::new(),
        skills: HashMap::new(),
    };
    let c = |email: Option<&str>, phone: Option<&str>| Candidate {
        email: email.map(str::to_string),
        phone: phone.map(str::to_string),
        ..Candidate::default()
    };
    assert!(is_suppressed(&resolver, &c(Some("lucie@example.org"), None)));
    assert!(is_suppressed(&resolver, &c(Some("autre@example.org"), Some("+33601020304"))));
    assert!(!is_suppressed(&resolver, &c(Some("autre@example.org"), Some("+33601020305"))));
    // The kind is part of the hash: an e-mail list entry does not match a phone.
    assert!(!is_suppressed(&resolver, &c(None, Some("lucie@example.org"))));
    let empty = Resolver { suppression_mac: None, suppressed: HashSet::new(), ..resolver };
    assert!(!is_suppressed(&empty, &c(Some("lucie@example.org"), None)));
}

#[test]
fn merging_fills_only_what_is_empty_and_adds_tags_and_skills() {
    let first = Candidate {
        first_name: "Hélène".into(),
        email: Some("helene@example.org".into()),
        tags: vec!["marché".into()],
        ..Candidate::default()
    };
    let mut d = Draft::new(item(first.clone(), None, None, &[3]), &options());
    assert_eq!((d.category, d.legal_basis), ("sympathiser", "regular_contact"));
    let second = Candidate {
        first_name: "Helene".into(),
        last_name: "Dupré".into(),
        phone: Some("+33612345678".into()),
        tags: vec!["marché".into(), "Marché".into()],
        ..Candidate::default()
    };
    assert!(d.merge(&item(second.clone(), Some("69266"), Some(7), &[3, 5]), |_| true));
    assert_eq!(d.first_name, "Hélène", "never overwritten");
    assert_eq!(d.last_name, "Dupré");
    assert_eq!(d.phone.as_deref(), Some("+33612345678"));
    assert_eq!((d.commune_code.as_deref(), d.section_id), (Some("69266"), Some(7)));
    assert_eq!(d.tags, ["marché", "Marché"], "tags compare exactly, as the table's key does");
    assert_eq!(d.skills, [3, 5]);
    assert!(!d.merge(&item(second, Some("69123"), Some(8), &[5]), |_| true), "the same row again changes nothing");
    assert_eq!((d.commune_code.as_deref(), d.section_id), (Some("69266"), Some(7)));
}

#[test]
fn merging_adds_further_addresses_and_phones_that_are_free() {
    let first =
        Candidate { email: Some("a@example.org".into()), phone: Some("+33612345678".into()), ..Candidate::default() };
    let mut d = Draft::new(item(first.clone(), None, None, &[]), &options());
    let second = Candidate {
        email: Some("a@example.org".into()),
        other_emails: vec!["b@example.org".into(), "taken@example.org".into()],
        phone: Some("+33123456789".into()),
        other_phones: vec!["+33612345678".into()],
        ..Candidate::default()
    };
    assert!(d.merge(&item(second.clone(), None, None, &[]), |e| e != "taken@example.org"));
    assert_eq!(d.email.as_deref(), Some("a@example.org"), "the first address stays first");
    assert_eq!(d.other_emails, ["b@example.org"], "someone else's address is left to them");
    assert_eq!(d.phone.as_deref(), Some("+33612345678"));
    assert_eq!(d.other_phones, ["+33123456789"]);
    assert!(!d.merge(&item(second, None, None, &[]), |e| e != "taken@example.org"), "nothing new the second time");
    // A person without an address gets the row's first free one as theirs.
    let bare = Candidate { last_name: "Martin".into(), ..Candidate::default() };
    let mut d = Draft::new(item(bare.clone(), None, None, &[]), &options());
    let row = Candidate {
        email: Some("taken@example.org".into()),
        other_emails: vec!["c@example.org".into()],
        ..Candidate::default()
    };
    assert!(d.merge(&item(row, None, None, &[]), |e| e != "taken@example.org"));
    assert_eq!((d.email.as_deref(), d.other_emails.len()), (Some("c@example.org"), 0));
}

#[test]
fn the_section_follows_only_a_commune_filled_in_now() {
    let c = Candidate { last_name: "Martin".into(), ..Candidate::default() };
    let mut d = Draft::new(item(c.clone(), Some("69259"), None, &[]), &options());
    d.stored = Some((1, 0));
    assert!(!d.merge(&item(c, Some("69266"), Some(7), &[]), |_| true));
    assert_eq!((d.commune_code.as_deref(), d.section_id, d.dirty), (Some("69259"), None, false));
}

#[test]
fn a_phone_belongs_to_its_first_person() {
    let mut known = Known {
        federation_id: 1,
        backend: Backend::Sqlite,
        emails: FastMap::default(),
        phones: FastMap::default(),
        max_id: 0,
        targeted: false,
        created: Vec::new(),
    };
    known.note_phone("+33612345678", Key::New(0));
    known.note_phone("+33612345678", Key::Stored(9));
    known.note_phone("+33612345678", Key::Stored(4));
    known.note_phone("+33612345678", Key::New(1));
    assert_eq!(known.phones["+33612345678"], Key::Stored(4));
    known.note_stored(12, 2, Some("x@example.org".into()), Some("+33600000000".into()));
    assert_eq!(known.max_id, 12);
    assert!(known.emails.is_empty(), "another federation's people are not candidates");
    let c =
        Candidate { email: Some("y@example.org".into()), phone: Some("+33612345678".into()), ..Candidate::default() };
    assert_eq!(known.lookup(&c), Some(Key::Stored(4)), "the phone when the e-mail is unknown");
    known.emails.insert("y@example.org".into(), Key::New(3));
    assert_eq!(known.lookup(&c), Some(Key::New(3)), "the e-mail first");
    // Once the batches that created them are written, created people are stored ones.
    known.created = vec![20, 21, 22, 23];
    assert_eq!(known.lookup(&c), Some(Key::Stored(23)));
    known.note_phone("+33612345678", Key::New(0));
    assert_eq!(known.phones["+33612345678"], Key::Stored(4), "4 is older than the 20th");
    known.note_phone("+33699999999", Key::New(2));
    known.note_phone("+33699999999", Key::Stored(30));
    assert_eq!(known.phones["+33699999999"], Key::Stored(22));
}
