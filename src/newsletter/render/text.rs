//! Plain-text part: paragraphs wrapped at 76 columns, with placeholder, link and unsubscribe holes.

use super::{Field, Part, PartsBuilder, WRAP};

/// Inline content of a text paragraph before wrapping.
#[derive(Clone, Debug)]
pub(super) enum Seg {
    /// Text that may be wrapped at whitespace.
    Text(String),
    /// An unbreakable word, separated from its neighbours by spaces.
    Word(String),
    /// Joins the previous and next items without a space.
    Glue,
    Field(Field, String),
    Link(usize),
    Unsubscribe,
    /// Hard line break.
    Break,
}

enum Item {
    Lit(String),
    Field(Field, String),
    Link(usize),
    Unsubscribe,
}

#[derive(Default)]
pub(super) struct TextWriter {
    pub(super) b: PartsBuilder,
    pub(super) need_blank: bool,
    started: bool,
    pub(super) counting: bool,
    pub(super) content_chars: usize,
}

fn breaks_words(c: char) -> bool {
    c.is_whitespace() && c != '\u{a0}' && c != '\u{202f}'
}

impl TextWriter {
    /// Writes one wrapped paragraph; returns false when it had nothing visible.
    pub(super) fn para(&mut self, segs: &[Seg], first: &str, cont: &str, upper: bool, links: &[String]) -> bool {
        enum W {
            Word(Vec<Item>, usize),
            Break,
        }
        let mut words: Vec<W> = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let mut lit = String::new();
        let mut width = 0;
        let mut glued = false;
        fn end_word(words: &mut Vec<W>, items: &mut Vec<Item>, lit: &mut String, width: &mut usize) {
            if !lit.is_empty() {
                items.push(Item::Lit(std::mem::take(lit)));
            }
            if !items.is_empty() {
                words.push(W::Word(std::mem::take(items), *width));
            }
            *width = 0;
        }
        let resume = |words: &mut Vec<W>, items: &mut Vec<Item>, width: &mut usize, glued: &mut bool| {
            if std::mem::take(glued)
                && items.is_empty()
                && let Some(W::Word(prev, w)) = words.pop()
            {
                *items = prev;
                *width = w;
            }
        };
        for seg in segs {
            match seg {
                Seg::Text(t) => {
                    for ch in t.chars() {
                        if breaks_words(ch) {
                            end_word(&mut words, &mut items, &mut lit, &mut width);
                            glued = false;
                        } else {
                            resume(&mut words, &mut items, &mut width, &mut glued);
                            if self.counting {
                                self.content_chars += 1;
                            }
                            if upper {
                                lit.extend(ch.to_uppercase());
                            } else {
                                lit.push(ch);
                            }
                            width += 1;
                        }
                    }
                }
                Seg::Word(_) | Seg::Link(_) | Seg::Unsubscribe => {
                    // Standalone words: separated by spaces unless glued.
                    if glued {
                        resume(&mut words, &mut items, &mut width, &mut glued);
                    } else {
                        end_word(&mut words, &mut items, &mut lit, &mut width);
                    }
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    match seg {
                        Seg::Word(w) => {
                            width += w.chars().count();
                            items.push(Item::Lit(w.clone()));
                        }
                        Seg::Link(i) => {
                            width += links.get(*i).map_or(40, |l| l.len());
                            items.push(Item::Link(*i));
                        }
                        _ => {
                            width += 40;
                            items.push(Item::Unsubscribe);
                        }
                    }
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                }
                Seg::Glue => {
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                    glued = true;
                }
                Seg::Field(f, fallback) => {
                    resume(&mut words, &mut items, &mut width, &mut glued);
                    if !lit.is_empty() {
                        items.push(Item::Lit(std::mem::take(&mut lit)));
                    }
                    let fallback = if upper { fallback.to_uppercase() } else { fallback.clone() };
                    width += fallback.chars().count().max(6);
                    items.push(Item::Field(*f, fallback));
                }
                Seg::Break => {
                    end_word(&mut words, &mut items, &mut lit, &mut width);
                    glued = false;
                    words.push(W::Break);
                }
            }
        }
        end_word(&mut words, &mut items, &mut lit, &mut width);
        while matches!(words.last(), Some(W::Break)) {
            words.pop();
        }
        while matches!(words.first(), Some(W::Break)) {
            words.remove(0);
        }
        if words.is_empty() {
            return false;
        }
        if self.need_blank && self.started {
            self.b.lit("\n");
        }
        self.b.lit(first);
        let mut col = first.chars().count();
        let mut line_empty = true;
        let cont_width = cont.chars().count();
        for w in words {
            match w {
                W::Word(items, w) => {
                    if !line_empty && col + 1 + w > WRAP {
                        self.b.lit("\n");
                        self.b.lit(cont);
                        col = cont_width;
                        line_empty = true;
                    }
                    if !line_empty {
                        self.b.lit(" ");
                        col += 1;
                    }
                    for item in items {
                        match item {
                            Item::Lit(s) => self.b.lit(&s),
                            Item::Field(field, fallback) => {
                                self.b.hole(Part::Field { field, fallback: fallback.into(), upper })
                            }
                            Item::Link(i) => self.b.hole(Part::Link(i)),
                            Item::Unsubscribe => self.b.hole(Part::Unsubscribe),
                        }
                    }
                    col += w;
                    line_empty = false;
                }
                W::Break => {
                    self.b.lit("\n");
                    self.b.lit(cont);
                    col = cont_width;
                    line_empty = true;
                }
            }
        }
        self.b.lit("\n");
        self.started = true;
        self.need_blank = true;
        true
    }
}
