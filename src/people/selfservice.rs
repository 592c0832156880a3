//! What people do themselves, without an account: sign up to a federation through a public form with double
//! opt-in, and, through a link e-mailed to their address, see all their data, correct it, give or withdraw
//! consents, object or have it erased (GDPR art. 15 to 21).
//!
//! The gate here is the address: [`VerifiedEmail`] can only be obtained from a valid e-mailed token, and every
//! function acting on someone's records takes one and only touches people with that address.

use serde::Serialize;

use super::csv_import::{self, Category};
use super::{PERSON_COLUMNS, Person, add_event, consent, suppressed};
use crate::db::{Db, now};
use crate::error::{Error, Result};

/// Sign-up confirmations wait a week; self-service links last an hour.
pub const SIGNUP_TTL: i64 = 7 * 86_400;
pub const LINK_TTL: i64 = 3600;

/// Purposes a public form may offer.
pub const SIGNUP_PURPOSES: [&str; 3] = ["newsletter_federation", "newsletter_national", "alerts"];

#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub postcode: String,
    /// Honeypot: hidden from people, filled by bots.
    #[serde(default)]
    pub site: String,
    #[serde(default)]
    pub newsletter_federation: String,
    #[serde(default)]
    pub newsletter_national: String,
    #[serde(default)]
    pub alerts: String,
}

pub enum SignupOutcome {
    /// Send this confirmation link to this address.
    Confirm { token: String, email: String },
    /// Nothing to send (a bot, or an address that asked never to be contacted): answer as if sent.
    Silent,
}

/// An empty or 5-digit French postcode.
fn checked_postcode(input: &str) -> Result<String> {
    let p = input.trim();
    if p.is_empty() || (p.len() == 5 && p.chars().all(|c| c.is_ascii_digit())) {
        Ok(p.to_string())
    } else {
        Err(Error::Invalid("Le code postal compte 5 chiffres.".into()))
    }
}

/// Records a pending sign-up. Validation errors are French sentences.
pub async fn signup_start(db: &Db, federation_id: i64, form: &SignupForm, ip: &str) -> Result<SignupOutcome> {
    if !form.site.is_empty() {
        return Ok(SignupOutcome::Silent);
    }
    let email = csv_import::normalise_email(&form.email)
        .ok_or_else(|| Error::Invalid("Indiquez une adresse e-mail valide.".into()))?;
    let first_name: String = form.first_name.split_whitespace().collect::<Vec<_>>().join(" ");
    let last_name: String = form.last_name.split_whitespace().collect::<Vec<_>>().join(" ");
    if first_name.chars().count() > 100 || last_name.chars().count() > 100 {
        return Err(Error::Invalid("Nom ou prénom trop long.".into()));
    }
    let postcode = checked_postcode(&form.postcode)?;
    let purposes: Vec<&str> = SIGNUP_PURPOSES
        .into_iter()
        .filter(|p| match *p {
            "newsletter_federation" => !form.newsletter_federation.is_empty(),
            "newsletter_national" => !form.newsletter_national.is_empty(),
            _ => !form.alerts.is_empty(),
        })
        .collect();
    if purposes.is_empty() {
        return Err(Error::Invalid("Cochez au moins ce que vous souhaitez recevoir.".into()));
    }
    if suppressed(db, Some(&email), None).await? {
        return Ok(SignupOutcome::Silent);
    }
    let token = crate::auth::random_token();
    let t = now();
    sqlx::query(
        "INSERT INTO signups (token_hash, federation_id, email, first_name, last_name, postcode, purposes, ip, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(crate::auth::sha256_hex(&token))
    .bind(federation_id)
    .bind(&email)
    .bind(&first_name)
    .bind(&last_name)
    .bind(&postcode)
    .bind(purposes.join(","))
    .bind(ip)
    .bind(t)
    .bind(t + SIGNUP_TTL)
    .execute(&db.pool)
    .await?;
    Ok(SignupOutcome::Confirm { token, email })
}

#[derive(sqlx::FromRow)]
struct Pending {
    federation_id: i64,
    email: String,
    first_name: String,
    last_name: String,
    postcode: String,
    purposes: String,
    ip: String,
}

/// Is this a valid pending sign-up? (for the confirmation page, which confirms only on POST: link scanners GET)
pub async fn signup_pending(db: &Db, token: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signups WHERE token_hash = $1 AND expires_at > $2")
        .bind(crate::auth::sha256_hex(token))
        .bind(now())
        .fetch_one(&db.pool)
        .await?;
    Ok(n > 0)
}

/// Confirms a sign-up: creates the person (or completes the one with this address in the federation) and records
/// the consents with their proof. Returns the person's id, or None for an unknown or expired link.
pub async fn signup_confirm(db: &Db, token: &str) -> Result<Option<i64>> {
    let hash = crate::auth::sha256_hex(token);
    let mut tx = db.pool.begin().await?;
    // Deleting first makes the link single-use even under concurrent clicks.
    let pending: Option<Pending> = sqlx::query_as(
        "DELETE FROM signups WHERE token_hash = $1 AND expires_at > $2 \
         RETURNING federation_id, email, first_name, last_name, postcode, purposes, ip",
    )
    .bind(&hash)
    .bind(now())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(p) = pending else { return Ok(None) };
    if suppressed(db, Some(&p.email), None).await? {
        tx.commit().await?;
        return Ok(None);
    }
    let t = now();
    let existing = super::contacts::email_owner(&mut tx, p.federation_id, &p.email).await?;
    let id = match existing {
        Some(id) => {
            sqlx::query("UPDATE people SET last_activity_at = $1, updated_at = $1 WHERE id = $2")
                .bind(t)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            add_event(&mut *tx, id, "signup", "Inscription confirmée par la personne (formulaire en ligne)", None)
                .await?;
            id
        }
        None => {
            let commune = super::resolve_commune(db, p.federation_id, "", &p.postcode, "").await?;
            let section = match &commune {
                Some(c) => super::section_for_commune(db, p.federation_id, c).await?,
                None => None,
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO people (federation_id, section_id, commune_code, first_name, last_name, email, postcode, category, \
                 legal_basis, origin, origin_channel, created_at, updated_at, last_activity_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'consent', $9, 'signup', $10, $10, $10) RETURNING id",
            )
            .bind(p.federation_id)
            .bind(section)
            .bind(&commune)
            .bind(&p.first_name)
            .bind(&p.last_name)
            .bind(&p.email)
            .bind(&p.postcode)
            .bind(Category::Curious.as_str())
            .bind("inscription par la personne sur le formulaire en ligne")
            .bind(t)
            .fetch_one(&mut *tx)
            .await?;
            super::search::refresh_keys(&mut tx, id).await?;
            add_event(
                &mut *tx,
                id,
                "signup",
                "Inscription par la personne (formulaire en ligne, confirmée par e-mail)",
                None,
            )
            .await?;
            id
        }
    };
    for purpose in p.purposes.split(',').filter(|s| !s.is_empty()) {
        consent::record(&mut *tx, id, purpose, true, "form", &p.ip, None).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}

/// An address whose owner proved they read its mail (by opening a self-service link).
#[derive(Clone, Debug)]
pub struct VerifiedEmail(String);

impl VerifiedEmail {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates a self-service link when some federation knows this address; None otherwise (answer the same).
pub async fn link_request(db: &Db, email: &str) -> Result<Option<String>> {
    let Some(email) = csv_import::normalise_email(email) else {
        return Err(Error::Invalid("Indiquez une adresse e-mail valide.".into()));
    };
    let known: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM people p WHERE {HAS_EMAIL}"))
        .bind(&email)
        .fetch_one(&db.pool)
        .await?;
    if known == 0 {
        return Ok(None);
    }
    let token = crate::auth::random_token();
    let t = now();
    sqlx::query("INSERT INTO person_links (token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(crate::auth::sha256_hex(&token))
        .bind(&email)
        .bind(t)
        .bind(t + LINK_TTL)
        .execute(&db.pool)
        .await?;
    Ok(Some(token))
}

/// The address a live self-service link belongs to.
pub async fn verify_link(db: &Db, token: &str) -> Result<Option<VerifiedEmail>> {
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM person_links WHERE token_hash = $1 AND expires_at > $2")
            .bind(crate::auth::sha256_hex(token))
            .bind(now())
            .fetch_optional(&db.pool)
            .await?;
    Ok(email.map(VerifiedEmail))
}

/// People `p` with the address `$1`, as first or further address.
const HAS_EMAIL: &str =
    "(p.email = $1 OR p.id IN (SELECT c.person_id FROM person_contacts c WHERE c.kind = 'email' AND c.value = $1))";

/// Every record with this address, first or further (one per federation that knows it).
pub async fn records(db: &Db, email: &VerifiedEmail) -> Result<Vec<Person>> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE {HAS_EMAIL} ORDER BY p.federation_id");
    Ok(sqlx::query_as(&sql).bind(email.as_str()).fetch_all(&db.pool).await?)
}

pub async fn record(db: &Db, email: &VerifiedEmail, person_id: i64) -> Result<Person> {
    records(db, email).await?.into_iter().find(|p| p.id == person_id).ok_or(Error::NotFound)
}

/// All data of all records with this address, as JSON (access and portability).
pub async fn export(db: &Db, email: &VerifiedEmail) -> Result<serde_json::Value> {
    let mut out = Vec::new();
    for p in records(db, email).await? {
        out.push(serde_json::json!({
            "people": p,
            "person_contacts": super::contacts::of(&mut *db.pool.acquire().await?, p.id).await?,
            "person_tags": super::tags(db, &p).await?,
            "person_skills": super::skills(db, &p).await?,
            "consent_events": consent::ledger(db, &p).await?,
            "person_events": super::timeline(db, &p).await?,
        }));
    }
    Ok(serde_json::json!({ "email": email.as_str(), "records": out }))
}

#[derive(Clone, Debug, Default, serde::Deserialize, Serialize)]
pub struct Rectification {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
}

/// The person corrects their own record (art. 16). Counts as an interaction they started.
pub async fn rectify(db: &Db, email: &VerifiedEmail, person_id: i64, r: &Rectification) -> Result<()> {
    let person = record(db, email, person_id).await?;
    let phone = if r.phone.trim().is_empty() {
        None
    } else {
        Some(
            csv_import::normalise_phone(&r.phone)
                .ok_or_else(|| Error::Invalid("Numéro de téléphone invalide.".into()))?,
        )
    };
    let postcode = checked_postcode(&r.postcode)?;
    let clean =
        |s: &str, max: usize| s.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(max).collect::<String>();
    let t = now();
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE people SET first_name = $1, last_name = $2, phone = $3, address = $4, postcode = $5, city = $6, \
         updated_at = $7, last_activity_at = $7 WHERE id = $8",
    )
    .bind(clean(&r.first_name, 100))
    .bind(clean(&r.last_name, 100))
    .bind(phone)
    .bind(clean(&r.address, 300))
    .bind(&postcode)
    .bind(clean(&r.city, 100))
    .bind(t)
    .bind(person.id)
    .execute(&mut *tx)
    .await?;
    super::search::refresh_keys(&mut tx, person.id).await?;
    add_event(&mut *tx, person.id, "self_service", "Données corrigées par la personne", None).await?;
    tx.commit().await?;
    Ok(())
}

/// The person gives or withdraws a consent (art. 7(3): withdrawing is as easy as giving).
pub async fn set_consent(
    db: &Db,
    email: &VerifiedEmail,
    person_id: i64,
    purpose: &str,
    granted: bool,
    ip: &str,
) -> Result<()> {
    let person = record(db, email, person_id).await?;
    let mut tx = db.pool.begin().await?;
    consent::record(&mut *tx, person.id, purpose, granted, "self_service", ip, None).await?;
    let summary = format!(
        "Consentement {} par la personne : {}",
        if granted { "donné" } else { "retiré" },
        consent::purpose_label(purpose)
    );
    add_event(&mut *tx, person.id, "consent", &summary, None).await?;
    sqlx::query("UPDATE people SET last_activity_at = $1 WHERE id = $2")
        .bind(now())
        .bind(person.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Erasure or objection for every record with this address (art. 17, 21): same as staff erasure.
pub async fn erase_all(db: &Db, email: &VerifiedEmail, objected: bool) -> Result<usize> {
    let people = records(db, email).await?;
    let n = people.len();
    for p in people {
        super::erase_unchecked(db, &p, if objected { "objected" } else { "erased" }).await?;
    }
    if n == 0 {
        // Still honour an objection for an address we do not hold (future imports).
        super::suppress(db, Some(email.as_str()), None, if objected { "objected" } else { "erased" }).await?;
    }
    sqlx::query("DELETE FROM person_links WHERE email = $1").bind(email.as_str()).execute(&db.pool).await?;
    sqlx::query("DELETE FROM signups WHERE email = $1").bind(email.as_str()).execute(&db.pool).await?;
    Ok(n)
}

/// Forgets expired sign-ups and links, files of imports never confirmed (a day) and the rejected rows of
/// finished imports (a week) — housekeeping.
pub async fn purge_expired(db: &Db) -> Result<()> {
    let t = now();
    sqlx::query("DELETE FROM signups WHERE expires_at <= $1").bind(t).execute(&db.pool).await?;
    sqlx::query("DELETE FROM person_links WHERE expires_at <= $1").bind(t).execute(&db.pool).await?;
    sqlx::query(
        "DELETE FROM import_files WHERE import_id IN (SELECT id FROM imports WHERE state = 'pending' AND created_at < $1)",
    )
    .bind(t - 86_400)
    .execute(&db.pool)
    .await?;
    sqlx::query("UPDATE imports SET rejected_csv = '' WHERE rejected_csv <> '' AND finished_at < $1")
        .bind(t - 7 * 86_400)
        .execute(&db.pool)
        .await?;
    Ok(())
}
