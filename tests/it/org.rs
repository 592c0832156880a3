//! The organisation tree: reference data, federations, sections CRUD within scope.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_federations_and_communes_are_loaded_once() {
    let t = TestApp::spawn().await;
    assert_eq!(t.count("SELECT COUNT(*) FROM federations").await, 102);
    assert_eq!(t.count("SELECT COUNT(*) FROM federations WHERE code = '99'").await, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM federations WHERE code IN ('2A', '2B', '971', '976')").await, 4);
    let rhone = t.count("SELECT COUNT(*) FROM communes c JOIN federations f ON f.id = c.federation_id WHERE f.code = '69' AND c.kind = 'commune-actuelle'").await;
    assert!(rhone > 200, "Rhône communes: {rhone}");
    assert_eq!(t.count("SELECT COUNT(*) FROM communes WHERE code = '69123'").await, 1, "Lyon");
    assert!(t.count("SELECT COUNT(*) FROM commune_circonscriptions").await > 30_000, "circonscriptions loaded");
    assert_eq!(t.count("SELECT COUNT(*) FROM commune_circonscriptions WHERE commune_code = '69266'").await, 3);
    // Every département of metropolitan France and overseas has its federation.
    assert_eq!(
        t.count("SELECT COUNT(*) FROM departements WHERE zone IN ('metro', 'drom') AND federation_id IS NULL").await,
        0
    );
    // Loading again (a newer file) is an idempotent upsert.
    let before = t.count("SELECT COUNT(*) FROM communes").await;
    let report = terrain::seed::load(&t.app.db, None).await.unwrap();
    assert_eq!(report.federations, 102);
    assert_eq!(t.count("SELECT COUNT(*) FROM communes").await, before);
    assert_eq!(t.count("SELECT COUNT(*) FROM federations").await, 102);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_reference_files_can_be_loaded_from_a_directory_and_bad_ones_are_refused() {
    let t = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regions.csv"),
        "code,nom,chef_lieu,zone,population\n84,Auvergne-Rhône-Alpes,69123,metro,1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("departements.csv"),
        "code,nom,region,chef_lieu,zone,population\n69,Rhône (nouveau),84,69123,metro,1900000\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("communes.csv"),
        "code,nom,type,departement,region,population,codes_postaux,epci,commune_parent,zone\n\
         69999,Nouvelle-Commune,commune-actuelle,69,84,1234,69999,,,metro\n",
    )
    .unwrap();
    let r = terrain::seed::load(&t.app.db, Some(dir.path())).await.unwrap();
    assert_eq!(r.communes, 1);
    assert_eq!(t.count("SELECT COUNT(*) FROM communes WHERE code = '69999'").await, 1);
    let name: String =
        sqlx::query_scalar("SELECT name FROM federations WHERE code = '69'").fetch_one(&t.app.db.pool).await.unwrap();
    assert_eq!(name, "Rhône (nouveau)");

    std::fs::write(dir.path().join("communes.csv"), "code,name\n1,x\n").unwrap();
    let e = terrain::seed::load(&t.app.db, Some(dir.path())).await.unwrap_err().to_string();
    assert!(e.contains("column 'nom' is missing"), "{e}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinators_create_edit_and_delete_sections_with_clear_errors() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let create = |form: Vec<(&'static str, &'static str)>| {
        c.post(t.url(&format!("/federations/{fed}/sections"))).form(&form).send()
    };

    // Unknown commune: a clear message, nothing created.
    let before = t.count("SELECT COUNT(*) FROM sections").await;
    let r = create(vec![("name", "Givors"), ("communes", "Givors, Brest")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.contains("Communes inconnues dans cette fédération : Brest"), "{text}");
    assert!(text.contains("value=\"Givors\""), "the form keeps the input");
    let r = create(vec![("name", "  "), ("communes", "")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = create(vec![("name", "Villeurbanne"), ("communes", "")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "duplicate name");
    assert_eq!(t.count("SELECT COUNT(*) FROM sections").await, before);

    // By name and by INSEE code.
    let r = create(vec![("name", "Givors et Grigny"), ("communes", "givors\n69096")]).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    let page = c.get(t.url(&loc)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Givors") && page.contains("Grigny") && page.contains("Section créée"));
    let id: i64 = loc.trim_start_matches("/sections/").split('?').next().unwrap().parse().unwrap();
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM section_communes WHERE section_id = {id}")).await, 2);
    assert_eq!(t.audit_count("section_created").await, 1);

    let r = c
        .post(t.url(&format!("/sections/{id}")))
        .form(&[("name", "Givors"), ("description", "Vallée du Gier <b>"), ("communes", "69091")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c.get(t.url(&format!("/sections/{id}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Vallée du Gier &") && !page.contains("Gier <b>"), "output is escaped");
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM section_communes WHERE section_id = {id}")).await, 1);

    // An activist cannot manage sections, even in their own federation.
    let a = t.login(ACTIVIST_69).await;
    let r = a.post(t.url(&format!("/sections/{id}/supprimer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = a.get(t.url(&format!("/federations/{fed}/sections/nouvelle"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = c.post(t.url(&format!("/sections/{id}/supprimer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.count(&format!("SELECT COUNT(*) FROM sections WHERE id = {id}")).await, 0);
    assert_eq!(t.audit_count("section_deleted").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_federation_list_searches_and_national_roles_see_all() {
    let t = TestApp::spawn().await;
    let c = t.login(NATIONAL_STAFF).await;
    let all = c.get(t.url("/federations")).send().await.unwrap().text().await.unwrap();
    assert!(all.contains("102 fédérations"));
    assert!(
        all.contains("Français de l&#39;étranger") || all.contains("Français de l&#x27;étranger"),
        "abroad federation listed"
    );
    let found = c.get(t.url("/federations?q=finis")).send().await.unwrap().text().await.unwrap();
    assert!(found.contains("Finistère") && found.contains("1 fédération"));
    let by_code = c.get(t.url("/federations?q=2A")).send().await.unwrap().text().await.unwrap();
    assert!(by_code.contains("Corse-du-Sud"));
    let none = c.get(t.url("/federations?q=%25")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::OK);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn communes_with_several_postcodes_keep_them_apart() {
    let t = TestApp::spawn().await;
    let codes: String = sqlx::query_scalar("SELECT postcodes FROM communes WHERE code = '69123'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert!(codes.starts_with("69001,69002,"), "{codes}");
    // "69002" must not match inside "...69001,69002..." across a boundary like "00169" either.
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM communes WHERE postcodes LIKE '%00169%'")
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);
    t.stop().await;
}
