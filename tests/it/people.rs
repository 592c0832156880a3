//! Address book: imports that survive real spreadsheets, scoping, consents, export, erasure, register.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

use crate::helpers::*;

/// Uploads a file as a coordinator, confirms the guessed mapping, and waits for the job; returns the import page.
async fn import_file(t: &TestApp, c: &reqwest::Client, federation: i64, name: &str, bytes: Vec<u8>) -> (i64, String) {
    let form = Form::new()
        .text("federation_id", federation.to_string())
        .part("file", Part::bytes(bytes).file_name(name.to_string()));
    let r = c.post(t.url("/personnes/import")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", r.text().await.unwrap());
    let loc = location(&r);
    let id: i64 = loc.rsplit('/').next().unwrap().parse().unwrap();
    let preview = c.get(t.url(&loc)).send().await.unwrap().text().await.unwrap();
    // Keep the guessed mapping: read the selected option of every column select.
    let mut fields =
        vec![("category".to_string(), "sympathiser".to_string()), ("legal_basis".to_string(), String::new())];
    let mut i = 0;
    while let Some(pos) = preview.find(&format!("name=\"col{i}\"")) {
        let rest = &preview[pos..];
        let end = rest.find("</select>").unwrap();
        let sel = &rest[..end];
        let value = sel
            .find(" selected")
            .map(|s| {
                let before = &sel[..s];
                let v = before.rfind("value=\"").unwrap();
                before[v + 7..].split('"').next().unwrap().to_string()
            })
            .unwrap_or_else(|| "ignore".into());
        fields.push((format!("col{i}"), value));
        i += 1;
    }
    assert!(i > 0, "the preview shows the columns: {preview}");
    let r = c.post(t.url(&loc)).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for _ in 0..200 {
        t.drain_jobs().await;
        let page = c.get(t.url(&loc)).send().await.unwrap().text().await.unwrap();
        if page.contains("Import terminé") || page.contains("L'import a échoué") {
            return (id, page);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import {id} did not finish");
}

/// The id of the person whose main address this is.
async fn person_id(t: &TestApp, email: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM people WHERE email = $1").bind(email).fetch_one(&t.app.db.pool).await.unwrap()
}

fn count_in(page: &str, label: &str) -> i64 {
    let end = page.find(label).unwrap_or_else(|| panic!("no {label} in {page}"));
    let before = &page[..end];
    let start = before.rfind("<span class=\"big\">").unwrap() + "<span class=\"big\">".len();
    before[start..].split('<').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_excel_file_imports_dedupes_and_reimports_as_a_no_op() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    // What French Excel writes: Windows-1252, `;`, CRLF, a quoted newline, two addresses differing in case,
    // an invalid e-mail and an invalid phone.
    let mut file: Vec<u8> = Vec::new();
    file.extend_from_slice(b"Pr\xe9nom;Nom;E-mail;T\xe9l\xe9phone;Code postal;Ville;\xc9tiquettes;Commentaire\r\n");
    file.extend_from_slice(b"H\xe9l\xe8ne;Dupr\xe9;helene@example.org;06 12 34 56 78;69100;Villeurbanne;march\xe9, porte-\xe0-porte;\"Deux\r\nlignes\"\r\n");
    file.extend_from_slice(b"Hel\xe8ne;Dupr\xe9;HELENE@Example.org;;;;tractage;\r\n");
    file.extend_from_slice(b"Marc;Petit;marc@;06 12;69200;V\xe9nissieux;;\r\n");
    file.extend_from_slice(b"Sonia;Roux;sonia@example.org;0033 6 98 76 54 32;69001;Lyon;;\r\n");
    let (_, page) = import_file(&t, &c, fed, "adherents.csv", file.clone()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 2, "{page}");
    assert_eq!(count_in(&page, "complétée(s)"), 1, "the second Hélène merges into the first");
    assert_eq!(count_in(&page, "rejetée(s)"), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 2);
    let helene: (String, Option<String>, Option<String>, Option<i64>) =
        sqlx::query_as("SELECT first_name, email, phone, section_id FROM people WHERE email = 'helene@example.org'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(helene.0, "Hélène");
    assert_eq!(helene.2.as_deref(), Some("+33612345678"));
    assert_eq!(helene.3, Some(t.section_id("Villeurbanne").await), "section derived from the commune");
    assert_eq!(t.count("SELECT COUNT(*) FROM person_tags").await, 3, "tags merged from both rows");

    // The rejected rows come back as a CSV with the reasons, to fix and re-import.
    let import_id: i64 = sqlx::query_scalar("SELECT MAX(id) FROM imports").fetch_one(&t.app.db.pool).await.unwrap();
    let rejects =
        c.get(t.url(&format!("/personnes/import/{import_id}/rejets.csv"))).send().await.unwrap().text().await.unwrap();
    assert!(rejects.starts_with('\u{feff}'));
    assert!(
        rejects.contains("marc@") && rejects.contains("e-mail invalide") && rejects.contains("téléphone invalide"),
        "{rejects}"
    );

    // Importing the same file again changes nothing.
    let (_, page) = import_file(&t, &c, fed, "adherents.csv", file).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 0);
    assert_eq!(count_in(&page, "complétée(s)"), 0);
    assert_eq!(count_in(&page, "déjà à jour"), 3);
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 2);
    assert_eq!(t.audit_count("people_imported").await, 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_bom_nationbuilder_exports_and_empty_files() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let nb = "\u{feff}nationbuilder_id,first_name,last_name,email,phone_number,mobile_number,primary_address1,primary_zip,primary_city,tag_list\n\
              101,Amina,Benali,amina@example.org,,0611223344,\"12, rue de la Paix\",69003,Lyon,\"logement, jeunes\"\n\
              102,Jean,Martin,jean.martin@example.org,04 78 00 00 00,,,69190,Saint-Fons,\n";
    let (_, page) = import_file(&t, &c, fed, "nationbuilder-export.csv", nb.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 2, "{page}");
    let amina: (String, Option<String>, String) =
        sqlx::query_as("SELECT address, phone, external_id FROM people WHERE email = 'amina@example.org'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(amina, ("12, rue de la Paix".to_string(), Some("+33611223344".to_string()), "101".to_string()));

    // Empty file and header-only file: a clear message, nothing staged.
    for (name, bytes) in [("vide.csv", b"".to_vec()), ("entete.csv", b"Prenom;Nom;Email\r\n".to_vec())] {
        let form = Form::new().text("federation_id", fed.to_string()).part("file", Part::bytes(bytes).file_name(name));
        let r = c.post(t.url("/personnes/import")).multipart(form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        let text = r.text().await.unwrap();
        assert!(text.contains("vide") || text.contains("en-tête"), "{name}: {text}");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM imports").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erased_people_are_never_reimported_and_leave_no_address_behind() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = b"prenom,nom,email,telephone\nLucie,Aubrac,lucie.aubrac@example.org,0601020304\n".to_vec();
    import_file(&t, &c, fed, "a.csv", file.clone()).await;
    let id: i64 = sqlx::query_scalar("SELECT id FROM people").fetch_one(&t.app.db.pool).await.unwrap();
    // Consents are recorded, then everything goes with the person.
    let r = c
        .post(t.url(&format!("/personnes/{id}/consentements")))
        .form(&[("purpose", "sms"), ("decision", "accepte")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c.post(t.url(&format!("/personnes/{id}/effacer"))).form(&[("reason", "erased")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "confirmation required");
    let r = c
        .post(t.url(&format!("/personnes/{id}/effacer")))
        .form(&[("reason", "erased"), ("confirm", "oui")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for table in ["people", "person_tags", "consent_events", "person_events"] {
        assert_eq!(t.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table}");
    }
    assert_eq!(t.audit_count("person_erased").await, 1);

    let (_, page) = import_file(&t, &c, fed, "a.csv", file).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 0);
    assert_eq!(count_in(&page, "non recréée(s)"), 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 0);
    // Creating by hand is refused too.
    let r = c
        .post(t.url("/personnes/nouvelle"))
        .form(&[
            ("federation_id", fed.to_string().as_str()),
            ("email", "Lucie.Aubrac@example.org"),
            ("category", "curious"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // No plaintext address anywhere in the database.
    if t.app.db.backend == terrain::db::Backend::Sqlite {
        sqlx::query("VACUUM").execute(&t.app.db.pool).await.unwrap();
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&t.app.db.pool).await.unwrap();
        let path = t.db.url().trim_start_matches("sqlite://").to_string();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::fs::read(format!("{path}-wal")).unwrap_or_default());
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains("lucie.aubrac@example.org") && !hay.contains("+33601020304"), "address left in the file");
    }
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT rejected_csv || filename FROM imports UNION ALL SELECT content FROM import_files UNION ALL SELECT details FROM audit_log \
         UNION ALL SELECT hash FROM suppressions",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    assert!(dump.iter().all(|d| !d.contains("lucie")), "{dump:?}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_stay_in_their_federation_and_fields_follow_roles() {
    let t = TestApp::spawn().await;
    let c69 = t.login(COORD_69).await;
    let c29 = t.login(COORD_29).await;
    let fed69 = t.federation_id("69").await;
    let fed29 = t.federation_id("29").await;
    import_file(
        &t,
        &c29,
        fed29,
        "brest.csv",
        b"prenom,nom,email,telephone,ville,code postal\nErwan,Le Goff,erwan@example.org,0611111111,Brest,29200\n"
            .to_vec(),
    )
    .await;
    import_file(&t, &c69, fed69, "lyon.csv", b"prenom,nom,email,telephone,notes,ville,code postal\nMalika,Haddad,malika@example.org,0622222222,Appeler le soir,Villeurbanne,69100\n".to_vec()).await;
    let erwan: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'erwan@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let malika: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'malika@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let erwan_import: i64 = sqlx::query_scalar("SELECT id FROM imports WHERE federation_id = $1")
        .bind(fed29)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();

    for path in [
        format!("/personnes/{erwan}"),
        format!("/personnes/{erwan}/modifier"),
        format!("/personnes/{erwan}/donnees.json"),
        format!("/personnes/{erwan}/fusionner"),
        format!("/personnes/import/{erwan_import}"),
        format!("/personnes/import/{erwan_import}/rejets.csv"),
    ] {
        let r = c69.get(t.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(!r.text().await.unwrap().contains("Erwan"));
    }
    for (path, form) in [
        (format!("/personnes/{erwan}"), vec![("first_name", "X"), ("category", "curious")]),
        (format!("/personnes/{erwan}/consentements"), vec![("purpose", "sms"), ("decision", "accepte")]),
        (format!("/personnes/{erwan}/effacer"), vec![("confirm", "oui")]),
        (format!("/personnes/import/{erwan_import}"), vec![("category", "member")]),
        (format!("/personnes/{erwan}/fusionner"), vec![("other", "1")]),
    ] {
        let r = c69.post(t.url(&path)).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    // Listing, searching, exporting: nothing from Finistère, even when asking for it.
    for path in [
        "/personnes",
        "/personnes?q=erwan",
        &format!("/personnes?federation={fed29}"),
        "/personnes/export.csv",
        &format!("/personnes/export.csv?federation={fed29}"),
    ] {
        let text = c69.get(t.url(path)).send().await.unwrap().text().await.unwrap();
        assert!(!text.contains("Erwan") && !text.contains("erwan@"), "{path}");
    }
    // Creating a person in another federation is refused.
    let r = c69
        .post(t.url("/personnes/nouvelle"))
        .form(&[("federation_id", fed29.to_string().as_str()), ("last_name", "Intrus"), ("category", "curious")])
        .send()
        .await
        .unwrap();
    assert!(r.status() == StatusCode::FORBIDDEN || r.status() == StatusCode::NOT_FOUND, "{}", r.status());
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE last_name = 'Intrus'").await, 0);
    // Nor through the API.
    let token = t.api_token(&c69).await;
    let api = reqwest::Client::new();
    assert_eq!(
        api.get(t.url(&format!("/api/v1/people/{erwan}"))).bearer_auth(&token).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let listed =
        api.get(t.url("/api/v1/people?q=erwan")).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    assert!(listed.contains("\"total\":0"), "{listed}");
    let own: serde_json::Value = api
        .get(t.url(&format!("/api/v1/people/{malika}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(own["person"]["first_name"], "Malika");
    // Merging the foreign person into a local one, or tagging them in bulk, finds nobody.
    let r = c69
        .post(t.url(&format!("/personnes/{malika}/fusionner")))
        .form(&[("other", erwan.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    c69.post(t.url("/personnes/etiqueter"))
        .form(&[("ids", erwan.to_string()), ("tag", "piraté".to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_tags WHERE person_id = {erwan}")).await, 0);
    // Segments cannot reach them either.
    let seg = c69
        .get(t.url("/segments?etiquettes=&categorie=sympathiser&compter=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(seg.contains("id=\"segment-count\">1<"), "only Malika: {seg}");
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE first_name = 'Erwan'").await, 1);

    // Field-level rules: national staff see the person but not phone nor notes; activists see no one.
    let staff = t.login(NATIONAL_STAFF).await;
    let page = staff.get(t.url(&format!("/personnes/{malika}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Malika") && !page.contains("+33622222222") && !page.contains("Appeler le soir"));
    let page = c69.get(t.url(&format!("/personnes/{malika}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("+33622222222") && page.contains("Appeler le soir"));
    let activist = t.login(ACTIVIST_69).await;
    assert_eq!(activist.get(t.url("/personnes")).send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        activist.get(t.url(&format!("/personnes/{malika}"))).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(t.audit_count("person_viewed").await >= 2);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_are_created_edited_exported_and_their_consent_derives_from_the_ledger() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let f = fed.to_string();
    let r = c
        .post(t.url("/personnes/nouvelle"))
        .form(&[
            ("federation_id", f.as_str()),
            ("first_name", "Zoé"),
            ("email", "nope"),
            ("phone", "12"),
            ("category", "member"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("dresse e-mail invalide") && text.contains("éléphone invalide"),
        "every problem at once: {text}"
    );
    let r = c
        .post(t.url("/personnes/nouvelle"))
        .form(&[
            ("federation_id", f.as_str()),
            ("first_name", "Zoé"),
            ("last_name", "=HYPERLINK(\"x\")"),
            ("email", "zoe@example.org"),
            ("postcode", "69200"),
            ("city", "Vénissieux"),
            ("category", "member"),
            ("skills", "santé, Numérique"),
            ("tags", "jeunes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id: i64 = location(&r).trim_start_matches("/personnes/").split('?').next().unwrap().parse().unwrap();
    let (commune, legal): (Option<String>, String) =
        sqlx::query_as("SELECT commune_code, legal_basis FROM people WHERE id = $1")
            .bind(id)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(commune.as_deref(), Some("69259"), "commune found from postcode and name");
    assert_eq!(legal, "membership");

    for (purpose, decision) in
        [("newsletter_federation", "accepte"), ("newsletter_federation", "refuse"), ("sms", "accepte")]
    {
        c.post(t.url(&format!("/personnes/{id}/consentements")))
            .form(&[("purpose", purpose), ("decision", decision)])
            .send()
            .await
            .unwrap();
    }
    let page = c.get(t.url(&format!("/personnes/{id}"))).send().await.unwrap().text().await.unwrap();
    let row = |label: &str| page[page.find(label).unwrap()..].split("</tr>").next().unwrap().to_string();
    assert!(
        row("Lettre d&#39;information de la fédération").contains("refusé")
            || row("de la fédération").contains("refusé")
    );
    assert!(row("Messages SMS").contains("accepté"));
    assert!(row("Appels téléphoniques").contains("jamais demandé"));
    assert!(page.contains("Consentement retiré"), "timeline shows the withdrawal");
    // The ledger is append-only.
    assert!(sqlx::query("UPDATE consent_events SET granted = 1").execute(&t.app.db.pool).await.is_err());
    assert!(sqlx::query("DELETE FROM consent_events").execute(&t.app.db.pool).await.is_err());

    let csv = c.get(t.url("/personnes/export.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.starts_with('\u{feff}') && csv.contains("zoe@example.org"));
    assert!(csv.contains("'=HYPERLINK"), "formulas are neutralised: {csv}");
    assert_eq!(t.audit_count("people_exported").await, 1);

    let json: serde_json::Value =
        c.get(t.url(&format!("/personnes/{id}/donnees.json"))).send().await.unwrap().json().await.unwrap();
    for table in terrain::people::register::PERSONAL_TABLES {
        assert!(json.get(table).is_some(), "the access export misses {table}");
    }
    assert_eq!(json["consent_events"].as_array().unwrap().len(), 3);
    let csv = c.get(t.url(&format!("/personnes/{id}/donnees.csv"))).send().await.unwrap().text().await.unwrap();
    assert!(
        csv.starts_with('\u{feff}')
            && csv.contains("people;;email;zoe@example.org")
            && csv.contains("consent_events;3;purpose;sms"),
        "{csv}"
    );
    assert_eq!(t.audit_count("person_exported").await, 2, "JSON and CSV downloads are both audited");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_personal_column_is_in_the_register_and_every_person_table_in_the_export() {
    let t = TestApp::spawn().await;
    let columns: Vec<(String, String)> = match t.app.db.backend {
        terrain::db::Backend::Sqlite => {
            let mut out = Vec::new();
            let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&t.app.db.pool)
                .await
                .unwrap();
            for table in tables {
                let cols: Vec<String> = sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&t.app.db.pool)
                    .await
                    .unwrap();
                out.extend(cols.into_iter().map(|c| (table.clone(), c)));
            }
            out
        }
        terrain::db::Backend::Postgres => sqlx::query_as(
            "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap(),
    };
    for (table, column) in &columns {
        // Any table pointing at a person holds personal data: it must be exported and registered.
        if column == "person_ids" {
            assert!(
                terrain::people::register::TRANSIENT_TABLES.contains(&table.as_str()),
                "{table} is missing from the register"
            );
        }
        if column == "person_id" {
            assert!(
                terrain::people::register::PERSONAL_TABLES.contains(&table.as_str()),
                "{table} is missing from the register and the export"
            );
        }
        if terrain::people::register::PERSONAL_TABLES.contains(&table.as_str())
            || terrain::people::register::TRANSIENT_TABLES.contains(&table.as_str())
            || terrain::people::register::ACCOUNT_TABLES.contains(&table.as_str())
        {
            assert!(
                terrain::people::register::is_declared(table, column),
                "{table}.{column} is not declared in the register"
            );
        }
    }
    let c = t.login(COORD_69).await;
    let page = c.get(t.url("/registre")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("people.email") && page.contains("consent_events.wording_version"));
    assert!(page.contains("user_skills.skill_id"), "activists' own profiles are declared too");
    t.stop().await;
}

async fn segment_count(c: &reqwest::Client, t: &TestApp, query: &str) -> (StatusCode, String) {
    let r = c.get(t.url(&format!("/segments?{query}&compter=1"))).send().await.unwrap();
    let status = r.status();
    let page = r.text().await.unwrap();
    let n = page
        .find("id=\"segment-count\">")
        .map(|i| page[i + 19..].split('<').next().unwrap().to_string())
        .unwrap_or_else(|| format!("no count: {page}"));
    (status, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_count_exactly_within_scope_and_compose() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = "prenom,nom,email,categorie,etiquettes,competences,ville,code postal\n\
                A,Un,a@example.org,adhérent,\"jeunes, logement\",Santé,Villeurbanne,69100\n\
                B,Deux,b@example.org,sympathisant,jeunes,,Vénissieux,69200\n\
                C,Trois,c@example.org,curieux,logement,Santé,Lyon,69001\n\
                D,Quatre,d@example.org,adhérent,,,Villeurbanne,69100\n";
    import_file(&t, &c, fed, "s.csv", file.as_bytes().to_vec()).await;
    let c29 = t.login(COORD_29).await;
    import_file(
        &t,
        &c29,
        t.federation_id("29").await,
        "b.csv",
        b"prenom,nom,email,categorie,etiquettes\nE,Cinq,e@example.org,adherent,jeunes\n".to_vec(),
    )
    .await;

    assert_eq!(segment_count(&c, &t, "categorie=member").await.1, "2");
    assert_eq!(segment_count(&c, &t, "categorie=member&categorie=curious").await.1, "3");
    assert_eq!(segment_count(&c, &t, "etiquettes=jeunes").await.1, "2", "Finistère's member is out of scope");
    assert_eq!(segment_count(&c, &t, "etiquettes=jeunes,logement").await.1, "3", "no double counting");
    let sante: i64 =
        sqlx::query_scalar("SELECT id FROM skills WHERE name = 'Santé'").fetch_one(&t.app.db.pool).await.unwrap();
    assert_eq!(segment_count(&c, &t, &format!("competence={sante}&categorie=member")).await.1, "1");
    // Tags and skills together, whichever of the two lists is the smaller.
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=jeunes&competence={sante}")).await.1, "1");
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=logement&competence={sante}")).await.1, "2");
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=jeunes,logement&competence={sante}")).await.1, "2");
    let villeurbanne = t.section_id("Villeurbanne").await;
    assert_eq!(segment_count(&c, &t, &format!("section={villeurbanne}")).await.1, "2");
    assert_eq!(segment_count(&c, &t, "communes=69259").await.1, "1");
    // Villeurbanne lies mainly in the 6th circonscription; Vénissieux in the 14th.
    assert_eq!(segment_count(&c, &t, "circonscriptions=69-06").await.1, "2");
    assert_eq!(segment_count(&c, &t, "circonscriptions=69-14,69-06").await.1, "3");
    assert_eq!(
        segment_count(&c, &t, "etiquettes=%27%3B%20DROP%20TABLE%20people%3B%20--").await.1,
        "0",
        "values are bound, not spliced"
    );
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 5);
    let (status, _) = segment_count(&c, &t, "cree_apres=pas-une-date").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(segment_count(&c, &t, "cree_apres=2000-01-01").await.1, "4");
    assert_eq!(segment_count(&c, &t, "cree_avant=2000-01-01").await.1, "0");

    // Consent state comes from the ledger's latest decision.
    let a: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'a@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let b: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'b@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    for (id, decision) in [(a, "accepte"), (b, "accepte"), (b, "refuse")] {
        c.post(t.url(&format!("/personnes/{id}/consentements")))
            .form(&[("purpose", "newsletter_federation"), ("decision", decision)])
            .send()
            .await
            .unwrap();
    }
    assert_eq!(segment_count(&c, &t, "consentement=newsletter_federation:1").await.1, "1");
    assert_eq!(segment_count(&c, &t, "consentement=newsletter_federation:0").await.1, "3");

    // Save, compose with include/exclude, list its people, export it.
    let save = |name: &str, criteres: &str| {
        c.post(t.url("/segments"))
            .form(&[("criteres", criteres), ("nom", name), ("federation_id", &fed.to_string())])
            .send()
    };
    let r = save("Jeunes", "etiquettes=jeunes").await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let jeunes: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    let r = save("Adhérents", "categorie=member").await.unwrap();
    let members: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    assert_eq!(
        save("Jeunes", "etiquettes=x").await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "duplicate name"
    );
    assert_eq!(segment_count(&c, &t, &format!("inclure={jeunes}&inclure={members}")).await.1, "3");
    assert_eq!(segment_count(&c, &t, &format!("inclure={jeunes}&exclure={members}")).await.1, "1");
    let r = save("Jeunes non adhérents", &format!("inclure={jeunes}&exclure={members}")).await.unwrap();
    let nested: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    let page = c.get(t.url(&format!("/segments/{nested}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"segment-count\">1<") && page.contains("Hors du segment « Adhérents »"), "{page}");
    let list = c.get(t.url(&format!("/personnes?segment={nested}"))).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("B Deux") && !list.contains("A Un"));
    let csv =
        c.get(t.url(&format!("/personnes/export.csv?segment={nested}"))).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("b@example.org") && !csv.contains("a@example.org"));

    // Another federation sees neither the segments nor, through them, the people.
    for path in [
        format!("/segments/{jeunes}"),
        format!("/personnes?segment={jeunes}"),
        format!("/personnes/export.csv?segment={jeunes}"),
    ] {
        assert_eq!(c29.get(t.url(&path)).send().await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = segment_count(&c29, &t, &format!("inclure={jeunes}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = c29.post(t.url(&format!("/segments/{jeunes}/supprimer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A national segment counts everyone in the caller's scope only.
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(t.url("/segments"))
        .form(&[("criteres", "etiquettes=jeunes"), ("nom", "Jeunes (national)"), ("federation_id", "")])
        .send()
        .await
        .unwrap();
    let national: i64 = location(&r).rsplit('/').next().unwrap().parse().unwrap();
    let page = admin.get(t.url(&format!("/segments/{national}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"segment-count\">3<"), "{page}");
    assert_eq!(c.get(t.url(&format!("/segments/{national}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(t.audit_count("segment_saved").await, 4);
    // A tag held by fewer people than the skill: the tag list drives the count, the skill is probed per person.
    import_file(
        &t,
        &c,
        fed,
        "rare.csv",
        "prenom,nom,email,categorie,etiquettes,competences\nF,Six,f@example.org,adhérent,rare,Santé\n"
            .as_bytes()
            .to_vec(),
    )
    .await;
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=rare&competence={sante}")).await.1, "1");
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=rare&competence={sante}&categorie=curious")).await.1, "0");
    assert_eq!(segment_count(&c, &t, &format!("etiquettes=rare,jeunes&competence={sante}")).await.1, "2");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_sign_up_needs_the_emailed_confirmation_and_records_consent_with_proof() {
    let t = TestApp::spawn().await;
    let anon = t.client();
    let form = [
        ("first_name", "Nina"),
        ("email", "nina@example.org"),
        ("postcode", "69100"),
        ("newsletter_federation", "1"),
        ("alerts", "1"),
    ];
    // From another site (the form embedded on the federation's website): accepted.
    let r = anon
        .post(t.url("/inscription/69"))
        .header("origin", "https://ps-rhone.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("Un e-mail vient de vous être envoyé"));
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 0, "nothing before confirmation");
    let mail = t.last_mail_to("nina@example.org").await;
    let link = link_in(&mail, "/inscription/confirmer/");
    // Opening the link (or a mail scanner fetching it) does not confirm.
    assert_eq!(anon.get(t.url(&link)).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 0);
    let r = anon.post(t.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(anon.post(t.url(&link)).send().await.unwrap().status(), StatusCode::GONE, "single use");
    let (id, category, basis, section): (i64, String, String, Option<i64>) =
        sqlx::query_as("SELECT id, category, legal_basis, section_id FROM people WHERE email = 'nina@example.org'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!((category.as_str(), basis.as_str()), ("curious", "consent"));
    assert_eq!(section, Some(t.section_id("Villeurbanne").await));
    let consents: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT purpose, granted, source, wording_version FROM consent_events WHERE person_id = $1 ORDER BY purpose",
    )
    .bind(id)
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    assert_eq!(consents.len(), 2);
    assert!(consents.iter().all(|(_, g, s, w)| *g == 1 && s == "form" && !w.is_empty()));

    // Bots filling the honeypot, bad input, unknown federations.
    let r = anon
        .post(t.url("/inscription/69"))
        .form(&[("email", "bot@example.org"), ("site", "http://spam"), ("alerts", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    t.drain_jobs().await;
    assert_eq!(t.count("SELECT COUNT(*) FROM signups WHERE email = 'bot@example.org'").await, 0);
    let r = anon
        .post(t.url("/inscription/69"))
        .form(&[("email", "pas-une-adresse"), ("alerts", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(anon.get(t.url("/inscription/00")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_see_correct_object_and_erase_their_own_data_through_an_emailed_link() {
    let t = TestApp::spawn().await;
    let coord = t.login(COORD_69).await;
    let c29 = t.login(COORD_29).await;
    import_file(
        &t,
        &coord,
        t.federation_id("69").await,
        "a.csv",
        b"prenom,nom,email,telephone\nPaul,Dubois,paul@example.org,0611111111\n".to_vec(),
    )
    .await;
    import_file(
        &t,
        &c29,
        t.federation_id("29").await,
        "b.csv",
        b"prenom,nom,email\nPaul,Dubois,paul@example.org\n".to_vec(),
    )
    .await;
    let anon = t.client();
    let r = anon.post(t.url("/mes-donnees")).form(&[("email", "Paul@Example.org")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Unknown addresses get the same answer and no mail.
    let r = anon.post(t.url("/mes-donnees")).form(&[("email", "inconnu@example.org")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let mail = t.last_mail_to("paul@example.org").await;
    let link = link_in(&mail, "/mes-donnees/");
    assert_eq!(t.count("SELECT COUNT(*) FROM outbox WHERE to_addr = 'inconnu@example.org'").await, 0);

    let page = anon.get(t.url(&link)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Fédération Rhône") && page.contains("Fédération Finistère"), "both records");
    let json: serde_json::Value =
        anon.get(t.url(&format!("{link}/donnees.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(json["records"].as_array().unwrap().len(), 2);
    let csv = anon.get(t.url(&format!("{link}/donnees.csv"))).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("records.people;1;email;paul@example.org"), "{csv}");
    let rhone: i64 = sqlx::query_scalar(
        "SELECT p.id FROM people p JOIN federations f ON f.id = p.federation_id WHERE f.code = '69'",
    )
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    let r = anon
        .post(t.url(&format!("{link}/corriger/{rhone}")))
        .form(&[
            ("first_name", "Paul"),
            ("last_name", "Dubois-Martin"),
            ("phone", "06 22 22 22 22"),
            ("postcode", "69003"),
            ("city", "Lyon"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (last, phone): (String, Option<String>) = sqlx::query_as("SELECT last_name, phone FROM people WHERE id = $1")
        .bind(rhone)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!((last.as_str(), phone.as_deref()), ("Dubois-Martin", Some("+33622222222")));
    let r = anon
        .post(t.url(&format!("{link}/consentement/{rhone}")))
        .form(&[("purpose", "sms"), ("decision", "refuse")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.count(&format!("SELECT COUNT(*) FROM consent_events WHERE person_id = {rhone} AND source = 'self_service'"))
            .await,
        1
    );
    // A link cannot reach someone else's record.
    let other: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email <> 'paul@example.org' ORDER BY id LIMIT 1")
        .fetch_optional(&t.app.db.pool)
        .await
        .unwrap()
        .unwrap_or(999_999);
    let r = anon.post(t.url(&format!("{link}/corriger/{other}"))).form(&[("first_name", "X")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(anon.get(t.url("/mes-donnees/not-a-token")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let r = anon
        .post(t.url(&format!("{link}/effacer")))
        .form(&[("reason", "objected"), ("confirm", "oui")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE email = 'paul@example.org'").await, 0);
    assert_eq!(t.count("SELECT COUNT(*) FROM suppressions WHERE reason = 'objected'").await, 2);
    assert_eq!(
        anon.get(t.url(&link)).send().await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "the link dies with the data"
    );
    // A new sign-up with the same address is silently dropped.
    anon.post(t.url("/inscription/69")).form(&[("email", "paul@example.org"), ("alerts", "1")]).send().await.unwrap();
    assert_eq!(t.count("SELECT COUNT(*) FROM signups").await, 0);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_non_members_are_purged_after_the_retention_period_and_members_kept() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = "prenom,nom,email,categorie,etiquettes\nVieux,Sympathisant,vs@example.org,sympathisant,x\nVieille,Adhérente,va@example.org,adhérente,x\n\
                Récent,Curieux,rc@example.org,curieux,x\n";
    import_file(&t, &c, fed, "r.csv", file.as_bytes().to_vec()).await;
    let four_years_ago = terrain::db::now() - 4 * 366 * 86_400;
    sqlx::query("UPDATE people SET last_activity_at = $1 WHERE email IN ('vs@example.org', 'va@example.org')")
        .bind(four_years_ago)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    let vs: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'vs@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    c.post(t.url(&format!("/personnes/{vs}/consentements")))
        .form(&[("purpose", "sms"), ("decision", "accepte")])
        .send()
        .await
        .unwrap();

    // The preview lists exactly who would go.
    let page = c.get(t.url("/personnes/conservation")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"expiring-count\">1<") && page.contains("Vieux Sympathisant"), "{page}");
    assert!(!page.contains("Vieille Adhérente") && !page.contains("Récent Curieux"));
    // Another federation's preview does not include them.
    let c29 = t.login(COORD_29).await;
    assert!(
        c29.get(t.url("/personnes/conservation"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("id=\"expiring-count\">0<")
    );

    // The housekeeping job purges, with the dependent rows, and logs it.
    sqlx::query(
        "INSERT INTO jobs (kind, payload, state, attempts, max_attempts, run_after, created_at, updated_at) \
                 VALUES ('housekeeping', '{\"kind\":\"housekeeping\"}', 'queued', 0, 5, 0, 0, 0)",
    )
    .execute(&t.app.db.pool)
    .await
    .unwrap();
    t.drain_jobs().await;
    let left: Vec<String> =
        sqlx::query_scalar("SELECT email FROM people ORDER BY email").fetch_all(&t.app.db.pool).await.unwrap();
    assert_eq!(left, vec!["rc@example.org".to_string(), "va@example.org".to_string()]);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM consent_events WHERE person_id = {vs}")).await, 0);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_tags WHERE person_id = {vs}")).await, 0);
    assert_eq!(t.audit_count("retention_purge").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_merge_without_losing_data_and_tags_apply_in_bulk() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = "prenom,nom,email,telephone,categorie,etiquettes\nJeanne,Lambert,jeanne@example.org,,sympathisant,logement\n\
                jeanne,LAMBERT,j.lambert@example.org,0633333333,adhérente,jeunes\nAutre,Personne,autre@example.org,,curieux,\n";
    import_file(&t, &c, fed, "d.csv", file.as_bytes().to_vec()).await;
    let (kept, other, third) = (
        person_id(&t, "jeanne@example.org").await,
        person_id(&t, "j.lambert@example.org").await,
        person_id(&t, "autre@example.org").await,
    );
    c.post(t.url(&format!("/personnes/{other}/consentements")))
        .form(&[("purpose", "sms"), ("decision", "accepte")])
        .send()
        .await
        .unwrap();
    // Additions by an import are read from each person's origin, not written as a row per person.
    assert_eq!(t.count("SELECT COUNT(*) FROM person_events WHERE summary LIKE 'Ajout par %'").await, 0);
    let person_page = |id: i64| {
        let c = c.clone();
        let url = t.url(&format!("/personnes/{id}"));
        async move { c.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let added = "Ajout par import du fichier « d.csv »";
    assert_eq!(person_page(kept).await.matches(added).count(), 1, "the addition is on the timeline");
    let page = c.get(t.url(&format!("/personnes/{kept}/fusionner"))).send().await.unwrap().text().await.unwrap();
    assert!(
        page.contains(&format!("value=\"{other}\"")) && !page.contains(&format!("value=\"{third}\"")),
        "duplicates proposed by name"
    );
    let r = c
        .post(t.url(&format!("/personnes/{kept}/fusionner")))
        .form(&[("other", other.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (category, phone, notes, email): (String, Option<String>, String, Option<String>) =
        sqlx::query_as("SELECT category, phone, notes, email FROM people WHERE id = $1")
            .bind(kept)
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(category, "member");
    assert_eq!(phone.as_deref(), Some("+33633333333"));
    assert_eq!(email.as_deref(), Some("jeanne@example.org"));
    assert!(!notes.contains("j.lambert@example.org"), "{notes}");
    let further: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, value FROM person_contacts WHERE person_id = $1 ORDER BY kind")
            .bind(kept)
            .fetch_all(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!(further, [("email".to_string(), "j.lambert@example.org".to_string())], "the other address is kept");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_tags WHERE person_id = {kept}")).await, 2);
    assert_eq!(
        t.count(&format!("SELECT COUNT(*) FROM consent_events WHERE person_id = {kept} AND purpose = 'sms'")).await,
        1
    );
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM people WHERE id = {other}")).await, 0);
    assert_eq!(t.audit_count("people_merged").await, 1);
    assert_eq!(person_page(kept).await.matches(added).count(), 2, "both cards' additions stay on the timeline");
    // Re-importing the other address now completes nobody twice: it is a new card (the address was not erased).
    // Merging across federations is refused.
    let c29 = t.login(COORD_29).await;
    import_file(
        &t,
        &c29,
        t.federation_id("29").await,
        "e.csv",
        b"prenom,nom,email\nJeanne,Lambert,jl29@example.org\n".to_vec(),
    )
    .await;
    let foreign = person_id(&t, "jl29@example.org").await;
    let r = c
        .post(t.url(&format!("/personnes/{kept}/fusionner")))
        .form(&[("other", foreign.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM people WHERE id = {foreign}")).await, 1);

    // Bulk tag: only people in scope get it.
    let form = vec![
        ("ids", kept.to_string()),
        ("ids", third.to_string()),
        ("ids", foreign.to_string()),
        ("tag", "Phoning Novembre".to_string()),
    ];
    let r = c.post(t.url("/personnes/etiqueter")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.count("SELECT COUNT(*) FROM person_tags WHERE tag = 'phoning novembre'").await, 2);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_tags WHERE person_id = {foreign}")).await, 0);
    let list = c.get(t.url("/personnes?tag=Phoning%20novembre")).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("2 personne(s)"), "tags match whatever the case");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_curates_skills_and_people_record_their_availability() {
    let t = TestApp::spawn().await;
    let admin = t.login(ADMIN).await;
    let r = admin.post(t.url("/competences")).form(&[("name", "Sciences")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        admin.post(t.url("/competences")).form(&[("name", "sciences")]).send().await.unwrap().status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let coord = t.login(COORD_69).await;
    assert_eq!(
        coord.post(t.url("/competences")).form(&[("name", "Autre")]).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let fed = t.federation_id("69").await.to_string();
    let r = coord
        .post(t.url("/personnes/nouvelle"))
        .form(&[
            ("federation_id", fed.as_str()),
            ("last_name", "Curie"),
            ("category", "member"),
            ("skills", "sciences"),
            ("availability", "samedi matin"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = coord.get(t.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Sciences") && page.contains("samedi matin"), "{page}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_imports_a_file_and_writes_the_rejected_rows_next_to_it() {
    let t = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("adherents.csv");
    std::fs::write(
        &file,
        b"Pr\xe9nom;Nom;Courriel;Portable\r\nAnn;Bou;ann@example.org;0611111111\r\nBad;Row;nope;\r\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrain"))
        .args(["import", "contacts"])
        .arg(&file)
        .args(["--federation", "69", "--category", "member", "--database-url", t.db.url()])
        .env_remove("TERRAIN_SMTP_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 inserted") && stdout.contains("1 rejected"), "{stdout}");
    let rejects = std::fs::read_to_string(dir.path().join("adherents.rejets.csv")).unwrap();
    assert!(rejects.contains("e-mail invalide"));
    let (category, phone): (String, Option<String>) =
        sqlx::query_as("SELECT category, phone FROM people WHERE email = 'ann@example.org'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert_eq!((category.as_str(), phone.as_deref()), ("member", Some("+33611111111")));

    // A load in one transaction (what big files get): same dedupe and merge, and the indexes it rebuilt are all
    // back, the unique e-mail one enforced.
    let indexes = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('people', 'person_tags', 'person_skills')";
    let before = if t.app.db.backend == terrain::db::Backend::Sqlite { t.count(indexes).await } else { 0 };
    let second = dir.path().join("sympathisants.csv");
    std::fs::write(
        &second,
        "Prénom;Nom;Courriel;Ville\nAnn;Bou;ANN@example.org;Villeurbanne\nLéa;Roy;lea@example.org;\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrain"))
        .args(["import", "contacts"])
        .arg(&second)
        .args(["--federation", "69", "--exclusive", "--database-url", t.db.url()])
        .env_remove("TERRAIN_SMTP_HOST")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 inserted, 1 updated"), "{stdout}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM people WHERE city = 'Villeurbanne' AND email = 'ann@example.org'").await,
        1
    );
    if t.app.db.backend == terrain::db::Backend::Sqlite {
        assert_eq!(t.count(indexes).await, before);
        // Lookups by address (with or without the federation) and by phone find their index.
        for (query, index) in [
            ("SELECT id FROM people WHERE federation_id = 1 AND email = 'x'", "people_email"),
            ("SELECT id FROM people WHERE email = 'x'", "people_email"),
            ("SELECT id FROM people WHERE federation_id = 1 AND phone = '+33600000000'", "people_phone"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {query}")).fetch_all(&t.app.db.pool).await.unwrap();
            assert!(plan.iter().any(|p| p.3.contains(index)), "{query}: {plan:?}");
        }
    }
    let fed = t.federation_id("69").await;
    let duplicate = sqlx::query(
        "INSERT INTO people (federation_id, email, category, legal_basis, origin, origin_channel, created_at, \
         updated_at, last_activity_at) VALUES ($1, 'lea@example.org', 'curious', 'consent', 'x', 'manual', 0, 0, 0)",
    )
    .bind(fed)
    .execute(&t.app.db.pool)
    .await;
    assert!(duplicate.is_err(), "the unique e-mail index is back");

    // Bad arguments: one clear line, nothing imported.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrain"))
        .args(["import", "contacts"])
        .arg(&file)
        .args(["--federation", "00", "--database-url", t.db.url()])
        .env_remove("TERRAIN_SMTP_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no federation with code 00"));
    t.stop().await;
}

/// A load in one transaction goes through SQLite's own interface (`db::link`): over several batches, a row merges
/// into a person written by an earlier batch of the same transaction, tags and skills follow, a bad row is refused,
/// and loading the same file again changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_in_one_transaction_merges_across_its_batches() {
    let t = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grand-fichier.csv");
    let mut csv = String::from("Prénom;Nom;E-mail;Téléphone;Ville;Étiquettes;Compétences\n");
    for i in 0..12_000 {
        csv.push_str(&format!("P{i};Nom{i};p{i}@example.org;;;lot{};\n", i / 5_000));
    }
    // In the third batch: the first row's person again (another case, a city and a skill to add), and a bad row.
    csv.push_str("P0;Nom0;P0@EXAMPLE.ORG;06 12 34 56 78;Villeurbanne;relance;Santé\n");
    csv.push_str("Bad;Row;pas-une-adresse;;;;\n");
    std::fs::write(&file, &csv).unwrap();
    // The indexes and foreign keys set aside during the load are all back afterwards.
    let schema = match t.app.db.backend {
        terrain::db::Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' \
             AND tbl_name IN ('people', 'person_tags', 'person_skills')"
        }
        terrain::db::Backend::Postgres => {
            "SELECT (SELECT COUNT(*) FROM pg_indexes WHERE tablename IN ('people', 'person_tags', 'person_skills')) \
             * 1000 + (SELECT COUNT(*) FROM pg_constraint WHERE contype = 'f' \
             AND conrelid IN ('people'::regclass, 'person_tags'::regclass, 'person_skills'::regclass))"
        }
    };
    let before = t.count(schema).await;
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_terrain"))
            .args(["import", "contacts"])
            .arg(&file)
            .args(["--federation", "69", "--exclusive", "--database-url", t.db.url()])
            .env_remove("TERRAIN_SMTP_HOST")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let stdout = run();
    assert!(
        stdout.contains("12002 rows: 12000 inserted, 1 updated, 0 unchanged, 0 suppressed (erased before), 1 rejected"),
        "{stdout}"
    );
    let p0 = "(SELECT id FROM people WHERE email = 'p0@example.org')";
    assert_eq!(
        t.count(&format!(
            "SELECT COUNT(*) FROM people WHERE id = {p0} AND city = 'Villeurbanne' AND phone = '+33612345678'"
        ))
        .await,
        1
    );
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_tags WHERE person_id = {p0}")).await, 2);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM person_skills WHERE person_id = {p0}")).await, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM person_tags WHERE tag = 'lot2'").await, 2_000);
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE email LIKE 'p%@example.org'").await, 12_000);

    assert_eq!(t.count(schema).await, before);
    let again = run();
    assert!(again.contains("12002 rows: 0 inserted, 0 updated, 12001 unchanged"), "{again}");
    assert_eq!(t.count("SELECT COUNT(*) FROM people WHERE email LIKE 'p%@example.org'").await, 12_000);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_50_mb_file_imports_through_the_web_with_progress_shown() {
    let t = TestApp::spawn_with(|c| c.workers = 0).await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    // ~50 MB: 25,000 people with long notes, as a big federation's export could be.
    let filler = "Rencontré·e au marché, intéressé·e par les questions de logement et de transports. ".repeat(23);
    let mut csv = String::from("Prénom;Nom;E-mail;Téléphone;Code postal;Ville;Notes\n");
    let rows: i64 = std::env::var("BIG_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(25_000);
    for i in 0..rows {
        csv.push_str(&format!("Prénom{i};Nom{i};personne{i}@example.org;06{:08};69100;Villeurbanne;{filler}{i}\n", i));
    }
    assert!(rows < 25_000 || csv.len() > 48 * 1024 * 1024, "{} bytes", csv.len());
    let form = Form::new()
        .text("federation_id", fed.to_string())
        .part("file", Part::bytes(csv.into_bytes()).file_name("gros.csv"));
    let r = c.post(t.url("/personnes/import")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    let preview = c.get(t.url(&loc)).send().await.unwrap().text().await.unwrap();
    assert!(preview.contains(&format!("{rows} ligne(s)")), "{}", &preview[..preview.len().min(2000)]);
    let mut fields =
        vec![("category".to_string(), "sympathiser".to_string()), ("legal_basis".to_string(), String::new())];
    for (i, f) in ["first_name", "last_name", "email", "phone", "postcode", "city", "notes"].iter().enumerate() {
        fields.push((format!("col{i}"), f.to_string()));
    }
    assert_eq!(c.post(t.url(&loc)).form(&fields).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    // Run the job in the background and watch the page while it works.
    let runner = t.app.runner();
    let job = tokio::spawn(async move { while runner.run_one("big").await.unwrap() {} });
    let mut saw_progress = false;
    let started = std::time::Instant::now();
    loop {
        if started.elapsed() > std::time::Duration::from_secs(300) {
            let jobs: Vec<(String, Option<String>)> =
                sqlx::query_as("SELECT state, last_error FROM jobs WHERE kind = 'import_people'")
                    .fetch_all(&t.app.db.pool)
                    .await
                    .unwrap();
            panic!("the import did not finish: {jobs:?}");
        }
        let page = c.get(t.url(&loc)).send().await.unwrap().text().await.unwrap();
        if page.contains("Import terminé") {
            assert_eq!(count_in(&page, "ajoutée(s)"), rows);
            break;
        }
        if page.contains("<progress") && page.contains("http-equiv=\"refresh\"") {
            saw_progress = true;
        }
        assert!(!page.contains("L'import a échoué"), "{page}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    job.await.unwrap();
    assert!(saw_progress, "the page showed the progress of the running import");
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, rows);
    assert_eq!(t.count("SELECT COUNT(*) FROM import_files").await, 0, "the file is not kept");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_matches_name_prefixes_without_accents_last_names_first() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = "Prénom,Nom,E-mail,Téléphone\n\
                Martine,Leroy,martine@example.org,\n\
                Marc,Martin,marc.martin@example.org,06 11 22 33 44\n\
                Anne,Marchand,anne@example.org,\n\
                Hélène,Durand,helene.durand@example.org,\n\
                Jean-François,Dupont,jf@example.org,07 55 44 33 22\n\
                Paul,Amar,paul@example.org,\n";
    let (_, page) = import_file(&t, &c, fed, "noms.csv", file.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 6, "{page}");
    let search = |q: &'static str| {
        let c = c.clone();
        let url = t.url("/personnes");
        async move {
            let r = c.get(url).query(&[("q", q)]).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{q}");
            r.text().await.unwrap()
        }
    };
    let order = |page: &str, names: &[&str]| {
        let positions: Vec<usize> =
            names.iter().map(|n| page.find(n).unwrap_or_else(|| panic!("{n} missing from {page}"))).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{names:?} out of order in the results");
    };
    // Last names first (Marchand, Martin), then first names (Martine Leroy); Amar matches nowhere's start.
    let page = search("MAR").await;
    order(&page, &["Marchand", "Martin", "Leroy"]);
    assert!(!page.contains("Amar") && page.contains("3 personne(s)"), "{page}");
    // Accents and hyphens do not matter, both orders of first and last name work.
    for q in ["helene", "HÉLÈNE dur", "durand hel"] {
        assert!(search(q).await.contains("Durand"), "{q}");
    }
    for q in ["jean francois", "jean-fr dupont", "dupont jean"] {
        let page = search(q).await;
        assert!(page.contains("Dupont") && page.contains("1 personne(s)"), "{q}: {page}");
    }
    // E-mail and phone prefixes, in national or E.164 format.
    assert!(search("marc.martin@ex").await.contains("Martin"));
    assert!(!search("martin@").await.contains("Martin"), "e-mails match from their start");
    let page = search("06 11 22").await;
    assert!(page.contains("Martin") && page.contains("1 personne(s)"), "{page}");
    assert!(search("+33755").await.contains("Dupont"));
    // Wildcards are plain characters, not patterns.
    assert!(search("d%nd").await.contains("0 personne(s)"));
    assert!(search("d_rand").await.contains("0 personne(s)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_curates_causes_of_interest_that_people_carry_and_segments_select() {
    let t = TestApp::spawn().await;
    let admin = t.login(ADMIN).await;
    let r = admin
        .post(t.url("/competences"))
        .form(&[("name", "Bureaux de poste"), ("kind", "cause")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = admin.get(t.url("/competences")).send().await.unwrap().text().await.unwrap();
    let causes = &page[page.find("Causes qui intéressent").unwrap()..];
    assert!(causes.contains("Bureaux de poste") && causes.contains("Services publics"));
    let refused = admin.post(t.url("/competences")).form(&[("name", "X"), ("kind", "autre")]).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An import column "Causes" fills them; the person page shows them apart from skills; a segment selects them.
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let file = "Prénom,Nom,E-mail,Compétences,Causes\nAnne,Postière,anne@example.org,La Poste,Bureaux de poste\n\
                Paul,Autre,paul@example.org,,Climat et écologie\n";
    let (_, page) = import_file(&t, &c, fed, "causes.csv", file.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 2, "{page}");
    let anne: i64 = t.count("SELECT id FROM people WHERE email = 'anne@example.org'").await;
    let show = c.get(t.url(&format!("/personnes/{anne}"))).send().await.unwrap().text().await.unwrap();
    let causes_row = &show[show.find("<dt>Causes</dt>").unwrap()..];
    assert!(causes_row[..200].contains("Bureaux de poste"), "{causes_row}");
    let cause: i64 = t.count("SELECT id FROM skills WHERE name = 'Bureaux de poste'").await;
    let (status, count) = segment_count(&c, &t, &format!("competence={cause}")).await;
    assert_eq!((status, count.as_str()), (StatusCode::OK, "1"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_keep_several_addresses_and_phones_through_forms_imports_search_and_erasure() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let further = |id: i64| {
        let pool = t.app.db.pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT kind, value FROM person_contacts WHERE person_id = $1 ORDER BY kind, value",
            )
            .bind(id)
            .fetch_all(&pool)
            .await
            .unwrap()
        }
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());

    // A NationBuilder-style export: every e-mail column and every phone column is kept.
    let nb = "nationbuilder_id,first_name,last_name,email,email1,email2,phone_number,mobile_number,work_phone_number\n\
              201,Nadia,Haddad,nadia@example.org,Nadia@Example.org,nadia.pro@mairie.example.fr,04 78 11 22 33,06 44 55 66 77,\n\
              202,Louis,Garnier,louis@example.org,,,,07 11 22 33 44,04 72 00 00 01\n";
    let (_, page) = import_file(&t, &c, fed, "nb.csv", nb.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 2, "{page}");
    let nadia: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'nadia@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        further(nadia).await,
        [pair("email", "nadia.pro@mairie.example.fr"), pair("phone", "+33644556677")],
        "the same address twice is one address; the first number is the person's phone"
    );

    // A later file knows Nadia only by her work address: it completes her card instead of creating another one, and
    // brings a new number. Re-importing it changes nothing.
    let later = b"prenom,nom,email,portable\nNadia,Haddad,NADIA.PRO@mairie.example.fr,06 99 88 77 66\n".to_vec();
    let (_, page) = import_file(&t, &c, fed, "later.csv", later.clone()).await;
    assert_eq!((count_in(&page, "ajoutée(s)"), count_in(&page, "complétée(s)")), (0, 1), "{page}");
    assert!(further(nadia).await.contains(&pair("phone", "+33699887766")));
    let (_, page) = import_file(&t, &c, fed, "later.csv", later).await;
    assert_eq!((count_in(&page, "ajoutée(s)"), count_in(&page, "complétée(s)")), (0, 0), "{page}");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM people WHERE federation_id = {fed}")).await, 2);

    // The card shows them; search finds a person by a further address or number.
    let card = c.get(t.url(&format!("/personnes/{nadia}"))).send().await.unwrap().text().await.unwrap();
    assert!(card.contains("Autres adresses e-mail") && card.contains("nadia.pro@mairie.example.fr"), "{card}");
    assert!(card.contains("Autres téléphones") && card.contains("06 99 88 77 66"), "{card}");
    for q in ["nadia.pro@", "06 99 88"] {
        let list = c.get(t.url("/personnes")).query(&[("q", q)]).send().await.unwrap().text().await.unwrap();
        assert!(list.contains("Haddad") && list.contains("1 personne(s)"), "{q}: {list}");
    }
    // The API gives them too.
    let token = t.api_token(&c).await;
    let api: serde_json::Value = t
        .client()
        .get(t.url(&format!("/api/v1/people/{nadia}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["other_emails"][0], "nadia.pro@mairie.example.fr", "{api}");
    assert_eq!(api["other_phones"].as_array().unwrap().len(), 2, "{api}");
    // National staff see people but not their phones: further phones follow the first one's rule.
    let hq = t.login(NATIONAL_STAFF).await;
    let page = hq.get(t.url(&format!("/personnes/{nadia}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("nadia.pro@mairie.example.fr"), "{page}");
    assert!(!page.contains("04 78 11 22 33") && !page.contains("06 99 88 77 66") && !page.contains("+336"), "{page}");

    // The form edits them; an address of another person is refused and changes nothing.
    let form = |others: &str| {
        vec![
            ("first_name", "Nadia".to_string()),
            ("last_name", "Haddad".to_string()),
            ("email", "nadia@example.org".to_string()),
            ("phone", "04 78 11 22 33".to_string()),
            ("other_emails", others.to_string()),
            ("other_phones", "06 44 55 66 77".to_string()),
            ("category", "sympathiser".to_string()),
        ]
    };
    let r = c.post(t.url(&format!("/personnes/{nadia}"))).form(&form("louis@example.org")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("« louis@example.org »"));
    let r = c.post(t.url(&format!("/personnes/{nadia}"))).form(&form("pas une adresse")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(further(nadia).await.len(), 3, "nothing changed");
    let r = c
        .post(t.url(&format!("/personnes/{nadia}")))
        .form(&form("Nadia.Pro@mairie.example.fr\nnadia.perso@example.net"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        further(nadia).await,
        [
            pair("email", "nadia.perso@example.net"),
            pair("email", "nadia.pro@mairie.example.fr"),
            pair("phone", "+33644556677")
        ]
    );
    let edit = c.get(t.url(&format!("/personnes/{nadia}/modifier"))).send().await.unwrap().text().await.unwrap();
    assert!(edit.contains("nadia.perso@example.net\nnadia.pro@mairie.example.fr"), "{edit}");
    // Creating a person with someone's further address is refused.
    let r = c
        .post(t.url("/personnes/nouvelle"))
        .form(&[
            ("federation_id", fed.to_string().as_str()),
            ("email", "nadia.perso@example.net"),
            ("category", "curious"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A card with Louis's work number is proposed as his duplicate; the CSV export lists further addresses.
    let louis: i64 = sqlx::query_scalar("SELECT id FROM people WHERE email = 'louis@example.org'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let r = c
        .post(t.url("/personnes/nouvelle"))
        .form(&[("federation_id", fed.to_string().as_str()), ("phone", "04 72 00 00 01"), ("category", "curious")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let card = location(&r).trim_start_matches("/personnes/").split('?').next().unwrap().to_string();
    let page = c.get(t.url(&format!("/personnes/{card}/fusionner"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("value=\"{louis}\"")), "{page}");
    let csv = c.get(t.url("/personnes/export.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("autres e-mails;autres téléphones"), "{csv}");
    assert!(
        csv.contains("nadia.perso@example.net, nadia.pro@mairie.example.fr")
            || csv.contains("nadia.pro@mairie.example.fr, nadia.perso@example.net"),
        "{csv}"
    );

    // Self-service by a further address finds the record; its export lists them.
    let anon = t.client();
    anon.post(t.url("/mes-donnees")).form(&[("email", "nadia.perso@example.net")]).send().await.unwrap();
    let link = link_in(&t.last_mail_to("nadia.perso@example.net").await, "/mes-donnees/");
    let json: serde_json::Value =
        anon.get(t.url(&format!("{link}/donnees.json"))).send().await.unwrap().json().await.unwrap();
    let record = &json["records"][0];
    assert_eq!(record["people"]["id"], nadia);
    assert_eq!(record["person_contacts"]["emails"].as_array().unwrap().len(), 2, "{json}");
    let staff_json: serde_json::Value =
        c.get(t.url(&format!("/personnes/{nadia}/donnees.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(staff_json["person_contacts"]["phones"][0], "+33644556677");

    // Erasure suppresses every address and number: a file with only a further one does not bring her back.
    let r = c
        .post(t.url(&format!("/personnes/{nadia}/effacer")))
        .form(&[("reason", "erased"), ("confirm", "oui")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.count("SELECT COUNT(*) FROM person_contacts").await, 1, "only Louis's work number is left");
    for file in ["nom,email\nHaddad,nadia.perso@example.net\n", "nom,telephone\nHaddad,06 44 55 66 77\n"] {
        let (_, page) = import_file(&t, &c, fed, "again.csv", file.as_bytes().to_vec()).await;
        assert_eq!((count_in(&page, "ajoutée(s)"), count_in(&page, "non recréée(s)")), (0, 1), "{file}: {page}");
    }
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_file_merges_into_a_big_federation_reading_only_the_people_it_names() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let mut big = String::from("Prénom;Nom;E-mail;Téléphone\n");
    for i in 0..40 {
        big.push_str(&format!("P{i};Nom{i};p{i}@example.org;06 12 34 56 {i:02}\n"));
    }
    let (_, page) = import_file(&t, &c, fed, "base.csv", big.into_bytes()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 40, "{page}");
    let p10 = person_id(&t, "p10@example.org").await;
    sqlx::query(
        "INSERT INTO person_contacts (person_id, federation_id, kind, value, created_at) \
         VALUES ($1, $2, 'email', 'autre@example.org', 0)",
    )
    .bind(p10)
    .bind(fed)
    .execute(&t.app.db.pool)
    .await
    .unwrap();

    // Four rows against forty people: the import reads only the people these rows name (`Known::targeted`), and
    // merges as when it reads the whole federation.
    let small = "Prénom;Nom;E-mail;Téléphone;Ville;Étiquettes\n\
                 P5;Nom5;P5@Example.org;;Lyon;tractage\n\
                 ;Nom7;;+33 6 12 34 56 07;;phoning\n\
                 P10;Nom10;Autre@example.org;;;\n\
                 Nouvelle;Personne;nouvelle@example.org;06 99 99 99 99;;\n";
    let (_, page) = import_file(&t, &c, fed, "petit.csv", small.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "ajoutée(s)"), 1, "{page}");
    assert_eq!(count_in(&page, "complétée(s)"), 2, "P5 gets a city and a tag, Nom7 a tag: {page}");
    assert_eq!(count_in(&page, "déjà à jour"), 1, "P10, found by a further address: {page}");
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 41);
    let p5 = person_id(&t, "p5@example.org").await;
    let city: String =
        sqlx::query_scalar("SELECT city FROM people WHERE id = $1").bind(p5).fetch_one(&t.app.db.pool).await.unwrap();
    assert_eq!(city, "Lyon");
    let p7 = person_id(&t, "p7@example.org").await;
    let tags: Vec<String> = sqlx::query_scalar("SELECT tag FROM person_tags WHERE person_id = $1")
        .bind(p7)
        .fetch_all(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(tags, ["phoning"], "the row found Nom7 by the phone alone");

    // The same file again changes nothing.
    let (_, page) = import_file(&t, &c, fed, "petit.csv", small.as_bytes().to_vec()).await;
    assert_eq!(count_in(&page, "déjà à jour"), 4, "{page}");
    assert_eq!(t.count("SELECT COUNT(*) FROM people").await, 41);
    t.stop().await;
}
