//! Password hashing with Argon2id at OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1).

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19_456, 2, 1, None).expect("valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password (CPU-heavy: call from a blocking task).
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing cannot fail with valid parameters")
        .to_string()
}

/// Checks a password against a stored hash; a malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => hasher().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the account does not exist so that an
/// unknown e-mail takes as long as a known one.
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash(&super::random_token()));
    let _ = verify(password, stored);
}

/// Length rules only (no composition rules, as NIST and OWASP advise). Returns a French message.
pub fn check_policy(password: &str, email: &str) -> Result<(), &'static str> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err("Le mot de passe doit compter au moins 12 caractères.");
    }
    if chars > MAX_LENGTH {
        return Err("Le mot de passe ne doit pas dépasser 256 caractères.");
    }
    if password.eq_ignore_ascii_case(email) {
        return Err("Le mot de passe ne doit pas être votre adresse e-mail.");
    }
    const COMMON: &[&str] = &["motdepasse123", "azertyuiop12", "123456789012", "password1234", "qwertyuiop12"];
    if COMMON.iter().any(|c| password.eq_ignore_ascii_case(c)) {
        return Err("Ce mot de passe est trop courant : choisissez-en un autre.");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a hash"));
    }

    #[test]
    fn policy_is_about_length() {
        assert!(check_policy("short", "a@b.fr").is_err());
        assert!(check_policy("une phrase de passe", "a@b.fr").is_ok());
        assert!(check_policy("motdepasse123", "a@b.fr").is_err());
    }
}
