//! Writing people: creation by hand or from the field, edits and bulk tagging.

use super::{
    Person, PersonInput, add_event, candidate_suppressed, consent, contacts, csv_import, get, search, validate,
};
use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result, is_unique_violation};
use crate::org::Federation;

/// Replaces a person's tags and skills (inside a transaction).
async fn set_tags_and_skills(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    person_id: i64,
    tags: &[String],
    skills: &[i64],
) -> Result<()> {
    sqlx::query("DELETE FROM person_tags WHERE person_id = $1").bind(person_id).execute(&mut **tx).await?;
    sqlx::query("DELETE FROM person_skills WHERE person_id = $1").bind(person_id).execute(&mut **tx).await?;
    for t in tags {
        sqlx::query("INSERT INTO person_tags (person_id, tag) VALUES ($1, $2)")
            .bind(person_id)
            .bind(t)
            .execute(&mut **tx)
            .await?;
    }
    for s in skills {
        sqlx::query("INSERT INTO person_skills (person_id, skill_id) VALUES ($1, $2)")
            .bind(person_id)
            .bind(s)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

fn duplicate(e: sqlx::Error) -> Error {
    if is_unique_violation(&e) {
        Error::Conflict("Une personne de cette fédération a déjà cette adresse e-mail.".into())
    } else {
        e.into()
    }
}

/// [`duplicate`] for errors already converted.
fn duplicate_error(e: Error) -> Error {
    match e {
        Error::Internal(e) => match e.downcast::<sqlx::Error>() {
            Ok(e) => duplicate(e),
            Err(e) => Error::Internal(e),
        },
        other => other,
    }
}

/// Every e-mail address of a candidate, first one first.
pub(super) fn all_emails(c: &csv_import::Candidate) -> impl Iterator<Item = &str> {
    c.email.iter().chain(&c.other_emails).map(String::as_str)
}

fn others_of(c: &csv_import::Candidate) -> contacts::Others {
    contacts::Others { emails: c.other_emails.clone(), phones: c.other_phones.clone() }
}

/// Creates a person by hand in a federation the caller manages.
pub async fn create(db: &Db, access: &Access, federation: &Federation, input: &PersonInput) -> Result<Person> {
    if !access.allows(Perm::ManagePeople, federation.scope()) {
        return Err(Error::Forbidden);
    }
    let v = validate(db, federation.id, input).await?;
    if let Some(scope_section) = access_section_only(access, federation.id)
        && v.section_id != Some(scope_section)
    {
        return Err(Error::Invalid("Cette personne n'habite pas une commune de votre section.".into()));
    }
    if candidate_suppressed(db, &v.candidate).await? {
        return Err(Error::Conflict(
            "Cette personne a demandé à être effacée ou s'est opposée au traitement : elle ne peut pas être recréée."
                .into(),
        ));
    }
    let t = now();
    let c = &v.candidate;
    let mut tx = db.pool.begin().await?;
    contacts::check_emails_free(&mut tx, federation.id, None, all_emails(c)).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO people (federation_id, section_id, commune_code, first_name, last_name, email, phone, address, postcode, \
         city, category, legal_basis, origin, origin_channel, collected_by, notes, availability, created_at, updated_at, \
         last_activity_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'manual', $14, $15, $16, $17, $17, $17) RETURNING id",
    )
    .bind(federation.id)
    .bind(v.section_id)
    .bind(&v.commune_code)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.phone)
    .bind(&c.address)
    .bind(&c.postcode)
    .bind(&c.city)
    .bind(v.category.as_str())
    .bind(&v.legal_basis)
    .bind("saisie manuelle")
    .bind(access.user_id)
    .bind(&c.notes)
    .bind(&v.availability)
    .bind(t)
    .fetch_one(&mut *tx)
    .await
    .map_err(duplicate)?;
    search::refresh_keys(&mut tx, id).await?;
    contacts::add(&mut tx, id, federation.id, &others_of(c)).await.map_err(duplicate_error)?;
    set_tags_and_skills(&mut tx, id, &c.tags, &v.skill_ids).await?;
    add_event(&mut *tx, id, "created", "Fiche créée à la main", Some(access.user_id)).await?;
    tx.commit().await?;
    get(db, access, Perm::ViewPeople, id).await
}

/// What became of a contact met on the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldContact {
    Created(i64),
    /// Already in the federation's address book (same e-mail or phone): consents and the event are added to them.
    Existing(i64),
    /// Erased or objected earlier: not recreated, nothing stored.
    Suppressed,
}

/// Adds a sympathiser met during an action (fiche d'observation) to a federation's address book, with the consents
/// they gave on the spot (ledger source `field`). Any activist filing a report may do this for the action's
/// federation: they are the one who collected the data (origin "fiche d'observation", channel `field`). Call
/// [`validate`] first to report bad input before anything is written.
pub async fn add_from_field(
    db: &Db,
    federation_id: i64,
    input: &PersonInput,
    purposes: &[&str],
    collected_by: i64,
    summary: &str,
) -> Result<FieldContact> {
    let v = validate(db, federation_id, input).await?;
    let c = &v.candidate;
    if candidate_suppressed(db, c).await? {
        return Ok(FieldContact::Suppressed);
    }
    let t = now();
    let mut tx = db.pool.begin().await?;
    let existing = contacts::find(&mut tx, federation_id, c.email.as_deref(), c.phone.as_deref()).await?;
    let outcome = match existing {
        Some(id) => {
            sqlx::query("UPDATE people SET last_activity_at = $1, updated_at = $1 WHERE id = $2")
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            FieldContact::Existing(id)
        }
        None => {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO people (federation_id, section_id, commune_code, first_name, last_name, email, phone, \
                 address, postcode, city, category, legal_basis, origin, origin_channel, collected_by, notes, \
                 availability, created_at, updated_at, last_activity_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $9, 'sympathiser', 'consent', \
                 'rencontre sur le terrain (fiche d''observation)', 'field', $10, '', '', $11, $11, $11) RETURNING id",
            )
            .bind(federation_id)
            .bind(v.section_id)
            .bind(&v.commune_code)
            .bind(&c.first_name)
            .bind(&c.last_name)
            .bind(&c.email)
            .bind(&c.phone)
            .bind(&c.postcode)
            .bind(&c.city)
            .bind(collected_by)
            .bind(t)
            .fetch_one(&mut *tx)
            .await
            .map_err(duplicate)?;
            search::refresh_keys(&mut tx, id).await?;
            FieldContact::Created(id)
        }
    };
    let id = match outcome {
        FieldContact::Created(id) | FieldContact::Existing(id) => id,
        FieldContact::Suppressed => unreachable!(),
    };
    for purpose in purposes {
        consent::record(&mut *tx, id, purpose, true, "field", "", Some(collected_by)).await?;
    }
    add_event(&mut *tx, id, "field", summary, Some(collected_by)).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// When the caller manages people only through section grants in this federation, the section they must stay in.
fn access_section_only(access: &Access, federation_id: i64) -> Option<i64> {
    if access.allows(Perm::ManagePeople, Scope::Federation { federation_id }) {
        return None;
    }
    access.grants.iter().find_map(|g| match g.scope {
        Scope::Section { federation_id: f, section_id } if f == federation_id => Some(section_id),
        _ => None,
    })
}

/// Edits a person the caller manages. Contact details the caller may not see are kept as they are.
pub async fn update(db: &Db, access: &Access, person: &Person, input: &PersonInput) -> Result<Person> {
    if !access.allows(Perm::ManagePeople, person.scope()) {
        return Err(Error::Forbidden);
    }
    let v = validate(db, person.federation_id, input).await?;
    let c = &v.candidate;
    let mut tx = db.pool.begin().await?;
    contacts::check_emails_free(&mut tx, person.federation_id, Some(person.id), all_emails(c)).await?;
    sqlx::query(
        "UPDATE people SET commune_code = $1, section_id = COALESCE($2, section_id), first_name = $3, last_name = $4, \
         email = $5, phone = $6, address = $7, postcode = $8, city = $9, category = $10, legal_basis = $11, notes = $12, \
         availability = $13, updated_at = $14 WHERE id = $15",
    )
    .bind(&v.commune_code)
    .bind(v.section_id)
    .bind(&c.first_name)
    .bind(&c.last_name)
    .bind(&c.email)
    .bind(&c.phone)
    .bind(&c.address)
    .bind(&c.postcode)
    .bind(&c.city)
    .bind(v.category.as_str())
    .bind(&v.legal_basis)
    .bind(&c.notes)
    .bind(&v.availability)
    .bind(now())
    .bind(person.id)
    .execute(&mut *tx)
    .await
    .map_err(duplicate)?;
    search::refresh_keys(&mut tx, person.id).await?;
    contacts::set(&mut tx, person.id, person.federation_id, &others_of(c)).await.map_err(duplicate_error)?;
    set_tags_and_skills(&mut tx, person.id, &c.tags, &v.skill_ids).await?;
    add_event(&mut *tx, person.id, "updated", "Fiche modifiée", Some(access.user_id)).await?;
    tx.commit().await?;
    get(db, access, Perm::ViewPeople, person.id).await
}

/// Adds a tag to several people at once (those the caller manages; others are ignored). Returns how many got it.
pub async fn bulk_tag(db: &Db, access: &Access, ids: &[i64], tag: &str) -> Result<usize> {
    let tag = tag.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    if tag.is_empty() || tag.chars().count() > 100 {
        return Err(Error::Invalid("Indiquez une étiquette (100 caractères au plus).".into()));
    }
    // One scoped query keeps only the people the caller manages; other ids are ignored.
    let wanted: Vec<String> = ids.iter().take(500).map(i64::to_string).collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let scope = access.filter(Perm::ManagePeople, "p.federation_id", Some("p.section_id"));
    let in_scope: Vec<i64> =
        sqlx::query_scalar(&format!("SELECT p.id FROM people p WHERE p.id IN ({}) AND {scope}", wanted.join(", ")))
            .fetch_all(&db.pool)
            .await?;
    let mut n = 0;
    let mut tx = db.pool.begin().await?;
    for id in in_scope {
        let added = sqlx::query("INSERT INTO person_tags (person_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(&tag)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if added > 0 {
            add_event(&mut *tx, id, "tagged", &format!("Étiquette « {tag} » ajoutée"), Some(access.user_id)).await?;
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}
