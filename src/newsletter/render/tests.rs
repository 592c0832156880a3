//! Tests of the renderer: structure, sanitising, placeholders, tracking, validation and hints.

use super::markdown::markdown_to_safe_html;
use super::*;

fn sender() -> Sender {
    Sender {
        organisation: "Fédération du Rhône".into(),
        postal_address: "12 rue de la République\n69002 Lyon".into(),
        reason: "Vous recevez cette lettre car vous êtes inscrit·e à la lettre de la fédération du Rhône.".into(),
        logo_url: "https://terrain.example.fr/logo.png".into(),
    }
}

fn recipient<'a>() -> Recipient<'a> {
    Recipient {
        first_name: "Zoé",
        last_name: "Martin",
        commune: "Lyon",
        unsubscribe_url: "https://terrain.example.fr/d/abc?x=1&y=2",
        tracking: None,
        open_pixel_url: None,
    }
}

fn doc(blocks: Vec<Block>) -> Document {
    Document { subject: "Des nouvelles de la fédération".into(), preheader: "Au programme".into(), blocks }
}

fn full_doc() -> Document {
    Document {
        subject: "Bonjour {{ prénom | \"ami·e\" }}, la rentrée à {{commune}}".into(),
        preheader: "Réunion publique, porte-à-porte et mission du mois".into(),
        blocks: vec![
            Block::Title { text: "Bonjour {{ prénom | \"ami·e\" }} !".into() },
            Block::Text {
                markdown: "La rentrée est là, **{{ prénom }}**. Lisez [notre programme](https://parti.example.fr/programme) \
                           et écrivez-nous à [contact](mailto:contact@parti.example.fr).\n\n\
                           ## Au programme\n\n- Réunion publique\n- Porte-à-porte à {{ commune | \"votre commune\" }}\n\n\
                           > Une citation en markdown\n\n1. premier\n2. second"
                    .into(),
            },
            Block::Image {
                src: "https://parti.example.fr/img/meeting.jpg".into(),
                alt: "Militants lors du meeting".into(),
                href: Some("https://parti.example.fr/album".into()),
            },
            Block::Button { label: "Je m'inscris".into(), href: "https://parti.example.fr/inscription".into() },
            Block::Quote { text: "Ensemble, on va plus loin.".into(), author: Some("La secrétaire".into()) },
            Block::Card {
                kind: CardKind::Event,
                title: "Réunion publique".into(),
                when: "Samedi 14 septembre, 18 h".into(),
                place: "Salle des fêtes, {{ commune }}".into(),
                href: "https://parti.example.fr/evenements/42".into(),
            },
            Block::Card {
                kind: CardKind::Mission,
                title: "Tractage au marché".into(),
                when: "Dimanche matin".into(),
                place: "".into(),
                href: "https://parti.example.fr/programme".into(),
            },
            Block::Separator,
            Block::Social {
                links: vec![
                    SocialLink { network: "mastodon".into(), url: "https://mastodon.example/@parti".into() },
                    SocialLink { network: "facebook".into(), url: "https://facebook.com/parti".into() },
                ],
            },
        ],
    }
}

fn tpl() -> &'static Template {
    template("classique").unwrap()
}

fn html_of(c: &Compiled, r: &Recipient<'_>) -> String {
    let mut s = String::new();
    c.render_html(r, &mut s);
    s
}

fn text_of(c: &Compiled, r: &Recipient<'_>) -> String {
    let mut s = String::new();
    c.render_text(r, &mut s);
    s
}

fn messages(e: RenderError) -> String {
    e.to_string()
}

#[test]
fn templates_exist() {
    for id in ["classique", "mobilisation", "sobre"] {
        assert_eq!(template(id).unwrap().id, id);
    }
    assert!(templates().len() >= 3);
    assert!(template("inconnu").is_none());
    assert_eq!(readable_on("#ffc21a"), "#111111");
    assert_eq!(readable_on("#1b3a6b"), "#ffffff");
}

#[test]
fn serde_round_trip_every_block() {
    let d = full_doc();
    let json = serde_json::to_string(&d).unwrap();
    assert!(json.contains(r#""type":"separator""#));
    assert!(json.contains(r#""kind":"event""#));
    let back: Document = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    let minimal: Block = serde_json::from_str(r#"{"type":"image","src":"https://a.fr/i.png","alt":"x"}"#).unwrap();
    assert_eq!(minimal, Block::Image { src: "https://a.fr/i.png".into(), alt: "x".into(), href: None });
    let q: Block = serde_json::from_str(r#"{"type":"quote","text":"x"}"#).unwrap();
    assert_eq!(q, Block::Quote { text: "x".into(), author: None });
}

#[test]
fn full_document_structure() {
    for t in templates() {
        let c = compile(&full_doc(), t, &sender()).unwrap();
        let html = html_of(&c, &recipient());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(r#"<meta name="color-scheme" content="light dark">"#));
        assert!(html.contains(r#"<meta name="supported-color-schemes" content="light dark">"#));
        assert!(html.contains(r#"role="presentation""#));
        assert!(html.contains(r#"cellpadding="0""#));
        assert!(html.contains("width:100%;max-width:600px"));
        assert!(html.contains(&format!("bgcolor=\"{}\"", t.background)));
        assert!(html.contains(r#"alt="Fédération du Rhône""#), "logo alt");
        assert!(html.contains("display:block;max-width:100%;height:auto"));
        assert!(html.contains(r#"alt="Militants lors du meeting" width="536""#));
        assert!(html.contains("display:none;font-size:1px"), "hidden preheader");
        assert!(html.contains("Réunion publique, porte-à-porte"));
        assert!(html.contains("<p style=\"margin:0 0 16px 0;font-family:"), "inline p style");
        assert!(html.contains("<h2 style="));
        assert!(html.contains("<ul style="));
        assert!(html.contains("Je participe"));
        assert!(html.contains("Je m'engage"));
        assert!(html.contains(">Mastodon</a>"));
        assert!(html.contains("<title>Bonjour Zoé, la rentrée à Lyon</title>"));
        assert!(html.trim_end().ends_with("</html>"));
        // Only the head may carry a <style> element; everything else is inline.
        assert_eq!(html.matches("<style").count(), 1);
        assert!(!html.contains(" class=\"\""));
    }
}

#[test]
fn xss_is_sanitised() {
    let md = "Salut <script>alert('x')</script> toi\n\n<img src=x onerror=alert(1)>\n\n\
              <a href=\"javascript:alert(1)\">piège</a> et <a href=\"https://ok.example.fr\" onclick=\"x()\">ok</a>\n\n\
              <div style=\"background:url(javascript:alert(1))\">boîte</div> <iframe src=\"https://evil\"></iframe>";
    let c = compile(&doc(vec![Block::Text { markdown: md.into() }]), tpl(), &sender()).unwrap();
    let html = html_of(&c, &recipient());
    let lower = html.to_lowercase();
    for bad in ["<script", "alert(", "onerror", "onclick", "javascript:", "<iframe", "<div style=\"background"] {
        assert!(!lower.contains(bad), "{bad} survived");
    }
    assert!(html.contains("piège"));
    assert!(html.contains("boîte"));
    assert_eq!(c.links(), ["https://ok.example.fr"]);
    assert!(html.contains("href=\"https://ok.example.fr\" target=\"_blank\" rel=\"noopener\""));

    // A markdown javascript: link is refused by validate…
    let d = doc(vec![Block::Text { markdown: "[clic](javascript:alert(1))".into() }]);
    assert!(messages(validate(&d).unwrap_err()).contains("javascript:"));
    // …and would be stripped by the sanitiser anyway.
    let safe = markdown_to_safe_html("[clic](javascript:alert(1)) [b](JaVaScRiPt:alert(2)) [c](data:text/html,x)");
    assert!(!safe.to_lowercase().contains("javascript"), "{safe}");
    assert!(!safe.contains("data:"), "{safe}");
    assert!(safe.contains("clic"));
    let safe = markdown_to_safe_html("[m](mailto:a@b.fr) [h](https://a.fr/?q=1&r=2)");
    assert!(safe.contains("href=\"mailto:a@b.fr\" rel=\"noopener\""), "{safe}");
    assert!(safe.contains("href=\"https://a.fr/?q=1&amp;r=2\""), "{safe}");
}

#[test]
fn placeholders_escaped_in_html_raw_in_text() {
    let d = Document {
        subject: "{{ prénom }} / {{nom}} / {{ commune | \"ta ville\" }}".into(),
        preheader: String::new(),
        blocks: vec![
            Block::Title { text: "Bonjour {{ prénom | \"ami·e\" }}".into() },
            Block::Text { markdown: "Salut *{{prenom}}* de {{ commune |'ta commune'}}".into() },
            Block::Button { label: "Go {{ PRÉNOM }}".into(), href: "https://a.fr".into() },
            Block::Quote { text: "Merci {{nom|\"toi\"}}".into(), author: None },
        ],
    };
    let c = compile(&d, tpl(), &sender()).unwrap();
    let mut r = recipient();
    r.first_name = "<b>Zoé & co</b>";
    r.commune = "";
    let html = html_of(&c, &r);
    assert!(html.contains("Bonjour &lt;b&gt;Zoé &amp; co&lt;/b&gt;"));
    assert!(html.contains("Salut <em style=\"font-style:italic\">&lt;b&gt;Zoé &amp; co&lt;/b&gt;</em> de ta commune"));
    assert!(html.contains("Go &lt;b&gt;Zoé &amp; co&lt;/b&gt;"));
    assert!(html.contains("Merci Martin"));
    assert!(!html.contains("<b>Zoé"));
    let text = text_of(&c, &r);
    assert!(text.contains("BONJOUR <B>ZOÉ & CO</B>"), "{text}");
    assert!(text.contains("Salut <b>Zoé & co</b> de ta commune"), "{text}");
    assert_eq!(c.subject(&r), "<b>Zoé & co</b> / Martin / ta ville");

    // Fallbacks when empty (and default empty fallback).
    let r = Recipient { first_name: "  ", last_name: "", commune: "", ..recipient() };
    let html = html_of(&c, &r);
    assert!(html.contains("Bonjour ami·e"));
    assert!(html.contains("Merci toi"));
    assert!(html.contains("Go </a>"));
    let text = text_of(&c, &r);
    assert!(text.contains("BONJOUR AMI·E"), "{text}");
    assert_eq!(c.subject(&r), " /  / ta ville");
    // Subject never carries a line break from data.
    let r = Recipient { first_name: "Zoé\r\nBcc: x", ..recipient() };
    assert!(!c.subject(&r).contains('\n'));
}

#[test]
fn unknown_placeholder_refused() {
    let d = doc(vec![Block::Title { text: "Bonjour {{ âge }}".into() }]);
    let e = validate(&d).unwrap_err();
    assert_eq!(e.issues[0].block, Some(0));
    let m = messages(e);
    assert!(m.contains("Bloc 1 (titre)"), "{m}");
    assert!(m.contains("inconnue : « {{ âge }} »"), "{m}");
    let d = Document { subject: "Salut {{ prénom".into(), ..doc(vec![Block::Separator]) };
    assert!(messages(validate(&d).unwrap_err()).contains("non fermée"));
    let d = doc(vec![Block::Text { markdown: "x {{ email }}".into() }]);
    assert!(compile(&d, tpl(), &sender()).is_err());
}

fn track(i: usize, out: &mut String) {
    out.push_str("https://t.example.fr/c/");
    out.push_str(&i.to_string());
}

#[test]
fn tracking_on_and_off() {
    let c = compile(&full_doc(), tpl(), &sender()).unwrap();
    // Off: real hrefs, no pixel.
    let r = Recipient { open_pixel_url: Some("https://t.example.fr/o.gif"), ..recipient() };
    let html = html_of(&c, &r);
    assert!(html.contains("href=\"https://parti.example.fr/programme\""));
    assert!(!html.contains("t.example.fr"));
    assert!(!html.contains("width=\"1\" height=\"1\""));
    assert!(html.contains("href=\"https://terrain.example.fr/d/abc?x=1&amp;y=2\""));
    assert!(html.contains("href=\"mailto:contact@parti.example.fr\""));
    // On: every http(s) link goes through the hook, mailto and unsubscribe untouched, pixel present.
    let hook = |i: usize, out: &mut String| track(i, out);
    let r = Recipient { tracking: Some(&hook), open_pixel_url: Some("https://t.example.fr/o.gif?a=1&b=2"), ..r };
    let html = html_of(&c, &r);
    for l in c.links() {
        assert!(!html.contains(&format!("href=\"{}\"", escape(l))), "{l} not tracked");
    }
    for i in 0..c.links().len() {
        assert!(html.contains(&format!("href=\"https://t.example.fr/c/{i}\"")));
    }
    assert!(html.contains("href=\"mailto:contact@parti.example.fr\""));
    assert!(html.contains("href=\"https://terrain.example.fr/d/abc?x=1&amp;y=2\" target=\"_blank\" rel=\"noopener\""));
    assert!(html.contains("<img src=\"https://t.example.fr/o.gif?a=1&amp;b=2\" width=\"1\" height=\"1\" alt=\"\""));
    let pixel_at = html.find("o.gif").unwrap();
    assert!(pixel_at > html.find("Se désinscrire").unwrap());
    let text = text_of(&c, &r);
    assert!(text.contains("Je m'inscris : https://t.example.fr/c/"), "{text}");
    assert!(text.contains("Se désinscrire : https://terrain.example.fr/d/abc?x=1&y=2"));
    assert!(!text.contains("https://parti.example.fr"));
    // A hook returning HTML-special characters is escaped in the HTML part only.
    let odd = |i: usize, out: &mut String| {
        out.push_str("https://t.fr/?l=");
        out.push_str(&i.to_string());
        out.push_str("&\"x");
    };
    let r = Recipient { tracking: Some(&odd), ..recipient() };
    assert!(html_of(&c, &r).contains("href=\"https://t.fr/?l=0&amp;&quot;x\""));
    assert!(text_of(&c, &r).contains("https://t.fr/?l=0&\"x"));
}

#[test]
fn links_dedup_and_order() {
    let c = compile(&full_doc(), tpl(), &sender()).unwrap();
    assert_eq!(
        c.links(),
        [
            "https://parti.example.fr/programme",
            "https://parti.example.fr/album",
            "https://parti.example.fr/inscription",
            "https://parti.example.fr/evenements/42",
            "https://mastodon.example/@parti",
            "https://facebook.com/parti",
        ]
    );
    // The mission card reuses link 0: both occurrences carry the same index.
    let hook = |i: usize, out: &mut String| track(i, out);
    let r = Recipient { tracking: Some(&hook), ..recipient() };
    assert!(html_of(&c, &r).matches("href=\"https://t.example.fr/c/0\"").count() >= 3);
}

#[test]
fn footer_always_present() {
    let minimal = doc(vec![Block::Separator]);
    for d in [minimal, full_doc()] {
        let c = compile(&d, template("sobre").unwrap(), &sender()).unwrap();
        let html = html_of(&c, &recipient());
        assert!(html.contains("Fédération du Rhône"));
        assert!(html.contains("12 rue de la République<br>69002 Lyon"));
        assert!(html.contains("inscrit·e à la lettre de la fédération du Rhône"));
        assert!(html.contains(">Se désinscrire</a>"));
        let text = text_of(&c, &recipient());
        assert!(text.contains("Fédération du Rhône\n12 rue de la République\n69002 Lyon\n"), "{text}");
        assert!(text.contains("inscrit·e à la lettre"));
        assert!(text.contains("Se désinscrire : https://terrain.example.fr/d/abc?x=1&y=2"));
    }
    let e = compile(&doc(vec![Block::Separator]), tpl(), &Sender::default()).unwrap_err();
    let m = messages(e);
    assert!(m.contains("adresse postale"), "{m}");
    assert!(m.contains("raison"), "{m}");
}

#[test]
fn text_part_is_readable() {
    let c = compile(&full_doc(), tpl(), &sender()).unwrap();
    let text = text_of(&c, &recipient());
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.starts_with("BONJOUR ZOÉ !\n\n"), "{text}");
    assert!(flat.contains("notre programme (https://parti.example.fr/programme) et"), "{text}");
    assert!(flat.contains("à contact (contact@parti.example.fr)."), "{text}");
    assert!(text.contains("AU PROGRAMME\n\n- Réunion publique\n- Porte-à-porte à Lyon\n"), "{text}");
    assert!(text.contains("> Une citation en markdown"), "{text}");
    assert!(text.contains("1. premier\n2. second"), "{text}");
    assert!(text.contains("[Image : Militants lors du meeting] (https://parti.example.fr/album)"), "{text}");
    assert!(text.contains("« Ensemble, on va plus loin. »\n— La secrétaire"), "{text}");
    assert!(text.contains("ÉVÉNEMENT : Réunion publique\nDate : Samedi 14 septembre, 18 h\nLieu : Salle des fêtes, Lyon\nJe participe : https://parti.example.fr/evenements/42"), "{text}");
    assert!(text.contains("- Mastodon : https://mastodon.example/@parti"), "{text}");
    assert!(!text.contains('<'), "no markup in the text part");
    let long = "mot ".repeat(100);
    let c = compile(&doc(vec![Block::Text { markdown: long }]), tpl(), &sender()).unwrap();
    for line in text_of(&c, &recipient()).lines() {
        assert!(line.chars().count() <= WRAP, "{line}");
    }
}

#[test]
fn validate_messages() {
    let ok = doc(vec![Block::Separator]);
    assert!(validate(&ok).is_ok());
    let check = |d: Document, needle: &str| {
        let m = messages(validate(&d).unwrap_err());
        assert!(m.contains(needle), "expected «{needle}» in «{m}»");
    };
    check(Document { subject: "  ".into(), ..ok.clone() }, "L'objet de la lettre est vide.");
    check(
        Document { subject: "a".repeat(151), ..ok.clone() },
        "L'objet est trop long (151 caractères, 150 au maximum).",
    );
    check(
        doc(vec![Block::Image { src: "https://a.fr/i.png".into(), alt: " ".into(), href: None }]),
        "Bloc 1 (image) : le texte alternatif est vide",
    );
    check(doc(vec![Block::Image { src: "/i.png".into(), alt: "x".into(), href: None }]), "doit commencer par https://");
    check(doc(vec![Block::Button { label: "Go".into(), href: "ftp://a.fr".into() }]), "n'est pas valide");
    check(
        doc(vec![Block::Button { label: "Go".into(), href: " javascript:alert(1)".into() }]),
        "« javascript: » sont refusés",
    );
    check(doc(vec![Block::Button { label: "Go".into(), href: "java\tscript:alert(1)".into() }]), "refusés");
    check(doc(vec![Block::Button { label: "".into(), href: "https://a.fr".into() }]), "le libellé du bouton est vide");
    check(doc(vec![Block::Text { markdown: "[x](/relatif)".into() }]), "adresse complète");
    check(doc(vec![Block::Text { markdown: "![x](https://a.fr/i.png)".into() }]), "bloc « image »");
    check(doc(vec![Block::Separator; 61]), "trop de blocs (61, 60 au maximum)");
    check(doc(vec![]), "aucun bloc");
    check(doc(vec![Block::Social { links: vec![] }]), "aucun réseau");
    check(
        doc(vec![Block::Button { label: "Go".into(), href: "https://a.fr/?n={{ nom }}".into() }]),
        "balise de personnalisation",
    );
    assert!(validate(&doc(vec![Block::Button { label: "Écrire".into(), href: "mailto:a@b.fr".into() }])).is_ok());
    assert!(validate(&full_doc()).is_ok());
    let e = validate(&Document { subject: String::new(), preheader: String::new(), blocks: vec![] }).unwrap_err();
    assert_eq!(e.issues.len(), 2, "all problems reported at once");
}

#[test]
fn spam_hints_image_only_and_heavy() {
    let d = Document {
        subject: "GRATUIT : VENEZ NOMBREUX !!!".into(),
        preheader: String::new(),
        blocks: vec![
            Block::Image { src: "https://a.fr/affiche.jpg".into(), alt: "Affiche".into(), href: None },
            Block::Text { markdown: "Voir [https://parti.example.fr](https://evil.example.com)".into() },
        ],
    };
    let c = compile(&d, tpl(), &sender()).unwrap();
    let hints = spam_hints(&d, &c);
    let all: String = hints.iter().map(|h| h.message.as_str()).collect::<Vec<_>>().join("\n");
    assert!(all.contains("uniquement composée d'images"), "{all}");
    assert!(all.contains("version texte est presque vide"), "{all}");
    assert!(all.contains("majuscules"), "{all}");
    assert!(all.contains("!!!"), "{all}");
    assert!(all.contains("« gratuit »"), "{all}");
    assert!(all.contains("Aucun texte d'aperçu"), "{all}");
    assert!(all.contains("hameçonnage"), "{all}");
    assert!(hints.iter().any(|h| h.level == HintLevel::Info));

    let para = "Un paragraphe assez long pour remplir la lettre de contenu militant et informatif. ".repeat(20);
    let md = vec![para; 100].join("\n\n");
    assert!(md.len() > 150_000);
    let big = doc(vec![Block::Text { markdown: md }]);
    let c = compile(&big, tpl(), &sender()).unwrap();
    let hints = spam_hints(&big, &c);
    assert!(hints.iter().any(|h| h.level == HintLevel::Warning && h.message.contains("102 Ko")), "{hints:?}");
    assert!(!hints.iter().any(|h| h.message.contains("images")));

    let clean = full_doc();
    let c = compile(&clean, tpl(), &sender()).unwrap();
    let hints = spam_hints(&clean, &c);
    assert!(hints.iter().all(|h| h.level == HintLevel::Info), "{hints:?}");
    let many = doc((0..30).map(|i| Block::Button { label: "x".into(), href: format!("https://a.fr/{i}") }).collect());
    let c = compile(&many, tpl(), &sender()).unwrap();
    assert!(spam_hints(&many, &c).iter().any(|h| h.message.contains("30 liens")));
}

#[test]
#[ignore]
fn bench_render_100k() {
    let c = compile(&full_doc(), tpl(), &sender()).unwrap();
    let hook = |i: usize, out: &mut String| {
        out.push_str("https://t.example.fr/c/0123456789abcdef/");
        out.push(char::from(b'0' + (i % 10) as u8));
    };
    let mut html = String::new();
    let mut text = String::new();
    let mut bytes = 0;
    let n = 100_000;
    let start = std::time::Instant::now();
    for k in 0..n {
        html.clear();
        text.clear();
        let r = Recipient {
            first_name: if k % 3 == 0 { "" } else { "Zoé" },
            last_name: "Martin",
            commune: "Villeurbanne",
            unsubscribe_url: "https://terrain.example.fr/d/0123456789abcdef",
            tracking: Some(&hook),
            open_pixel_url: Some("https://t.example.fr/o/0123456789abcdef.gif"),
        };
        c.render_html(&r, &mut html);
        c.render_text(&r, &mut text);
        bytes += html.len() + text.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} recipients (html {} B + text {} B) in {secs:.2} s: {:.0} recipients/s, {:.0} MB/s",
        html.len(),
        text.len(),
        n as f64 / secs,
        bytes as f64 / secs / 1e6
    );
}
