//! Images uploaded for newsletters, stored in the database (every process serves them) and served publicly under a
//! random key. Only PNG, JPEG, GIF and WebP are accepted, recognised by their first bytes (never by the name or the
//! type the browser claims), up to [`MAX_BYTES`].

use crate::db::{Db, now};
use crate::error::{Error, Result};

pub const MAX_BYTES: usize = 5 * 1024 * 1024;

/// The image type from the file's magic bytes.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Stores an image; returns its public key.
pub async fn store(db: &Db, federation_id: Option<i64>, user: i64, name: &str, bytes: &[u8]) -> Result<String> {
    if bytes.is_empty() {
        return Err(Error::Invalid("Choisissez une image à téléverser.".into()));
    }
    if bytes.len() > MAX_BYTES {
        return Err(Error::Invalid(
            "Image trop lourde : 5 Mo au plus (pensez à la réduire, elle sera lue sur des téléphones).".into(),
        ));
    }
    let Some(content_type) = sniff(bytes) else {
        return Err(Error::Invalid("Ce fichier n'est pas une image PNG, JPEG, GIF ou WebP.".into()));
    };
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw).map_err(|e| anyhow::anyhow!("random: {e}"))?;
    let key = data_encoding::HEXLOWER.encode(&raw);
    let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    sqlx::query(
        "INSERT INTO media (key, federation_id, name, content_type, bytes, size, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&key)
    .bind(federation_id)
    .bind(name)
    .bind(content_type)
    .bind(bytes.to_vec())
    .bind(bytes.len() as i64)
    .bind(user)
    .bind(now())
    .execute(&db.pool)
    .await?;
    Ok(key)
}

/// An image by its key: (content type, bytes).
pub async fn get(db: &Db, key: &str) -> Result<Option<(String, Vec<u8>)>> {
    if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(sqlx::query_as("SELECT content_type, bytes FROM media WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(super::sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(super::sniff(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(super::sniff(b"GIF89a"), Some("image/gif"));
        assert_eq!(super::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(super::sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(super::sniff(b""), None);
    }
}
