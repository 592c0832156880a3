//! Decoding an uploaded file's bytes: UTF-8 (with or without BOM) or Windows-1252.

use serde::{Deserialize, Serialize};

/// The character encoding a file was read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Utf8,
    /// What French Excel writes for "CSV (séparateur : point-virgule)"; a superset of ISO-8859-1 that also has
    /// `€`, `œ` and typographic quotes.
    Windows1252,
}

impl Encoding {
    /// Name shown to the volunteer ("Encodage détecté : …").
    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Windows1252 => "Windows-1252 (Excel)",
        }
    }
}

/// A decoded file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub text: String,
    pub encoding: Encoding,
    pub had_bom: bool,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// UTF-8 BOM → UTF-8 (BOM stripped); valid UTF-8 → UTF-8; otherwise Windows-1252 (`encoding_rs::WINDOWS_1252`).
///
/// There is no charset label on an uploaded file, so this guesses. The guess is safe in this order: a file that is
/// valid UTF-8 is almost never Windows-1252 text with accents (accented letters in Windows-1252 are lone high
/// bytes, which are invalid UTF-8), and every byte sequence decodes as Windows-1252, so the fallback never fails.
/// A file with a UTF-8 BOM but invalid bytes further on is still UTF-8 (the BOM says so): bad bytes become U+FFFD.
///
/// Takes the file's bytes, so that a UTF-8 file becomes the text without a copy (a million-row file is 126 MB).
pub fn decode(mut bytes: Vec<u8>) -> Decoded {
    let had_bom = bytes.starts_with(UTF8_BOM);
    if had_bom {
        bytes.drain(..UTF8_BOM.len());
    }
    match String::from_utf8(bytes) {
        Ok(text) => Decoded { text, encoding: Encoding::Utf8, had_bom },
        Err(e) if had_bom => {
            let (text, _) = encoding_rs::UTF_8.decode_without_bom_handling(e.as_bytes());
            Decoded { text: text.into_owned(), encoding: Encoding::Utf8, had_bom }
        }
        Err(e) => {
            let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(e.as_bytes());
            Decoded { text: text.into_owned(), encoding: Encoding::Windows1252, had_bom }
        }
    }
}
