//! TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits), compatible with common authenticator apps.

use hmac::{Hmac, Mac};
use sha1::Sha1;

const STEP: i64 = 30;

/// A new random 160-bit secret, in base32 as authenticator apps expect.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source failed");
    data_encoding::BASE32_NOPAD.encode(&bytes)
}

/// The code for a given Unix time.
pub fn code_at(secret_b32: &str, unix: i64) -> Option<String> {
    let key = data_encoding::BASE32_NOPAD.decode(secret_b32.trim_end_matches('=').as_bytes()).ok()?;
    let counter = (unix.div_euclid(STEP)) as u64;
    let mut mac = Hmac::<Sha1>::new_from_slice(&key).ok()?;
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    Some(format!("{:06}", value % 1_000_000))
}

/// Accepts the code of the current step or of one step either side (clock drift); returns the step it
/// belongs to, so that the caller can refuse a code already used.
pub fn verify_step(secret_b32: &str, code: &str, unix: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    [-STEP, 0, STEP]
        .iter()
        .map(|d| unix + d)
        .find(|t| code_at(secret_b32, *t).is_some_and(|c| constant_time_eq(c.as_bytes(), code.as_bytes())))
        .map(|t| t.div_euclid(STEP))
}

pub fn verify(secret_b32: &str, code: &str, unix: i64) -> bool {
    verify_step(secret_b32, code, unix).is_some()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `otpauth://` URI that authenticator apps import.
pub fn provisioning_uri(secret_b32: &str, account: &str, issuer: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits=6&period=30",
        enc(issuer),
        enc(account),
        secret_b32,
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1 key "12345678901234567890", truncated to 6 digits.
        let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
        assert_eq!(code_at(&secret, 59).unwrap(), "287082");
        assert_eq!(code_at(&secret, 1_111_111_109).unwrap(), "081804");
        assert_eq!(code_at(&secret, 2_000_000_000).unwrap(), "279037");
    }

    #[test]
    fn verify_accepts_one_step_of_drift_only() {
        let s = new_secret();
        let now = 1_700_000_000;
        assert!(verify(&s, &code_at(&s, now).unwrap(), now));
        assert!(verify(&s, &code_at(&s, now - 30).unwrap(), now));
        assert!(!verify(&s, &code_at(&s, now - 90).unwrap(), now));
        assert!(!verify(&s, "abcdef", now));
    }
}
