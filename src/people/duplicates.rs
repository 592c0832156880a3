//! Possible duplicates of a person, and merging two cards into one.

use super::events::{import_event, insert_event};
use super::{PERSON_COLUMNS, Person, PersonRow, add_event, consent, contacts, search};
use crate::access::{Access, Perm};
use crate::db::{Db, now};
use crate::error::{Error, Result};

/// Possible duplicates of a person in their federation: same name, or a phone or address one has and the other has
/// among their further ones.
pub async fn duplicates_of(db: &Db, access: &Access, person: &Person) -> Result<Vec<PersonRow>> {
    let scope = access.filter(Perm::ManagePeople, "p.federation_id", Some("p.section_id"));
    let sql = format!(
        "SELECT p.id, p.first_name, p.last_name, p.email, p.category, p.city, f.name AS federation_name \
         FROM people p JOIN federations f ON f.id = p.federation_id \
         WHERE {scope} AND p.federation_id = $1 AND p.id <> $2 AND ( \
           (p.last_name <> '' AND LOWER(p.last_name) = LOWER($3) AND LOWER(p.first_name) = LOWER($4)) \
           OR (p.phone IS NOT NULL AND p.phone = $5) \
           OR p.id IN (SELECT c.person_id FROM person_contacts c WHERE c.federation_id = $1 \
             AND ((c.kind = 'phone' AND c.value = $5) OR (c.kind = 'email' AND c.value = $6))) \
           OR p.email IN (SELECT c.value FROM person_contacts c WHERE c.person_id = $2 AND c.kind = 'email') \
           OR p.phone IN (SELECT c.value FROM person_contacts c WHERE c.person_id = $2 AND c.kind = 'phone')) \
         ORDER BY p.id LIMIT 20"
    );
    // The row itself: the copy we were given may be redacted.
    let (phone, email): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT phone, email FROM people WHERE id = $1").bind(person.id).fetch_one(&db.pool).await?;
    Ok(sqlx::query_as(&sql)
        .bind(person.federation_id)
        .bind(person.id)
        .bind(&person.last_name)
        .bind(&person.first_name)
        .bind(phone.unwrap_or_default())
        .bind(email.unwrap_or_default())
        .fetch_all(&db.pool)
        .await?)
}

/// Merges `other` into `kept` (same federation, both managed by the caller) without losing data: empty fields
/// of `kept` are filled from `other`, `other`'s addresses and phones become further ones of `kept`, tags and skills
/// are joined,
/// the timeline moves over, and `other`'s consent decisions are carried over for purposes `kept` never
/// decided on (the ledger is append-only: decisions are copied, never rewritten). Then `other` is deleted.
pub async fn merge(db: &Db, access: &Access, kept: &Person, other: &Person) -> Result<()> {
    if !access.allows(Perm::ManagePeople, kept.scope()) || !access.allows(Perm::ManagePeople, other.scope()) {
        return Err(Error::Forbidden);
    }
    if kept.id == other.id {
        return Err(Error::Invalid("Choisissez deux fiches différentes.".into()));
    }
    if kept.federation_id != other.federation_id {
        return Err(Error::Invalid("Seules deux fiches de la même fédération peuvent être fusionnées.".into()));
    }
    let cols = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = $1");
    let k: Person = sqlx::query_as(&cols).bind(kept.id).fetch_one(&db.pool).await?;
    let o: Person = sqlx::query_as(&cols).bind(other.id).fetch_one(&db.pool).await?;
    let pick = |a: &str, b: &str| if a.is_empty() { b.to_string() } else { a.to_string() };
    let mut notes = k.notes.clone();
    if !o.notes.is_empty() && o.notes != k.notes {
        notes = format!("{notes}\n{}", o.notes).trim().to_string();
    }
    // Members stay members whichever card said it.
    let category =
        if k.category == "member" || o.category == "member" { "member".to_string() } else { k.category.clone() };
    let mut tx = db.pool.begin().await?;
    // Every address and phone of the other card that the kept one lacks becomes a further one.
    let (kept_others, other_others) = (contacts::of(&mut tx, k.id).await?, contacts::of(&mut tx, o.id).await?);
    let mut moved = contacts::Others::default();
    for e in o.email.iter().chain(&other_others.emails) {
        if k.email.is_some() && k.email.as_ref() != Some(e) && !kept_others.emails.contains(e) {
            moved.emails.push(e.clone());
        }
    }
    for p in o.phone.iter().chain(&other_others.phones) {
        if k.phone.is_some() && k.phone.as_ref() != Some(p) && !kept_others.phones.contains(p) {
            moved.phones.push(p.clone());
        }
    }
    // When the kept card has no first address (or phone), the other card's first one takes the place.
    if k.email.is_none() {
        moved.emails.extend(other_others.emails.iter().cloned());
    }
    if k.phone.is_none() {
        moved.phones.extend(other_others.phones.iter().cloned());
    }
    // The other card goes first so that its e-mail no longer blocks the unique index.
    let other_events: Vec<consent::ConsentEvent> = sqlx::query_as(
        "SELECT id, purpose, granted, source, wording_version, ip, recorded_by, at FROM consent_events c WHERE person_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM consent_events k WHERE k.person_id = $2 AND k.purpose = c.purpose) ORDER BY id",
    )
    .bind(o.id)
    .bind(k.id)
    .fetch_all(&mut *tx)
    .await?;
    // Both cards' additions by an import are stored first: the other card's row goes, and the kept one's date of
    // creation may change.
    for id in [k.id, o.id] {
        if let Some(e) = import_event(&mut *tx, id).await? {
            insert_event(&mut *tx, id, &e.kind, &e.summary, e.actor_user_id, e.at).await?;
        }
    }
    sqlx::query("UPDATE person_events SET person_id = $1 WHERE person_id = $2")
        .bind(k.id)
        .bind(o.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO person_tags (person_id, tag) SELECT $1, tag FROM person_tags WHERE person_id = $2 ON CONFLICT DO NOTHING")
        .bind(k.id)
        .bind(o.id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO person_skills (person_id, skill_id) SELECT $1, skill_id FROM person_skills WHERE person_id = $2 \
         ON CONFLICT DO NOTHING",
    )
    .bind(k.id)
    .bind(o.id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM people WHERE id = $1").bind(o.id).execute(&mut *tx).await?;
    for e in other_events {
        sqlx::query(
            "INSERT INTO consent_events (person_id, purpose, granted, source, wording_version, ip, recorded_by, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(k.id)
        .bind(e.purpose)
        .bind(e.granted)
        .bind(e.source)
        .bind(e.wording_version)
        .bind(e.ip)
        .bind(e.recorded_by)
        .bind(e.at)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE people SET first_name = $1, last_name = $2, email = $3, phone = $4, address = $5, postcode = $6, city = $7, \
         commune_code = $8, section_id = $9, category = $10, notes = $11, availability = $12, external_id = $13, \
         created_at = $14, last_activity_at = $15, updated_at = $16 WHERE id = $17",
    )
    .bind(pick(&k.first_name, &o.first_name))
    .bind(pick(&k.last_name, &o.last_name))
    .bind(k.email.clone().or(o.email.clone()))
    .bind(k.phone.clone().or(o.phone.clone()))
    .bind(pick(&k.address, &o.address))
    .bind(pick(&k.postcode, &o.postcode))
    .bind(pick(&k.city, &o.city))
    .bind(k.commune_code.clone().or(o.commune_code.clone()))
    .bind(k.section_id.or(o.section_id))
    .bind(&category)
    .bind(&notes)
    .bind(pick(&k.availability, &o.availability))
    .bind(pick(&k.external_id, &o.external_id))
    .bind(k.created_at.min(o.created_at))
    .bind(k.last_activity_at.max(o.last_activity_at))
    .bind(now())
    .bind(k.id)
    .execute(&mut *tx)
    .await?;
    search::refresh_keys(&mut tx, k.id).await?;
    contacts::add(&mut tx, k.id, k.federation_id, &moved).await?;
    add_event(&mut *tx, k.id, "merged", &format!("Fiche n° {} fusionnée dans celle-ci", o.id), Some(access.user_id))
        .await?;
    tx.commit().await?;
    Ok(())
}
