//! Unit tests of the composer's form: reading blocks and actions, moving blocks, social links.

use super::Pairs;
use super::blocks::{Action, apply, draft_from, parse_social, social_text};
use crate::newsletter::render::{Block, Document, SocialLink};

fn pairs(v: &[(&str, &str)]) -> Pairs {
    v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_form_reads_blocks_in_order_and_the_action() {
    let p = pairs(&[
        ("name", "Lettre"),
        ("template", "sobre"),
        ("segment", ""),
        ("tracking", "1"),
        ("subject", " Objet "),
        ("preheader", ""),
        ("b1.type", "text"),
        ("b1.markdown", "Bonjour\r\n\r\n**vous**\r\n"),
        ("b0.type", "title"),
        ("b0.text", " Titre "),
        ("b2.type", "social"),
        ("b2.links", "Mastodon https://m.example/@a\r\nhttps://x.example\r\n\r\nPeertube"),
        ("b3.type", "image"),
        ("b3.src", "https://a.fr/i.png"),
        ("b3.alt", ""),
        ("b3.href", " "),
        ("action", "down:1"),
    ]);
    let (d, action) = draft_from(&p).unwrap();
    assert_eq!(action, Action::Down(1));
    assert!(d.tracking);
    assert_eq!(d.document.subject, "Objet");
    assert_eq!(d.document.blocks[0], Block::Title { text: "Titre".into() });
    assert_eq!(d.document.blocks[1], Block::Text { markdown: "Bonjour\n\n**vous**".into() });
    let Block::Social { links } = &d.document.blocks[2] else { panic!() };
    assert_eq!(links[0], SocialLink { network: "Mastodon".into(), url: "https://m.example/@a".into() });
    assert_eq!(links[1].network, "");
    assert_eq!(links[2].url, "");
    assert_eq!(d.document.blocks[3], Block::Image { src: "https://a.fr/i.png".into(), alt: "".into(), href: None });
    assert!(draft_from(&pairs(&[("b0.type", "video")])).is_err());
    assert!(draft_from(&pairs(&[("action", "add:video")])).is_err());
    assert!(draft_from(&pairs(&[("segment", "x")])).is_err());
}

#[test]
fn block_actions_move_add_and_delete() {
    let mut doc = Document {
        blocks: vec![Block::Title { text: "a".into() }, Block::Separator, Block::Text { markdown: "b".into() }],
        ..Document::default()
    };
    assert_eq!(apply(&mut doc, Action::Up(2)), Some(1));
    assert_eq!(doc.blocks[1], Block::Text { markdown: "b".into() });
    assert_eq!(apply(&mut doc, Action::Up(0)), None);
    assert_eq!(apply(&mut doc, Action::Down(2)), None);
    assert_eq!(apply(&mut doc, Action::Delete(0)), None);
    assert_eq!(doc.blocks.len(), 2);
    assert_eq!(apply(&mut doc, Action::Add("quote")), Some(2));
    assert_eq!(doc.blocks[2], Block::Quote { text: String::new(), author: None });
    assert_eq!(apply(&mut doc, Action::Delete(9)), None);
    assert_eq!(doc.blocks.len(), 3);
}

#[test]
fn social_links_round_trip() {
    let links = parse_social("Mastodon https://m.example/@a\nFacebook https://f.example/x");
    assert_eq!(social_text(&links), "Mastodon https://m.example/@a\nFacebook https://f.example/x");
}
