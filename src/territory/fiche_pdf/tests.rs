//! Tests of the fiche PDF: rendering, pdftotext extraction, line breaking and pagination.

use super::fonts::fonts;
use super::layout::{Op, Unit};
use super::paginate::{clip_pages, paginate};
use super::*;
use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

/// A map like the territory renderer's: zones wrapped in links with titles, a hatched pattern for missing
/// data, labels with a halo, a legend of coloured squares and an attribution.
fn sample_svg(columns: usize, rows: usize) -> String {
    let colours = ["#fef0d9", "#fdcc8a", "#fc8d59", "#e34a33", "#b30000"];
    let (w, h) = ((columns as f64 * 40.0 + 16.0).max(440.0), rows as f64 * 36.0 + 70.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" \
             role=\"group\" aria-labelledby=\"carte-title carte-desc\" font-family=\"sans-serif\" font-size=\"12\">\
             <title id=\"carte-title\">Abstention au 1er tour, par bureau de vote</title>\
             <desc id=\"carte-desc\">Quarante zones, cinq classes.</desc>\
             <defs><pattern id=\"carte-missing\" patternUnits=\"userSpaceOnUse\" width=\"6\" height=\"6\" \
             patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f5f5f5\"/>\
             <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#9e9e9e\" stroke-width=\"2\"/></pattern></defs>\
             <g class=\"zones\" stroke=\"#ffffff\" stroke-width=\"0.7\" stroke-linejoin=\"round\">"
    );
    for r in 0..rows {
        for c in 0..columns {
            let (x, y) = (8.0 + c as f64 * 40.0, 8.0 + r as f64 * 36.0);
            let jitter = ((r * 7 + c * 13) % 9) as f64;
            let k = r * columns + c;
            let fill = if k % 11 == 3 { "url(#carte-missing)".to_owned() } else { colours[k % 5].to_owned() };
            let _ = write!(
                out,
                "<a href=\"/territoire/bureaux/69259-{k:04}\"><path id=\"carte-69259-{k:04}\" class=\"zone\" \
                     fill=\"{fill}\" fill-rule=\"evenodd\" d=\"M{x},{y}L{},{}L{},{}L{},{}L{},{}Z M{},{}l6,0l0,6l-6,0Z\">\
                     <title>Bureau {k} (69259-{k:04}) — classe {}</title></path></a>",
                x + 40.0,
                y + jitter / 3.0,
                x + 38.0 + jitter / 2.0,
                y + 36.0,
                x + 2.0,
                y + 34.0 - jitter / 4.0,
                x,
                y + 18.0,
                x + 15.0,
                y + 14.0,
                k % 5 + 1,
            );
        }
    }
    out.push_str(
            "</g><g class=\"map-label\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1a1a1a\" stroke=\"#ffffff\" \
             stroke-width=\"2.5\" stroke-linejoin=\"round\" paint-order=\"stroke\" pointer-events=\"none\">\
             <text x=\"60\" y=\"30\" dy=\"0.35em\">Parilly-Nord</text><text x=\"180\" y=\"80\" dy=\"0.35em\">Centre</text>\
             </g><g class=\"map-legend\">",
        );
    let legend_y = rows as f64 * 36.0 + 20.0;
    let _ = write!(
        out,
        "<text x=\"8\" y=\"{}\" font-size=\"13\" font-weight=\"bold\" fill=\"#1a1a1a\">Abstention</text>",
        legend_y
    );
    for (i, colour) in colours.iter().chain(["url(#carte-missing)"].iter()).enumerate() {
        let x = 8.0 + i as f64 * 70.0;
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{colour}\" stroke=\"#757575\" \
                 stroke-width=\"0.5\"/><text x=\"{}\" y=\"{}\" fill=\"#1a1a1a\">{}</text>",
            legend_y + 8.0,
            x + 20.0,
            legend_y + 19.5,
            if i < 5 { format!("≤ {} %", 20 + i * 5) } else { "n. d.".to_owned() }
        );
    }
    let _ = write!(
        out,
        "</g><text class=\"map-attribution\" x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"end\" \
             fill=\"#616161\">© IGN, Ministère de l'Intérieur</text></svg>",
        w - 8.0,
        h - 6.0
    );
    out
}

fn line(label: &str, detail: &str) -> Line {
    Line { label: label.to_owned(), detail: detail.to_owned() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn full_doc() -> FicheDoc {
    FicheDoc {
        title: "Fiche militante — Vénissieux (69259)".into(),
        subtitle: "Porte-à-porte « Défendre l'hôpital » · samedi 28 novembre 2026, 10\u{a0}h".into(),
        version: 3,
        generated_at: "22/11/2026 08:15".into(),
        map_svg: Some(sample_svg(8, 5)),
        map_caption: "Abstention au 1er tour des municipales 2026 par bureau de vote ; hachures : données \
                          manquantes. Fond : IGN Admin Express."
            .into(),
        facts: vec![
            line("Abstention", "41,2\u{a0}% (département 27,0\u{a0}%)"),
            line("Revenu médian", "19\u{a0}870\u{a0}€ par unité de consommation"),
            line("Population", "67\u{a0}129 habitants"),
            line("Logement social", "48\u{a0}% des résidences principales"),
            line("Moins de 25 ans", "35,1\u{a0}%"),
            line("Dernier score", "38,5\u{a0}% au 1er tour (2026)"),
        ],
        profile: "Bastion populaire en voie de démobilisation\u{202f}: l'abstention progresse dans les grands \
                      ensembles tandis que le vote reste fort dans le centre ancien. Les jeunes adultes et les \
                      familles monoparentales sont les moins mobilisés."
            .into(),
        targeting: strings(&[
            "Locataires des Minguettes (tours Monmousseau, Darnaise)",
            "Abstentionnistes intermittents de 25 à 40 ans",
            "Parents d'élèves des écoles Jean-Moulin et Parmentier",
        ]),
        issues: vec![
            line("Santé", "citée dans 3 fiches d'observation : fermeture des urgences de nuit"),
            line("Transports", "ligne de tram T4 saturée aux heures de pointe"),
            line("Logement", "charges en hausse de 12\u{a0}% (amicale des locataires)"),
        ],
        methods: vec![
            line("Porte-à-porte en binôme", "taux d'ouverture de 38\u{a0}% le samedi matin"),
            line("Tractage au marché", "dimanche 9\u{a0}h – 12\u{a0}h, place Léon-Sublet"),
        ],
        script: strings(&[
            "Bonjour, je suis bénévole pour la campagne « Défendre l'hôpital ». Avez-vous deux minutes\u{202f}?",
            "Les urgences de nuit de l'hôpital ferment en janvier. Qu'en pensez-vous\u{202f}?",
            "Nous organisons une réunion publique jeudi à 19\u{a0}h à la salle Joliot-Curie.",
        ]),
        advice: strings(&[
            "Éviter 12\u{a0}h – 14\u{a0}h ; privilégier le samedi matin.",
            "Toujours laisser un tract avec la date de la réunion publique.",
        ]),
        people: vec![
            line("Mme Amina B.", "ancienne assesseure, 2022"),
            line("M. Jean D.", "signataire de la pétition"),
        ],
        sources: "Sources : Insee (Filosofi 2021, RP 2021), ministère de l'Intérieur (résultats 2026), fiches \
                      d'observation des équipes locales."
            .into(),
    }
}

/// Text of the PDF by `pdftotext` (no-break spaces turned into plain ones), `None` when it is not installed.
fn pdftotext(pdf: &[u8]) -> Option<String> {
    let mut child = match Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            eprintln!("pdftotext unavailable ({e}): text checks skipped");
            return None;
        }
    };
    let mut stdin = child.stdin.take().expect("stdin");
    let bytes = pdf.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output = child.wait_with_output().expect("pdftotext output");
    writer.join().expect("writer thread").expect("write to pdftotext");
    assert!(output.status.success(), "pdftotext: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).expect("UTF-8 text");
    Some(text.replace(['\u{a0}', '\u{202f}', '\u{2009}'], " "))
}

/// Page objects in the PDF ("/Type/Page" or "/Type /Page", not "/Pages"); krilla writes no object streams.
fn page_count(pdf: &[u8]) -> usize {
    let needle = b"/Type";
    let mut count = 0;
    for (i, _) in pdf.windows(needle.len()).enumerate().filter(|(_, w)| w == needle) {
        let rest = &pdf[i + needle.len()..];
        let rest = &rest[rest.iter().take_while(|b| b.is_ascii_whitespace()).count()..];
        if rest.starts_with(b"/Page") && !rest.get(5).is_some_and(|b| b.is_ascii_alphanumeric()) {
            count += 1;
        }
    }
    count
}

fn save(name: &str, pdf: &[u8]) {
    if let Ok(dir) = std::env::var("FICHE_PDF_OUT") {
        std::fs::write(std::path::Path::new(&dir).join(name), pdf).expect("write sample PDF");
    }
}

#[test]
fn full_fiche_renders_with_extractable_text() {
    let doc = full_doc();
    let pdf = render_pdf(&doc).expect("PDF");
    save("fiche.pdf", &pdf);
    assert!(pdf.starts_with(b"%PDF"));
    let pages = page_count(&pdf);
    assert!((1..=2).contains(&pages), "{pages} pages");
    eprintln!("full fiche: {pages} page(s), {} bytes", pdf.len());
    let Some(text) = pdftotext(&pdf) else { return };
    assert_eq!(text.matches('\u{c}').count(), pages, "form feeds = pages");
    for expected in [
        "Fiche militante — Vénissieux (69259)",
        "Porte-à-porte « Défendre l'hôpital »",
        "Version 3 · générée le 22/11/2026 08:15",
        "Chiffres clés",
        "Abstention",
        "41,2 % (département 27,0 %)",
        "19 870 €",
        "Profil du secteur",
        "démobilisation :",
        "Publics à privilégier",
        "Enjeux locaux",
        "Santé — citée dans 3 fiches d'observation",
        "Ce qui marche",
        "Porte-à-porte en binôme",
        "Script",
        "Avez-vous deux minutes ?",
        "Conseils pratiques",
        "Personnes à remobiliser",
        "Mme Amina B.",
        "Sources : Insee",
        &format!("page 1/{pages}"),
        "Parilly-Nord",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(!text.contains("autres"), "nothing cut:\n{text}");
}

#[test]
fn huge_fiche_fits_on_two_pages() {
    let long = "Les habitants rencontrés évoquent la fermeture des urgences de nuit, la hausse des charges et le \
                    manque de transports le soir\u{202f}; ils attendent des propositions concrètes. "
        .repeat(40);
    let doc = FicheDoc {
        profile: long.clone(),
        targeting: (0..50).map(|i| format!("Public cible numéro {i} : {}", &long[..120])).collect(),
        issues: (0..200).map(|i| line(&format!("Enjeu {i}"), &long[..200])).collect(),
        methods: (0..60).map(|i| line(&format!("Méthode {i}"), "porte-à-porte en binôme")).collect(),
        script: (0..20).map(|_| long.clone()).collect(),
        advice: (0..80).map(|i| format!("Conseil {i} : {}", &long[..90])).collect(),
        people: (0..100).map(|i| line(&format!("Personne {i}"), "militante depuis 2012")).collect(),
        facts: (0..40).map(|i| line(&format!("Indicateur {i}"), "12,5\u{a0}%")).collect(),
        sources: long.clone(),
        ..full_doc()
    };
    let pdf = render_pdf(&doc).expect("PDF");
    save("huge.pdf", &pdf);
    let pages = page_count(&pdf);
    assert!((1..=2).contains(&pages), "{pages} pages");
    let Some(text) = pdftotext(&pdf) else { return };
    assert!(text.contains("autres"), "{text}");
    for heading in ["Enjeux locaux", "Ce qui marche", "Script", "Conseils pratiques", "Personnes à remobiliser"] {
        assert!(text.contains(heading), "missing {heading:?} in:\n{text}");
    }
    assert!(text.contains(&format!("page {pages}/{pages}")));
}

#[test]
fn title_only_fiche_is_one_page() {
    let doc = FicheDoc { title: "Fiche militante — Givors (69091)".into(), ..FicheDoc::default() };
    let pdf = render_pdf(&doc).expect("PDF");
    assert_eq!(page_count(&pdf), 1);
    let Some(text) = pdftotext(&pdf) else { return };
    assert!(text.contains("Fiche militante — Givors (69091)"), "{text}");
    assert!(text.contains("Version 0"), "{text}");
    assert!(text.contains("page 1/1"), "{text}");
    assert!(!text.contains("Enjeux locaux") && !text.contains("Chiffres clés"), "{text}");
    let empty = render_pdf(&FicheDoc::default()).expect("PDF of an empty fiche");
    assert_eq!(page_count(&empty), 1);
}

#[test]
fn broken_map_is_left_out() {
    for svg in ["<svg><path d=\"M0,0L10", "not svg at all", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>", ""] {
        let doc = FicheDoc { map_svg: Some(svg.to_owned()), ..full_doc() };
        let pdf = render_pdf(&doc).expect("PDF without its map");
        assert!((1..=2).contains(&page_count(&pdf)));
        let Some(text) = pdftotext(&pdf) else { return };
        assert!(text.contains("Enjeux locaux") && text.contains("Revenu médian"), "{text}");
        assert!(!text.contains("Parilly-Nord"), "no map labels");
    }
}

#[test]
fn overlong_words_are_cut() {
    let word = "Saint-Rémy-de-Provence-".repeat(40);
    let doc = FicheDoc {
        title: word.clone(),
        issues: vec![line(&word, &word)],
        facts: vec![line(&word, &word)],
        advice: vec![word.clone()],
        sources: word.clone(),
        ..full_doc()
    };
    let pdf = render_pdf(&doc).expect("PDF");
    assert!((1..=2).contains(&page_count(&pdf)));

    let fonts = fonts().expect("fonts");
    let lines = fonts.wrap(&[(&word, BODY_BOLD)], 100.0);
    assert!(lines.len() > 10);
    assert!(lines.iter().all(|l| l.width <= 100.0 + 1e-3), "{lines:?}");
    let text: String = lines.iter().flat_map(|l| l.frags.iter().map(|f| f.text.as_str())).collect();
    assert_eq!(text, word, "nothing lost");
    assert_eq!(fonts.wrap(&[("W", TITLE)], 0.5).len(), 1, "one character per line at worst");
}

#[test]
fn wraps_only_at_ascii_spaces() {
    let fonts = fonts().expect("fonts");
    let text = fonts.clean("Revenu médian\u{a0}: 19\u{a0}870\u{a0}€ —\tvoir  la\u{202f}note\n");
    assert_eq!(text, format!("Revenu médian\u{a0}: 19\u{a0}870\u{a0}€ — voir la{}note", fonts.narrow_nbsp));
    let width = fonts.width("médian\u{a0}: 19", BODY) + 0.5;
    let lines = fonts.wrap(&[(&text, BODY)], width);
    let texts: Vec<String> = lines.iter().map(|l| l.frags.iter().map(|f| f.text.as_str()).collect()).collect();
    assert!(texts.iter().any(|t| t.starts_with("19\u{a0}870\u{a0}€")), "{texts:?}");
    assert!(texts.iter().all(|t| !t.ends_with('\u{a0}') && !t.starts_with(':')), "{texts:?}");
    assert!(lines.iter().all(|l| l.width <= width), "{lines:?}");

    // Mixed styles: a bold label glued to its dash, fragments placed at their measured offsets.
    let lines = fonts.wrap(&[("Santé", BODY_BOLD), ("\u{a0}— ", BODY), ("citée trois fois", BODY)], 500.0);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].frags.len(), 2);
    assert!((lines[0].frags[1].x - fonts.width("Santé", BODY_BOLD)).abs() < 1e-3);
    assert!(
        (lines[0].width - fonts.width("Santé", BODY_BOLD) - fonts.width("\u{a0}— citée trois fois", BODY)).abs() < 1e-3
    );

    let mut lines = fonts.wrap(&[("un deux trois quatre cinq six sept huit", BODY)], 60.0);
    fonts.cap_lines(&mut lines, 2, 60.0);
    assert_eq!(lines.len(), 2);
    let last: String = lines[1].frags.iter().map(|f| f.text.as_str()).collect();
    assert!(last.ends_with('…') && lines[1].width <= 60.0, "{last:?}");
}

#[test]
fn odd_characters_do_not_panic() {
    let odd = "Émoji 👍, combinant e\u{301}, arabe مرحبا, tab\there\r\nnouvelle ligne, \u{7}contrôle, \u{202f}\u{a0} ";
    let doc = FicheDoc {
        title: odd.into(),
        subtitle: odd.into(),
        generated_at: odd.into(),
        version: -1,
        map_caption: odd.into(),
        facts: vec![line(odd, odd), line("", ""), line("", "sans libellé")],
        profile: format!("{odd}\n\n{odd}"),
        targeting: vec![String::new(), odd.into()],
        issues: vec![line("", ""), line(odd, "")],
        script: vec![odd.into(), "\n".into()],
        sources: odd.into(),
        ..full_doc()
    };
    let pdf = render_pdf(&doc).expect("PDF");
    assert!((1..=2).contains(&page_count(&pdf)));
    let Some(text) = pdftotext(&pdf) else { return };
    assert!(text.contains("sans libellé") && text.contains("Version -1"), "{text}");
}

#[test]
fn pagination_keeps_headings_with_their_content_and_clips_at_two_pages() {
    let fonts = fonts().expect("fonts");
    let line = |keep_with_next| Unit { height: 100.0, gap: 10.0, keep_with_next, ops: Vec::new() };
    // 4 units of 100 fit between 0 and 450 (with gaps: 430); a heading in 4th place moves with its content.
    let units = vec![line(false), line(false), line(false), line(true), line(false)];
    let pages = paginate(&units, 0.0, 450.0);
    assert_eq!(pages, vec![vec![(0, 0.0), (1, 110.0), (2, 220.0)], vec![(3, 0.0), (4, 110.0)]]);

    let mut units: Vec<Unit> = (0..20).map(|_| line(false)).collect();
    let mut pages = paginate(&units, 0.0, 450.0);
    assert_eq!(pages.len(), 5);
    clip_pages(&mut units, &mut pages, fonts, 450.0);
    assert_eq!(pages.len(), MAX_PAGES);
    let &(notice, y) = pages[1].last().expect("notice");
    assert_eq!(notice, units.len() - 1);
    assert!(y + units[notice].height <= 450.0, "{y}");
    assert!(matches!(&units[notice].ops[0], Op::Text { text, .. } if text.contains("fiche tronquée")));
}

#[test]
fn render_time() {
    let doc = full_doc();
    render_pdf(&doc).expect("warm-up (fonts)");
    let runs = if cfg!(debug_assertions) { 2 } else { 20 };
    let start = std::time::Instant::now();
    for _ in 0..runs {
        render_pdf(&doc).expect("PDF");
    }
    let per_pdf = start.elapsed() / runs;
    eprintln!("render_pdf: {per_pdf:?} per fiche (with a {}-byte map)", doc.map_svg.as_ref().map_or(0, String::len));
    assert!(per_pdf.as_millis() < 3000, "{per_pdf:?}");
    let doc = FicheDoc { map_svg: None, ..full_doc() };
    let start = std::time::Instant::now();
    for _ in 0..runs {
        render_pdf(&doc).expect("PDF");
    }
    eprintln!("render_pdf without map: {:?} per fiche", start.elapsed() / runs);
    let doc = FicheDoc { map_svg: Some(sample_svg(30, 30)), ..full_doc() };
    let start = std::time::Instant::now();
    for _ in 0..runs {
        render_pdf(&doc).expect("PDF");
    }
    eprintln!("render_pdf with a 900-zone map: {:?} per fiche", start.elapsed() / runs);
}
