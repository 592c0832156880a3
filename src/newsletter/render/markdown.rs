//! Markdown → sanitised HTML (pulldown-cmark, ammonia) → re-emitted HTML and text parts.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::text::Seg;
use super::{
    Ctx, Field, Part, Piece, SENTINEL_BASE, SENTINEL_LAST, Target, escape, is_sentinel, note_mismatch,
    parse_placeholders, put,
};

/// Replaces placeholders by private-use sentinels (one char each) so they survive markdown and
/// sanitising untouched; user-typed private-use characters of those planes are dropped.
fn markdown_with_sentinels(md: &str) -> (String, Vec<(Field, String)>) {
    let clean: String = md.chars().filter(|c| !is_sentinel(*c)).collect();
    let Ok(pieces) = parse_placeholders(&clean) else { return (clean, Vec::new()) };
    let mut out = String::with_capacity(clean.len());
    let mut fields = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Field(f, fallback) => match char::from_u32(SENTINEL_BASE + fields.len() as u32) {
                Some(ch) if SENTINEL_BASE + (fields.len() as u32) <= SENTINEL_LAST => {
                    out.push(ch);
                    fields.push((f, fallback));
                }
                _ => out.push_str(&fallback),
            },
        }
    }
    (out, fields)
}

/// Markdown to sanitised HTML (ammonia allow-list). Headings are mapped to h2/h3, code to plain
/// text; raw HTML is handed to ammonia, which strips everything outside the allow-list.
pub(super) fn markdown_to_safe_html(md: &str) -> String {
    use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
    let map_level = |l: HeadingLevel| if l <= HeadingLevel::H2 { HeadingLevel::H2 } else { HeadingLevel::H3 };
    let events = Parser::new_ext(md, Options::empty()).filter_map(|e| match e {
        Event::Start(Tag::Heading { level, id, classes, attrs }) => {
            Some(Event::Start(Tag::Heading { level: map_level(level), id, classes, attrs }))
        }
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(map_level(level)))),
        Event::Start(Tag::CodeBlock(_)) => Some(Event::Start(Tag::Paragraph)),
        Event::End(TagEnd::CodeBlock) => Some(Event::End(TagEnd::Paragraph)),
        Event::Code(t) => Some(Event::Text(t)),
        Event::Rule => None,
        other => Some(other),
    });
    let mut raw = String::with_capacity(md.len() * 2);
    pulldown_cmark::html::push_html(&mut raw, events);
    let tags: HashSet<&str> =
        ["p", "br", "strong", "em", "b", "i", "u", "a", "ul", "ol", "li", "h2", "h3", "blockquote"].into();
    let mut builder = ammonia::Builder::empty();
    builder
        .tags(tags)
        .clean_content_tags(["script", "style", "title", "textarea", "noscript", "template"].into())
        .generic_attributes(HashSet::new())
        .tag_attributes(HashMap::from([("a", HashSet::from(["href"]))]))
        .url_schemes(["http", "https", "mailto"].into())
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener"))
        .strip_comments(true);
    builder.clean(&raw).to_string()
}

#[derive(Debug, PartialEq)]
enum Tok {
    Start(String, Vec<(String, String)>),
    End(String),
    Text(String),
}

/// Tokenizer for ammonia's (well-formed, html5ever-serialised) output.
fn tokenize(html: &str) -> Vec<Tok> {
    let b = html.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let end = html[i..].find('<').map_or(b.len(), |n| i + n);
            toks.push(Tok::Text(decode_entities(&html[i..end])));
            i = end;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i = html[i..].find("-->").map_or(b.len(), |n| i + n + 3);
            continue;
        }
        i += 1;
        let closing = b.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_alphanumeric() {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                i += 1;
                break;
            }
            let an = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
                i += 1;
            }
            let attr = html[an..i].to_ascii_lowercase();
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                match b.get(i) {
                    Some(&q @ (b'"' | b'\'')) => {
                        let vs = i + 1;
                        let ve = html[vs..].find(q as char).map_or(b.len(), |n| vs + n);
                        value = decode_entities(&html[vs..ve]);
                        i = ve + 1;
                    }
                    _ => {
                        let vs = i;
                        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                            i += 1;
                        }
                        value = decode_entities(&html[vs..i]);
                    }
                }
            }
            if !attr.is_empty() {
                attrs.push((attr, value));
            }
        }
        toks.push(if closing { Tok::End(name) } else { Tok::Start(name, attrs) });
    }
    toks
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest[..rest.len().min(12)].find(';') else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..semi];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(ch) => {
                out.push(ch);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

enum TextCtx {
    Quote,
    List { ordered: bool, n: u64, marker: String, first_pending: bool },
}

struct OpenLink {
    target: Option<Target>,
    href: String,
    seg_start: usize,
    visible: String,
}

/// Re-emits sanitised markdown into the HTML part (inline styles, link holes, placeholder holes)
/// and into the text part (wrapped paragraphs, lists, quotes, `texte (url)` links).
pub(super) fn compile_markdown(c: &mut Ctx, markdown: &str) {
    let (md, fields) = markdown_with_sentinels(markdown);
    let safe = markdown_to_safe_html(&md);
    let (font, text, primary, accent) = (c.pal.font, c.pal.text, c.pal.primary, c.pal.accent);
    let body = format!("font-family:{font};font-size:16px;line-height:1.6;color:{text}");
    let style = |tag: &str| -> Option<String> {
        Some(match tag {
            "p" => format!("margin:0 0 16px 0;{body}"),
            "ul" | "ol" => format!("margin:0 0 16px 0;padding:0 0 0 24px;{body}"),
            "li" => format!("margin:0 0 8px 0;{body}"),
            "h2" => format!(
                "margin:24px 0 12px 0;font-family:{font};font-size:22px;line-height:1.3;font-weight:bold;color:{primary}"
            ),
            "h3" => format!(
                "margin:20px 0 10px 0;font-family:{font};font-size:18px;line-height:1.3;font-weight:bold;color:{primary}"
            ),
            "blockquote" => {
                format!(
                    "margin:0 0 16px 0;padding:4px 0 4px 16px;border-left:4px solid {accent};font-style:italic;{body}"
                )
            }
            "strong" | "b" => "font-weight:bold".into(),
            "em" | "i" => "font-style:italic".into(),
            "u" => "text-decoration:underline".into(),
            _ => return None,
        })
    };

    let mut segs: Vec<Seg> = Vec::new();
    let mut stack: Vec<TextCtx> = Vec::new();
    let mut open_links: Vec<OpenLink> = Vec::new();
    let mut heading: Option<String> = None;

    let flush = |c: &mut Ctx, segs: &mut Vec<Seg>, stack: &mut Vec<TextCtx>, upper: bool| {
        if segs.is_empty() {
            return;
        }
        let (mut first, mut cont) = (String::new(), String::new());
        let innermost_list = stack.iter().rposition(|s| matches!(s, TextCtx::List { .. }));
        for (n, ctx) in stack.iter().enumerate() {
            match ctx {
                TextCtx::Quote => {
                    first.push_str("> ");
                    cont.push_str("> ");
                }
                TextCtx::List { marker, first_pending, .. } => {
                    let pad = " ".repeat(marker.chars().count());
                    if Some(n) == innermost_list && *first_pending {
                        first.push_str(marker);
                    } else {
                        first.push_str(&pad);
                    }
                    cont.push_str(&pad);
                }
            }
        }
        if c.text.para(segs, &first, &cont, upper, &c.links)
            && let Some(TextCtx::List { first_pending, .. }) = innermost_list.map(|i| &mut stack[i])
        {
            *first_pending = false;
        }
        segs.clear();
    };

    for tok in tokenize(&safe) {
        match tok {
            Tok::Text(t) => {
                if let Some(link) = open_links.last_mut() {
                    link.visible.push_str(&t);
                }
                let mut lit = String::new();
                for ch in t.chars() {
                    if is_sentinel(ch) {
                        if !lit.is_empty() {
                            c.html.lit(&escape(&lit));
                            segs.push(Seg::Text(std::mem::take(&mut lit)));
                        }
                        if let Some((f, fallback)) = fields.get((ch as u32 - SENTINEL_BASE) as usize) {
                            let part = Part::Field { field: *f, fallback: escape(fallback).into(), upper: false };
                            c.html.hole(part);
                            segs.push(Seg::Field(*f, fallback.clone()));
                        }
                    } else {
                        lit.push(ch);
                    }
                }
                if !lit.is_empty() {
                    c.html.lit(&escape(&lit));
                    segs.push(Seg::Text(lit));
                }
            }
            Tok::Start(name, attrs) => match name.as_str() {
                "br" => {
                    c.html.lit("<br>");
                    segs.push(Seg::Break);
                }
                "a" => {
                    let href = attrs.iter().find(|(k, _)| k == "href").map(|(_, v)| v.clone()).unwrap_or_default();
                    let target = if href.is_empty() { None } else { c.target(&href) };
                    if let Some(t) = &target {
                        c.html.lit("<a href=\"");
                        c.href(t);
                        put!(
                            c.html,
                            "\" target=\"_blank\" rel=\"noopener\" style=\"color:{primary};text-decoration:underline\">"
                        );
                    }
                    open_links.push(OpenLink { target, href, seg_start: segs.len(), visible: String::new() });
                }
                _ => {
                    let Some(st) = style(&name) else { continue };
                    match name.as_str() {
                        "p" | "h2" | "h3" => {
                            flush(c, &mut segs, &mut stack, false);
                            if name != "p" {
                                heading = Some(name.clone());
                            }
                        }
                        "blockquote" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.push(TextCtx::Quote);
                        }
                        "ul" | "ol" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.push(TextCtx::List {
                                ordered: name == "ol",
                                n: 0,
                                marker: String::new(),
                                first_pending: false,
                            });
                        }
                        "li" => {
                            flush(c, &mut segs, &mut stack, false);
                            let nested = stack.iter().filter(|s| matches!(s, TextCtx::List { .. })).count() > 1;
                            if let Some(TextCtx::List { ordered, n, marker, first_pending }) =
                                stack.iter_mut().rev().find(|s| matches!(s, TextCtx::List { .. }))
                            {
                                *n += 1;
                                *marker = if *ordered { format!("{n}. ") } else { "- ".into() };
                                *first_pending = true;
                                if *n > 1 || nested {
                                    c.text.need_blank = false;
                                }
                            }
                        }
                        _ => {}
                    }
                    put!(c.html, "<{name} style=\"{st}\">");
                }
            },
            Tok::End(name) => match name.as_str() {
                "a" => {
                    let Some(link) = open_links.pop() else { continue };
                    let Some(target) = link.target else { continue };
                    c.html.lit("</a>");
                    note_mismatch(&mut c.stats, &link.visible, &link.href);
                    let visible = link.visible.trim();
                    let same = visible == link.href.trim()
                        || link.href.trim().strip_prefix("mailto:").is_some_and(|m| m == visible);
                    if same {
                        segs.truncate(link.seg_start);
                        segs.push(Ctx::text_link(&target));
                    } else {
                        segs.push(Seg::Text(" (".into()));
                        segs.push(Seg::Glue);
                        segs.push(Ctx::text_link(&target));
                        segs.push(Seg::Glue);
                        segs.push(Seg::Word(")".into()));
                    }
                    // Punctuation right after the link stays attached to it.
                    segs.push(Seg::Glue);
                }
                "br" => {}
                _ => {
                    if style(&name).is_none() {
                        continue;
                    }
                    put!(c.html, "</{name}>");
                    match name.as_str() {
                        "p" | "li" => flush(c, &mut segs, &mut stack, false),
                        "h2" | "h3" => {
                            let upper = heading.take().as_deref() == Some("h2");
                            flush(c, &mut segs, &mut stack, upper);
                        }
                        "blockquote" | "ul" | "ol" => {
                            flush(c, &mut segs, &mut stack, false);
                            stack.pop();
                            c.text.need_blank = true;
                        }
                        _ => {}
                    }
                }
            },
        }
    }
    flush(c, &mut segs, &mut stack, false);
}
