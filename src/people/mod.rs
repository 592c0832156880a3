//! People (address book): members, sympathisers and curious people of each federation.
//!
//! Scoped repository like `org`: every query goes through [`Access::filter`] with [`Perm::ViewPeople`] (or
//! [`Perm::ManagePeople`] for writes) over the person's federation and section, and a [`Person`] value is
//! only handed out by [`get`]. Phone numbers and notes are shown only to roles with [`Perm::ContactDetails`].

pub mod consent;
pub mod contacts;
pub mod csv_import;
pub mod import;
pub mod register;
pub mod retention;
pub mod search;
pub mod segments;
pub mod selfservice;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result, is_unique_violation};
use crate::org::Federation;
use csv_import::Category;

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

/// Search and filters of the people list (and of exports).
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub federation: String,
    /// A saved segment's id.
    #[serde(default)]
    pub segment: String,
}

/// Builds the WHERE clause of a filtered, scoped people query, with its bound values; the search text's match is
/// returned apart (see [`search`]).
async fn where_clause(
    db: &Db,
    access: &Access,
    perm: Perm,
    filter: &Filter,
) -> Result<(String, Option<search::Match>, segments::Sql)> {
    let mut sql = segments::Sql::default();
    let mut clauses = vec![access.filter(perm, "p.federation_id", Some("p.section_id"))];
    let matched = search::compile(&filter.q, &mut sql);
    if !filter.category.is_empty() {
        if !["member", "sympathiser", "curious"].contains(&filter.category.as_str()) {
            return Err(Error::Invalid("Catégorie inconnue.".into()));
        }
        clauses.push(format!("p.category = {}", sql.text(filter.category.clone())));
    }
    if !filter.tag.trim().is_empty() {
        let n = sql.text(filter.tag.trim().to_lowercase());
        clauses.push(format!("p.id IN (SELECT t.person_id FROM person_tags t WHERE t.tag = {n})"));
    }
    if !filter.federation.trim().is_empty() {
        let id: i64 = filter.federation.trim().parse().map_err(|_| Error::Invalid("Fédération invalide.".into()))?;
        clauses.push(format!("p.federation_id = {}", sql.int(id)));
    }
    if !filter.segment.trim().is_empty() {
        let id: i64 = filter.segment.trim().parse().map_err(|_| Error::Invalid("Segment invalide.".into()))?;
        let segment = segments::get(db, access, id).await?;
        clauses.push(segments::compile(db, access, &segment.definition, &mut sql).await?);
    }
    Ok((clauses.join(" AND "), matched, sql))
}

/// The whole condition of a filtered query, search text included (for exports: every match, in any order).
async fn full_where_clause(db: &Db, access: &Access, perm: Perm, filter: &Filter) -> Result<(String, segments::Sql)> {
    let (cond, matched, sql) = where_clause(db, access, perm, filter).await?;
    Ok(match matched {
        None => (cond, sql),
        Some(m) => match m.second {
            None => (format!("{cond} AND ({})", m.first), sql),
            Some(second) => (format!("{cond} AND (({}) OR ({second}))", m.first), sql),
        },
    })
}

/// People the caller may see, with the total count (capped at [`search::COUNT_CAP`]). Without a search text, in name
/// order; with one, people whose last name matches first, then those whose first name does (see [`search`]).
pub async fn search(
    db: &Db,
    access: &Access,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PersonRow>, i64)> {
    if !access.allows_somewhere(Perm::ViewPeople) {
        return Err(Error::Forbidden);
    }
    let (cond, matched, sql) = where_clause(db, access, Perm::ViewPeople, filter).await?;
    let (limit, offset) = (limit.clamp(1, 500), offset.max(0));
    let (tier1, order1, tier2) = match &matched {
        None => (cond.clone(), "p.last_key, p.first_key, p.id", None),
        Some(m) => {
            (format!("{cond} AND {}", m.first), m.first_order, m.second.as_ref().map(|s| format!("{cond} AND {s}")))
        }
    };
    let count = |c: String| {
        let args = sql.arguments();
        async move {
            let q = format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM people p WHERE {c} LIMIT {COUNT_CAP}) capped",
                COUNT_CAP = search::COUNT_CAP
            );
            Ok::<i64, Error>(sqlx::query_scalar_with(&q, args?).fetch_one(&db.pool).await?)
        }
    };
    let page = |c: &str, order: &str, limit: i64, offset: i64| {
        let q = format!(
            "SELECT p.id, p.first_name, p.last_name, p.email, p.category, p.city, f.name AS federation_name \
             FROM people p JOIN federations f ON f.id = p.federation_id WHERE {c} \
             ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        );
        let args = sql.arguments();
        async move { Ok::<Vec<PersonRow>, Error>(sqlx::query_as_with(&q, args?).fetch_all(&db.pool).await?) }
    };
    let count1 = count(tier1.clone()).await?;
    let mut rows = if offset < count1 { page(&tier1, order1, limit, offset).await? } else { Vec::new() };
    let mut total = count1;
    if let Some(tier2) = tier2 {
        total = (count1 + count(tier2.clone()).await?).min(search::COUNT_CAP);
        let missing = limit - rows.len() as i64;
        if missing > 0 && total > count1 {
            rows.extend(page(&tier2, search::BY_FIRST, missing, (offset - count1).max(0)).await?);
        }
    }
    Ok((rows, total))
}

/// A person the caller may see, with fields redacted for the caller's role; `NotFound` otherwise.
pub async fn get(db: &Db, access: &Access, perm: Perm, id: i64) -> Result<Person> {
    let scope = access.filter(perm, "p.federation_id", Some("p.section_id"));
    let sql = format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = $1 AND {scope}");
    let person: Person = sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)?;
    Ok(person.redact_for(access))
}

pub async fn tags(db: &Db, person: &Person) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT tag FROM person_tags WHERE person_id = $1 ORDER BY tag")
        .bind(person.id)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn skills(db: &Db, person: &Person) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT s.name FROM person_skills ps JOIN skills s ON s.id = ps.skill_id WHERE ps.person_id = $1 ORDER BY s.name",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?)
}

/// The curated list of skills, professional domains and causes of interest (all of them).
pub async fn skill_list(db: &Db) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, name FROM skills ORDER BY name").fetch_all(&db.pool).await?)
}

/// The curated names of one kind: `skill` (skills and professional domains) or `cause` (causes of interest).
pub async fn curated(db: &Db, kind: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT name FROM skills WHERE kind = $1 ORDER BY name")
        .bind(kind)
        .fetch_all(&db.pool)
        .await?)
}

/// A person's curated items of one kind.
pub async fn person_curated(db: &Db, person: &Person, kind: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT s.name FROM person_skills ps JOIN skills s ON s.id = ps.skill_id WHERE ps.person_id = $1 \
         AND s.kind = $2 ORDER BY s.name",
    )
    .bind(person.id)
    .bind(kind)
    .fetch_all(&db.pool)
    .await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    pub actor_user_id: Option<i64>,
    pub at: i64,
}

/// The rows of `person_events` of a person, newest first.
async fn own_events(db: &Db, person: &Person) -> Result<Vec<Event>> {
    Ok(sqlx::query_as(
        "SELECT id, kind, summary, actor_user_id, at FROM person_events WHERE person_id = $1 ORDER BY at DESC, id DESC",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?)
}

/// A person's addition by an import, read from their row (its origin names the file and the day, `collected_by` who
/// ran it), unless it is stored among their events (imports stored it until November 2026; merging stores it too,
/// since the other card's row goes). A million-row import would otherwise write a million rows repeating `origin`.
async fn import_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    person_id: i64,
) -> Result<Option<Event>> {
    let row: Option<(String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT p.origin, p.collected_by, p.created_at FROM people p WHERE p.id = $1 AND p.origin_channel = 'import' \
         AND NOT EXISTS (SELECT 1 FROM person_events e WHERE e.person_id = p.id AND e.kind = 'imported' \
         AND e.summary LIKE 'Ajout par %')",
    )
    .bind(person_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|(origin, actor_user_id, at)| Event {
        id: 0,
        kind: "imported".into(),
        summary: format!("Ajout par {origin}"),
        actor_user_id,
        at,
    }))
}

/// Everything that touched a person, newest first: their own events (with their addition by an import), plus the
/// newsletters they were sent and (when they allowed individual tracking) opened or clicked, read from the sending
/// ledger and the tracking events.
pub async fn timeline(db: &Db, person: &Person) -> Result<Vec<Event>> {
    let mut events = own_events(db, person).await?;
    events.extend(import_event(&db.pool, person.id).await?);
    let sent: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT c.id, c.name, r.sent_at FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id \
         WHERE r.person_id = $1 AND r.state = 'sent' AND r.sent_at IS NOT NULL",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?;
    for (campaign, name, at) in sent {
        events.push(Event {
            id: -campaign,
            kind: "newsletter".into(),
            summary: format!("Lettre « {name} » reçue"),
            actor_user_id: None,
            at,
        });
    }
    // First open and first click of each campaign.
    let tracked: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT c.id, c.name, e.kind, MIN(e.at) FROM campaign_events e JOIN campaigns c ON c.id = e.campaign_id \
         WHERE e.person_id = $1 AND e.kind IN ('open', 'click') GROUP BY c.id, c.name, e.kind",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?;
    for (campaign, name, kind, at) in tracked {
        let verb = if kind == "open" { "ouverte" } else { "lien cliqué" };
        events.push(Event {
            id: -campaign,
            kind: format!("newsletter_{kind}"),
            summary: format!("Lettre « {name} » : {verb}"),
            actor_user_id: None,
            at,
        });
    }
    events.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
    Ok(events)
}

/// Appends an event to a person's timeline (inside the caller's transaction when there is one).
pub async fn add_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    person_id: i64,
    kind: &str,
    summary: &str,
    actor: Option<i64>,
) -> Result<()> {
    insert_event(executor, person_id, kind, summary, actor, now()).await
}

/// Stores a timeline event that happened at `at`.
async fn insert_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    person_id: i64,
    kind: &str,
    summary: &str,
    actor: Option<i64>,
    at: i64,
) -> Result<()> {
    sqlx::query("INSERT INTO person_events (person_id, kind, summary, actor_user_id, at) VALUES ($1, $2, $3, $4, $5)")
        .bind(person_id)
        .bind(kind)
        .bind(summary)
        .bind(actor)
        .bind(at)
        .execute(executor)
        .await?;
    Ok(())
}

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

/// Ids of curated skills by name (case-insensitive); unknown names are an error listing them.
pub async fn skill_ids(db: &Db, names: &[String]) -> Result<Vec<i64>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let all = skill_list(db).await?;
    let mut ids = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match all.iter().find(|(_, s)| s.to_lowercase() == n.to_lowercase()) {
            Some((id, _)) if !ids.contains(id) => ids.push(*id),
            Some(_) => {}
            None => unknown.push(n.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(ids)
    } else {
        Err(Error::Invalid(format!(
            "compétence ou cause inconnue : {} (la liste est tenue par le national)",
            unknown.join(", ")
        )))
    }
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
fn all_emails(c: &csv_import::Candidate) -> impl Iterator<Item = &str> {
    c.email.iter().chain(&c.other_emails).map(String::as_str)
}

fn others_of(c: &csv_import::Candidate) -> contacts::Others {
    contacts::Others { emails: c.other_emails.clone(), phones: c.other_phones.clone() }
}

/// Is any of the candidate's addresses or phones on the suppression list?
pub async fn candidate_suppressed(db: &Db, c: &csv_import::Candidate) -> Result<bool> {
    any_suppressed(db, all_emails(c), c.phone.iter().chain(&c.other_phones).map(String::as_str)).await
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

/// The further e-mail addresses and phones of a person; the phones only for roles that see contact details.
pub async fn others(db: &Db, access: &Access, person: &Person) -> Result<contacts::Others> {
    let mut others = contacts::of(&mut *db.pool.acquire().await?, person.id).await?;
    if !access.allows(Perm::ContactDetails, person.scope()) {
        others.phones.clear();
    }
    Ok(others)
}

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

/// Everything stored about a person (GDPR art. 15 and 20), as JSON. Walks every table that holds personal data
/// (see `register::PERSONAL_TABLES`).
pub async fn personal_data(db: &Db, access: &Access, person: &Person) -> Result<serde_json::Value> {
    if !access.allows(Perm::ManagePeople, person.scope()) {
        return Err(Error::Forbidden);
    }
    let full: Person = sqlx::query_as(&format!("SELECT {PERSON_COLUMNS} FROM people p WHERE p.id = $1"))
        .bind(person.id)
        .fetch_one(&db.pool)
        .await?;
    let consents = consent::ledger(db, person).await?;
    let id = person.id;
    let state: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT purpose, granted, at FROM consent_state WHERE person_id = $1 ORDER BY purpose")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    let recipients: Vec<(i64, String, i64, i64, String, Option<i64>)> = sqlx::query_as(
        "SELECT campaign_id, state, track, attempts, detail, sent_at FROM campaign_recipients WHERE person_id = $1 \
         ORDER BY campaign_id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let events: Vec<(i64, i64, String, Option<i64>, i64)> = sqlx::query_as(
        "SELECT id, campaign_id, kind, link_idx, at FROM campaign_events WHERE person_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?;
    let blocks: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT reason, detail, at FROM email_blocks WHERE person_id = $1")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    let soft: Vec<(Option<i64>, String, i64)> =
        sqlx::query_as("SELECT campaign_id, status, at FROM soft_bounces WHERE person_id = $1 ORDER BY at")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    let others = contacts::of(&mut *db.pool.acquire().await?, id).await?;
    use serde_json::json;
    Ok(json!({
        "people": full,
        "person_contacts": others,
        "person_tags": tags(db, person).await?,
        "person_skills": skills(db, person).await?,
        "consent_events": consents,
        "person_events": own_events(db, person).await?,
        "consent_state": state.iter().map(|(p, g, a)| json!({"purpose": p, "granted": g, "at": a})).collect::<Vec<_>>(),
        "campaign_recipients": recipients.iter().map(|(c, s, t, n, d, at)| json!({
            "campaign_id": c, "state": s, "track": t, "attempts": n, "detail": d, "sent_at": at
        })).collect::<Vec<_>>(),
        "campaign_events": events.iter().map(|(i, c, k, l, at)| json!({
            "id": i, "campaign_id": c, "kind": k, "link_idx": l, "at": at
        })).collect::<Vec<_>>(),
        "email_blocks": blocks.iter().map(|(r, d, at)| json!({"reason": r, "detail": d, "at": at})).collect::<Vec<_>>(),
        "soft_bounces": soft.iter().map(|(c, s, at)| json!({"campaign_id": c, "status": s, "at": at})).collect::<Vec<_>>(),
    }))
}

/// The filtered people as CSV (French Excel: UTF-8 BOM, `;`), formula-neutralised. Requires `ManagePeople`;
/// contact details only where the caller may see them.
pub async fn export_csv(db: &Db, access: &Access, filter: &Filter) -> Result<(String, usize)> {
    if !access.allows_somewhere(Perm::ManagePeople) {
        return Err(Error::Forbidden);
    }
    let (cond, binds) = full_where_clause(db, access, Perm::ManagePeople, filter).await?;
    let (tags, values) = match db.backend {
        crate::db::Backend::Sqlite => ("GROUP_CONCAT(t.tag, ', ')", "GROUP_CONCAT(c.value, ', ')"),
        crate::db::Backend::Postgres => ("STRING_AGG(t.tag, ', ')", "STRING_AGG(c.value, ', ')"),
    };
    let further = |kind: &str| {
        format!(
            "COALESCE((SELECT {values} FROM person_contacts c WHERE c.person_id = p.id AND c.kind = '{kind}'), '') \
             AS other_{kind}s"
        )
    };
    let sql = format!(
        "SELECT {PERSON_COLUMNS}, COALESCE((SELECT {tags} FROM person_tags t WHERE t.person_id = p.id), '') AS tag_list, \
         {}, {} FROM people p WHERE {cond} ORDER BY p.last_name, p.first_name, p.id",
        further("email"),
        further("phone"),
    );
    let rows = sqlx::query_with(&sql, binds.arguments()?).fetch_all(&db.pool).await?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    let header = [
        "id",
        "prénom",
        "nom",
        "e-mail",
        "téléphone",
        "autres e-mails",
        "autres téléphones",
        "adresse",
        "code postal",
        "commune",
        "code INSEE",
        "catégorie",
        "base légale",
        "origine",
        "étiquettes",
    ];
    w.write_record(header).map_err(anyhow::Error::from)?;
    let mut n = 0;
    for row in &rows {
        use sqlx::{FromRow, Row};
        let p = Person::from_row(row)?.redact_for(access);
        let tag_list: String = row.try_get("tag_list")?;
        let other_emails: String = row.try_get("other_emails")?;
        // Further phones follow the first one's rule.
        let other_phones: String =
            if access.allows(Perm::ContactDetails, p.scope()) { row.try_get("other_phones")? } else { String::new() };
        let cells = [
            p.id.to_string(),
            p.first_name.clone(),
            p.last_name.clone(),
            p.email.clone().unwrap_or_default(),
            p.phone.clone().unwrap_or_default(),
            other_emails,
            other_phones,
            p.address.clone(),
            p.postcode.clone(),
            p.city.clone(),
            p.commune_code.clone().unwrap_or_default(),
            p.category_label().to_string(),
            p.legal_basis_label().to_string(),
            p.origin.clone(),
            tag_list,
        ];
        w.write_record(cells.iter().map(|c| csv_import::neutralise_formula(c))).map_err(anyhow::Error::from)?;
        n += 1;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((format!("\u{feff}{}", String::from_utf8_lossy(&bytes)), n))
}

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

/// HQ curates the list of skills and professional domains (national administrators).
pub async fn add_skill(db: &Db, access: &Access, name: &str, kind: &str) -> Result<()> {
    if !["skill", "cause"].contains(&kind) {
        return Err(Error::Invalid("Type inconnu : compétence ou cause.".into()));
    }
    if !access.allows(Perm::ManagePeople, Scope::National) {
        return Err(Error::Forbidden);
    }
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 60 || name.contains([',', ';', '|']) {
        return Err(Error::Invalid("Un nom de 1 à 60 caractères, sans virgule ni point-virgule.".into()));
    }
    if skill_list(db).await?.iter().any(|(_, s)| s.to_lowercase() == name.to_lowercase()) {
        return Err(Error::Conflict("Cette compétence existe déjà.".into()));
    }
    sqlx::query("INSERT INTO skills (name, kind) VALUES ($1, $2)")
        .bind(&name)
        .bind(kind)
        .execute(&db.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) { Error::Conflict("Cette compétence existe déjà.".into()) } else { e.into() }
        })?;
    Ok(())
}

/// The access export as CSV (art. 15 and 20 ask for a commonly used format): one line per stored value,
/// `table;n°;champ;valeur`, for French Excel (UTF-8 BOM, `;`), formulas neutralised.
pub fn personal_data_csv(data: &serde_json::Value) -> String {
    fn scalar(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
    fn walk(rows: &mut Vec<[String; 4]>, table: &str, index: String, value: &serde_json::Value) {
        match value {
            serde_json::Value::Object(fields) => {
                for (k, v) in fields {
                    if v.is_array() || v.is_object() {
                        walk(rows, &format!("{table}.{k}"), index.clone(), v);
                    } else {
                        rows.push([table.to_string(), index.clone(), k.clone(), scalar(v)]);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let idx = if index.is_empty() { (i + 1).to_string() } else { format!("{index}.{}", i + 1) };
                    if item.is_object() || item.is_array() {
                        walk(rows, table, idx, item);
                    } else {
                        rows.push([table.to_string(), idx, String::new(), scalar(item)]);
                    }
                }
            }
            other => rows.push([table.to_string(), index, String::new(), scalar(other)]),
        }
    }
    let mut rows = Vec::new();
    if let serde_json::Value::Object(top) = data {
        for (k, v) in top {
            walk(&mut rows, k, String::new(), v);
        }
    }
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    let _ = w.write_record(["table", "n°", "champ", "valeur"]);
    for r in &rows {
        let _ = w.write_record(r.iter().map(|c| csv_import::neutralise_formula(c)));
    }
    let bytes = w.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}
