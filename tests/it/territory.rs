//! Territory: election results imported all or nothing and idempotently, Latin-1 = UTF-8, Insee indicators,
//! classification of zones.

use std::io::{Read, Write};
use std::time::Instant;

use terrain::db::Db;
use terrain::territory::classify::{self, Thresholds};
use terrain::territory::import::{self, ElectionInfo, ElectionKind, ImportError};

use crate::helpers::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/");

fn read(path: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn national(name: &str) -> Vec<u8> {
    read(&format!("elections/national/{name}_par_bureau_large.csv.gz"))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn info(key: &str, label: &str, kind: ElectionKind, round: u32, year: u32) -> ElectionInfo {
    ElectionInfo { key: key.into(), label: label.into(), kind, round, year, source_file: format!("{key}.csv.gz") }
}

async fn import(db: &Db, bytes: &[u8], info: &ElectionInfo) -> Result<import::Report, ImportError> {
    let mut calls = 0u64;
    let mut last = 0u64;
    let report = import::import_results(db, bytes, info, |n| {
        assert!(n >= last, "progress goes forward");
        last = n;
        calls += 1;
    })
    .await;
    if let Ok(r) = &report {
        assert_eq!(last, 2 * r.bureaux as u64, "progress ends at twice the rows");
        assert!(calls > 1);
    }
    report
}

/// What must not change when an election is imported again: counts and totals of every table.
async fn snapshot(db: &Db, key: &str) -> Vec<i64> {
    let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT e.id, e.bureaux, e.inscrits, e.exprimes, \
         (SELECT COUNT(*) FROM bureau_results r WHERE r.election_id = e.id), \
         (SELECT CAST(COALESCE(SUM(r.inscrits), 0) AS BIGINT) FROM bureau_results r WHERE r.election_id = e.id), \
         (SELECT CAST(COALESCE(SUM(r.votants), 0) AS BIGINT) FROM bureau_results r WHERE r.election_id = e.id), \
         (SELECT COUNT(*) FROM bureau_votes v WHERE v.election_id = e.id), \
         (SELECT CAST(COALESCE(SUM(v.voix), 0) AS BIGINT) FROM bureau_votes v WHERE v.election_id = e.id), \
         (SELECT COUNT(*) FROM election_choices c WHERE c.election_id = e.id), \
         (SELECT COUNT(*) FROM bureaux) \
         FROM elections e WHERE e.key = $1",
    )
    .bind(key)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    vec![row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10]
}

async fn votes_for(db: &Db, key: &str, label: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(v.voix), 0) AS BIGINT) FROM bureau_votes v \
         JOIN election_choices c ON c.election_id = v.election_id AND c.idx = v.choice_idx \
         JOIN elections e ON e.id = v.election_id WHERE e.key = $1 AND c.label = $2",
    )
    .bind(key)
    .bind(label)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

async fn bloc_of(db: &Db, key: &str, label: &str) -> String {
    sqlx::query_scalar(
        "SELECT c.bloc FROM election_choices c JOIN elections e ON e.id = c.election_id WHERE e.key = $1 AND c.label = $2",
    )
    .bind(key)
    .bind(label)
    .fetch_one(&db.pool)
    .await
    .unwrap()
}

/// Replaces the `field`-th field of 1-based line `line` (or truncates the line to `field` fields).
fn corrupt(text: &str, line: usize, field: usize, value: Option<&str>) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<&str> = lines[line - 1].split(',').collect();
    match value {
        Some(v) => fields[field] = v,
        None => fields.truncate(field),
    }
    lines[line - 1] = fields.join(",");
    lines.join("\n") + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_national_election_imports_all_or_nothing_and_reimports_as_a_no_op() {
    let t = TestApp::spawn().await;
    let db = &t.app.db;
    let bytes = national("2017-presidentielle-1");
    let pres = info("pres2017t1", "Présidentielle 2017, 1er tour", ElectionKind::Presidentielle, 1, 2017);

    let started = Instant::now();
    let report = import(db, &bytes, &pres).await.unwrap();
    let first_import = started.elapsed().as_secs_f64();
    eprintln!("national presidential file imported in {first_import:.1} s ({} backend)", backend());
    assert!(first_import < 60.0, "import took {first_import:.1} s");
    assert_eq!((report.bureaux, report.choices, report.replaced), (69_242, 11, false));
    assert_eq!((report.inscrits, report.votants, report.exprimes), (47_582_183, 37_003_728, 36_054_394));
    // Zero counts are not stored.
    assert!(report.votes > 600_000 && report.votes < 69_242 * 11, "{}", report.votes);
    // Consulates abroad, Wallis-et-Futuna and communes merged since 2017 are not in today's communes.
    assert!(report.unmatched_communes > 0 && report.unmatched_communes < 2_000, "{report:?}");
    assert!(report.unmatched_examples.len() <= 10);

    assert_eq!(votes_for(db, "pres2017t1", "MÉLENCHON").await, 7_059_951);
    assert_eq!(votes_for(db, "pres2017t1", "MACRON").await, 8_656_346);
    let stored: (i64, i64) = sqlx::query_as(
        "SELECT CAST(SUM(r.inscrits) AS BIGINT), MAX(e.inscrits) FROM bureau_results r \
         JOIN elections e ON e.id = r.election_id WHERE e.key = 'pres2017t1'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, (47_582_183, 47_582_183));
    let melenchon_total: i64 = sqlx::query_scalar("SELECT voix FROM election_choices WHERE label = 'MÉLENCHON'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(melenchon_total, 7_059_951);
    for (label, bloc) in [
        ("MÉLENCHON", "gauche"),
        ("HAMON", "gauche"),
        ("MACRON", "centre"),
        ("FILLON", "droite"),
        ("LE PEN", "extreme_droite"),
        ("ASSELINEAU", "autre"),
    ] {
        assert_eq!(bloc_of(db, "pres2017t1", label).await, bloc, "{label}");
    }
    let lyon: (String, String, Option<String>) =
        sqlx::query_as("SELECT commune_code, departement, circonscription FROM bureaux WHERE key = '69123-0101'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(lyon, ("69123".into(), "69".into(), Some("69-02".into())));

    // HQ moves a candidate to another bloc; a second import of the same file changes nothing and keeps it.
    sqlx::query("UPDATE election_choices SET bloc = 'droite' WHERE label = 'ASSELINEAU'")
        .execute(&db.pool)
        .await
        .unwrap();
    let before = snapshot(db, "pres2017t1").await;
    assert_eq!(before[1..4], [69_242, 47_582_183, 36_054_394]);
    assert_eq!(before[8], 36_054_394, "votes add up to the exprimés");
    let started = Instant::now();
    let again = import(db, &bytes, &pres).await.unwrap();
    eprintln!("re-imported in {:.1} s", started.elapsed().as_secs_f64());
    assert!(again.replaced);
    assert_eq!(again.blocs_kept, 11);
    assert_eq!(snapshot(db, "pres2017t1").await, before);
    assert_eq!(bloc_of(db, "pres2017t1", "ASSELINEAU").await, "droite");
    assert_eq!(t.count("SELECT COUNT(*) FROM elections").await, 1);

    // A corrupted copy (letters in a number, a row cut short) is refused with its lines; nothing changes.
    let text = String::from_utf8(gunzip(&bytes)).unwrap();
    let text = corrupt(&text, 1_000, 5, Some("12a4"));
    let text = corrupt(&text, 41_234, 12, None);
    for corrupted in [text.clone().into_bytes(), gzip(text.as_bytes())] {
        let err = import(db, &corrupted, &pres).await.unwrap_err();
        let ImportError::Rows(errors) = &err else { panic!("{err:?}") };
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![1_000, 41_234]);
        assert!(errors[0].message.starts_with("ligne 1000 : « inscrits » n'est pas un nombre"), "{}", errors[0]);
        assert!(errors[1].message.starts_with("ligne 41234 : 12 colonnes"), "{}", errors[1]);
        assert!(err.to_string().starts_with("2 lignes en erreur, rien n'a été importé"), "{err}");
        assert_eq!(snapshot(db, "pres2017t1").await, before);
    }
    // Refused under a new key too: no election is created.
    let err = import(db, text.as_bytes(), &info("autre", "x", ElectionKind::Autre, 1, 2017)).await.unwrap_err();
    assert!(matches!(err, ImportError::Rows(_)));
    assert_eq!(t.count("SELECT COUNT(*) FROM elections").await, 1);
    // A file whose every row is fine but which names one bureau twice is refused as well.
    let mut lines: Vec<&str> = text.lines().collect();
    lines.truncate(10);
    let dup = format!("{}\n{}\n", lines[..5].join("\n"), lines[3]);
    let err = import(db, dup.as_bytes(), &info("dup", "x", ElectionKind::Autre, 1, 2017)).await.unwrap_err();
    let ImportError::Rows(errors) = err else { panic!() };
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("figure déjà ligne 4"), "{}", errors[0]);
    // Bad election details and unreadable files.
    let bad_key = info("Pres 2017", "x", ElectionKind::Autre, 1, 2017);
    assert!(matches!(import(db, &bytes, &bad_key).await, Err(ImportError::Invalid(_))));
    let not_results = import(db, b"a;b\n1;2\n", &info("x", "x", ElectionKind::Autre, 1, 2017)).await;
    assert!(matches!(not_results, Err(ImportError::File(_))));
    assert_eq!(snapshot(db, "pres2017t1").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_are_classified_against_a_previous_election() {
    let t = TestApp::spawn().await;
    let db = &t.app.db;
    let previous = info("pres2017t1", "Présidentielle 2017, 1er tour", ElectionKind::Presidentielle, 1, 2017);
    import(db, &national("2017-presidentielle-1"), &previous).await.unwrap();
    let reference = info("euro2019", "Européennes 2019", ElectionKind::Europeennes, 1, 2019);
    let report = import(db, &national("2019-europeennes"), &reference).await.unwrap();
    assert_eq!((report.bureaux, report.choices), (69_297, 34));
    assert_eq!(bloc_of(db, "euro2019", "LA FRANCE INSOUMISE").await, "gauche");
    assert_eq!(bloc_of(db, "euro2019", "PRENEZ LE POUVOIR").await, "extreme_droite");
    // The European file has no circonscriptions: bureaux keep the ones the presidential file gave.
    let lyon: Option<String> = sqlx::query_scalar("SELECT circonscription FROM bureaux WHERE key = '69123-0101'")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(lyon.as_deref(), Some("69-02"));

    let started = Instant::now();
    let summary = classify::classify_all(db, "euro2019", "pres2017t1").await.unwrap();
    eprintln!("classified in {:.2} s: {summary:?}", started.elapsed().as_secs_f64());
    assert_eq!(summary.bureaux, 69_297);
    assert_eq!(summary.matched_bureaux + summary.reference_only_bureaux, 69_297);
    // Bureau keys change between elections: a few percent only.
    assert!(summary.reference_only_bureaux > 100 && summary.reference_only_bureaux < 69_297 / 10, "{summary:?}");
    assert!(summary.previous_only_bureaux > 100 && summary.previous_only_bureaux < 69_242 / 10, "{summary:?}");
    assert!(summary.communes > 30_000 && summary.circonscriptions > 500, "{summary:?}");
    let c = summary.bureau_classes;
    assert_eq!(c.acquis_gauche + c.acquis_droite + c.hesitant + c.abstention, 69_297);
    assert!(c.acquis_gauche > 0 && c.acquis_droite > 0 && c.hesitant > 0 && c.abstention > 0, "{c:?}");
    assert_eq!(
        t.count("SELECT COUNT(*) FROM zone_classes WHERE level = 'bureau'").await,
        69_297,
        "one row per bureau of the reference"
    );
    let rows = t.count("SELECT COUNT(*) FROM zone_classes").await;
    assert_eq!(rows as usize, summary.bureaux + summary.communes + summary.circonscriptions);

    // Lyon as a whole, in plain French.
    let (class, left, delta, stored): (String, f64, Option<f64>, String) = sqlx::query_as(
        "SELECT class, left_share, delta_left, explanation FROM zone_classes WHERE level = 'commune' AND zone = '69123'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored, "", "explanations are written when read, not stored");
    let explanation = classify::explanation(db, classify::Level::Commune, "69123").await.unwrap();
    assert!(classify::ZoneClass::parse(&class).is_some());
    assert!(left > 0.1 && left < 0.6, "{left}");
    assert!(delta.is_some());
    assert!(explanation.contains("Abstention "), "{explanation}");
    assert!(explanation.contains("\u{202f}% (département "), "{explanation}");
    assert!(explanation.contains("des exprimés"), "{explanation}");
    assert!(explanation.contains("Depuis Présidentielle 2017, 1er tour : gauche "), "{explanation}");
    assert!(explanation.contains(','), "decimal comma: {explanation}");
    // A bureau only the reference has: no change, and the explanation says why.
    let (delta, zone): (Option<f64>, String) = sqlx::query_as(
        "SELECT delta_left, zone FROM zone_classes WHERE level = 'bureau' AND delta_left IS NULL ORDER BY zone LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let explanation = classify::explanation(db, classify::Level::Bureau, &zone).await.unwrap();
    assert_eq!(delta, None);
    assert!(
        explanation.contains("Bureau absent de l'élection précédente (Présidentielle 2017, 1er tour)"),
        "{explanation}"
    );
    // Priorities are voters to win: positive, the largest communes first.
    let top: String =
        sqlx::query_scalar("SELECT zone FROM zone_classes WHERE level = 'commune' ORDER BY priority DESC LIMIT 1")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(top, "75056", "Paris");

    // HQ moves a list to another bloc: the votes by bloc are recomputed before classifying.
    let gauche_sum = |db: &Db| {
        let db = db.clone();
        async move {
            let (by_bloc, by_choice): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT CAST(SUM(r.gauche) AS BIGINT) FROM bureau_results r WHERE r.election_id = e.id), \
                 (SELECT CAST(SUM(c.voix) AS BIGINT) FROM election_choices c WHERE c.election_id = e.id \
                 AND c.bloc = 'gauche') FROM elections e WHERE e.key = 'euro2019'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap();
            assert_eq!(by_bloc, by_choice);
            by_bloc
        }
    };
    let before = gauche_sum(db).await;
    sqlx::query("UPDATE election_choices SET bloc = 'gauche' WHERE label = 'PARTI ANIMALISTE'")
        .execute(&db.pool)
        .await
        .unwrap();
    // Recomputing replaces the rows; other thresholds give other classes.
    classify::save_thresholds(db, &Thresholds { closeness: 0.5, ..Thresholds::default() }).await.unwrap();
    let moved = classify::classify_all(db, "euro2019", "pres2017t1").await.unwrap();
    assert!(gauche_sum(db).await > before + 400_000);
    assert!(moved.bureau_classes.hesitant > c.hesitant, "{moved:?}");
    assert_eq!(moved.thresholds.closeness, 0.5);
    assert_eq!(t.count("SELECT COUNT(*) FROM zone_classes").await, rows);
    sqlx::query("UPDATE election_choices SET bloc = 'autre' WHERE label = 'PARTI ANIMALISTE'")
        .execute(&db.pool)
        .await
        .unwrap();
    let euro_id: i64 =
        sqlx::query_scalar("SELECT id FROM elections WHERE key = 'euro2019'").fetch_one(&db.pool).await.unwrap();
    assert!(classify::refresh_bloc_sums(db, euro_id).await.unwrap());
    assert!(!classify::refresh_bloc_sums(db, euro_id).await.unwrap(), "nothing to do the second time");
    assert_eq!(gauche_sum(db).await, before);
    // Re-importing an election drops its classifications (they were computed from the old rows).
    let small = info("pres2017t1", "x", ElectionKind::Presidentielle, 1, 2017);
    let rhone = read("elections/rhone-69/pres2017_t1_bv_69.csv.gz");
    import(db, &rhone, &small).await.unwrap();
    assert_eq!(t.count("SELECT COUNT(*) FROM zone_classes").await, 0);
    let err = classify::classify_all(db, "euro2019", "inconnue").await.unwrap_err();
    assert!(err.to_string().contains("« inconnue » introuvable"), "{err}");
    assert!(classify::classify_all(db, "euro2019", "euro2019").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latin1_and_utf8_files_store_identical_results() {
    let t = TestApp::spawn().await;
    let db = &t.app.db;
    let utf8 = gunzip(&read("elections/rhone-69/pres2017_t1_bv_69.csv.gz"));
    let (latin1, _, unmappable) = encoding_rs::WINDOWS_1252.encode(std::str::from_utf8(&utf8).unwrap());
    assert!(!unmappable);
    assert_ne!(latin1.as_ref(), utf8.as_slice());
    let a = import(db, &utf8, &info("rhone_utf8", "Rhône", ElectionKind::Presidentielle, 1, 2017)).await.unwrap();
    let b = import(db, &latin1, &info("rhone_latin1", "Rhône", ElectionKind::Presidentielle, 1, 2017)).await.unwrap();
    assert_eq!((a.bureaux, a.choices), (1287, 11));
    // Communes merged since 2017.
    assert!(a.unmatched_communes < 50, "{a:?}");
    assert_eq!(format!("{:?}/{:?}", a.encoding, b.encoding), "Utf8/Windows1252");
    assert_eq!((a.bureaux, a.choices, a.votes, a.inscrits), (b.bureaux, b.choices, b.votes, b.inscrits));
    assert_eq!((&a.unmatched_examples, a.unmatched_communes), (&b.unmatched_examples, b.unmatched_communes));

    type Choice = (i64, String, Option<String>, String, i64);
    type Result = (String, i64, i64, Option<i64>, Option<i64>, i64);
    type Vote = (String, i64, i64);
    let mut stored: Vec<(Vec<Choice>, Vec<Result>, Vec<Vote>)> = Vec::new();
    for id in [a.election_id, b.election_id] {
        let choices: Vec<Choice> = sqlx::query_as(
            "SELECT idx, label, nuance, bloc, voix FROM election_choices WHERE election_id = $1 ORDER BY idx",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let results: Vec<Result> = sqlx::query_as(
            "SELECT bureau_key, inscrits, votants, blancs, nuls, exprimes FROM bureau_results WHERE election_id = $1 \
             ORDER BY bureau_key",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        let votes: Vec<Vote> = sqlx::query_as(
            "SELECT bureau_key, choice_idx, voix FROM bureau_votes WHERE election_id = $1 ORDER BY bureau_key, choice_idx",
        )
        .bind(id)
        .fetch_all(&db.pool)
        .await
        .unwrap();
        stored.push((choices, results, votes));
    }
    assert_eq!(stored[0], stored[1]);
    let (choices, results, _) = &stored[0];
    assert!(choices.iter().any(|c| c.1 == "MÉLENCHON Jean-Luc" && c.3 == "gauche"), "{choices:?}");
    assert_eq!(results.len(), 1287);
    assert_eq!(results.iter().map(|r| r.1).sum::<i64>(), 1_155_604);
    let affoux = &results.iter().find(|r| r.0 == "69001-0001").unwrap();
    assert_eq!((affoux.1, affoux.2, affoux.3, affoux.4, affoux.5), (259, 230, Some(0), Some(3), 227));

    // The official 2024 layout, with nuances.
    let finistere = read("elections/finistere-29/leg2024_t1_bv_29_circ2-3.csv.gz");
    let r = import(db, &finistere, &info("leg2024t1", "Législatives 2024", ElectionKind::Legislatives, 1, 2024))
        .await
        .unwrap();
    assert_eq!((r.bureaux, r.choices), (201, 18));
    assert_eq!(bloc_of(db, "leg2024t1", "CADALEN Pierre-Yves").await, "gauche");
    assert_eq!(bloc_of(db, "leg2024t1", "KERVELLA Denis").await, "extreme_droite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filosofi_indicators_store_the_secret_as_null() {
    let t = TestApp::spawn().await;
    let db = &t.app.db;
    let bytes = read("socio/filosofi2021_communes_69.csv.gz");
    let report = import::import_filosofi(db, &bytes).await.unwrap();
    assert_eq!((report.communes, report.indicators, report.values), (265, 27, 265 * 27));
    assert_eq!(report.source, "Insee, Filosofi 2021");
    assert!(report.secret > 0);
    let value = |commune: &'static str, indicator: &'static str| async move {
        sqlx::query_as::<_, (Option<f64>, String)>(
            "SELECT value, source FROM commune_indicators WHERE commune_code = $1 AND indicator = $2",
        )
        .bind(commune)
        .bind(indicator)
        .fetch_one(&db.pool)
        .await
        .unwrap()
    };
    assert_eq!(value("69001", "MED21").await, (Some(24970.0), "Insee, Filosofi 2021".to_string()));
    assert_eq!(value("69001", "TP6021").await.0, None);
    assert_eq!(value("69003", "PIMPOT21").await.0, Some(-20.8));
    let nulls = t.count("SELECT COUNT(*) FROM commune_indicators WHERE value IS NULL").await;
    assert_eq!(nulls as usize, report.secret);
    // Importing again changes nothing; a bad cell refuses the whole file.
    assert_eq!(import::import_filosofi(db, &bytes).await.unwrap(), report);
    assert_eq!(t.count("SELECT COUNT(*) FROM commune_indicators").await, 265 * 27);
    let bad = "CODGEO;MED21;TP6021\n69001;1;2\n69002;x;3\n";
    let err = import::import_filosofi(db, bad.as_bytes()).await.unwrap_err();
    let ImportError::Rows(errors) = err else { panic!("{err:?}") };
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3]);
    assert_eq!(value("69001", "MED21").await.0, Some(24970.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_are_saved_for_hq() {
    let t = TestApp::spawn().await;
    let db = &t.app.db;
    assert_eq!(classify::load_thresholds(db).await.unwrap(), Thresholds::default());
    let tuned = Thresholds { volatility: 0.08, abstention_left_min: 0.4, ..Thresholds::default() };
    classify::save_thresholds(db, &tuned).await.unwrap();
    assert_eq!(classify::load_thresholds(db).await.unwrap(), tuned);
    let err = classify::save_thresholds(db, &Thresholds { closeness: 2.0, ..tuned }).await.unwrap_err();
    assert!(err.to_string().contains("écart serré"), "{err}");
    assert_eq!(classify::load_thresholds(db).await.unwrap(), tuned);
}
