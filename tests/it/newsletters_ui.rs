//! Newsletter pages: composing with the no-JavaScript block editor, validation, previews, test send, audience,
//! sending, scoping (404 for another federation), pause/cancel, and the analytics figures, charts and CSV.

use reqwest::StatusCode;
use terrain::db::now;
use terrain::newsletter::render::{Block, Document};

use crate::helpers::*;

/// A person of `federation` with an address, optionally with the federation newsletter consent.
async fn person(t: &TestApp, federation: i64, first: &str, email: &str, consent: bool) -> i64 {
    let at = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO people (federation_id, first_name, last_name, email, category, legal_basis, origin, \
         origin_channel, created_at, updated_at, last_activity_at) \
         VALUES ($1, $2, 'Test', $3, 'sympathiser', 'consent', 'tests', 'manual', $4, $4, $4) RETURNING id",
    )
    .bind(federation)
    .bind(first)
    .bind(email)
    .bind(at)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    if consent {
        terrain::people::consent::record(&t.app.db.pool, id, "newsletter_federation", true, "staff", "", None)
            .await
            .unwrap();
    }
    id
}

async fn list_of(t: &TestApp, federation: i64) -> i64 {
    sqlx::query_scalar("SELECT id FROM mailing_lists WHERE federation_id = $1")
        .bind(federation)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap()
}

async fn document(t: &TestApp, id: i64) -> String {
    sqlx::query_scalar("SELECT document FROM campaigns WHERE id = $1").bind(id).fetch_one(&t.app.db.pool).await.unwrap()
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)? + key.len();
    let end = tag[i..].find('"')?;
    Some(unescape(&tag[i..i + end]))
}

/// What a browser submits from the composer form (buttons left out): inputs, checked boxes, textareas, selects.
fn form_fields(page: &str, id: i64) -> Vec<(String, String)> {
    let open = format!("<form method=\"post\" action=\"/lettres/{id}\" class=\"composer\">");
    let start = page.find(&open).unwrap_or_else(|| panic!("no composer form in {page}"));
    let end = start + page[start..].find("</form>").unwrap();
    let mut out = Vec::new();
    let mut rest = &page[start + open.len()..end];
    while let Some(lt) = rest.find('<') {
        let after = &rest[lt..];
        let gt = after.find('>').unwrap();
        let tag = &after[..=gt];
        if tag.starts_with("<input") {
            if let Some(name) = attr(tag, "name") {
                let kind = attr(tag, "type").unwrap_or_else(|| "text".into());
                if kind != "checkbox" || tag.contains(" checked") {
                    out.push((name, attr(tag, "value").unwrap_or_default()));
                }
            }
        } else if tag.starts_with("<textarea") {
            let close = after.find("</textarea>").unwrap();
            out.push((attr(tag, "name").unwrap(), unescape(&after[gt + 1..close])));
        } else if tag.starts_with("<select") {
            let close = after.find("</select>").unwrap();
            let options: Vec<&str> = after[gt + 1..close].split("<option").skip(1).collect();
            let chosen = options.iter().find(|o| o.contains(" selected")).or(options.first()).unwrap();
            out.push((attr(tag, "name").unwrap(), attr(chosen, "value").unwrap_or_default()));
        }
        rest = &after[gt + 1..];
    }
    out
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(f) => f.1 = value.to_string(),
        None => fields.push((name.to_string(), value.to_string())),
    }
}

fn with_action(mut fields: Vec<(String, String)>, action: &str) -> Vec<(String, String)> {
    fields.push(("action".into(), action.into()));
    fields
}

async fn get_text(c: &reqwest::Client, url: String) -> (StatusCode, String) {
    let r = c.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_composes_previews_tests_and_sends_within_their_federation() {
    let t = TestApp::spawn().await;
    let fed69 = t.federation_id("69").await;
    let fed29 = t.federation_id("29").await;
    person(&t, fed69, "Awa", "awa@example.org", true).await;
    person(&t, fed69, "Bruno", "bruno@example.org", true).await;
    person(&t, fed69, "Chloé", "chloe@example.org", false).await;
    person(&t, fed29, "Yann", "yann@example.org", true).await;
    let c = t.login(COORD_69).await;

    // The list page offers the federation's list.
    let (status, page) = get_text(&c, t.url("/lettres")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Nouvelle lettre") && page.contains("Lettre de la fédération"), "{page}");
    let list = list_of(&t, fed69).await;
    // A name is required.
    let r =
        c.post(t.url("/lettres")).form(&[("list_id", list.to_string()), ("name", " ".into())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("role=\"alert\""));
    let r = c
        .post(t.url("/lettres"))
        .form(&[("list_id", list.to_string()), ("name", "Lettre de mars".into())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let loc = location(&r);
    let id: i64 = loc.trim_start_matches("/lettres/").split('?').next().unwrap().parse().unwrap();
    assert_eq!(t.audit_count("campaign_created").await, 1);

    // The composer: the starter blocks, accessible block buttons, the audience (consent and federation only).
    let (status, page) = get_text(&c, t.url(&loc)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Bloc 1 — Titre") && page.contains("Bloc 2 — Texte"), "{page}");
    assert!(
        page.contains("value=\"up:1\"") && page.contains("Monter<span class=\"visually-hidden\"> le bloc 2</span>")
    );
    assert!(page.contains("Supprimer<span class=\"visually-hidden\"> le bloc 5</span>"));
    assert!(page.contains("value=\"add:image\""));
    assert!(page.contains("<strong id=\"audience-count\">2</strong> personnes"), "{page}");
    assert!(page.contains("Envoyer maintenant à 2 personnes"));
    assert!(page.contains("title=\"Aperçu ordinateur\"") && page.contains("title=\"Aperçu téléphone\""));
    assert!(page.contains("class=\"preview-desktop\"") && page.contains("class=\"preview-phone\""));
    assert!(!page.contains(" style="), "no inline style on normal pages");
    let starter: Document = serde_json::from_str(&document(&t, id).await).unwrap();
    assert_eq!(starter.blocks.len(), 5);

    // Add a text block: shown, not saved yet.
    let fields = form_fields(&page, id);
    assert!(fields.iter().any(|(k, v)| k == "b0.type" && v == "title"), "{fields:?}");
    let r = c.post(t.url(&format!("/lettres/{id}"))).form(&with_action(fields, "add:text")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Bloc 6 — Texte") && page.contains("role=\"status\""), "{page}");
    assert_eq!(serde_json::from_str::<Document>(&document(&t, id).await).unwrap().blocks.len(), 5);

    // Fill it in and move it up: saved.
    let mut fields = form_fields(&page, id);
    set(&mut fields, "b5.markdown", "Un **nouveau** paragraphe pour la réunion de Villeurbanne.");
    let r = c.post(t.url(&format!("/lettres/{id}"))).form(&with_action(fields, "up:5")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/lettres/{id}?msg=enregistree#bloc-5"));
    let (_, page) = get_text(&c, t.url(&location(&r))).await;
    assert!(page.contains("Lettre enregistrée."));
    let doc: Document = serde_json::from_str(&document(&t, id).await).unwrap();
    assert_eq!(doc.blocks.len(), 6);
    assert_eq!(
        doc.blocks[4],
        Block::Text { markdown: "Un **nouveau** paragraphe pour la réunion de Villeurbanne.".into() }
    );
    assert!(matches!(doc.blocks[5], Block::Quote { .. }));

    // Delete the separator (block 4).
    assert!(page.contains("Bloc 4 — Séparateur"));
    let r = c
        .post(t.url(&format!("/lettres/{id}")))
        .form(&with_action(form_fields(&page, id), "delete:3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let doc: Document = serde_json::from_str(&document(&t, id).await).unwrap();
    assert_eq!(doc.blocks.len(), 5);
    assert!(!doc.blocks.iter().any(|b| matches!(b, Block::Separator)));
    let saved = document(&t, id).await;

    // An image without alt text is refused, the input kept, nothing saved.
    let (_, page) = get_text(&c, t.url(&format!("/lettres/{id}"))).await;
    let r = c
        .post(t.url(&format!("/lettres/{id}")))
        .form(&with_action(form_fields(&page, id), "add:image"))
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    let mut fields = form_fields(&page, id);
    set(&mut fields, "b5.src", "https://example.org/photo-manif.jpg");
    set(&mut fields, "subject", "Nos rendez-vous de mars");
    let r = c.post(t.url(&format!("/lettres/{id}"))).form(&with_action(fields, "save")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("role=\"alert\"") && page.contains("texte alternatif est vide"), "{page}");
    assert!(page.contains("value=\"https://example.org/photo-manif.jpg\"") && page.contains("Nos rendez-vous de mars"));
    assert!(page.contains("id=\"bloc-6-erreurs\""), "the error is shown in its block too");
    assert_eq!(document(&t, id).await, saved, "nothing saved");

    // Previews: the e-mail for a sample recipient, in a sandbox; and its text part.
    let r = c.get(t.url(&format!("/lettres/{id}/apercu"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));
    let html = r.text().await.unwrap();
    assert!(html.contains("nouveau</strong> paragraphe pour la réunion de Villeurbanne"), "{html}");
    assert!(html.contains("Bonjour Camille"), "sample first name");
    let r = c.get(t.url(&format!("/lettres/{id}/apercu.txt"))).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(r.text().await.unwrap().contains("paragraphe pour la réunion de Villeurbanne"));

    // Test send: the text part to the coordinator's own address.
    let r = c.post(t.url(&format!("/lettres/{id}/test"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = get_text(&c, t.url(&location(&r))).await;
    assert!(page.contains("Test envoyé à votre adresse"));
    let body = t.last_mail_to(COORD_69).await;
    assert!(body.contains("paragraphe pour la réunion de Villeurbanne"), "{body}");
    let subject: String = sqlx::query_scalar("SELECT subject FROM outbox WHERE to_addr = $1 ORDER BY id DESC LIMIT 1")
        .bind(COORD_69)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    assert!(subject.starts_with("[Test] "), "{subject}");

    // Another federation's coordinator sees none of it.
    let other = t.login(COORD_29).await;
    for path in ["", "/apercu", "/apercu.txt", "/statistiques", "/statistiques.csv"] {
        let r = other.get(t.url(&format!("/lettres/{id}{path}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {path}");
    }
    for path in ["", "/test", "/envoyer", "/pause", "/reprendre", "/annuler"] {
        let r = other
            .post(t.url(&format!("/lettres/{id}{path}")))
            .form(&[("when", "now"), ("action", "save"), ("name", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    assert_eq!(campaign_state(&t, id).await, "draft");
    let (_, page) = get_text(&other, t.url("/lettres")).await;
    assert!(!page.contains("Lettre de mars"));

    // A date in the past is refused.
    let r = c
        .post(t.url(&format!("/lettres/{id}/envoyer")))
        .form(&[("when", "later"), ("date", "2020-01-01"), ("time", "10:00")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("La date d&#39;envoi est passée"));
    assert_eq!(campaign_state(&t, id).await, "draft");

    // Send now: the audience is frozen, the send is audited, the statistics page shows the state.
    let r = c.post(t.url(&format!("/lettres/{id}/envoyer"))).form(&[("when", "now")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/lettres/{id}/statistiques?msg=envoyee"));
    assert_eq!(t.audit_count("campaign_send").await, 1);
    // Frozen: in the audience lists, or already taken from them as recipient rows by the in-process worker.
    let frozen = format!(
        "SELECT (SELECT COUNT(*) FROM campaign_recipients WHERE campaign_id = {id}) \
         + (SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM campaign_audience WHERE campaign_id = {id})"
    );
    assert_eq!(t.count(&frozen).await, 2);
    let (status, page) = get_text(&c, t.url(&location(&r))).await;
    assert_eq!(status, StatusCode::OK);
    // The in-process worker may finish the send between the page and this check: any sending state is right.
    assert!(
        ["Envoi en cours", "Envoyée", "En pause"]
            .iter()
            .any(|l| page.contains(&format!("État : <strong>{l}</strong>"))),
        "{page}"
    );
    assert!(page.contains("id=\"chiffre-recipients\">2<"));
    assert!(!page.contains(" style="));
    // The composer now leads to the statistics, and a second send is refused.
    let r = c.get(t.url(&format!("/lettres/{id}"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/lettres/{id}/statistiques"));
    let r = c.post(t.url(&format!("/lettres/{id}/envoyer"))).form(&[("when", "now")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    for path in ["/statistiques", "/statistiques.csv"] {
        let r = other.get(t.url(&format!("/lettres/{id}{path}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "GET {path} after sending");
    }
    let (_, page) = get_text(&other, t.url("/lettres/statistiques")).await;
    assert!(!page.contains("Lettre de mars"));

    // The national staff sees the comparison, with the federation's campaign.
    let hq = t.login(NATIONAL_STAFF).await;
    let (status, page) = get_text(&hq, t.url("/lettres/statistiques")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Comparaison entre fédérations") && page.contains("Lettre de mars"), "{page}");
    assert!(page.contains("(69)"));
    assert_eq!(page.matches("<rect class=\"heat-cell\"").count(), 7 * 24);
    let r = hq.get(t.url("/lettres/statistiques.csv")).send().await.unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(r.text().await.unwrap().contains("Lettre de mars"));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_count_opens_clicks_and_unsubscribes_and_export_them() {
    let t = TestApp::spawn().await;
    let fed69 = t.federation_id("69").await;
    let list = list_of(&t, fed69).await;
    // A campaign sent ten days ago (on the hour) to five people, three of whom allowed individual tracking.
    let start = (now() - 10 * 86_400) / 3600 * 3600;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO campaigns (federation_id, list_id, name, template, document, tracking, state, audience, \
         created_at, updated_at, started_at, finished_at) \
         VALUES ($1, $2, 'Lettre avril', 'classique', '{}', 1, 'sent', 5, $3, $3, $3, $4) RETURNING id",
    )
    .bind(fed69)
    .bind(list)
    .bind(start)
    .bind(start + 600)
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    let mut people = Vec::new();
    for (i, name) in ["Awa", "Bruno", "Chloé", "Dan", "Emma"].iter().enumerate() {
        let p = person(&t, fed69, name, &format!("p{i}@example.org"), true).await;
        let track = i64::from(matches!(i, 0 | 1 | 4));
        sqlx::query(
            "INSERT INTO campaign_recipients (campaign_id, person_id, state, track, sent_at) \
             VALUES ($1, $2, 'sent', $3, $4)",
        )
        .bind(id)
        .bind(p)
        .bind(track)
        .bind(start + 60)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
        people.push(p);
    }
    let (a, b, c_, d) = (people[0], people[1], people[2], people[3]);
    for (idx, url) in [(0, "https://example.org/agenda"), (1, "https://example.org/don")] {
        sqlx::query("INSERT INTO campaign_links (campaign_id, idx, url) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(idx as i64)
            .bind(url)
            .execute(&t.app.db.pool)
            .await
            .unwrap();
    }
    // Opens: A twice, B once, three anonymous. Clicks: A on links 0 and 1, one anonymous on link 0.
    // Unsubscribe: D. Bounce: C.
    let events: [(Option<i64>, &str, Option<i64>, i64); 11] = [
        (Some(a), "open", None, 100),
        (Some(a), "open", None, 200),
        (None, "open", None, 150),
        (Some(a), "click", Some(0), 300),
        (Some(a), "click", Some(1), 400),
        (Some(b), "open", None, 3700),
        (None, "open", None, 3800),
        (None, "click", Some(0), 3900),
        (None, "open", None, 7300),
        (Some(d), "unsubscribe", None, 8000),
        (Some(c_), "bounce", None, 500),
    ];
    for (person, kind, link, offset) in events {
        sqlx::query(
            "INSERT INTO campaign_events (campaign_id, person_id, kind, link_idx, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(person)
        .bind(kind)
        .bind(link)
        .bind(start + offset)
        .execute(&t.app.db.pool)
        .await
        .unwrap();
    }

    let c = t.login(COORD_69).await;
    let (status, page) = get_text(&c, t.url(&format!("/lettres/{id}/statistiques"))).await;
    assert_eq!(status, StatusCode::OK);
    let figure = |key: &str| -> String {
        let marker = format!("id=\"chiffre-{key}\">");
        let start = page.find(&marker).unwrap_or_else(|| panic!("no figure {key} in {page}")) + marker.len();
        page[start..].split('<').next().unwrap().to_string()
    };
    assert_eq!(figure("recipients"), "5");
    assert_eq!(figure("sent"), "5");
    assert_eq!(figure("bounced"), "1");
    assert_eq!(figure("delivered"), "4");
    assert_eq!(figure("opens"), "6");
    assert_eq!(figure("unique_opens"), "2");
    assert_eq!(figure("open_rate"), "66,7\u{202f}%");
    assert_eq!(figure("clicks"), "3");
    assert_eq!(figure("unique_clicks"), "1");
    assert_eq!(figure("click_rate"), "33,3\u{202f}%");
    assert_eq!(figure("click_to_open"), "50,0\u{202f}%");
    assert_eq!(figure("unsubscribes"), "1");
    assert_eq!(figure("unsubscribe_rate"), "25,0\u{202f}%");
    assert_eq!(figure("complaints"), "0");
    assert!(page.contains("parmi les 3 personnes suivies individuellement"), "{page}");
    assert!(page.contains("<td class=\"wrap\">https://example.org/agenda</td><td>2</td>"), "{page}");
    assert!(page.contains("<td class=\"wrap\">https://example.org/don</td><td>1</td>"));
    assert!(page.contains("État : <strong>Envoyée</strong>"));
    assert!(!page.contains("http-equiv=\"refresh\""), "a sent campaign does not reload");
    // The chart: an accessible SVG with two lines, no inline style.
    assert!(page.contains("<svg") && page.contains("role=\"img\"") && page.contains("aria-labelledby=\"courbe-title"));
    assert_eq!(page.matches("<polyline").count(), 2);
    assert!(!page.contains(" style="));

    let r = c.get(t.url(&format!("/lettres/{id}/statistiques.csv"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let csv = r.text().await.unwrap();
    for line in [
        "Ouvertures (total);6\r\n",
        "Ouvertures uniques (personnes suivies);2\r\n",
        "Taux d'ouverture (%);66,7\r\n",
        "Clics (total);3\r\n",
        "Taux de clic (%);33,3\r\n",
        "Clics par ouverture (%);50,0\r\n",
        "Taux de désinscription (%);25,0\r\n",
        "1;https://example.org/agenda;2\r\n",
        "2;https://example.org/don;1\r\n",
    ] {
        assert!(csv.contains(line), "{line:?} missing in {csv}");
    }
    // Hourly series: hour 0 has 3 opens and 2 clicks, hour 1 2 and 1, hour 2 1 and 0.
    let series: Vec<&str> = csv.split("heure (Paris);ouvertures;clics\r\n").nth(1).unwrap().lines().collect();
    assert_eq!(series.len(), 3, "{csv}");
    assert!(series[0].ends_with(";3;2") && series[1].ends_with(";2;1") && series[2].ends_with(";1;0"), "{series:?}");

    // Across campaigns: the coordinator's table and heat map, the national comparison, the CSV.
    let (status, page) = get_text(&c, t.url("/lettres/statistiques")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Lettre avril") && page.contains("66,7\u{202f}%") && page.contains("25,0\u{202f}%"),
        "{page}"
    );
    assert_eq!(page.matches("<rect class=\"heat-cell\"").count(), 7 * 24);
    assert!(page.contains("<details>") && page.contains("Meilleur moment pour envoyer"));
    assert!(page.contains("aria-labelledby=\"tendance-title tendance-desc\""));
    let csv = c.get(t.url("/lettres/statistiques.csv")).send().await.unwrap().text().await.unwrap();
    assert!(csv.contains("Lettre avril") && csv.contains(";66,7;33,3;50,0;25,0;0\r\n"), "{csv}");
    let hq = t.login(NATIONAL_STAFF).await;
    let (_, page) = get_text(&hq, t.url("/lettres/statistiques")).await;
    assert!(page.contains("Comparaison entre fédérations") && page.contains("Lettre avril"));
    assert!(page.contains("66,7\u{202f}%"));
    let other = t.login(COORD_29).await;
    let (status, page) = get_text(&other, t.url("/lettres/statistiques")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("Lettre avril") && !page.contains("66,7"));

    // Pause and cancel a campaign being sent (no recipients left: nothing is queued).
    let running: i64 = sqlx::query_scalar(
        "INSERT INTO campaigns (federation_id, list_id, name, template, document, tracking, state, audience, \
         created_at, updated_at, started_at) VALUES ($1, $2, 'En cours', 'classique', '{}', 1, 'sending', 0, $3, $3, $3) \
         RETURNING id",
    )
    .bind(fed69)
    .bind(list)
    .bind(now())
    .fetch_one(&t.app.db.pool)
    .await
    .unwrap();
    let (_, page) = get_text(&c, t.url(&format!("/lettres/{running}/statistiques"))).await;
    assert!(page.contains("http-equiv=\"refresh\"") && page.contains("Mettre en pause"));
    let r = c.post(t.url(&format!("/lettres/{running}/pause"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(campaign_state(&t, running).await, "paused");
    let (_, page) = get_text(&c, t.url(&location(&r))).await;
    assert!(page.contains("Envoi mis en pause.") && page.contains("Reprendre l'envoi"), "{page}");
    let r = c.post(t.url(&format!("/lettres/{running}/annuler"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(campaign_state(&t, running).await, "cancelled");
    assert_eq!(t.audit_count("campaign_pause").await, 1);
    assert_eq!(t.audit_count("campaign_cancel").await, 1);
    let r = other.post(t.url(&format!("/lettres/{running}/reprendre"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    t.stop().await;
}
