//! Territory pages: HQ imports shipped files through the web (a job, polled), classifies, and everyone with a view
//! of the organisation reads the zones' pages, maps and ranked lists; HQ's forms are refused to others; bad input
//! changes nothing.

use std::collections::HashSet;
use std::io::Read;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use terrain::territory::classify::{self, Thresholds};
use terrain::territory::zone::{self, Level};

use crate::helpers::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// What askama writes for a text.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}

async fn get(client: &reqwest::Client, t: &TestApp, path: &str) -> (StatusCode, String) {
    let r = client.get(t.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Posts a results file on HQ's import form; returns the import page's path.
async fn upload_results(
    t: &TestApp,
    client: &reqwest::Client,
    name: &str,
    bytes: Vec<u8>,
    key: &str,
    label: &str,
    round: &str,
) -> reqwest::Response {
    let form = Form::new()
        .text("what", "results")
        .text("key", key.to_string())
        .text("label", label.to_string())
        .text("kind", "presidentielle")
        .text("round", round.to_string())
        .text("year", "2017")
        .part("file", Part::bytes(bytes).file_name(name.to_string()));
    client.post(t.url("/territoire/gestion/imports")).multipart(form).send().await.unwrap()
}

/// Follows an import to its end like a browser (the page refreshes itself while it runs); returns the final page.
async fn wait_for_import(t: &TestApp, client: &reqwest::Client, path: &str) -> String {
    for _ in 0..600 {
        t.drain_jobs().await;
        let (status, html) = get(client, t, path).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        if !html.contains("http-equiv=\"refresh\"") {
            return html;
        }
        assert!(html.contains("<progress"), "a running import shows its progress");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the import of {path} did not finish");
}

async fn import_through_the_web(
    t: &TestApp,
    client: &reqwest::Client,
    file: &str,
    key: &str,
    label: &str,
    round: &str,
) -> String {
    let r = upload_results(t, client, file, read(&format!("elections/rhone-69/{file}")), key, label, round).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = location(&r);
    assert!(page.starts_with("/territoire/gestion/imports/"), "{page}");
    wait_for_import(t, client, &page).await
}

/// The inline SVG of a page, parsed: (path id → fill) of each zone shape.
fn zone_shapes(html: &str) -> Vec<(String, String)> {
    let start = html.find("<svg").expect("a map");
    let end = html[start..].find("</svg>").expect("end of the map") + start + "</svg>".len();
    shapes(&html[start..end])
}

fn shapes(svg: &str) -> Vec<(String, String)> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("map is not well-formed XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("path") && n.attribute("class") == Some("zone"))
        .map(|n| {
            assert!(n.children().any(|c| c.has_tag_name("title")), "each zone is named for hover and focus");
            (n.attribute("id").unwrap().to_string(), n.attribute("fill").unwrap().to_string())
        })
        .collect()
}

async fn scalar_strings(t: &TestApp, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_all(&t.app.db.pool).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hq_imports_classifies_and_everyone_reads_the_zones() {
    let t = TestApp::spawn().await;
    let hq = t.login(ADMIN).await;
    let (status, html) = get(&hq, &t, "/territoire").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Aucune élection importée"));
    assert!(html.contains("href=\"/territoire\" aria-current=\"page\""), "Territoire in the navigation");

    // Two rounds of the Rhône 2017 (official layout), then Filosofi, through the web, each as a job.
    let page =
        import_through_the_web(&t, &hq, "pres2017_t1_bv_69.csv.gz", "pres2017t1", "Présidentielle 2017, 1er tour", "1")
            .await;
    assert!(page.contains("<strong>importé</strong>"), "{page}");
    assert!(page.contains("Présidentielle 2017, 1er tour (pres2017t1) : 1\u{202f}287 bureaux de vote"), "{page}");
    assert!(page.contains("fichier officiel jusqu&#39;en 2017"), "{page}");
    import_through_the_web(&t, &hq, "pres2017_t2_bv_69.csv.gz", "pres2017t2", "Présidentielle 2017, 2d tour", "2")
        .await;
    let form = Form::new().text("what", "socio").part(
        "file",
        Part::bytes(read("socio/filosofi2021_communes_69.csv.gz")).file_name("filosofi2021_communes_69.csv.gz"),
    );
    let r = hq.post(t.url("/territoire/gestion/imports")).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let socio = wait_for_import(&t, &hq, &location(&r)).await;
    assert!(socio.contains("Insee, Filosofi 2021 : 265 communes"), "{socio}");
    assert_eq!(t.audit_count("territory_import_queued").await, 3);
    assert_eq!(t.audit_count("election_imported").await, 2);
    assert_eq!(t.audit_count("indicators_imported").await, 1);
    // The file left the job row once imported.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'import_territory' AND payload LIKE '%\"file\":\"H4sI%'").await,
        0
    );

    // Classify the second round against the first.
    let r = hq
        .post(t.url("/territoire/gestion/classement"))
        .form(&[("reference", "pres2017t2"), ("previous", "pres2017t1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("territory_classified").await, 1);

    // A federation's activist reads the commune page: explanation, figures, profile, ranked bureaux.
    let reader = t.login(ACTIVIST_69).await;
    let (status, html) = get(&reader, &t, "/territoire/communes/69259").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let explanation =
        terrain::territory::classify::explanation(&t.app.db, terrain::territory::classify::Level::Commune, "69259")
            .await
            .unwrap();
    assert!(html.contains("<h1>Vénissieux</h1>"));
    assert!(html.contains(&escaped(&explanation)), "explanation shown: {explanation}");
    assert!(explanation.contains("Depuis Présidentielle 2017, 1er tour"), "{explanation}");
    assert!(html.contains("Présidentielle 2017, 2d tour comparées à Présidentielle 2017, 1er tour"));
    assert!(html.contains("Revenu médian disponible par UC (2021)") && html.contains("17\u{202f}140\u{202f}€"));
    assert!(html.contains("Rhône, 14e circonscription"), "parent circonscription linked");
    assert!(html.contains("Les contours des bureaux de vote ne sont disponibles que pour Paris"));
    let ranked = html.split("id=\"classement\"").nth(1).expect("ranked list");
    let bureaux: Vec<&str> =
        ranked.split("<a href=\"/territoire/bureaux/").skip(1).map(|s| s.split('"').next().unwrap()).collect();
    let expected = scalar_strings(
        &t,
        "SELECT zone FROM zone_classes WHERE level = 'bureau' AND zone LIKE '69259-%' ORDER BY priority DESC, zone LIMIT 25",
    )
    .await;
    assert!(expected.len() > 10);
    assert_eq!(bureaux, expected.iter().map(String::as_str).collect::<Vec<_>>(), "bureaux by priority");
    // The commune is singled out on the map of its neighbours.
    assert!(zone_shapes(&html).iter().any(|(id, _)| id == "carte-69259"));
    assert!(html.contains("<g class=\"turf\""));

    // Filter by class and paginate.
    let hesitant = scalar_strings(
        &t,
        "SELECT zone FROM zone_classes WHERE level = 'bureau' AND zone LIKE '69123-%' AND class = 'hesitant'",
    )
    .await;
    let (_, lyon) = get(&reader, &t, "/territoire/communes/69123?classe=hesitant&page=1").await;
    assert!(lyon.contains(&format!("{} zone(s)", hesitant.len())), "{}", hesitant.len());
    if hesitant.len() > 25 {
        assert!(lyon.contains("Page 1 sur") && lyon.contains("Page suivante"));
    }

    // The département's map: well-formed XML, one shape per commune, each classified commune once with its colour.
    let (status, html) = get(&reader, &t, "/territoire/departements/69").await;
    assert_eq!(status, StatusCode::OK);
    let shapes = zone_shapes(&html);
    let ids: HashSet<&str> = shapes.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), shapes.len(), "one shape per zone");
    assert_eq!(shapes.len(), 265, "the shipped Rhône contours");
    let classified: HashSet<String> =
        scalar_strings(&t, "SELECT zone FROM zone_classes WHERE level = 'commune' AND departement = '69'")
            .await
            .into_iter()
            .collect();
    let with_data: HashSet<String> = shapes
        .iter()
        .filter(|(_, fill)| !fill.starts_with("url("))
        .map(|(id, _)| id.trim_start_matches("carte-").to_string())
        .collect();
    let drawn: HashSet<String> = ids.iter().map(|id| id.trim_start_matches("carte-").to_string()).collect();
    assert_eq!(with_data, classified.intersection(&drawn).cloned().collect::<HashSet<_>>());
    // Communes of 2017 merged since into communes nouvelles are not current communes: no contour of their own.
    let current: HashSet<String> =
        scalar_strings(&t, "SELECT code FROM communes WHERE departement_code = '69'").await.into_iter().collect();
    let undrawn: Vec<&String> = classified.difference(&drawn).filter(|c| current.contains(*c)).collect();
    assert!(undrawn.is_empty(), "current communes without a shape: {undrawn:?}");
    assert!(with_data.len() > 250, "{}", with_data.len());
    assert!(html.contains("<a href=\"/territoire/communes/69259\">"), "zones link to their page");
    // Other colourings, and the same map as a document.
    let (_, abstention) = get(&reader, &t, "/territoire/departements/69?carte=abstention").await;
    assert!(abstention.contains("<p class=\"map-key-title\">Abstention</p>"));
    assert!(abstention.contains("<option value=\"abstention\" selected>"));
    let r = reader.get(t.url("/territoire/departements/69/carte.svg?carte=priorite")).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml; charset=utf-8");
    let document = r.text().await.unwrap();
    assert_eq!(shapes_of_document(&document), 265);
    assert!(
        document.contains(">Priorité (électeurs à gagner)</text>") && document.contains("IGN"),
        "legend and credit"
    );
    for (niveau, link) in
        [("circonscriptions", "/territoire/circonscriptions/69-"), ("bureaux", "/territoire/bureaux/69")]
    {
        let (_, list) = get(&reader, &t, &format!("/territoire/departements/69?niveau={niveau}")).await;
        assert!(list.contains(link), "{niveau}");
    }

    // Circonscription and bureau pages.
    let (status, html) = get(&reader, &t, "/territoire/circonscriptions/69-14").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Rhône, 14e circonscription</h1>"));
    assert!(html.contains("Calculés à partir des"), "profile of a circonscription from its communes");
    assert!(html.contains("href=\"/territoire/communes/69259\""));
    let (status, html) = get(&reader, &t, "/territoire/bureaux/69259-0001").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Vénissieux, bureau 0001</h1>"));
    assert!(html.contains("la commune du bureau (Vénissieux)"));
    assert_eq!(get(&reader, &t, "/territoire/bureaux/99999-0001").await.0, StatusCode::NOT_FOUND);
    assert_eq!(get(&reader, &t, "/territoire/departements/00").await.0, StatusCode::NOT_FOUND);

    // The overview: totals, classes, national map of circonscriptions (overseas in insets).
    let (_, html) = get(&reader, &t, "/territoire").await;
    assert!(html.contains("Présidentielle 2017, 1er tour") && html.contains("1\u{202f}287"));
    assert!(html.contains("href=\"/territoire/departements/69\""));
    assert!(zone_shapes(&html).len() > 500);

    // Lookups for the fiche militante.
    let info = zone::zone_info(&t.app.db, Level::Bureau, "69259-0001").await.unwrap().unwrap();
    assert_eq!(info.name, "Vénissieux, bureau 0001");
    assert_eq!(info.departement.as_ref().unwrap().name, "Rhône");
    assert_eq!(info.federation_id, Some(t.federation_id("69").await));
    assert!(info.classification.is_some() && info.profile.note.is_some());
    let kinds: Vec<&str> = info.parents.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, ["commune", "circonscription", "département"]);
    let circ = zone::zone_info(&t.app.db, Level::Circonscription, "69-14").await.unwrap().unwrap();
    assert_eq!(circ.name, "Rhône, 14e circonscription");
    assert!(zone::zone_info(&t.app.db, Level::Commune, "00000").await.unwrap().is_none());
    let svg =
        zone::turf_map_svg(&t.app.db, &[(Level::Bureau, "69259-0001".into()), (Level::Commune, "69290".into())], 500)
            .await
            .unwrap()
            .expect("a map of the turf");
    let turf = roxmltree::Document::parse(&svg).unwrap();
    assert!(turf.descendants().any(|n| n.attribute("class") == Some("turf")));
    assert!(svg.contains("Zones du secteur") && svg.contains("Vénissieux"));
    assert!(zone::turf_map_svg(&t.app.db, &[(Level::Commune, "00000".into())], 500).await.unwrap().is_none());

    // HQ moves a candidate to another bloc: the next classification recomputes the votes by bloc.
    let classify_first_round = || async {
        let r = hq
            .post(t.url("/territoire/gestion/classement"))
            .form(&[("reference", "pres2017t1"), ("previous", "pres2017t2")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    };
    classify_first_round().await;
    let left_before: f64 =
        sqlx::query_scalar("SELECT left_share FROM zone_classes WHERE level = 'commune' AND zone = '69259'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    let (status, html) = get(&hq, &t, "/territoire/gestion/elections/pres2017t1").await;
    assert_eq!(status, StatusCode::OK);
    let choices: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT c.idx, c.label, c.bloc FROM election_choices c JOIN elections e ON e.id = c.election_id \
         WHERE e.key = 'pres2017t1' ORDER BY c.idx",
    )
    .fetch_all(&t.app.db.pool)
    .await
    .unwrap();
    assert!(html.contains(&format!("name=\"bloc-{}\"", choices[0].0)));
    let melenchon = choices.iter().find(|c| c.1.starts_with("MÉLENCHON")).expect("Mélenchon");
    assert_eq!(melenchon.2, "gauche");
    let mut form: Vec<(String, String)> = choices.iter().map(|(i, _, b)| (format!("bloc-{i}"), b.clone())).collect();
    form.iter_mut().find(|(k, _)| *k == format!("bloc-{}", melenchon.0)).unwrap().1 = "autre".into();
    let r = hq.post(t.url("/territoire/gestion/elections/pres2017t1")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("election_blocs_changed").await, 1);
    let (_, html) = get(&hq, &t, "/territoire/gestion").await;
    assert!(html.contains("blocs modifiés : relancez le classement"));
    // A bad bloc changes nothing.
    form[0].1 = "nulle_part".into();
    let r = hq.post(t.url("/territoire/gestion/elections/pres2017t1")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("rien n&#39;a été changé"));
    classify_first_round().await;
    let left_after: f64 =
        sqlx::query_scalar("SELECT left_share FROM zone_classes WHERE level = 'commune' AND zone = '69259'")
            .fetch_one(&t.app.db.pool)
            .await
            .unwrap();
    assert!(left_after < left_before - 0.05, "{left_before} → {left_after}: Mélenchon no longer counts as gauche");
    let blocs: String = sqlx::query_scalar("SELECT blocs FROM elections WHERE key = 'pres2017t1'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert!(blocs.split(',').nth(melenchon.0 as usize) == Some("autre"), "{blocs}");
    t.stop().await;
}

fn shapes_of_document(svg: &str) -> usize {
    shapes(svg).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_hq_uses_the_tools_and_bad_thresholds_change_nothing() {
    let t = TestApp::spawn().await;
    for email in [COORD_69, ACTIVIST_69] {
        let c = t.login(email).await;
        assert_eq!(get(&c, &t, "/territoire").await.0, StatusCode::OK, "{email} reads the pages");
        let (_, html) = get(&c, &t, "/territoire").await;
        assert!(!html.contains("/territoire/gestion\""), "{email} sees no HQ link");
        for path in ["/territoire/gestion", "/territoire/gestion/elections/pres2017t1", "/territoire/gestion/imports/1"]
        {
            assert_eq!(get(&c, &t, path).await.0, StatusCode::FORBIDDEN, "{email} GET {path}");
        }
        let thresholds = [
            ("volatility", "1"),
            ("closeness", "1"),
            ("abstention_gap", "1"),
            ("abstention_left_min", "1"),
            ("persuadable_share", "1"),
            ("closeness_scale", "1"),
        ];
        for (path, form) in [
            ("/territoire/gestion/seuils", thresholds.to_vec()),
            ("/territoire/gestion/classement", vec![("reference", "a"), ("previous", "b")]),
            ("/territoire/gestion/elections/pres2017t1", vec![("bloc-0", "gauche")]),
        ] {
            let r = c.post(t.url(path)).form(&form).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} POST {path}");
        }
        let r = upload_results(&t, &c, "x.csv", b"a;b\n".to_vec(), "k", "L", "1").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email} uploads");
    }
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'import_territory'").await, 0);
    assert_eq!(classify::load_thresholds(&t.app.db).await.unwrap(), Thresholds::default());
    // Before any import, pages say so (and zones known from the reference data still have one).
    let c = t.login(ACTIVIST_69).await;
    let (status, html) = get(&c, &t, "/territoire/departements/69").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Aucune commune de ce département n'est classée"), "{html}");
    assert!(zone_shapes(&html).len() == 265, "the map is drawn, every commune without data");
    let (status, html) = get(&c, &t, "/territoire/communes/69259").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Cette zone n'est pas classée") && html.contains("Aucun indicateur importé"));
    assert_eq!(get(&c, &t, "/territoire/circonscriptions/69-14").await.0, StatusCode::OK);

    // National staff is HQ: bad thresholds are refused in French and change nothing.
    let hq = t.login(NATIONAL_STAFF).await;
    let (status, html) = get(&hq, &t, "/territoire/gestion").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("name=\"volatility\" value=\"5\""));
    let base = [
        ("volatility", "5"),
        ("closeness", "5"),
        ("abstention_gap", "5"),
        ("abstention_left_min", "35"),
        ("persuadable_share", "10"),
        ("closeness_scale", "20"),
    ];
    for (field, bad, message) in [
        ("closeness", "beaucoup", "un nombre est attendu"),
        ("volatility", "150", "entre 0 et 100"),
        ("closeness_scale", "0", "doit être positif"),
    ] {
        let form: Vec<(&str, &str)> = base.iter().map(|&(k, v)| (k, if k == field { bad } else { v })).collect();
        let r = hq.post(t.url("/territoire/gestion/seuils")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}");
        let html = r.text().await.unwrap();
        assert!(html.contains("id=\"erreur-seuils\"") && html.contains(message), "{field}: {html}");
        assert!(html.contains(&format!("name=\"{field}\" value=\"{bad}\"")), "the entered value is kept");
        assert_eq!(classify::load_thresholds(&t.app.db).await.unwrap(), Thresholds::default(), "{field}");
    }
    assert_eq!(t.audit_count("territory_thresholds_changed").await, 0);
    let mut good = base.to_vec();
    good[1] = ("closeness", "2,5");
    let r = hq.post(t.url("/territoire/gestion/seuils")).form(&good).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        classify::load_thresholds(&t.app.db).await.unwrap(),
        Thresholds { closeness: 0.025, ..Thresholds::default() }
    );
    assert_eq!(t.audit_count("territory_thresholds_changed").await, 1);
    let (_, html) = get(&hq, &t, "/territoire/gestion").await;
    assert!(html.contains("name=\"closeness\" value=\"2,5\""));
    // Classifying without elections is refused in French.
    let r = hq
        .post(t.url("/territoire/gestion/classement"))
        .form(&[("reference", "pres2017t2"), ("previous", "pres2017t1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("introuvable : importez-la d&#39;abord"));
    // Bad election details never reach the queue.
    let r = upload_results(&t, &hq, "x.csv", b"a;b\n".to_vec(), "Pas Une Clé", "L", "1").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("Clé d&#39;élection « Pas Une Clé » invalide"));
    assert_eq!(t.count("SELECT COUNT(*) FROM jobs WHERE kind = 'import_territory'").await, 0);
    t.stop().await;
}

/// Counts and sums of the territory tables.
async fn snapshot(t: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM elections",
        "SELECT COUNT(*) FROM bureaux",
        "SELECT COUNT(*) FROM bureau_results",
        "SELECT CAST(COALESCE(SUM(inscrits), 0) AS BIGINT) FROM bureau_results",
        "SELECT COUNT(*) FROM bureau_votes",
        "SELECT CAST(COALESCE(SUM(voix), 0) AS BIGINT) FROM bureau_votes",
        "SELECT COUNT(*) FROM election_choices",
        "SELECT CAST(COALESCE(SUM(imported_at), 0) AS BIGINT) FROM elections",
    ] {
        out.push(t.count(sql).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_upload_changes_nothing_and_shows_its_lines() {
    let t = TestApp::spawn().await;
    let hq = t.login(ADMIN).await;
    import_through_the_web(&t, &hq, "pres2017_t1_bv_69.csv.gz", "rhone", "Rhône 2017", "1").await;
    let before = snapshot(&t).await;
    assert_eq!(before[0], 1);

    // Same key, plain text, two bad lines: a number that is not one, more votants than inscrits.
    let text = String::from_utf8(gunzip(&read("elections/rhone-69/pres2017_t1_bv_69.csv.gz"))).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<String> = lines[4].split(';').map(str::to_string).collect();
    fields[7] = "douze".into();
    lines[4] = fields.join(";");
    let mut fields: Vec<String> = lines[99].split(';').map(str::to_string).collect();
    fields[10] = "999999".into();
    lines[99] = fields.join(";");
    let corrupted = lines.join("\n") + "\n";
    let r = upload_results(&t, &hq, "rhone-corrompu.csv", corrupted.into_bytes(), "rhone", "Rhône 2017", "1").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = wait_for_import(&t, &hq, &location(&r)).await;
    assert!(html.contains("<strong>refusé</strong>"), "{html}");
    assert!(html.contains("2 lignes en erreur : rien n&#39;a été importé"), "{html}");
    assert!(html.contains("<tr><td>5</td><td>ligne 5 : "), "{html}");
    assert!(html.contains("<tr><td>100</td><td>ligne 100 : "), "{html}");
    assert_eq!(snapshot(&t).await, before, "the database is unchanged");
    // A file that is not results at all.
    let r = upload_results(&t, &hq, "notes.txt", b"bonjour\nau revoir\n".to_vec(), "rhone", "Rhône 2017", "1").await;
    let html = wait_for_import(&t, &hq, &location(&r)).await;
    assert!(html.contains("<strong>refusé</strong>") && html.contains("Format de fichier non reconnu"), "{html}");
    assert_eq!(snapshot(&t).await, before);
    assert_eq!(t.audit_count("election_imported").await, 1);
    // The HQ page lists the imports with their outcome.
    let (_, html) = get(&hq, &t, "/territoire/gestion").await;
    assert_eq!(html.matches("<strong>refusé</strong>").count(), 2);
    assert_eq!(html.matches("<strong>importé</strong>").count(), 1);
    t.stop().await;
}
