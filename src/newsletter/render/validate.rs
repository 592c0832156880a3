//! Validation of a document and its sender (French messages), and deliverability (spam) hints.

use super::{
    Block, CardKind, Compiled, Document, Field, GMAIL_CLIP_BYTES, Hint, HintLevel, Issue, MAX_BLOCKS, MAX_FIELD_CHARS,
    MAX_LINKS, MAX_MARKDOWN_CHARS, MAX_SUBJECT_CHARS, Piece, RenderError, Sender, network_label, parse_placeholders,
    plain,
};

fn block_label(n: usize, block: &Block) -> String {
    let kind = match block {
        Block::Title { .. } => "titre",
        Block::Text { .. } => "texte",
        Block::Image { .. } => "image",
        Block::Button { .. } => "bouton",
        Block::Quote { .. } => "citation",
        Block::Card { kind: CardKind::Event, .. } => "événement",
        Block::Card { kind: CardKind::Mission, .. } => "mission",
        Block::Social { .. } => "réseaux sociaux",
        Block::Separator => "séparateur",
    };
    format!("Bloc {} ({kind})", n + 1)
}

pub(super) fn excerpt(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

/// Checks a link target; `Err` is a French message fragment.
fn check_href(href: &str, allow_mailto: bool) -> Result<(), String> {
    let h = href.trim();
    if h.is_empty() {
        return Err("le lien est vide.".into());
    }
    let squashed: String =
        h.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
    for scheme in ["javascript:", "vbscript:", "data:", "file:"] {
        if squashed.starts_with(scheme) {
            return Err(format!(
                "lien interdit « {} » : les liens « {scheme} » sont refusés pour des raisons de sécurité.",
                excerpt(h, 50)
            ));
        }
    }
    if h.contains("{{") {
        return Err(format!(
            "le lien « {} » contient une balise de personnalisation, ce qui n'est pas possible dans une adresse.",
            excerpt(h, 50)
        ));
    }
    if h.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | '`')) {
        return Err(format!("le lien « {} » contient des espaces ou des caractères interdits.", excerpt(h, 50)));
    }
    let lower = h.to_ascii_lowercase();
    let host_ok = |rest: &str| rest.chars().next().is_some_and(|c| c != '/' && c != '?' && c != '#');
    if let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) {
        if host_ok(rest) {
            return Ok(());
        }
    } else if allow_mailto
        && let Some(addr) = lower.strip_prefix("mailto:")
        && addr.contains('@')
    {
        return Ok(());
    }
    Err(if allow_mailto {
        format!(
            "le lien « {} » n'est pas valide : indiquez une adresse complète commençant par https:// \
             (ou mailto: pour une adresse e-mail).",
            excerpt(h, 50)
        )
    } else {
        format!("l'adresse « {} » n'est pas valide : elle doit commencer par https://.", excerpt(h, 50))
    })
}

pub(super) fn validate_sender(sender: &Sender, issues: &mut Vec<Issue>) {
    let mut footer = |message: &str| issues.push(Issue { block: None, message: message.to_string() });
    if sender.organisation.trim().is_empty() {
        footer("Pied de page : le nom de l'organisation expéditrice est obligatoire.");
    }
    if sender.postal_address.trim().is_empty() {
        footer("Pied de page : l'adresse postale de l'expéditeur est obligatoire.");
    }
    if sender.reason.trim().is_empty() {
        footer("Pied de page : la raison pour laquelle la personne reçoit cette lettre est obligatoire (RGPD).");
    }
    if let Err(e) = check_href(&sender.logo_url, false) {
        footer(&format!("Logo : {e}"));
    }
}

/// Checks a document; every problem is reported with a French message.
pub fn validate(doc: &Document) -> Result<(), RenderError> {
    let mut issues = Vec::new();
    let mut push = |block: Option<usize>, message: String| issues.push(Issue { block, message });

    let subject = doc.subject.trim();
    let subject_len = subject.chars().count();
    if subject.is_empty() {
        push(None, "L'objet de la lettre est vide.".into());
    } else if subject_len > MAX_SUBJECT_CHARS {
        push(None, format!("L'objet est trop long ({subject_len} caractères, {MAX_SUBJECT_CHARS} au maximum)."));
    }
    if subject.contains(['\r', '\n']) {
        push(None, "L'objet ne doit pas contenir de retour à la ligne.".into());
    }
    if let Err(e) = parse_placeholders(subject) {
        push(None, format!("Objet : {e}"));
    }
    if let Err(e) = parse_placeholders(&doc.preheader) {
        push(None, format!("Texte d'aperçu : {e}"));
    }
    if doc.blocks.is_empty() {
        push(None, "La lettre ne contient aucun bloc.".into());
    }
    if doc.blocks.len() > MAX_BLOCKS {
        push(None, format!("La lettre contient trop de blocs ({}, {MAX_BLOCKS} au maximum).", doc.blocks.len()));
    }

    for (n, block) in doc.blocks.iter().enumerate() {
        let label = block_label(n, block);
        let mut err = |message: String| push(Some(n), format!("{label} : {message}"));
        let text_field = |err: &mut dyn FnMut(String), what: &str, value: &str, required: bool| {
            if required && value.trim().is_empty() {
                err(format!("{what} est vide."));
            }
            if value.chars().count() > MAX_FIELD_CHARS {
                err(format!("{what} est trop long ({MAX_FIELD_CHARS} caractères au maximum)."));
            }
            if let Err(e) = parse_placeholders(value) {
                err(e);
            }
        };
        let no_placeholder = |err: &mut dyn FnMut(String), what: &str, value: &str| {
            if value.contains("{{") {
                err(format!("{what} ne peut pas contenir de balise de personnalisation."));
            }
        };
        match block {
            Block::Title { text } => text_field(&mut err, "le titre", text, true),
            Block::Text { markdown } => {
                if markdown.trim().is_empty() {
                    err("le texte est vide.".into());
                }
                let len = markdown.chars().count();
                if len > MAX_MARKDOWN_CHARS {
                    err(format!("le texte est trop long ({len} caractères, {MAX_MARKDOWN_CHARS} au maximum)."));
                }
                if let Err(e) = parse_placeholders(markdown) {
                    err(e);
                }
                check_markdown(markdown, &mut err);
            }
            Block::Image { src, alt, href } => {
                if let Err(e) = check_href(src, false) {
                    err(format!("image : {e}"));
                }
                if alt.trim().is_empty() {
                    err("le texte alternatif est vide : décrivez l'image pour les personnes qui ne la voient pas \
                         (lecteurs d'écran, images bloquées)."
                        .into());
                }
                no_placeholder(&mut err, "Le texte alternatif", alt);
                if let Some(h) = href.as_deref().filter(|h| !h.trim().is_empty())
                    && let Err(e) = check_href(h, true)
                {
                    err(e);
                }
            }
            Block::Button { label, href } => {
                text_field(&mut err, "le libellé du bouton", label, true);
                if let Err(e) = check_href(href, true) {
                    err(e);
                }
            }
            Block::Quote { text, author } => {
                text_field(&mut err, "la citation", text, true);
                text_field(&mut err, "l'auteur", author.as_deref().unwrap_or(""), false);
            }
            Block::Card { title, when, place, href, .. } => {
                text_field(&mut err, "le titre", title, true);
                text_field(&mut err, "la date", when, false);
                text_field(&mut err, "le lieu", place, false);
                if let Err(e) = check_href(href, true) {
                    err(e);
                }
            }
            Block::Social { links } => {
                if links.is_empty() {
                    err("aucun réseau social n'est renseigné.".into());
                }
                for link in links {
                    if link.network.trim().is_empty() {
                        err("le nom d'un réseau social est vide.".into());
                    }
                    no_placeholder(&mut err, "Le nom du réseau", &link.network);
                    if let Err(e) = check_href(&link.url, false) {
                        err(format!("{} : {e}", network_label(&link.network)));
                    }
                }
            }
            Block::Separator => {}
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(RenderError { issues }) }
}

fn check_markdown(markdown: &str, err: &mut dyn FnMut(String)) {
    use pulldown_cmark::{Event, LinkType, Options, Parser, Tag};
    for event in Parser::new_ext(markdown, Options::empty()) {
        match event {
            Event::Start(Tag::Link { link_type: LinkType::Email, .. }) => {}
            Event::Start(Tag::Link { dest_url, .. }) => {
                if let Err(e) = check_href(&dest_url, true) {
                    err(e);
                }
            }
            Event::Start(Tag::Image { .. }) => {
                err("les images ne sont pas possibles dans un bloc de texte : utilisez un bloc « image ».".into())
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spam hints
// ---------------------------------------------------------------------------------------------

const SPAM_WORDS: &[&str] = &[
    "gratuit",
    "urgent",
    "100 %",
    "100\u{a0}%",
    "100\u{202f}%",
    "100%",
    "gagnez",
    "cliquez ici",
    "offre exclusive",
    "dernière chance",
    "argent facile",
    "sans engagement",
];

/// Deliverability advice (French) for a compiled campaign.
pub fn spam_hints(doc: &Document, compiled: &Compiled) -> Vec<Hint> {
    let mut hints = Vec::new();
    let mut hint = |level, message: String| hints.push(Hint { level, message });
    let s = &compiled.stats;

    if s.content_chars < 100 {
        hint(
            HintLevel::Warning,
            format!(
                "La version texte est presque vide ({} caractères de texte) : les filtres anti-spam se méfient \
                 des messages sans vraie version texte. Ajoutez du texte.",
                s.content_chars
            ),
        );
    }
    if s.images > 0 && s.content_chars < 200 {
        hint(
            HintLevel::Warning,
            "La lettre est presque uniquement composée d'images (moins de 200 caractères de texte) : elle risque \
             d'être classée en spam et sera illisible si les images sont bloquées."
                .into(),
        );
    }
    let kb = s.html_bytes.div_ceil(1024);
    if s.html_bytes > GMAIL_CLIP_BYTES {
        hint(
            HintLevel::Warning,
            format!(
                "La lettre pèse environ {kb} Ko : Gmail coupe les messages au-delà de 102 Ko (le lien de \
                 désinscription serait masqué). Raccourcissez le contenu."
            ),
        );
    } else if s.html_bytes > GMAIL_CLIP_BYTES * 8 / 10 {
        hint(HintLevel::Info, format!("La lettre pèse environ {kb} Ko, proche de la limite de 102 Ko de Gmail."));
    }

    let subject = doc.subject.trim();
    let literal_subject = parse_placeholders(subject).map(|p| plain(&p)).unwrap_or_else(|_| subject.to_string());
    let letters: Vec<char> = literal_subject.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= 8 && upper * 10 >= letters.len() * 8 {
        hint(
            HintLevel::Warning,
            "L'objet est écrit en majuscules : cela ressemble à du spam. Écrivez-le normalement.".into(),
        );
    }
    if subject.contains("!!") {
        hint(HintLevel::Warning, "L'objet contient plusieurs points d'exclamation à la suite : évitez « !!! ».".into());
    }
    let lower = subject.to_lowercase();
    for word in SPAM_WORDS {
        if lower.contains(word) {
            hint(
                HintLevel::Warning,
                format!("L'objet contient « {} », une expression souvent filtrée comme spam.", word.trim()),
            );
        }
    }
    if doc.preheader.trim().is_empty() {
        hint(
            HintLevel::Info,
            "Aucun texte d'aperçu : les messageries afficheront à la place le début de la lettre. Ajoutez une \
             phrase qui donne envie d'ouvrir."
                .into(),
        );
    }
    if s.link_occurrences > MAX_LINKS {
        hint(
            HintLevel::Warning,
            format!(
                "La lettre contient {} liens : au-delà de {MAX_LINKS}, les filtres anti-spam deviennent méfiants.",
                s.link_occurrences
            ),
        );
    }
    for (visible, href) in &s.mismatched {
        hint(
            HintLevel::Warning,
            format!(
                "Le lien affiché « {} » mène en réalité à « {} » : les messageries considèrent cela comme de \
                 l'hameçonnage. Affichez un texte plutôt qu'une adresse, ou la même adresse.",
                excerpt(visible, 60),
                excerpt(href, 60)
            ),
        );
    }
    if s.first_name_without_fallback || doc_uses_first_name_without_fallback(doc) {
        hint(
            HintLevel::Info,
            "{{ prénom }} est utilisé sans valeur de repli : les contacts sans prénom verront un blanc. \
             Exemple : {{ prénom | \"ami·e\" }}."
                .into(),
        );
    }
    hints
}

fn doc_uses_first_name_without_fallback(doc: &Document) -> bool {
    let check = |s: &str| {
        parse_placeholders(s)
            .map(|p| p.iter().any(|p| matches!(p, Piece::Field(Field::FirstName, f) if f.is_empty())))
            .unwrap_or(false)
    };
    doc.blocks.iter().any(|b| match b {
        Block::Title { text } => check(text),
        Block::Text { markdown } => check(markdown),
        Block::Button { label, .. } => check(label),
        Block::Quote { text, author } => check(text) || author.as_deref().is_some_and(check),
        Block::Card { title, when, place, .. } => check(title) || check(when) || check(place),
        _ => false,
    })
}
