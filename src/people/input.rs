//! The form or API input of a person and its validation (commune, section and skills resolved).

use super::csv_import::{self, Category};
use super::{LEGAL_BASES, Person, contacts, default_legal_basis, skill_ids};
use crate::db::Db;
use crate::error::{Error, Result};

/// The form or API input of a person, before validation.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct PersonInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
    /// Further e-mail addresses, one per line (or separated by commas).
    #[serde(default)]
    pub other_emails: String,
    /// Further phone numbers, one per line (or separated by commas).
    #[serde(default)]
    pub other_phones: String,
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub commune_code: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub legal_basis: String,
    #[serde(default)]
    pub notes: String,
    /// Comma-separated.
    #[serde(default)]
    pub tags: String,
    /// Skill names, comma-separated (form) — each must be in the curated list.
    #[serde(default)]
    pub skills: String,
    /// Free text: "soirs et week-ends", "samedi matin"…
    #[serde(default)]
    pub availability: String,
}

impl PersonInput {
    pub fn from_person(p: &Person, others: &contacts::Others, tags: &[String], skills: &[String]) -> PersonInput {
        PersonInput {
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            email: p.email.clone().unwrap_or_default(),
            phone: p.phone.clone().unwrap_or_default(),
            other_emails: others.emails.join("\n"),
            other_phones: others.phones.join("\n"),
            address: p.address.clone(),
            postcode: p.postcode.clone(),
            city: p.city.clone(),
            commune_code: p.commune_code.clone().unwrap_or_default(),
            category: p.category.clone(),
            legal_basis: p.legal_basis.clone(),
            notes: p.notes.clone(),
            tags: tags.join(", "),
            skills: skills.join(", "),
            availability: p.availability.clone(),
        }
    }
}

/// A validated person, ready to store.
pub struct Valid {
    pub candidate: csv_import::Candidate,
    pub availability: String,
    pub category: Category,
    pub legal_basis: String,
    pub commune_code: Option<String>,
    pub section_id: Option<i64>,
    pub skill_ids: Vec<i64>,
}

/// Resolves the INSEE commune from a code, or from postcode + name, within a federation.
pub async fn resolve_commune(
    db: &Db,
    federation_id: i64,
    code: &str,
    postcode: &str,
    city: &str,
) -> Result<Option<String>> {
    if !code.is_empty() {
        return Ok(sqlx::query_scalar("SELECT code FROM communes WHERE code = $1 AND federation_id = $2")
            .bind(code)
            .bind(federation_id)
            .fetch_optional(&db.pool)
            .await?);
    }
    if postcode.is_empty() && city.is_empty() {
        return Ok(None);
    }
    let candidates: Vec<(String, String)> = sqlx::query_as(
        "SELECT code, name FROM communes WHERE federation_id = $1 AND ($2 = '' OR postcodes LIKE $3) \
         AND ($4 = '' OR LOWER(name) = LOWER($4)) ORDER BY population DESC LIMIT 5",
    )
    .bind(federation_id)
    .bind(postcode)
    .bind(format!("%{postcode}%"))
    .bind(city.trim())
    .fetch_all(&db.pool)
    .await?;
    // A postcode alone may cover several communes: only an unambiguous answer is kept.
    Ok(if candidates.len() == 1 || (!city.is_empty() && !candidates.is_empty()) {
        candidates.into_iter().next().map(|(c, _)| c)
    } else {
        None
    })
}

/// The section covering a commune in a federation, if any.
pub async fn section_for_commune(db: &Db, federation_id: i64, commune: &str) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT s.id FROM sections s JOIN section_communes sc ON sc.section_id = s.id \
         WHERE s.federation_id = $1 AND sc.commune_code = $2 ORDER BY s.id LIMIT 1",
    )
    .bind(federation_id)
    .bind(commune)
    .fetch_optional(&db.pool)
    .await?)
}

/// Validates a form input for a person of `federation_id` (all problems at once, in French). The row goes
/// through the same rules as an imported row ([`csv_import::validate_row`]), plus what needs the database.
pub async fn validate(db: &Db, federation_id: i64, input: &PersonInput) -> Result<Valid> {
    use csv_import::Field;
    const FIELDS: [Field; 12] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Address,
        Field::Postcode,
        Field::City,
        Field::CommuneCode,
        Field::Category,
        Field::Tags,
        Field::Skills,
        Field::Notes,
    ];
    let cells = [
        &input.first_name,
        &input.last_name,
        &input.email,
        &input.phone,
        &input.address,
        &input.postcode,
        &input.city,
        &input.commune_code,
        &input.category,
        &input.tags,
        &input.skills,
        &input.notes,
    ];
    // Further addresses and phones are more e-mail and phone cells: the row's first is the person's first.
    let mut mapping = FIELDS.to_vec();
    let mut cells: Vec<&str> = cells.iter().map(|c| c.as_str()).collect();
    for (field, text) in [(Field::Email, &input.other_emails), (Field::Phone, &input.other_phones)] {
        for entry in contacts::split_entries(text) {
            mapping.push(field);
            cells.push(entry);
        }
    }
    let row = csv_import::Row::new(1, cells)
        .ok_or_else(|| Error::Invalid("Les champs du formulaire sont trop longs.".into()))?;
    let (candidate, mut problems) = match csv_import::validate_row(&mapping, &row) {
        Ok(c) => (Some(c), Vec::new()),
        Err(p) => (None, p),
    };
    let category = Category::parse_loose(&input.category);
    if category.is_none() && !problems.iter().any(|p| p.contains("catégorie")) {
        problems.push("choisissez une catégorie".into());
    }
    let legal_basis = if input.legal_basis.is_empty() {
        category.map(default_legal_basis).unwrap_or("consent").to_string()
    } else if LEGAL_BASES.iter().any(|(c, _)| *c == input.legal_basis) {
        input.legal_basis.clone()
    } else {
        problems.push("base légale inconnue".into());
        String::new()
    };
    let (Some(candidate), Some(category), true) = (candidate, category, problems.is_empty()) else {
        return Err(Error::Invalid(format!("{}.", capitalise(&problems.join(" ; ")))));
    };
    let skill_ids = skill_ids(db, &candidate.skills).await.map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!("{}.", capitalise(&m))),
        other => other,
    })?;
    let commune_code =
        resolve_commune(db, federation_id, &candidate.commune_code, &candidate.postcode, &candidate.city).await?;
    if !candidate.commune_code.is_empty() && commune_code.is_none() {
        return Err(Error::Invalid(format!(
            "Code INSEE inconnu dans cette fédération : « {} ».",
            candidate.commune_code
        )));
    }
    let section_id = match &commune_code {
        Some(c) => section_for_commune(db, federation_id, c).await?,
        None => None,
    };
    let availability = input.availability.split_whitespace().collect::<Vec<_>>().join(" ");
    if availability.chars().count() > 200 {
        return Err(Error::Invalid("Disponibilités : 200 caractères au plus.".into()));
    }
    Ok(Valid { candidate, availability, category, legal_basis, commune_code, section_id, skill_ids })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
