//! Erasure (GDPR art. 17) and the suppression list: keyed hashes of the addresses and phones of erased people.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::edit::all_emails;
use super::{Person, contacts, csv_import, segments};
use crate::access::{Access, Perm};
use crate::db::{Db, now};
use crate::error::{Error, Result};

/// The installation's secret pepper for suppression hashes, created on first use.
pub async fn pepper(db: &Db) -> Result<String> {
    if let Some(v) = sqlx::query_scalar::<_, String>("SELECT value FROM settings WHERE key = 'suppression_pepper'")
        .fetch_optional(&db.pool)
        .await?
    {
        return Ok(v);
    }
    sqlx::query("INSERT INTO settings (key, value) VALUES ('suppression_pepper', $1) ON CONFLICT (key) DO NOTHING")
        .bind(crate::auth::random_token())
        .execute(&db.pool)
        .await?;
    Ok(sqlx::query_scalar("SELECT value FROM settings WHERE key = 'suppression_pepper'").fetch_one(&db.pool).await?)
}

/// Keyed hash of a normalised e-mail or phone: lets us recognise a suppressed person without storing who it was.
pub fn suppression_hash(pepper: &str, kind: &str, value: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(pepper.as_bytes()).expect("HMAC takes any key length");
    mac.update(kind.as_bytes());
    mac.update(b":");
    mac.update(value.as_bytes());
    data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
}

/// Is this e-mail or phone on the suppression list?
pub async fn suppressed(db: &Db, email: Option<&str>, phone: Option<&str>) -> Result<bool> {
    any_suppressed(db, email, phone).await
}

/// Is any of the candidate's addresses or phones on the suppression list?
pub async fn candidate_suppressed(db: &Db, c: &csv_import::Candidate) -> Result<bool> {
    any_suppressed(db, all_emails(c), c.phone.iter().chain(&c.other_phones).map(String::as_str)).await
}

/// Is any of these e-mail addresses or phones on the suppression list? One query.
async fn any_suppressed<'a>(
    db: &Db,
    emails: impl IntoIterator<Item = &'a str>,
    phones: impl IntoIterator<Item = &'a str>,
) -> Result<bool> {
    let values: Vec<(&str, &str)> =
        emails.into_iter().map(|e| ("email", e)).chain(phones.into_iter().map(|p| ("phone", p))).collect();
    if values.is_empty() {
        return Ok(false);
    }
    let pepper = pepper(db).await?;
    let mut sql = segments::Sql::default();
    let list: Vec<String> = values.iter().map(|(kind, v)| sql.text(suppression_hash(&pepper, kind, v))).collect();
    let q = format!("SELECT COUNT(*) FROM suppressions WHERE hash IN ({})", list.join(", "));
    let n: i64 = sqlx::query_scalar_with(&q, sql.arguments()?).fetch_one(&db.pool).await?;
    Ok(n > 0)
}

/// Erasure (GDPR art. 17): deletes the person and everything personal attached to them (tags, skills, consents,
/// timeline, further addresses) and adds all their e-mail addresses and phones to the suppression list as keyed
/// hashes, in one transaction.
pub async fn erase(db: &Db, access: &Access, person: &Person, reason: &str) -> Result<()> {
    if !access.allows(Perm::ManagePeople, person.scope()) {
        return Err(Error::Forbidden);
    }
    erase_unchecked(db, person, reason).await
}

/// [`erase`] once the caller's right is established (staff in scope, or the person through self-service).
pub(crate) async fn erase_unchecked(db: &Db, person: &Person, reason: &str) -> Result<()> {
    // The copy we were given may be redacted: read the identifiers from the row itself.
    let (email, phone): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT email, phone FROM people WHERE id = $1").bind(person.id).fetch_one(&db.pool).await?;
    let pepper = pepper(db).await?;
    let mut tx = db.pool.begin().await?;
    let others = contacts::of(&mut tx, person.id).await?;
    suppress_in(&mut tx, &pepper, email.as_deref(), phone.as_deref(), reason).await?;
    for e in &others.emails {
        suppress_in(&mut tx, &pepper, Some(e), None, reason).await?;
    }
    for p in &others.phones {
        suppress_in(&mut tx, &pepper, None, Some(p), reason).await?;
    }
    sqlx::query("DELETE FROM people WHERE id = $1").bind(person.id).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// Adds an address and/or phone to the suppression list (keyed hashes only).
pub async fn suppress(db: &Db, email: Option<&str>, phone: Option<&str>, reason: &str) -> Result<()> {
    let mut tx = db.pool.begin().await?;
    suppress_in(&mut tx, &pepper(db).await?, email, phone, reason).await?;
    tx.commit().await?;
    Ok(())
}

async fn suppress_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    pepper: &str,
    email: Option<&str>,
    phone: Option<&str>,
    reason: &str,
) -> Result<()> {
    let reason = if reason == "objected" { "objected" } else { "erased" };
    for (kind, value) in [("email", email), ("phone", phone)] {
        if let Some(v) = value {
            sqlx::query(
                "INSERT INTO suppressions (hash, kind, reason, at) VALUES ($1, $2, $3, $4) ON CONFLICT (hash) DO NOTHING",
            )
            .bind(suppression_hash(pepper, kind, v))
            .bind(kind)
            .bind(reason)
            .bind(now())
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
