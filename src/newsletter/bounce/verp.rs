//! Signed VERP return paths: building and verifying `prefix+c{campaign}.p{person}.{sig}@domain`.

use data_encoding::BASE32_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::MAX_ADDRESS_LEN;

/// Length of the VERP signature, in base32 characters (50 bits).
pub(super) const SIG_LEN: usize = 10;

// ---------------------------------------------------------------------------------------------
// VERP
// ---------------------------------------------------------------------------------------------

/// Builds a signed VERP return path: `{local_prefix}+c{campaign}.p{person}.{sig}@{domain}`.
///
/// `sig` is the first 50 bits of HMAC-SHA256(key, campaign, person), in lowercase base32, so a
/// forged bounce cannot name an arbitrary person. The key must be secret and non-empty
/// ([`verp_decode`] refuses an empty key).
pub fn verp_address(key: &[u8], local_prefix: &str, domain: &str, campaign_id: i64, person_id: i64) -> String {
    let sig = verp_signature(key, campaign_id, person_id);
    format!("{local_prefix}+c{campaign_id}.p{person_id}.{sig}@{domain}")
}

/// Decodes and verifies a VERP address built by [`verp_address`], returning `(campaign_id, person_id)`.
///
/// Accepts a bare address, `<address>`, `Display Name <address>` and `rfc822; address`. The local
/// part is compared case-insensitively (some MTAs lowercase it); the domain is not checked. Returns
/// `None` for anything else, including a bad signature, non-canonical numbers or an empty key.
pub fn verp_decode(key: &[u8], local_prefix: &str, address: &str) -> Option<(i64, i64)> {
    if key.is_empty() || address.len() > 4 * MAX_ADDRESS_LEN {
        return None;
    }
    let address = bare_address(address)?;
    let (local, domain) = address.rsplit_once('@')?;
    if domain.is_empty() || local.len() > 128 {
        return None;
    }
    let local = local.to_ascii_lowercase();
    let prefix = local_prefix.to_ascii_lowercase();
    let rest = local.strip_prefix(prefix.as_str())?.strip_prefix('+')?;
    let mut pieces = rest.split('.');
    let campaign = canonical_i64(pieces.next()?.strip_prefix('c')?)?;
    let person = canonical_i64(pieces.next()?.strip_prefix('p')?)?;
    let sig = pieces.next()?;
    if pieces.next().is_some() {
        return None;
    }
    let expected = verp_signature(key, campaign, person);
    constant_time_eq(expected.as_bytes(), sig.as_bytes()).then_some((campaign, person))
}

fn verp_signature(key: &[u8], campaign_id: i64, person_id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(format!("terrain-verp-v1|c{campaign_id}|p{person_id}").as_bytes());
    let digest = mac.finalize().into_bytes();
    // 7 bytes = 56 bits = 12 base32 characters, of which the first SIG_LEN are kept.
    let mut sig = BASE32_NOPAD.encode(&digest[..7]);
    sig.truncate(SIG_LEN);
    sig.make_ascii_lowercase();
    sig
}

/// Parses an i64 written in canonical form only (no sign, no leading zeros, no padding).
fn canonical_i64(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Strips a display name, angle brackets, an `rfc822;` type and quotes from an address.
fn bare_address(s: &str) -> Option<&str> {
    let mut s = s.trim();
    if let Some(open) = s.rfind('<') {
        let inner = &s[open + 1..];
        s = inner.find('>').map_or(inner, |close| &inner[..close]);
    } else if let Some((kind, rest)) = s.split_once(';')
        && !kind.contains('@')
    {
        s = rest;
    }
    let s = s.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    (!s.is_empty() && !s.contains(char::is_whitespace)).then_some(s)
}
