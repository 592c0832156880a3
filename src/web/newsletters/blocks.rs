//! The composer's form: block kinds, the buttons' actions, and reading a draft from the submitted pairs.

use super::Pairs;
use crate::error::Error;
use crate::newsletter::campaigns::{Campaign, Draft};
use crate::newsletter::render::{Block, CardKind, Document, SocialLink};

/// Block types, in the order of the "add" buttons: (form value, French name).
pub(super) const KINDS: [(&str, &str); 8] = [
    ("title", "Titre"),
    ("text", "Texte"),
    ("image", "Image"),
    ("button", "Bouton"),
    ("quote", "Citation"),
    ("card", "Carte (événement ou mission)"),
    ("social", "Réseaux sociaux"),
    ("separator", "Séparateur"),
];

pub(super) fn kind_of(b: &Block) -> &'static str {
    match b {
        Block::Title { .. } => "title",
        Block::Text { .. } => "text",
        Block::Image { .. } => "image",
        Block::Button { .. } => "button",
        Block::Quote { .. } => "quote",
        Block::Card { .. } => "card",
        Block::Social { .. } => "social",
        Block::Separator => "separator",
    }
}

pub(super) fn kind_label(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l).unwrap_or("Bloc")
}

/// An empty block of a kind (the author fills it in).
fn new_block(kind: &str) -> Option<Block> {
    Some(match kind {
        "title" => Block::Title { text: String::new() },
        "text" => Block::Text { markdown: String::new() },
        "image" => Block::Image { src: String::new(), alt: String::new(), href: None },
        "button" => Block::Button { label: String::new(), href: String::new() },
        "quote" => Block::Quote { text: String::new(), author: None },
        "card" => Block::Card {
            kind: CardKind::Event,
            title: String::new(),
            when: String::new(),
            place: String::new(),
            href: String::new(),
        },
        "social" => Block::Social { links: Vec::new() },
        "separator" => Block::Separator,
        _ => return None,
    })
}

/// What a composer button asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Action {
    Save,
    Add(&'static str),
    Up(usize),
    Down(usize),
    Delete(usize),
}

fn parse_action(v: &str) -> Result<Action, Error> {
    let bad = || Error::Invalid("Action inconnue.".into());
    let (verb, arg) = v.split_once(':').unwrap_or((v, ""));
    let index = || arg.parse::<usize>().map_err(|_| bad());
    Ok(match verb {
        "" | "save" => Action::Save,
        "add" => Action::Add(KINDS.iter().find(|(k, _)| *k == arg).map(|(k, _)| *k).ok_or_else(bad)?),
        "up" => Action::Up(index()?),
        "down" => Action::Down(index()?),
        "delete" => Action::Delete(index()?),
        _ => return Err(bad()),
    })
}

/// Applies a block action; returns the (0-based) position of the block to show after it.
pub(super) fn apply(doc: &mut Document, action: Action) -> Option<usize> {
    let n = doc.blocks.len();
    match action {
        Action::Save => None,
        Action::Add(kind) => {
            doc.blocks.push(new_block(kind)?);
            Some(n)
        }
        Action::Up(i) if i > 0 && i < n => {
            doc.blocks.swap(i, i - 1);
            Some(i - 1)
        }
        Action::Down(i) if i + 1 < n => {
            doc.blocks.swap(i, i + 1);
            Some(i + 1)
        }
        Action::Delete(i) if i < n => {
            doc.blocks.remove(i);
            None
        }
        _ => None,
    }
}

pub(super) fn field<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn one_line(s: &str) -> String {
    s.trim().to_string()
}

fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// "Mastodon https://…" lines → social links.
pub(super) fn parse_social(s: &str) -> Vec<SocialLink> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(char::is_whitespace) {
            Some((network, url)) => SocialLink { network: network.trim().to_string(), url: url.trim().to_string() },
            None if l.contains("://") => SocialLink { network: String::new(), url: l.to_string() },
            None => SocialLink { network: l.to_string(), url: String::new() },
        })
        .collect()
}

pub(super) fn social_text(links: &[SocialLink]) -> String {
    links.iter().map(|l| format!("{} {}", l.network, l.url).trim().to_string()).collect::<Vec<_>>().join("\n")
}

/// Reads the composer form: the draft and the button pressed. Blocks are the `b{i}.*` fields, in order of `i`.
pub(super) fn draft_from(pairs: &Pairs) -> Result<(Draft, Action), Error> {
    let mut indices: Vec<usize> =
        pairs.iter().filter_map(|(k, _)| k.strip_prefix('b')?.strip_suffix(".type")?.parse::<usize>().ok()).collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.len() > 200 {
        return Err(Error::Invalid("Trop de blocs.".into()));
    }
    let mut blocks = Vec::new();
    for i in &indices {
        let f = |name: &str| field(pairs, &format!("b{i}.{name}"));
        let block = match f("type") {
            "title" => Block::Title { text: one_line(f("text")) },
            "text" => Block::Text { markdown: f("markdown").replace("\r\n", "\n").trim_end().to_string() },
            "image" => Block::Image { src: one_line(f("src")), alt: one_line(f("alt")), href: optional(f("href")) },
            "button" => Block::Button { label: one_line(f("label")), href: one_line(f("href")) },
            "quote" => Block::Quote { text: one_line(f("text")), author: optional(f("author")) },
            "card" => Block::Card {
                kind: if f("kind") == "mission" { CardKind::Mission } else { CardKind::Event },
                title: one_line(f("title")),
                when: one_line(f("when")),
                place: one_line(f("place")),
                href: one_line(f("href")),
            },
            "social" => Block::Social { links: parse_social(f("links")) },
            "separator" => Block::Separator,
            _ => return Err(Error::Invalid("Type de bloc inconnu.".into())),
        };
        blocks.push(block);
    }
    // Buttons name blocks by their `i`; map that to a position.
    let position = |i: usize| indices.iter().position(|x| *x == i).unwrap_or(usize::MAX);
    let action = match parse_action(field(pairs, "action"))? {
        Action::Up(i) => Action::Up(position(i)),
        Action::Down(i) => Action::Down(position(i)),
        Action::Delete(i) => Action::Delete(position(i)),
        a => a,
    };
    let segment_id = match field(pairs, "segment").trim() {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| Error::Invalid("Segment invalide.".into()))?),
    };
    Ok((
        Draft {
            name: field(pairs, "name").to_string(),
            template: field(pairs, "template").to_string(),
            document: Document {
                subject: one_line(field(pairs, "subject")),
                preheader: one_line(field(pairs, "preheader")),
                blocks,
            },
            segment_id,
            tracking: field(pairs, "tracking") == "1",
        },
        action,
    ))
}

pub(super) fn draft_of(c: &Campaign) -> Draft {
    Draft {
        name: c.name.clone(),
        template: c.template.clone(),
        document: c.document(),
        segment_id: c.segment_id,
        tracking: c.tracking == 1,
    }
}
