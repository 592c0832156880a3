//! The person model: [`Person`], the list row [`PersonRow`], and the labels of categories and legal bases.

use serde::Serialize;

use super::csv_import::Category;
use crate::access::{Access, Perm, Scope};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Person {
    pub id: i64,
    pub federation_id: i64,
    pub section_id: Option<i64>,
    pub commune_code: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub category: String,
    pub legal_basis: String,
    pub origin: String,
    pub origin_channel: String,
    pub notes: String,
    pub availability: String,
    pub external_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_activity_at: i64,
}

/// Every column of `people p`, in [`Person`]'s order.
pub(crate) const PERSON_COLUMNS: &str = "p.id, p.federation_id, p.section_id, p.commune_code, p.first_name, p.last_name, p.email, \
     p.phone, p.address, p.postcode, p.city, p.category, p.legal_basis, p.origin, p.origin_channel, p.notes, \
     p.availability, p.external_id, p.created_at, p.updated_at, p.last_activity_at";

impl Person {
    pub fn scope(&self) -> Scope {
        match self.section_id {
            Some(section_id) => Scope::Section { federation_id: self.federation_id, section_id },
            None => Scope::Federation { federation_id: self.federation_id },
        }
    }

    pub fn display_name(&self) -> String {
        display_name(&self.first_name, &self.last_name, self.email.as_deref())
    }

    pub fn category_label(&self) -> &'static str {
        category_label(&self.category)
    }

    pub fn legal_basis_label(&self) -> &'static str {
        legal_basis_label(&self.legal_basis)
    }

    /// The phone as French people write it (see [`phone_display`]).
    pub fn phone_display(&self) -> String {
        self.phone.as_deref().map(phone_display).unwrap_or_default()
    }

    /// Removes the fields the caller's role may not see (field-level rule).
    pub fn redact_for(mut self, access: &Access) -> Person {
        if !access.allows(Perm::ContactDetails, self.scope()) {
            self.phone = None;
            self.notes = String::new();
        }
        self
    }
}

/// An E.164 phone as French people write it: "06 12 34 56 78" for French numbers, E.164 otherwise.
pub fn phone_display(p: &str) -> String {
    if p.starts_with("+33") && p.len() == 12 {
        let national = format!("0{}", &p[3..]);
        national.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ")
    } else {
        p.to_string()
    }
}

pub fn display_name(first: &str, last: &str, email: Option<&str>) -> String {
    let name = format!("{first} {last}").trim().to_string();
    if name.is_empty() { email.unwrap_or("(sans nom)").to_string() } else { name }
}

pub fn category_label(code: &str) -> &'static str {
    match code {
        "member" => "Adhérent·e",
        "sympathiser" => "Sympathisant·e",
        "curious" => "Curieux·se",
        _ => "?",
    }
}

pub const LEGAL_BASES: [(&str, &str); 3] = [
    ("membership", "Adhésion (RGPD art. 9-2-d)"),
    ("regular_contact", "Contact régulier du parti (RGPD art. 9-2-d)"),
    ("consent", "Consentement explicite (RGPD art. 9-2-a)"),
];

pub fn legal_basis_label(code: &str) -> &'static str {
    LEGAL_BASES.iter().find(|(c, _)| *c == code).map(|(_, l)| *l).unwrap_or("?")
}

/// The usual legal basis for a category: members and sympathisers in regular contact fall under the
/// political-body exemption of art. 9(2)(d); people merely curious need their explicit consent.
pub fn default_legal_basis(category: Category) -> &'static str {
    match category {
        Category::Member => "membership",
        Category::Sympathiser => "regular_contact",
        Category::Curious => "consent",
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct PersonRow {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub category: String,
    pub city: String,
    pub federation_name: String,
}

impl PersonRow {
    pub fn display_name(&self) -> String {
        display_name(&self.first_name, &self.last_name, self.email.as_deref())
    }
    pub fn category_label(&self) -> &'static str {
        category_label(&self.category)
    }
}
