//! A person's further e-mail addresses and phone numbers (`person_contacts`). The first ones live in
//! `people.email` and `people.phone`, which newsletters and calls use; an address belongs to one person of a
//! federation, whichever of the two places holds it. The unique index covers each place; the functions here check
//! across both.

use crate::db::now;
use crate::error::{Error, Result};

/// Most further addresses (and, apart, phones) a person keeps: far above real life, low enough to catch a list
/// pasted by mistake.
pub const MAX_OTHERS: usize = 10;

/// A person's further e-mail addresses and phone numbers, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Others {
    pub emails: Vec<String>,
    pub phones: Vec<String>,
}

/// The further addresses and phones of a person.
pub async fn of(conn: &mut sqlx::AnyConnection, person_id: i64) -> Result<Others> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, value FROM person_contacts WHERE person_id = $1 ORDER BY created_at, value")
            .bind(person_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut others = Others::default();
    for (kind, value) in rows {
        match kind.as_str() {
            "email" => others.emails.push(value),
            _ => others.phones.push(value),
        }
    }
    Ok(others)
}

/// The person of the federation with this (normalised) e-mail address, as first or further address.
pub async fn email_owner(conn: &mut sqlx::AnyConnection, federation_id: i64, email: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM people WHERE federation_id = $1 AND email = $2 \
         UNION SELECT person_id FROM person_contacts WHERE kind = 'email' AND value = $2 AND federation_id = $1",
    )
    .bind(federation_id)
    .bind(email)
    .fetch_optional(&mut *conn)
    .await?)
}

/// The person of the federation a contact is about: the one with its e-mail address (first or further), else the
/// oldest one with its phone number (first or further).
pub async fn find(
    conn: &mut sqlx::AnyConnection,
    federation_id: i64,
    email: Option<&str>,
    phone: Option<&str>,
) -> Result<Option<i64>> {
    if let Some(email) = email
        && let Some(id) = email_owner(conn, federation_id, email).await?
    {
        return Ok(Some(id));
    }
    let Some(phone) = phone else { return Ok(None) };
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(id) FROM (SELECT id FROM people WHERE federation_id = $1 AND phone = $2 \
         UNION ALL SELECT person_id FROM person_contacts WHERE kind = 'phone' AND value = $2 AND federation_id = $1) \
         AS owners",
    )
    .bind(federation_id)
    .bind(phone)
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Refuses an e-mail address that another person of the federation already has (first or further).
pub async fn check_emails_free(
    conn: &mut sqlx::AnyConnection,
    federation_id: i64,
    person_id: Option<i64>,
    emails: impl IntoIterator<Item = &str>,
) -> Result<()> {
    for email in emails {
        if let Some(owner) = email_owner(conn, federation_id, email).await?
            && Some(owner) != person_id
        {
            return Err(Error::Conflict(format!(
                "Une autre personne de cette fédération a déjà l'adresse e-mail « {email} »."
            )));
        }
    }
    Ok(())
}

/// Replaces a person's further addresses and phones (inside the caller's transaction). Call
/// [`check_emails_free`] first.
pub async fn set(conn: &mut sqlx::AnyConnection, person_id: i64, federation_id: i64, others: &Others) -> Result<()> {
    sqlx::query("DELETE FROM person_contacts WHERE person_id = $1").bind(person_id).execute(&mut *conn).await?;
    add(conn, person_id, federation_id, others).await
}

/// Adds further addresses and phones to a person; the ones they already have are skipped.
pub async fn add(conn: &mut sqlx::AnyConnection, person_id: i64, federation_id: i64, others: &Others) -> Result<()> {
    let t = now();
    let all = others.emails.iter().map(|e| ("email", e)).chain(others.phones.iter().map(|p| ("phone", p)));
    for (kind, value) in all {
        sqlx::query(
            "INSERT INTO person_contacts (person_id, federation_id, kind, value, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (person_id, kind, value) DO NOTHING",
        )
        .bind(person_id)
        .bind(federation_id)
        .bind(kind)
        .bind(value)
        .bind(t)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Splits what a form field holds into entries: one per line, or separated by `,` or `;`.
pub fn split_entries(text: &str) -> impl Iterator<Item = &str> {
    text.split(['\n', '\r', ',', ';']).map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_split_on_lines_commas_and_semicolons() {
        let got: Vec<&str> = split_entries(" a@b.fr\r\n\n c@d.fr , e@f.fr;  ;g@h.fr ").collect();
        assert_eq!(got, ["a@b.fr", "c@d.fr", "e@f.fr", "g@h.fr"]);
        assert_eq!(split_entries("  \n , ").count(), 0);
    }
}
