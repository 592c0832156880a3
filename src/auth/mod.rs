//! Authentication: passwords, TOTP, sessions, throttling and single-use e-mailed links.

pub mod password;
pub mod session;
pub mod throttle;
pub mod totp;

use sha2::{Digest, Sha256};

/// A fresh random token of 32 bytes (256 bits), URL-safe base64 without padding.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source failed");
    data_encoding::BASE64URL_NOPAD.encode(&bytes)
}

/// SHA-256 in hex: how tokens, session ids and throttling keys are stored.
pub fn sha256_hex(input: &str) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(input.as_bytes()))
}

/// Lower-cased, trimmed e-mail address; `None` when it does not look like one.
pub fn normalise_email(input: &str) -> Option<String> {
    let email = input.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"'))
        && !domain.contains('@');
    ok.then_some(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
        assert_eq!(sha256_hex("abc").len(), 64);
    }

    #[test]
    fn emails_are_normalised_or_refused() {
        assert_eq!(normalise_email("  Marie.Curie@Example.FR ").as_deref(), Some("marie.curie@example.fr"));
        for bad in ["", "x", "a@b", "a b@c.fr", "a@b@c.fr", "<a@b.fr>", "a@.fr", "a@b.fr\r\nBcc: x@y.z"] {
            assert_eq!(normalise_email(bad), None, "{bad:?}");
        }
    }
}
