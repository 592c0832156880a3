//! Where a person stands with the party, and the loose reading of what volunteers type for it.

use serde::{Deserialize, Serialize};

use super::mapping::fold;

/// Where a person stands with the party.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Adhérent·e: pays dues.
    Member,
    /// Sympathisant·e: supports without being a member.
    Sympathiser,
    /// Curieux·se: met at a stall, signed a petition…
    Curious,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Member => "member",
            Category::Sympathiser => "sympathiser",
            Category::Curious => "curious",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Member => "Adhérent·e",
            Category::Sympathiser => "Sympathisant·e",
            Category::Curious => "Curieux·se",
        }
    }

    /// Reads what volunteers type: "Adhérent", "adherente", "Adhérent(e)", "adhérent·e", "MEMBRE", "militant",
    /// "Sympathisant·e", "supporter", "curieuse", "prospect", "contact"… (case, accents, punctuation and plural
    /// `s` ignored), and our own [`Category::as_str`] and [`Category::label`] forms.
    pub fn parse_loose(s: &str) -> Option<Category> {
        let folded = fold(s);
        let word = folded.strip_suffix('s').filter(|w| !w.is_empty() && *w != "curiou").unwrap_or(&folded);
        match word {
            "adherent" | "adherente" | "membre" | "member" | "militant" | "militante" => Some(Category::Member),
            "sympathisant" | "sympathisante" | "sympathiser" | "supporter" => Some(Category::Sympathiser),
            // "curieuxse" is "Curieux·se" folded; "curieux" is both singular and plural.
            "curieux" | "curieuse" | "curieuxse" | "curious" | "prospect" | "contact" => Some(Category::Curious),
            _ => None,
        }
    }
}
