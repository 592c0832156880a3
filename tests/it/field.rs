//! Field work: missions (publish, sign up, carpool, calendar, close), the "for you" ranking, fiches d'observation
//! (validation, sanity flags, new contacts with consent) and the closed loop into the next fiche militante (page and
//! PDF text).

use reqwest::StatusCode;
use terrain::db::Db;
use terrain::field::matching;
use terrain::territory::classify;
use terrain::territory::import::{self, ElectionInfo, ElectionKind};

use crate::helpers::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

/// Imports the Rhône 2017 presidential rounds and classifies round 2 against round 1.
async fn rhone(db: &Db) {
    for (round, key) in [(1, "pres2017t1"), (2, "pres2017t2")] {
        let bytes = std::fs::read(format!("{DATA}elections/rhone-69/pres2017_t{round}_bv_69.csv.gz")).unwrap();
        let info = ElectionInfo {
            key: key.into(),
            label: format!("Présidentielle 2017, tour {round}"),
            kind: ElectionKind::Presidentielle,
            round,
            year: 2017,
            source_file: format!("{key}.csv.gz"),
        };
        import::import_results(db, &bytes, &info, |_| {}).await.unwrap();
    }
    classify::classify_all(db, "pres2017t2", "pres2017t1").await.unwrap();
}

fn local(days_from_now: i64, hour: u32) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days_from_now);
    format!("{:04}-{:02}-{:02}T{hour:02}:00", t.year(), t.month() as u8, t.day())
}

fn today() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!("{:04}-{:02}-{:02}", t.year(), t.month() as u8, t.day())
}

/// Publishes a mission through the form; returns its id.
async fn publish(t: &TestApp, c: &reqwest::Client, form: &[(&str, &str)]) -> i64 {
    let r = c.post(t.url("/missions")).form(form).send().await.unwrap();
    let status = r.status();
    let loc = location(&r);
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    loc.trim_start_matches("/missions/").split('?').next().unwrap().parse().unwrap()
}

fn report_form<'a>(mission: &'a str, turf: &'a str, concern: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("mission", mission),
        ("secteur", turf),
        ("methode", "porte_a_porte"),
        ("militants", "4"),
        ("sympathisants", "1"),
        ("portes", "120"),
        ("touchees", "45"),
        ("conversations", "22"),
        ("accueil", "4"),
        ("preoccupation", concern),
        ("autres_preoccupations", "Fermeture de la ligne de bus 93"),
        ("methode_a_marche", "1"),
        ("a_marche", "Passer le samedi matin, avec le tract sur les transports"),
    ]
}

async fn pdf_text(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fiche.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext").arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
    assert!(out.status.success());
    let info = std::process::Command::new("pdfinfo").arg(&path).output().expect("pdfinfo");
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    let pages: u32 = info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap();
    assert!((1..=2).contains(&pages), "an A4 sheet of one or two pages: {pages}");
    assert!(info.contains("(A4)"), "A4: {info}");
    String::from_utf8_lossy(&out.stdout).replace(['\u{202f}', '\u{a0}'], " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_on_a_zone_shape_its_next_fiche_militante() {
    let t = TestApp::spawn().await;
    rhone(&t.app.db).await;
    let coord = t.login(COORD_69).await;
    let (start, end) = (local(-1, 9), local(-1, 12));
    let mission = publish(
        &t,
        &coord,
        &[
            ("titre", "Porte-à-porte aux Minguettes"),
            ("methode", "porte_a_porte"),
            ("theme", "Transports du quotidien"),
            ("federation_id", &t.federation_id("69").await.to_string()),
            ("debut", &start),
            ("fin", &end),
            ("places", "12"),
            ("rendez_vous", "Place du marché"),
            ("secteur", "commune:69259"),
        ],
    )
    .await;
    // The mission already ended: sign-ups are closed; the coordinator files nothing, activists were there.
    let activist = t.login(ACTIVIST_69).await;
    let r = activist
        .post(t.url(&format!("/missions/{mission}/inscription")))
        .form(&[("places_voiture", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "no sign-up after the end");

    let first = coord.get(t.url(&format!("/missions/{mission}/fiche"))).send().await.unwrap().text().await.unwrap();
    assert!(first.contains("Version 1") && first.contains("Vénissieux"), "{first}");
    assert!(first.contains("Profil du secteur") && first.contains("Abstention"), "classification shown");
    assert!(!first.contains("Fermeture de la ligne de bus 93"));

    let transports: i64 = sqlx::query_scalar("SELECT id FROM concerns WHERE name = 'Transports'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let concern = transports.to_string();
    let mission_id = mission.to_string();
    for _ in 0..3 {
        let r = coord
            .post(t.url("/observations"))
            .form(&report_form(&mission_id, "commune:69259", &concern))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
        assert!(location(&r).ends_with("msg=observation"));
    }
    // An implausible report is stored, flagged, and does not count.
    let mut odd = report_form(&mission_id, "commune:69259", &concern);
    odd.retain(|(k, _)| *k != "portes");
    odd.push(("portes", "9000"));
    let r = coord.post(t.url("/observations")).form(&odd).send().await.unwrap();
    assert!(location(&r).ends_with("msg=a_verifier"), "{}", location(&r));
    assert_eq!(t.count("SELECT COUNT(*) FROM field_reports WHERE review = 'flagged'").await, 1);

    let page = coord.get(t.url(&format!("/missions/{mission}/fiche"))).send().await.unwrap().text().await.unwrap();
    let page = page.replace('\u{202f}', " ");
    assert!(page.contains("Version 2"), "a new version after the reports");
    assert!(
        page.contains("3 nouvelles fiches d&#39;observation") || page.contains("3 nouvelles fiches d'observation"),
        "{page}"
    );
    assert!(page.contains("<strong>Transports</strong> — citée dans 3 fiches"), "the concern is ranked: {page}");
    assert!(page.contains("Fermeture de la ligne de bus 93"));
    assert!(page.contains("<strong>Porte-à-porte</strong> — Ici : 3 actions, a marché 3 fois sur 3"), "{page}");
    assert!(page.contains("Passer le samedi matin"));
    assert!(page.contains("Des voisins nous ont parlé de transports"), "the script uses the top concern");

    let r = coord.get(t.url(&format!("/missions/{mission}/fiche.pdf"))).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let text = pdf_text(&r.bytes().await.unwrap()).await;
    for needle in [
        "Fiche militante",
        "Vénissieux",
        "Version 2",
        "Enjeux locaux",
        "Transports",
        "citée dans 3 fiches",
        "Ce qui marche",
        "Porte-à-porte",
        "a marché 3 fois sur 3",
        "Passer le samedi matin",
    ] {
        assert!(text.contains(needle), "PDF text misses {needle:?}: {text}");
    }
    // Viewing again without new data keeps the version.
    let again = coord.get(t.url("/fiches?secteur=commune:69259")).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("Version 2"));
    assert_eq!(t.count("SELECT COUNT(*) FROM fiches").await, 2);

    // Accepting the flagged report makes version 3.
    let flagged: i64 = sqlx::query_scalar("SELECT id FROM field_reports WHERE review = 'flagged'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let r = activist
        .post(t.url(&format!("/observations/{flagged}/revue")))
        .form(&[("decision", "accepter")])
        .send()
        .await
        .unwrap();
    assert!(matches!(r.status(), StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "activists do not review");
    let r = coord
        .post(t.url(&format!("/observations/{flagged}/revue")))
        .form(&[("decision", "accepter")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = coord.get(t.url("/fiches?secteur=commune:69259")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Version 3") && page.contains("citée dans 4 fiches"), "{page}");

    // An HQ-entered local issue shows on the sheet too.
    let r = coord
        .post(t.url("/fiches/enjeux"))
        .form(&[("secteur", "commune:69259"), ("titre", "Fermeture du bureau de poste"), ("detail", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = coord.get(t.url("/fiches?secteur=commune:69259")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Fermeture du bureau de poste") && page.contains("Version 4"));
    let r = activist
        .post(t.url("/fiches/enjeux"))
        .form(&[("secteur", "commune:69259"), ("titre", "X"), ("detail", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // "What works where" aggregates the counted reports by zone class.
    let page = activist.get(t.url("/ce-qui-marche")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Porte-à-porte") && page.contains("4 / 4"), "{page}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_change_nothing_and_new_contacts_carry_their_consent() {
    let t = TestApp::spawn().await;
    let c = t.login(ACTIVIST_69).await;
    let page = c.get(t.url("/observations/nouvelle?secteur=commune:69266")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Villeurbanne"), "the turf is named");
    let date = today();
    let base = vec![
        ("secteur", "commune:69266"),
        ("date", date.as_str()),
        ("methode", "marche"),
        ("militants", "3"),
        ("touchees", "80"),
        ("conversations", "25"),
        ("accueil", "5"),
        ("methode_a_marche", "1"),
    ];
    for (key, value, message) in [
        ("date", "2099-01-01", "futur"),
        ("militants", "0", "au moins une personne"),
        ("touchees", "beaucoup", "Personnes touchées"),
        ("secteur", "commune:99999", "Zones inconnues"),
        ("accueil", "7", "Accueil"),
    ] {
        let mut form = base.clone();
        form.retain(|(k, _)| *k != key);
        form.push((key, value));
        let r = c.post(t.url("/observations")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{key}={value}");
        let body = r.text().await.unwrap();
        assert!(body.contains(message), "{key}: {body}");
    }
    // A contact without any consent ticked is refused, and nothing is stored.
    let mut form = base.clone();
    form.extend([("contact0_prenom", "Inès"), ("contact0_nom", "Nouvelle"), ("contact0_email", "ines@example.org")]);
    let r = c.post(t.url("/observations")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("SELECT COUNT(*) FROM field_reports").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE email = 'ines@example.org'").await, 0);

    form.extend([("contact0_consentement", "newsletter_federation"), ("contact0_consentement", "alerts")]);
    let r = c.post(t.url("/observations")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    assert_eq!(t.count("SELECT COUNT(*) FROM field_reports WHERE review = 'ok'").await, 1);
    let (category, channel, fed): (String, String, i64) =
        sqlx::query_as("SELECT category, origin_channel, federation_id FROM people WHERE email = 'ines@example.org'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!((category.as_str(), channel.as_str(), fed), ("sympathiser", "field", t.federation_id("69").await));
    assert_eq!(
        t.count(
            "SELECT COUNT(*) FROM consent_events e JOIN people p ON p.id = e.person_id \
             WHERE p.email = 'ines@example.org' AND e.source = 'field' AND e.granted = 1"
        )
        .await,
        2,
        "both consents are in the ledger"
    );
    assert_eq!(t.audit_count("field_report_filed").await, 1);
    // Activists do not see the list of reports (coordinators review them).
    assert_eq!(c.get(t.url("/observations")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearby_nurse_ranks_first_for_a_hospital_mission_and_missions_elsewhere_are_offered() {
    let t = TestApp::spawn().await;
    rhone(&t.app.db).await;
    let db = &t.app.db;
    let skill = |name: &'static str| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM skills WHERE name = $1")
            .bind(name)
            .fetch_one(&db.pool)
            .await
            .unwrap()
    };
    let (sante, poste, hopital) = (skill("Santé").await, skill("La Poste").await, skill("Santé et hôpital").await);
    let fed69 = t.federation_id("69").await;
    // Three more activists of the Rhône: a nurse in Saint-Fons (next to Vénissieux), a postal worker in Vénissieux,
    // a nurse in Villefranche-sur-Saône (30 km north).
    let mut ids = Vec::new();
    for (email, name) in [
        ("infirmiere@example.org", "Inès Infirmière"),
        ("postier@example.org", "Paul Postier"),
        ("loin@example.org", "Lou Loin"),
    ] {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (email, display_name, password_hash, created_at, updated_at) VALUES ($1, $2, 'x', 0, 0) RETURNING id",
        )
        .bind(email)
        .bind(name)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO role_grants (user_id, role, federation_id, created_at) VALUES ($1, 'activist', $2, 0)",
        )
        .bind(id)
        .bind(fed69)
        .execute(&db.pool)
        .await
        .unwrap();
        ids.push(id);
    }
    matching::save_profile(db, ids[0], Some("69199"), 0, &[sante, hopital]).await.unwrap();
    matching::save_profile(db, ids[1], Some("69259"), 0, &[poste]).await.unwrap();
    matching::save_profile(db, ids[2], Some("69264"), 0, &[sante, hopital]).await.unwrap();

    let coord = t.login(COORD_69).await;
    let fed = fed69.to_string();
    let (start, end) = (local(5, 10), local(5, 13));
    let sante_s = sante.to_string();
    let hospital = publish(
        &t,
        &coord,
        &[
            ("titre", "Défendre l'hôpital Édouard-Herriot"),
            ("methode", "tractage"),
            ("theme", "Défendre l'hôpital public"),
            ("federation_id", &fed),
            ("debut", &start),
            ("fin", &end),
            ("places", "8"),
            ("secteur", "commune:69259"),
            ("competence", &sante_s),
        ],
    )
    .await;
    let poste_s = poste.to_string();
    let postal = publish(
        &t,
        &coord,
        &[
            ("titre", "Sauvons le bureau de poste"),
            ("methode", "marche"),
            ("theme", "Privatisation de La Poste"),
            ("federation_id", &fed),
            ("debut", &start),
            ("fin", &end),
            ("places", "8"),
            ("commune", "69123"),
            ("competence", &poste_s),
        ],
    )
    .await;

    // The coordinator's "who to ask" list: the nearby nurse first.
    let page = coord.get(t.url(&format!("/missions/{hospital}/candidats"))).send().await.unwrap().text().await.unwrap();
    let pos = |name: &str| page.find(name).unwrap_or_else(|| panic!("{name} missing: {page}"));
    assert!(pos("Inès Infirmière") < pos("Lou Loin") && pos("Lou Loin") < pos("Paul Postier"), "{page}");
    let mission = terrain::field::missions::get(db, hospital).await.unwrap();
    let ranked = matching::candidates(db, &mission, 10).await.unwrap();
    assert_eq!(ranked[0].0.user_id, ids[0]);
    assert!(ranked[0].1.reasons.iter().any(|r| r.contains("Santé")), "{:?}", ranked[0].1.reasons);
    // And for the nurse, the hospital mission comes first; for the postal worker, the postal one.
    assert_eq!(matching::recommend(db, ids[0], 5).await.unwrap()[0].0.id, hospital);
    assert_eq!(matching::recommend(db, ids[1], 5).await.unwrap()[0].0.id, postal);

    // A mission of another section (Lyon 1er) is offered to the Villeurbanne activist, who signs up.
    let secretary = t.login(SECRETARY_LYON1).await;
    let lyon1 = t.section_id("Lyon 1er").await.to_string();
    let elsewhere = publish(
        &t,
        &secretary,
        &[
            ("titre", "Débat sur les services publics"),
            ("methode", "debat"),
            ("federation_id", &fed),
            ("section_id", &lyon1),
            ("debut", &start),
            ("fin", &end),
            ("places", "1"),
            ("commune", "69381"),
        ],
    )
    .await;
    let activist = t.login(ACTIVIST_69).await;
    let page = activist.get(t.url("/missions")).send().await.unwrap().text().await.unwrap();
    let for_you = &page[page.find("id=\"pour-vous\"").unwrap()..page.find("id=\"catalogue\"").unwrap()];
    assert!(for_you.contains("Débat sur les services publics"), "{for_you}");
    let r = activist
        .post(t.url(&format!("/missions/{elsewhere}/inscription")))
        .form(&[("places_voiture", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // One place only: the next one is refused with a clear message.
    let other = t.login(STAFF_69).await;
    let r = other
        .post(t.url(&format!("/missions/{elsewhere}/inscription")))
        .form(&[("places_voiture", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("Mission complète"));

    // The activist's calendar feed lists it, without a session; a forged token is refused.
    let page = activist.get(t.url("/missions")).send().await.unwrap().text().await.unwrap();
    let feed = page.split("/agenda/").nth(1).unwrap().split('<').next().unwrap().to_string();
    let ics = t.client().get(t.url(&format!("/agenda/{feed}"))).send().await.unwrap();
    assert_eq!(ics.status(), StatusCode::OK);
    assert!(ics.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
    let ics = ics.text().await.unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.contains("SUMMARY:Débat sur les services publics"), "{ics}");
    let forged = format!("{}x", &feed[..feed.len() - 1]);
    assert_eq!(
        t.client().get(t.url(&format!("/agenda/{forged}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );

    // Activists cannot publish; another federation's coordinator cannot manage this one.
    assert_eq!(activist.get(t.url("/missions/nouvelle")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    let c29 = t.login(COORD_29).await;
    assert_eq!(
        c29.get(t.url(&format!("/missions/{hospital}/modifier"))).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c29.post(t.url(&format!("/missions/{hospital}/cloturer"))).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );

    // Cancelling frees the place; closing asks the participants for their report by e-mail.
    let r = activist.post(t.url(&format!("/missions/{elsewhere}/desinscription"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = other
        .post(t.url(&format!("/missions/{elsewhere}/inscription")))
        .form(&[("besoin_place", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = secretary.post(t.url(&format!("/missions/{elsewhere}/cloturer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = t.last_mail_to(STAFF_69).await;
    assert!(mail.contains(&format!("/observations/nouvelle?mission={elsewhere}")), "{mail}");

    // The day after a mission nobody closed, the housekeeping job reminds its participants, once.
    let yesterday = terrain::db::now() - 21 * 3_600;
    let past: i64 = sqlx::query_scalar(
        "INSERT INTO missions (federation_id, title, method, starts_at, ends_at, places, commune_code, state, \
         created_at, updated_at) VALUES ($1, 'Marché du dimanche', 'marche', $2, $3, 5, '69266', 'published', 0, 0) \
         RETURNING id",
    )
    .bind(fed69)
    .bind(yesterday - 3 * 3_600)
    .bind(yesterday)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let malik = t.user_id(ACTIVIST_69).await;
    sqlx::query("INSERT INTO mission_signups (mission_id, user_id, state, signed_at, updated_at) VALUES ($1, $2, 'signed', 0, 0)")
        .bind(past)
        .bind(malik)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(terrain::field::missions::send_due_reminders(db, "https://terrain.example").await.unwrap(), 1);
    assert_eq!(terrain::field::missions::send_due_reminders(db, "https://terrain.example").await.unwrap(), 0);
    let mail = t.last_mail_to(ACTIVIST_69).await;
    assert!(mail.contains(&format!("https://terrain.example/observations/nouvelle?mission={past}")), "{mail}");
    t.stop().await;
}
