//! Fiches d'observation: what volunteers saw during an action, filed from a phone in a few minutes. Bad input is
//! refused with a French message and changes nothing; implausible figures (VAN-style sanity checks) are stored but
//! flagged, and count in the zone's knowledge only once a coordinator accepts them.
//!
//! The knowledge of a turf (concerns ranked, methods' success here and in zones of the same class, contact rates)
//! is computed from the counted reports of its zones and of the zones inside them: it feeds the next fiche
//! militante and the "what works where" page.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::{Method, Turf};
use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result};
use crate::people::{self, FieldContact, PersonInput};
use crate::territory::classify::Level;
use crate::territory::map::format_fr;

/// Reports that count in the knowledge of zones.
pub const COUNTED: &str = "('ok', 'accepted')";

/// A sympathiser met during the action, added to the address book with the consents ticked on the spot.
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub postcode: String,
    /// Consent purposes given (`newsletter_federation`, `alerts`, `sms`, `phone`).
    pub purposes: Vec<String>,
}

/// The form, as filled in.
#[derive(Clone, Debug, Default)]
pub struct ReportInput {
    pub mission_id: Option<i64>,
    pub turf: Turf,
    /// "2026-11-21".
    pub action_date: String,
    pub method: Option<Method>,
    pub activists: i64,
    pub sympathisers: i64,
    pub doors: i64,
    pub reached: i64,
    pub conversations: i64,
    /// 1 (hostile) … 5 (very warm).
    pub reaction: i64,
    pub concerns: Vec<i64>,
    pub concerns_text: String,
    pub method_worked: Option<bool>,
    pub worked: String,
    pub not_worked: String,
    pub contacts: Vec<NewContact>,
}

/// French labels of the reaction scale.
pub const REACTIONS: [(i64, &str); 5] =
    [(1, "Hostile"), (2, "Plutôt fermée"), (3, "Neutre"), (4, "Plutôt bonne"), (5, "Très chaleureuse")];

pub fn reaction_label(r: i64) -> &'static str {
    REACTIONS.iter().find(|(v, _)| *v == r).map(|(_, l)| *l).unwrap_or("—")
}

/// Consent purposes a volunteer may record on the spot.
pub const FIELD_PURPOSES: [(&str, &str); 4] = [
    ("newsletter_federation", "Recevoir la lettre de la fédération"),
    ("alerts", "Être prévenu·e des prochaines actions"),
    ("sms", "Recevoir des SMS"),
    ("phone", "Être appelé·e"),
];

/// Parses a day ("AAAA-MM-JJ") to the unix time of its noon UTC.
pub fn parse_day(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), &fmt).ok().map(|d| d.midnight().assume_utc().unix_timestamp() + 12 * 3_600)
}

/// Hard checks: the first problem, in French. Nothing is stored when one fails.
pub fn check(input: &ReportInput, today: i64) -> Result<Method> {
    let method = input.method.ok_or_else(|| Error::Invalid("Indiquez le type d'action.".into()))?;
    if input.turf.is_empty() {
        return Err(Error::Invalid("Indiquez le secteur de l'action (au moins une zone).".into()));
    }
    let day =
        parse_day(&input.action_date).ok_or_else(|| Error::Invalid("Date de l'action : attendu AAAA-MM-JJ.".into()))?;
    if day > today + 86_400 {
        return Err(Error::Invalid("Date de l'action : elle ne peut pas être dans le futur.".into()));
    }
    for (value, label) in [
        (input.activists, "Militant·es présent·es"),
        (input.sympathisers, "Sympathisant·es présent·es"),
        (input.doors, "Portes frappées"),
        (input.reached, "Personnes touchées"),
        (input.conversations, "Conversations"),
    ] {
        if !(0..=1_000_000).contains(&value) {
            return Err(Error::Invalid(format!("{label} : un nombre entre 0 et 1 000 000.")));
        }
    }
    if input.activists == 0 {
        return Err(Error::Invalid("Militant·es présent·es : au moins une personne a fait l'action.".into()));
    }
    if !(1..=5).contains(&input.reaction) {
        return Err(Error::Invalid("Accueil de la population : choisissez de 1 à 5.".into()));
    }
    if input.method_worked.is_none() {
        return Err(Error::Invalid("Dites si la méthode a marché (oui ou non).".into()));
    }
    for (text, label, max) in [
        (&input.concerns_text, "Autres préoccupations", 1_000),
        (&input.worked, "Ce qui a marché", 2_000),
        (&input.not_worked, "Ce qui n'a pas marché", 2_000),
    ] {
        if text.chars().count() > max {
            return Err(Error::Invalid(format!("{label} : {max} caractères au plus.")));
        }
    }
    if input.contacts.len() > 50 {
        return Err(Error::Invalid("50 nouveaux contacts au plus par fiche.".into()));
    }
    Ok(method)
}

/// Sanity checks (like VAN's): reasons why the figures look implausible, in French. Empty when plausible.
pub fn sanity_flags(input: &ReportInput, method: Method, today: i64) -> Vec<String> {
    let mut flags = Vec::new();
    let people = input.activists + input.sympathisers;
    if input.doors > 150 * people.max(1) {
        flags.push(format!("{} portes pour {people} personne(s) : plus de 150 portes chacune.", input.doors));
    }
    if input.conversations > input.reached && input.reached > 0 {
        flags.push("Plus de conversations que de personnes touchées.".into());
    }
    if input.doors > 0 && input.reached > 3 * input.doors {
        flags.push("Plus de trois personnes touchées par porte frappée.".into());
    }
    if input.reached > 500 * people.max(1) && !matches!(method, Method::Fete | Method::EvenementCulturel) {
        flags.push(format!("{} personnes touchées pour {people} militant·e(s).", input.reached));
    }
    if input.activists > 300 {
        flags.push(format!("{} militant·es présent·es.", input.activists));
    }
    if method.doors() && input.doors == 0 && input.reached == 0 {
        flags.push("Porte-à-porte sans aucune porte frappée ni personne touchée.".into());
    }
    if let Some(day) = parse_day(&input.action_date)
        && day < today - 90 * 86_400
    {
        flags.push("Action de plus de 90 jours.".into());
    }
    flags
}

/// Files a report. `access` decides where: a participant of the mission, or anyone who sees the turf's federation.
/// Returns the report id and what became of each new contact.
pub async fn file(db: &Db, access: &Access, mut input: ReportInput) -> Result<(i64, Vec<FieldContact>)> {
    let t = now();
    if input.action_date.trim().is_empty()
        && let Some(mid) = input.mission_id
    {
        // The mission's day, in Paris time.
        let m = super::missions::get(db, mid).await?;
        let local = m.starts_at + crate::paris::offset(m.starts_at);
        let day = time::OffsetDateTime::from_unix_timestamp(local).map_err(anyhow::Error::from)?.date();
        input.action_date = format!("{:04}-{:02}-{:02}", day.year(), day.month() as u8, day.day());
    }
    let method = check(&input, t)?;
    super::check_turf(db, &input.turf).await?;
    let federation_id = match input.mission_id {
        Some(mid) => {
            let m = super::missions::get(db, mid).await?;
            let signed: Option<String> =
                sqlx::query_scalar("SELECT state FROM mission_signups WHERE mission_id = $1 AND user_id = $2")
                    .bind(mid)
                    .bind(access.user_id)
                    .fetch_optional(&db.pool)
                    .await?;
            let participant = matches!(signed.as_deref(), Some("signed") | Some("attended"));
            if !participant && !access.allows(Perm::ManageMissions, m.scope()) {
                return Err(Error::Forbidden);
            }
            match m.federation_id {
                Some(f) => Some(f),
                None => super::turf_federation(db, &input.turf).await?,
            }
        }
        None => {
            let fed = super::turf_federation(db, &input.turf).await?;
            let place = fed.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
            if !access.allows(Perm::ViewOrg, place) {
                return Err(Error::Forbidden);
            }
            fed
        }
    };
    // New contacts are validated before anything is written.
    let mut contacts = Vec::new();
    for (i, c) in input.contacts.iter().enumerate() {
        if c.first_name.trim().is_empty() && c.last_name.trim().is_empty() && c.email.trim().is_empty() {
            continue;
        }
        let Some(fed) = federation_id else {
            return Err(Error::Invalid("Nouveaux contacts : la zone n'appartient à aucune fédération.".into()));
        };
        if c.email.trim().is_empty() && c.phone.trim().is_empty() {
            return Err(Error::Invalid(format!("Contact n° {} : une adresse e-mail ou un téléphone.", i + 1)));
        }
        if c.purposes.is_empty() {
            return Err(Error::Invalid(format!(
                "Contact n° {} : cochez au moins un consentement, sinon ne notez pas ses coordonnées.",
                i + 1
            )));
        }
        for p in &c.purposes {
            if !FIELD_PURPOSES.iter().any(|(code, _)| code == p) {
                return Err(Error::Invalid("Consentement inconnu.".into()));
            }
        }
        let pi = PersonInput {
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            postcode: c.postcode.clone(),
            category: "sympathiser".into(),
            legal_basis: "consent".into(),
            ..Default::default()
        };
        people::validate(db, fed, &pi).await.map_err(|e| match e {
            Error::Invalid(m) => Error::Invalid(format!("Contact n° {} : {m}", i + 1)),
            e => e,
        })?;
        contacts.push((fed, pi, c.purposes.clone()));
    }
    let flags = sanity_flags(&input, method, t);
    let zone_class = main_class(db, &input.turf).await?;
    input.concerns.sort();
    input.concerns.dedup();
    let zones = with_parents(db, &input.turf).await?;

    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO field_reports (mission_id, federation_id, turf, zone_class, action_date, method, activists, \
         sympathisers, doors, reached, conversations, reaction, concerns_text, method_worked, worked, not_worked, \
         review, flags, filed_by, filed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20) RETURNING id",
    )
    .bind(input.mission_id)
    .bind(federation_id)
    .bind(input.turf.key())
    .bind(&zone_class)
    .bind(input.action_date.trim())
    .bind(method.as_str())
    .bind(input.activists)
    .bind(input.sympathisers)
    .bind(input.doors)
    .bind(input.reached)
    .bind(input.conversations)
    .bind(input.reaction)
    .bind(input.concerns_text.trim())
    .bind(input.method_worked.unwrap_or(false) as i64)
    .bind(input.worked.trim())
    .bind(input.not_worked.trim())
    .bind(if flags.is_empty() { "ok" } else { "flagged" })
    .bind(flags.join("\n"))
    .bind(access.user_id)
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    for (level, zone) in &zones {
        sqlx::query("INSERT INTO report_zones (report_id, level, zone) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(level.as_str())
            .bind(zone)
            .execute(&mut *tx)
            .await?;
    }
    for c in &input.concerns {
        sqlx::query("INSERT INTO report_concerns (report_id, concern_id) VALUES ($1, $2)")
            .bind(id)
            .bind(c)
            .execute(&mut *tx)
            .await
            .map_err(|_| Error::Invalid("Préoccupation inconnue.".into()))?;
    }
    if let Some(mid) = input.mission_id {
        sqlx::query(
            "UPDATE mission_signups SET state = 'attended', updated_at = $1 WHERE mission_id = $2 AND user_id = $3 \
             AND state = 'signed'",
        )
        .bind(t)
        .bind(mid)
        .bind(access.user_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let mut outcomes = Vec::new();
    let summary = format!("Rencontré·e sur le terrain ({}, fiche d'observation n° {id})", method.label());
    for (fed, pi, purposes) in contacts {
        let purposes: Vec<&str> = purposes.iter().map(String::as_str).collect();
        outcomes.push(people::add_from_field(db, fed, &pi, &purposes, access.user_id, &summary).await?);
    }
    Ok((id, outcomes))
}

/// The zones of a turf and the communes and circonscriptions that contain them.
async fn with_parents(db: &Db, turf: &Turf) -> Result<Vec<(Level, String)>> {
    let mut out: Vec<(Level, String)> = turf.0.clone();
    for (level, code) in &turf.0 {
        let (commune, circo): (Option<String>, Option<String>) = match level {
            Level::Bureau => sqlx::query_as("SELECT commune_code, circonscription FROM bureaux WHERE key = $1")
                .bind(code)
                .fetch_optional(&db.pool)
                .await?
                .unwrap_or((None, None)),
            Level::Commune => {
                let circo: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT MIN(circonscription) FROM bureaux WHERE commune_code = $1 HAVING \
                     COUNT(DISTINCT circonscription) = 1",
                )
                .bind(code)
                .fetch_optional(&db.pool)
                .await?;
                (None, circo.flatten())
            }
            Level::Circonscription => (None, None),
        };
        if let Some(c) = commune {
            out.push((Level::Commune, c));
        }
        if let Some(c) = circo {
            out.push((Level::Circonscription, c));
        }
    }
    out.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    out.dedup();
    Ok(out)
}

/// Class of the turf's first classified zone ('' when none is classified).
pub async fn main_class(db: &Db, turf: &Turf) -> Result<String> {
    for (level, code) in &turf.0 {
        let class: Option<String> = sqlx::query_scalar("SELECT class FROM zone_classes WHERE level = $1 AND zone = $2")
            .bind(level.as_str())
            .bind(code)
            .fetch_optional(&db.pool)
            .await?;
        if let Some(c) = class {
            return Ok(c);
        }
    }
    Ok(String::new())
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Report {
    pub id: i64,
    pub mission_id: Option<i64>,
    pub federation_id: Option<i64>,
    pub turf: String,
    pub zone_class: String,
    pub action_date: String,
    pub method: String,
    pub activists: i64,
    pub sympathisers: i64,
    pub doors: i64,
    pub reached: i64,
    pub conversations: i64,
    pub reaction: i64,
    pub concerns_text: String,
    pub method_worked: i64,
    pub worked: String,
    pub not_worked: String,
    pub review: String,
    pub flags: String,
    pub filed_by: Option<i64>,
    pub filed_at: i64,
    pub filed_by_name: String,
}

const SELECT: &str = "SELECT r.id, r.mission_id, r.federation_id, r.turf, r.zone_class, r.action_date, r.method, \
    r.activists, r.sympathisers, r.doors, r.reached, r.conversations, r.reaction, r.concerns_text, r.method_worked, \
    r.worked, r.not_worked, r.review, r.flags, r.filed_by, r.filed_at, COALESCE(u.display_name, '') AS filed_by_name \
    FROM field_reports r LEFT JOIN users u ON u.id = r.filed_by";

/// Reports the caller may review (coordinators of their federations, HQ everywhere), newest first.
pub async fn list(db: &Db, access: &Access, only_flagged: bool, limit: i64) -> Result<Vec<Report>> {
    let scope = access.filter(Perm::ManageMissions, "r.federation_id", None);
    let flagged = if only_flagged { " AND r.review = 'flagged'" } else { "" };
    let sql =
        format!("{SELECT} WHERE {scope}{flagged} ORDER BY r.filed_at DESC, r.id DESC LIMIT {}", limit.clamp(1, 500));
    Ok(sqlx::query_as(&sql).fetch_all(&db.pool).await?)
}

pub async fn get(db: &Db, access: &Access, id: i64) -> Result<Report> {
    let scope = access.filter(Perm::ManageMissions, "r.federation_id", None);
    let own = format!("r.filed_by = {}", access.user_id);
    sqlx::query_as(&format!("{SELECT} WHERE r.id = $1 AND ({scope} OR {own})"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn concerns_of(db: &Db, id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT c.name FROM report_concerns rc JOIN concerns c ON c.id = rc.concern_id WHERE rc.report_id = $1 \
         ORDER BY c.name",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?)
}

/// A coordinator accepts (counts from now on) or rejects (never counts) a flagged report.
pub async fn review(db: &Db, access: &Access, id: i64, accept: bool) -> Result<()> {
    let r = get(db, access, id).await?;
    let place = r.federation_id.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    if !access.allows(Perm::ManageMissions, place) {
        return Err(Error::Forbidden);
    }
    if r.review != "flagged" {
        return Err(Error::Conflict("Cette fiche n'attend pas de vérification.".into()));
    }
    sqlx::query("UPDATE field_reports SET review = $1 WHERE id = $2 AND review = 'flagged'")
        .bind(if accept { "accepted" } else { "rejected" })
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// The curated list of concerns: (id, name).
pub async fn concern_list(db: &Db) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as("SELECT id, name FROM concerns ORDER BY name").fetch_all(&db.pool).await?)
}

/// Success of one method over a set of reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MethodStats {
    pub method: String,
    pub reports: i64,
    /// Reports that said the method worked.
    pub worked: i64,
    pub doors: i64,
    pub reached: i64,
    pub conversations: i64,
    pub activists: i64,
    /// Mean reaction (1–5).
    pub reaction: f64,
}

impl MethodStats {
    pub fn label(&self) -> String {
        super::method_label(&self.method)
    }

    /// People reached per door knocked (door-to-door, phoning), when doors were counted.
    pub fn contact_rate(&self) -> Option<f64> {
        (self.doors > 0).then(|| self.reached as f64 / self.doors as f64)
    }

    pub fn success_rate(&self) -> f64 {
        if self.reports == 0 { 0.0 } else { self.worked as f64 / self.reports as f64 }
    }

    pub fn conversations_per_activist(&self) -> f64 {
        if self.activists == 0 { 0.0 } else { self.conversations as f64 / self.activists as f64 }
    }

    /// "4,2" (one decimal).
    pub fn reaction_text(&self) -> String {
        format_fr(self.reaction, 1)
    }

    pub fn conversations_text(&self) -> String {
        format_fr(self.conversations_per_activist(), 1)
    }

    /// "3 actions, a marché 3 fois sur 3, 38 % de contacts, accueil 4,2/5".
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{} action{}, a marché {} fois sur {}",
            self.reports,
            if self.reports > 1 { "s" } else { "" },
            self.worked,
            self.reports
        )];
        if let Some(rate) = self.contact_rate() {
            parts.push(format!("{} de contacts par porte", crate::territory::classify::format_percent(rate.min(1.0))));
        }
        parts.push(format!("{} conversations par militant·e", format_fr(self.conversations_per_activist(), 1)));
        parts.push(format!("accueil {}/5", format_fr(self.reaction, 1)));
        parts.join(", ")
    }
}

/// What the counted reports of a turf say.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Knowledge {
    pub reports: i64,
    /// Concerns of the curated list, most cited first: (name, reports citing it).
    pub concerns: Vec<(String, i64)>,
    /// Concerns in the volunteers' words, newest first (a few).
    pub concerns_text: Vec<String>,
    /// Methods used on the turf, best first.
    pub methods_here: Vec<MethodStats>,
    /// Methods used in other zones of the same class, best first.
    pub methods_similar: Vec<MethodStats>,
    /// "What worked" comments, newest first (a few).
    pub worked: Vec<String>,
    pub not_worked: Vec<String>,
    /// Id of the newest counted report (part of the fiche's fingerprint).
    pub last_report_id: i64,
}

/// SQL condition selecting reports of a turf's zones (`r` aliases field_reports), with its binds from `$first`.
fn turf_condition(turf: &Turf, first: usize) -> (String, Vec<String>) {
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    for (i, (level, zone)) in turf.0.iter().enumerate() {
        let a = first + 2 * i;
        parts.push(format!("(rz.level = ${a} AND rz.zone = ${})", a + 1));
        binds.push(level.as_str().to_string());
        binds.push(zone.clone());
    }
    if parts.is_empty() {
        return ("1 = 0".into(), binds);
    }
    (format!("r.id IN (SELECT rz.report_id FROM report_zones rz WHERE {})", parts.join(" OR ")), binds)
}

fn best_first(mut stats: Vec<MethodStats>) -> Vec<MethodStats> {
    stats.sort_by(|a, b| {
        b.success_rate()
            .total_cmp(&a.success_rate())
            .then(b.reaction.total_cmp(&a.reaction))
            .then(b.reports.cmp(&a.reports))
            .then(a.method.cmp(&b.method))
    });
    stats
}

/// One group of counted reports (a method, in a zone class for "what works where").
#[derive(sqlx::FromRow)]
struct StatsRow {
    zone_class: String,
    method: String,
    reports: i64,
    worked: i64,
    doors: i64,
    reached: i64,
    conversations: i64,
    activists: i64,
    reaction: i64,
}

// SUM of BIGINT is NUMERIC on PostgreSQL: cast back.
const STATS: &str = "r.method, COUNT(*) AS reports, CAST(SUM(r.method_worked) AS BIGINT) AS worked, \
    CAST(SUM(r.doors) AS BIGINT) AS doors, CAST(SUM(r.reached) AS BIGINT) AS reached, \
    CAST(SUM(r.conversations) AS BIGINT) AS conversations, CAST(SUM(r.activists) AS BIGINT) AS activists, \
    CAST(SUM(r.reaction) AS BIGINT) AS reaction";

impl From<StatsRow> for MethodStats {
    fn from(r: StatsRow) -> MethodStats {
        MethodStats {
            method: r.method,
            reports: r.reports,
            worked: r.worked,
            doors: r.doors,
            reached: r.reached,
            conversations: r.conversations,
            activists: r.activists,
            reaction: r.reaction as f64 / r.reports.max(1) as f64,
        }
    }
}

async fn method_stats(db: &Db, condition: &str, binds: &[String]) -> Result<Vec<MethodStats>> {
    let sql = format!(
        "SELECT '' AS zone_class, {STATS} FROM field_reports r WHERE r.review IN {COUNTED} AND {condition} \
         GROUP BY r.method"
    );
    let mut q = sqlx::query_as::<_, StatsRow>(&sql);
    for b in binds {
        q = q.bind(b);
    }
    Ok(best_first(q.fetch_all(&db.pool).await?.into_iter().map(MethodStats::from).collect()))
}

/// The knowledge of a turf from its counted reports; `class` (the turf's class) selects the similar zones.
pub async fn knowledge(db: &Db, turf: &Turf, class: &str) -> Result<Knowledge> {
    let (cond, binds) = turf_condition(turf, 1);
    let counted = format!("r.review IN {COUNTED} AND {cond}");
    let mut k = Knowledge::default();
    let count_sql = format!("SELECT COUNT(*), MAX(r.id) FROM field_reports r WHERE {counted}");
    let mut q = sqlx::query_as::<_, (i64, Option<i64>)>(&count_sql);
    for b in &binds {
        q = q.bind(b.clone());
    }
    let (n, last) = q.fetch_one(&db.pool).await?;
    k.reports = n;
    k.last_report_id = last.unwrap_or(0);
    if n == 0 && class.is_empty() {
        return Ok(k);
    }
    let concerns_sql = format!(
        "SELECT c.name, COUNT(*) FROM report_concerns rc JOIN concerns c ON c.id = rc.concern_id \
         JOIN field_reports r ON r.id = rc.report_id WHERE {counted} GROUP BY c.name ORDER BY COUNT(*) DESC, c.name"
    );
    let mut q = sqlx::query_as::<_, (String, i64)>(&concerns_sql);
    for b in &binds {
        q = q.bind(b.clone());
    }
    k.concerns = q.fetch_all(&db.pool).await?;
    let texts_sql = format!(
        "SELECT r.concerns_text, r.worked, r.not_worked FROM field_reports r WHERE {counted} \
         ORDER BY r.filed_at DESC, r.id DESC LIMIT 20"
    );
    let mut q = sqlx::query_as::<_, (String, String, String)>(&texts_sql);
    for b in &binds {
        q = q.bind(b.clone());
    }
    for (concern, worked, not_worked) in q.fetch_all(&db.pool).await? {
        for (text, list) in [(concern, &mut k.concerns_text), (worked, &mut k.worked), (not_worked, &mut k.not_worked)]
        {
            if !text.is_empty() && list.len() < 5 && !list.contains(&text) {
                list.push(text);
            }
        }
    }
    k.methods_here = method_stats(db, &cond, &binds).await?;
    if !class.is_empty() {
        let similar = format!("r.zone_class = ${} AND NOT ({cond})", binds.len() + 1);
        let mut b2 = binds.clone();
        b2.push(class.to_string());
        k.methods_similar = method_stats(db, &similar, &b2).await?;
    }
    Ok(k)
}

/// "What works where": method × zone class over every counted report. Rows: (class, stats), classes in the
/// classification's order then unclassified.
pub async fn what_works_where(db: &Db) -> Result<Vec<(String, Vec<MethodStats>)>> {
    let rows: Vec<StatsRow> = sqlx::query_as(&format!(
        "SELECT r.zone_class, {STATS} FROM field_reports r WHERE r.review IN {COUNTED} GROUP BY r.zone_class, r.method"
    ))
    .fetch_all(&db.pool)
    .await?;
    let mut by_class: HashMap<String, Vec<MethodStats>> = HashMap::new();
    for row in rows {
        by_class.entry(row.zone_class.clone()).or_default().push(row.into());
    }
    let mut order: Vec<String> =
        crate::territory::classify::ZoneClass::ALL.iter().map(|c| c.as_str().to_string()).collect();
    order.push(String::new());
    Ok(order.into_iter().filter_map(|c| by_class.remove(&c).map(|s| (c, best_first(s)))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ReportInput {
        ReportInput {
            turf: Turf::parse("commune:69259").unwrap(),
            action_date: "2026-11-21".into(),
            method: Some(Method::PorteAPorte),
            activists: 4,
            doors: 120,
            reached: 45,
            conversations: 20,
            reaction: 4,
            method_worked: Some(true),
            ..Default::default()
        }
    }

    #[test]
    fn hard_checks_name_the_field() {
        let today = parse_day("2026-11-22").unwrap();
        assert!(check(&input(), today).is_ok());
        let mut i = input();
        i.action_date = "2026-12-25".into();
        assert!(matches!(check(&i, today), Err(Error::Invalid(m)) if m.contains("futur")));
        let mut i = input();
        i.doors = -3;
        assert!(matches!(check(&i, today), Err(Error::Invalid(m)) if m.contains("Portes frappées")));
        let mut i = input();
        i.reaction = 9;
        assert!(check(&i, today).is_err());
        let mut i = input();
        i.activists = 0;
        assert!(check(&i, today).is_err());
        let mut i = input();
        i.method_worked = None;
        assert!(check(&i, today).is_err());
    }

    #[test]
    fn implausible_figures_are_flagged() {
        let today = parse_day("2026-11-22").unwrap();
        assert!(sanity_flags(&input(), Method::PorteAPorte, today).is_empty());
        let mut i = input();
        i.doors = 5_000;
        i.conversations = 60;
        let flags = sanity_flags(&i, Method::PorteAPorte, today);
        assert_eq!(flags.len(), 2, "{flags:?}");
        let mut i = input();
        i.action_date = "2026-01-02".into();
        assert_eq!(sanity_flags(&i, Method::PorteAPorte, today).len(), 1);
    }

    #[test]
    fn method_summary_reads_in_french() {
        let s = MethodStats {
            method: "porte_a_porte".into(),
            reports: 3,
            worked: 3,
            doors: 300,
            reached: 114,
            conversations: 60,
            activists: 12,
            reaction: 4.2,
        };
        assert_eq!(s.label(), "Porte-à-porte");
        let text = s.summary();
        assert!(text.starts_with("3 actions, a marché 3 fois sur 3"), "{text}");
        assert!(text.contains("conversations par militant·e") && text.contains("accueil 4,2/5"), "{text}");
    }
}
