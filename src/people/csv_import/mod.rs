//! Contacts spreadsheet import: bytes in, validated candidate people out.
//!
//! Pure functions only (no database, no async, no HTTP), in the order an import goes through them:
//!
//! 1. [`decode`]: volunteers upload what French Excel writes ("CSV (séparateur : point-virgule)" is
//!    Windows-1252, "CSV UTF-8" has a BOM) and NationBuilder exports (UTF-8, commas).
//! 2. [`sniff_delimiter`] then [`parse`] into a [`Table`] whose rows remember their physical line, so that
//!    error messages can say "ligne 42" and volunteers find the row in their spreadsheet.
//! 3. [`guess_mapping`] proposes a [`Field`] per column; the mapping form lets the volunteer correct it.
//! 4. [`validate_row`] turns each row into a [`Candidate`] or the list of everything wrong with it.
//! 5. [`rejected_rows_csv`] gives the rejected rows back as a file Excel opens, to fix and re-import.
//!
//! UI strings (labels, error reasons) are French; they are shown as is.

mod category;
mod decode;
mod email_phone;
mod export;
mod mapping;
mod parse;
mod sniff;
#[cfg(test)]
mod tests;
mod validate;

pub use category::Category;
pub use decode::{Decoded, Encoding, decode};
pub use email_phone::{normalise_email, normalise_phone};
pub use export::{ERRORS_COLUMN, LINE_COLUMN, neutralise_formula, rejected_rows_csv, write_csv_record};
pub use mapping::{Field, guess_mapping};
pub use parse::{ImportError, Row, Table, parse};
pub use sniff::sniff_delimiter;
pub use validate::{Candidate, MAX_ADDRESS_CHARS, MAX_NAME_CHARS, MAX_NOTES_CHARS, MAX_SHORT_CHARS, validate_row};
