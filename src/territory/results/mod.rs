//! Official French election results by polling station (bureau de vote) and INSEE Filosofi files, parsed into
//! normalised records.
//!
//! Three result layouts are understood ([`Layout`]):
//!
//! - [`Layout::NationalWide`]: the national files cleaned by the aktiur/resultats-electoraux project
//!   (`departement,commune,bureau,[circonscription,]commune_libelle,inscrits,votants,blancs,exprimes,<choices…>`), one
//!   column per candidate / list / nuance. `commune` is the 3-digit number *within* the département (`01` + `001` →
//!   `01001`). Overseas and abroad use the Ministry's letter codes with a 3-digit number whose first digit repeats
//!   the territory: `ZA 101` → `97101` (Guadeloupe), `ZB` 972, `ZC` 973, `ZD` 974, `ZS` 975, `ZM 501` → `97601`,
//!   `ZX 701` → `97701` (Saint-Barthélemy) and `ZX 801` → `97801` (Saint-Martin), `ZW 001` → `98601` (Wallis-et-Futuna
//!   as one pseudo-commune: INSEE has no code for the whole territory), `ZP 011` → `98711`, `ZN 801` → `98801`.
//!   `ZZ` (French people abroad) keeps département `ZZ` and gets the pseudo-commune `ZZ` + number (`ZZ001` = Abidjan).
//!   Circonscriptions become `DD-NN` (`971-01`, `977-01` for Saint-Barthélemy and Saint-Martin, `99-09` abroad).
//!   Bureaux are 4 characters and may be alphanumeric (`01.1` in Caen). `nuls` is not given: nuls = votants − blancs −
//!   exprimés. In the five shipped files (presidential 2017 rounds 1–2, legislative 2017 rounds 1–2, European 2019)
//!   every row satisfies votants ≤ inscrits, blancs + exprimés ≤ votants and Σ voix = exprimés.
//! - [`Layout::Official2017`]: the data.gouv.fr "résultats par bureau de vote" files up to 2017 (`;`, decimal commas,
//!   often Latin-1): the header names only the first candidate group (`N°Panneau;Sexe;Nom;Prénom;[Nuance;]Voix;…`)
//!   and rows repeat the group once per candidate. Département and commune codes are coded as in the national files.
//! - [`Layout::Official2024`]: the 2024 official files: `Code commune` is the 5-character INSEE code, `Code BV` is not
//!   zero-padded, candidate fields are numbered (`Nuance candidat k`, `Nom candidat k`, `Voix k`…); empty trailing
//!   groups are skipped.
//!
//! Input may be gzip-compressed (detected by its magic bytes), UTF-8 (with or without BOM) or Windows-1252/Latin-1;
//! the separator (`;`, `,` or tab) is detected from the first line. Records are streamed: only the (possibly
//! compressed) input and one record are held in memory.
//!
//! Choices are identified by label ("Nom Prénom", else the list label) and nuance, so a candidate standing in
//! several bureaux is one choice; two homonymous candidates with the same nuance would share one.
//!
//! Every row is checked (numbers, votants ≤ inscrits, exprimés ≤ votants, blancs + nuls + exprimés = votants when
//! both are known, Σ voix = exprimés); a failing row yields a [`RowError`] with its line number and a French message,
//! and parsing goes on with the next row.

mod codes;
mod columns;
mod filosofi;
mod parser;
mod source;
#[cfg(test)]
mod tests;

use std::io;

use serde::Serialize;

pub use columns::detect_layout;
pub use filosofi::{FilosofiRow, parse_filosofi};
pub use parser::{ParsedResults, Parser, parse_results};
pub use source::{Source, open, open_reader};

/// Layout of an election result file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Layout {
    /// One row per bureau, one column per candidate / list / nuance (aktiur/resultats-electoraux national files).
    NationalWide,
    /// Official data.gouv.fr layout up to 2017: the candidate group is repeated along each row.
    Official2017,
    /// Official 2024 layout: numbered candidate columns (`Voix 1`, `Voix 2`…).
    Official2024,
}

/// Text encoding chosen for a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TextEncoding {
    /// UTF-8 (a field that is not valid UTF-8 is still read as Windows-1252).
    Utf8,
    /// Windows-1252, a superset of Latin-1 for printable characters.
    Windows1252,
}

/// A problem with the file as a whole: nothing can be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("lecture du fichier impossible : {0}")]
    Io(#[from] io::Error),
    #[error("lecture du fichier impossible : {0}")]
    Csv(String),
    #[error("le fichier est vide")]
    Empty,
    #[error("format de fichier non reconnu (colonnes : {0})")]
    UnknownLayout(String),
    #[error("colonne « {0} » introuvable dans l'en-tête")]
    MissingColumn(String),
}

impl From<csv::Error> for ParseError {
    fn from(e: csv::Error) -> Self {
        ParseError::Csv(e.to_string())
    }
}

/// A candidate, a list or a nuance, as the file names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Choice {
    /// Candidate "Nom Prénom", or the list / nuance label, as in the file.
    pub label: String,
    /// Political nuance ("FI", "SOC", "LR"…) when the file gives it.
    pub nuance: Option<String>,
}

/// Results of one bureau de vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BureauRow {
    /// 1-based line number in the file.
    pub line: u64,
    /// "69", "2A", "971", "ZZ"…
    pub departement: String,
    /// INSEE code, 5 characters ("69123", "2A004", "97101"; "ZZ001" for a consulate abroad).
    pub commune: String,
    /// 4 characters, left-padded with zeros ("0001", "01.1").
    pub bureau: String,
    /// "DD-NN" ("69-08", "971-01", "99-09") when the file gives it.
    pub circonscription: Option<String>,
    pub inscrits: u32,
    pub votants: u32,
    pub blancs: Option<u32>,
    pub nuls: Option<u32>,
    pub exprimes: u32,
    /// (index into [`Parser::choices`], voix). Wide files list every column, zeros included.
    pub votes: Vec<(u32, u32)>,
}

/// A row that could not be read or failed a check; `message` is French and starts with "ligne N : ".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl RowError {
    fn new(line: u64, message: impl std::fmt::Display) -> Self {
        RowError { line, message: format!("ligne {line} : {message}") }
    }
}
