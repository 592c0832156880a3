//! Missions: published by HQ (national), a federation or a section; browsed by every activist, including outside
//! their own section; signed up for and cancelled; attendance confirmed and the mission closed by its coordinators,
//! which asks the participants for their fiche d'observation.
//!
//! Who may publish and manage a mission is decided by `Perm::ManageMissions` at the mission's place; who may browse
//! and sign up: every signed-in user (missions hold no personal data; the list of who signed up is shown only to
//! the mission's coordinators).

use std::collections::HashMap;

use serde::Serialize;

use super::{Method, Turf};
use crate::access::{Access, Perm, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result};
use crate::jobs::{self, Job};
use crate::mail::OutgoingEmail;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Mission {
    pub id: i64,
    pub federation_id: Option<i64>,
    pub section_id: Option<i64>,
    pub title: String,
    pub method: String,
    pub theme: String,
    pub description: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub places: i64,
    pub meeting_point: String,
    pub commune_code: Option<String>,
    pub turf: String,
    pub state: String,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    /// "Rhône (69)", or "National".
    pub place_label: String,
    /// Commune name of `commune_code`.
    pub commune_name: String,
    /// Sign-ups that hold a place (signed or attended).
    pub taken: i64,
}

impl Mission {
    pub fn scope(&self) -> Scope {
        Scope::from_ids(self.federation_id, self.section_id)
    }

    pub fn method(&self) -> Method {
        Method::parse(&self.method).unwrap_or(Method::Autre)
    }

    pub fn turf(&self) -> Turf {
        Turf::parse(&self.turf).unwrap_or_default()
    }

    pub fn remaining(&self) -> i64 {
        (self.places - self.taken).max(0)
    }

    pub fn is_open(&self) -> bool {
        self.state == "published" && self.ends_at > now()
    }
}

const SELECT: &str = "SELECT m.id, m.federation_id, m.section_id, m.title, m.method, m.theme, m.description, \
    m.starts_at, m.ends_at, m.places, m.meeting_point, m.commune_code, m.turf, m.state, m.created_by, m.created_at, \
    m.updated_at, m.closed_at, \
    COALESCE(f.name || ' (' || f.code || ')', 'National') AS place_label, COALESCE(c.name, '') AS commune_name, \
    (SELECT COUNT(*) FROM mission_signups s WHERE s.mission_id = m.id AND s.state IN ('signed', 'attended')) AS taken \
    FROM missions m LEFT JOIN federations f ON f.id = m.federation_id LEFT JOIN communes c ON c.code = m.commune_code";

/// What a coordinator fills in.
#[derive(Clone, Debug, Default)]
pub struct MissionInput {
    pub federation_id: Option<i64>,
    pub section_id: Option<i64>,
    pub title: String,
    pub method: Option<Method>,
    pub theme: String,
    pub description: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub places: i64,
    pub meeting_point: String,
    pub commune_code: Option<String>,
    pub turf: Turf,
    pub skills: Vec<i64>,
}

impl MissionInput {
    fn scope(&self) -> Scope {
        Scope::from_ids(self.federation_id, self.section_id)
    }

    /// French message for the first bad field; nothing is written when it fails.
    async fn validate(&mut self, db: &Db) -> Result<Method> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() || self.title.chars().count() > 200 {
            return Err(Error::Invalid("Titre : obligatoire, 200 caractères au plus.".into()));
        }
        let method = self.method.ok_or_else(|| Error::Invalid("Choisissez le type d'action.".into()))?;
        if self.starts_at <= 0 || self.ends_at < self.starts_at {
            return Err(Error::Invalid("Dates : la fin doit suivre le début.".into()));
        }
        if self.ends_at - self.starts_at > 14 * 86_400 {
            return Err(Error::Invalid("Dates : une mission dure au plus 14 jours.".into()));
        }
        if !(1..=10_000).contains(&self.places) {
            return Err(Error::Invalid("Places : entre 1 et 10 000.".into()));
        }
        if let Some(section) = self.section_id {
            let fed: Option<i64> = sqlx::query_scalar("SELECT federation_id FROM sections WHERE id = $1")
                .bind(section)
                .fetch_optional(&db.pool)
                .await?;
            match fed {
                Some(f) if Some(f) == self.federation_id => {}
                _ => return Err(Error::Invalid("Section : elle doit appartenir à la fédération choisie.".into())),
            }
        }
        super::check_turf(db, &self.turf).await?;
        if self.commune_code.as_deref().is_some_and(str::is_empty) {
            self.commune_code = None;
        }
        if self.commune_code.is_none() {
            self.commune_code = self.turf.communes().into_iter().next();
        }
        if let Some(code) = &self.commune_code {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM communes WHERE code = $1")
                .bind(code)
                .fetch_one(&db.pool)
                .await?;
            if n == 0 {
                return Err(Error::Invalid(format!("Commune « {code} » inconnue (code Insee attendu).")));
            }
        }
        self.skills.sort();
        self.skills.dedup();
        for s in &self.skills {
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM skills WHERE id = $1").bind(s).fetch_one(&db.pool).await?;
            if n == 0 {
                return Err(Error::Invalid("Compétence ou cause inconnue.".into()));
            }
        }
        Ok(method)
    }
}

pub async fn get(db: &Db, id: i64) -> Result<Mission> {
    sqlx::query_as(&format!("{SELECT} WHERE m.id = $1")).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)
}

/// A mission the caller may manage (404 otherwise, so that the page does not say whether it exists elsewhere).
pub async fn get_managed(db: &Db, access: &Access, id: i64) -> Result<Mission> {
    let m = get(db, id).await?;
    if access.allows(Perm::ManageMissions, m.scope()) { Ok(m) } else { Err(Error::Forbidden) }
}

pub async fn create(db: &Db, access: &Access, mut input: MissionInput) -> Result<i64> {
    if !access.allows(Perm::ManageMissions, input.scope()) {
        return Err(Error::Forbidden);
    }
    let method = input.validate(db).await?;
    let t = now();
    let mut tx = db.pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO missions (federation_id, section_id, title, method, theme, description, starts_at, ends_at, \
         places, meeting_point, commune_code, turf, state, created_by, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'published', $13, $14, $14) RETURNING id",
    )
    .bind(input.federation_id)
    .bind(input.section_id)
    .bind(&input.title)
    .bind(method.as_str())
    .bind(input.theme.trim())
    .bind(input.description.trim())
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(input.places)
    .bind(input.meeting_point.trim())
    .bind(&input.commune_code)
    .bind(input.turf.key())
    // Id 0 is the system (demo data, CLI): no account.
    .bind((access.user_id > 0).then_some(access.user_id))
    .bind(t)
    .fetch_one(&mut *tx)
    .await?;
    insert_skills(&mut tx, id, &input.skills).await?;
    tx.commit().await?;
    Ok(id)
}

async fn insert_skills(conn: &mut sqlx::AnyConnection, mission: i64, skills: &[i64]) -> Result<()> {
    for s in skills {
        sqlx::query("INSERT INTO mission_skills (mission_id, skill_id) VALUES ($1, $2)")
            .bind(mission)
            .bind(s)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn update(db: &Db, access: &Access, id: i64, mut input: MissionInput) -> Result<()> {
    let m = get_managed(db, access, id).await?;
    if !access.allows(Perm::ManageMissions, input.scope()) {
        return Err(Error::Forbidden);
    }
    if m.state != "published" {
        return Err(Error::Conflict("Mission close ou annulée : elle ne se modifie plus.".into()));
    }
    let method = input.validate(db).await?;
    if input.places < m.taken {
        return Err(Error::Invalid(format!("Places : déjà {} inscrit·es, pas moins.", m.taken)));
    }
    let mut tx = db.pool.begin().await?;
    sqlx::query(
        "UPDATE missions SET federation_id = $1, section_id = $2, title = $3, method = $4, theme = $5, \
         description = $6, starts_at = $7, ends_at = $8, places = $9, meeting_point = $10, commune_code = $11, \
         turf = $12, updated_at = $13 WHERE id = $14",
    )
    .bind(input.federation_id)
    .bind(input.section_id)
    .bind(&input.title)
    .bind(method.as_str())
    .bind(input.theme.trim())
    .bind(input.description.trim())
    .bind(input.starts_at)
    .bind(input.ends_at)
    .bind(input.places)
    .bind(input.meeting_point.trim())
    .bind(&input.commune_code)
    .bind(input.turf.key())
    .bind(now())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM mission_skills WHERE mission_id = $1").bind(id).execute(&mut *tx).await?;
    insert_skills(&mut tx, id, &input.skills).await?;
    tx.commit().await?;
    Ok(())
}

/// Catalogue filters (all optional).
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub federation_id: Option<i64>,
    pub method: Option<Method>,
    /// Words searched in the title and the theme.
    pub text: String,
    pub skill_id: Option<i64>,
    /// Include missions already over (and closed ones).
    pub past: bool,
}

pub async fn list(db: &Db, filter: &Filter, limit: i64) -> Result<Vec<Mission>> {
    let mut sql = format!("{SELECT} WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let mut binds: Vec<Bind> = Vec::new();
    if !filter.past {
        sql += &format!(" AND m.state = 'published' AND m.ends_at > {}", next());
        binds.push(Bind::Int(now()));
    }
    if let Some(f) = filter.federation_id {
        sql += &format!(" AND m.federation_id = {}", next());
        binds.push(Bind::Int(f));
    }
    if let Some(m) = filter.method {
        sql += &format!(" AND m.method = {}", next());
        binds.push(Bind::Text(m.as_str().into()));
    }
    if let Some(s) = filter.skill_id {
        sql += &format!(" AND m.id IN (SELECT mission_id FROM mission_skills WHERE skill_id = {})", next());
        binds.push(Bind::Int(s));
    }
    for word in filter.text.split_whitespace().take(5) {
        let p = next();
        sql += &format!(" AND (LOWER(m.title) LIKE {p} OR LOWER(m.theme) LIKE {p})");
        let escaped = word.to_lowercase().replace(['%', '_'], "");
        binds.push(Bind::Text(format!("%{escaped}%")));
    }
    sql += &format!(" ORDER BY m.starts_at, m.id LIMIT {}", limit.clamp(1, 500));
    let mut q = sqlx::query_as::<_, Mission>(&sql);
    for b in binds {
        q = match b {
            Bind::Int(i) => q.bind(i),
            Bind::Text(s) => q.bind(s),
        };
    }
    Ok(q.fetch_all(&db.pool).await?)
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Skills and causes a mission wants: (id, name, kind).
pub async fn skills(db: &Db, id: i64) -> Result<Vec<(i64, String, String)>> {
    Ok(skills_of(db, &[id]).await?.remove(&id).unwrap_or_default())
}

/// Skills and causes of several missions, by mission (one query per 500 missions).
pub async fn skills_of(db: &Db, ids: &[i64]) -> Result<HashMap<i64, Vec<(i64, String, String)>>> {
    let mut out: HashMap<i64, Vec<(i64, String, String)>> = HashMap::new();
    for chunk in ids.chunks(500) {
        let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT ms.mission_id, s.id, s.name, s.kind FROM mission_skills ms JOIN skills s ON s.id = ms.skill_id \
             WHERE ms.mission_id IN ({list}) ORDER BY ms.mission_id, s.kind DESC, s.name"
        );
        let mut q = sqlx::query_as::<_, (i64, i64, String, String)>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for (mission, id, name, kind) in q.fetch_all(&db.pool).await? {
            out.entry(mission).or_default().push((id, name, kind));
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Signup {
    pub mission_id: i64,
    pub user_id: i64,
    pub display_name: String,
    pub email: String,
    pub state: String,
    pub seats_offered: i64,
    pub needs_seat: i64,
    pub signed_at: i64,
}

pub fn signup_state_label(state: &str) -> &'static str {
    match state {
        "signed" => "Inscrit·e",
        "attended" => "Présent·e",
        "absent" => "Absent·e",
        _ => "Désinscrit·e",
    }
}

/// Signs `user_id` up (or back up). Refused when the mission is over, closed or full.
pub async fn sign_up(db: &Db, mission_id: i64, user_id: i64, seats_offered: i64, needs_seat: bool) -> Result<()> {
    if !(0..=8).contains(&seats_offered) {
        return Err(Error::Invalid("Covoiturage : de 0 à 8 places proposées.".into()));
    }
    if seats_offered > 0 && needs_seat {
        return Err(Error::Invalid("Covoiturage : proposez des places ou demandez-en une, pas les deux.".into()));
    }
    let t = now();
    let mut tx = db.pool.begin().await?;
    // Takes the mission's row lock first (PostgreSQL) or the write lock (SQLite): two last sign-ups for one place
    // cannot both succeed.
    let touched = sqlx::query("UPDATE missions SET updated_at = updated_at WHERE id = $1 AND state = 'published'")
        .bind(mission_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if touched == 0 {
        return Err(Error::Conflict("Cette mission n'accepte plus d'inscriptions.".into()));
    }
    let (places, ends_at): (i64, i64) = sqlx::query_as("SELECT places, ends_at FROM missions WHERE id = $1")
        .bind(mission_id)
        .fetch_one(&mut *tx)
        .await?;
    if ends_at <= t {
        return Err(Error::Conflict("Cette mission est terminée.".into()));
    }
    let current: Option<String> =
        sqlx::query_scalar("SELECT state FROM mission_signups WHERE mission_id = $1 AND user_id = $2")
            .bind(mission_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    let holds_place = matches!(current.as_deref(), Some("signed") | Some("attended"));
    if !holds_place {
        let taken: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM mission_signups WHERE mission_id = $1 AND state IN ('signed', 'attended')",
        )
        .bind(mission_id)
        .fetch_one(&mut *tx)
        .await?;
        if taken >= places {
            return Err(Error::Conflict("Mission complète : plus aucune place.".into()));
        }
    }
    if current.is_some() {
        sqlx::query(
            "UPDATE mission_signups SET state = CASE WHEN state = 'attended' THEN state ELSE 'signed' END, \
             seats_offered = $1, needs_seat = $2, updated_at = $3 WHERE mission_id = $4 AND user_id = $5",
        )
        .bind(seats_offered)
        .bind(needs_seat as i64)
        .bind(t)
        .bind(mission_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO mission_signups (mission_id, user_id, state, seats_offered, needs_seat, signed_at, \
             updated_at) VALUES ($1, $2, 'signed', $3, $4, $5, $5)",
        )
        .bind(mission_id)
        .bind(user_id)
        .bind(seats_offered)
        .bind(needs_seat as i64)
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Cancels a sign-up (idempotent). The row stays, to keep the history of the mission.
pub async fn cancel_signup(db: &Db, mission_id: i64, user_id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE mission_signups SET state = 'cancelled', seats_offered = 0, needs_seat = 0, updated_at = $1 \
         WHERE mission_id = $2 AND user_id = $3 AND state = 'signed'",
    )
    .bind(now())
    .bind(mission_id)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn signup_of(db: &Db, mission_id: i64, user_id: i64) -> Result<Option<Signup>> {
    Ok(sqlx::query_as(
        "SELECT s.mission_id, s.user_id, u.display_name, u.email, s.state, s.seats_offered, s.needs_seat, s.signed_at \
         FROM mission_signups s JOIN users u ON u.id = s.user_id WHERE s.mission_id = $1 AND s.user_id = $2",
    )
    .bind(mission_id)
    .bind(user_id)
    .fetch_optional(&db.pool)
    .await?)
}

/// Everyone who signed up, for the mission's coordinators.
pub async fn signups(db: &Db, mission_id: i64) -> Result<Vec<Signup>> {
    Ok(sqlx::query_as(
        "SELECT s.mission_id, s.user_id, u.display_name, u.email, s.state, s.seats_offered, s.needs_seat, s.signed_at \
         FROM mission_signups s JOIN users u ON u.id = s.user_id WHERE s.mission_id = $1 \
         ORDER BY CASE s.state WHEN 'cancelled' THEN 1 ELSE 0 END, u.display_name",
    )
    .bind(mission_id)
    .fetch_all(&db.pool)
    .await?)
}

/// The caller's own missions (signed, attended), soonest first; past ones too when `past`.
pub async fn of_user(db: &Db, user_id: i64, past: bool) -> Result<Vec<Mission>> {
    let when = if past { "" } else { " AND m.ends_at > $2" };
    let sql = format!(
        "{SELECT} WHERE m.id IN (SELECT mission_id FROM mission_signups WHERE user_id = $1 \
         AND state IN ('signed', 'attended')) AND m.state <> 'cancelled'{when} ORDER BY m.starts_at LIMIT 200"
    );
    let mut q = sqlx::query_as::<_, Mission>(&sql).bind(user_id);
    if !past {
        q = q.bind(now() - 2 * 86_400);
    }
    Ok(q.fetch_all(&db.pool).await?)
}

/// Marks who came (`attended`) or not (`absent`), by a coordinator.
pub async fn set_attendance(db: &Db, access: &Access, mission_id: i64, user_id: i64, attended: bool) -> Result<()> {
    let m = get_managed(db, access, mission_id).await?;
    if m.state == "cancelled" {
        return Err(Error::Conflict("Mission annulée.".into()));
    }
    let n = sqlx::query(
        "UPDATE mission_signups SET state = $1, updated_at = $2 WHERE mission_id = $3 AND user_id = $4 \
         AND state <> 'cancelled'",
    )
    .bind(if attended { "attended" } else { "absent" })
    .bind(now())
    .bind(mission_id)
    .bind(user_id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if n == 0 { Err(Error::NotFound) } else { Ok(()) }
}

/// Closes a mission: no more sign-ups; participants who have not filed their fiche d'observation are asked to
/// (by e-mail, once). Returns how many were asked.
pub async fn close(db: &Db, access: &Access, mission_id: i64, public_url: &str) -> Result<usize> {
    let m = get_managed(db, access, mission_id).await?;
    if m.state != "published" {
        return Err(Error::Conflict("Mission déjà close ou annulée.".into()));
    }
    sqlx::query("UPDATE missions SET state = 'closed', closed_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(mission_id)
        .execute(&db.pool)
        .await?;
    remind(db, &m, public_url).await
}

pub async fn cancel(db: &Db, access: &Access, mission_id: i64) -> Result<()> {
    let m = get_managed(db, access, mission_id).await?;
    if m.state != "published" {
        return Err(Error::Conflict("Mission déjà close ou annulée.".into()));
    }
    sqlx::query("UPDATE missions SET state = 'cancelled', updated_at = $1 WHERE id = $2")
        .bind(now())
        .bind(mission_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Asks the participants of `m` who have neither filed a report for it nor been asked already to fill in their
/// fiche d'observation. Each e-mail is a job; the reminder is marked in the same transaction.
async fn remind(db: &Db, m: &Mission, public_url: &str) -> Result<usize> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT s.user_id, u.email, u.display_name FROM mission_signups s JOIN users u ON u.id = s.user_id \
         WHERE s.mission_id = $1 AND s.state IN ('signed', 'attended') AND s.reminded_at IS NULL AND u.disabled = 0 \
         AND NOT EXISTS (SELECT 1 FROM field_reports r WHERE r.mission_id = s.mission_id AND r.filed_by = s.user_id)",
    )
    .bind(m.id)
    .fetch_all(&db.pool)
    .await?;
    let base = public_url.trim_end_matches('/');
    for (user_id, email, name) in &rows {
        let mut tx = db.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE mission_signups SET reminded_at = $1 WHERE mission_id = $2 AND user_id = $3 AND reminded_at IS NULL",
        )
        .bind(now())
        .bind(m.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked == 1 {
            let text = format!(
                "Bonjour {name},\n\nMerci pour votre participation à « {} ».\n\nEn quelques minutes, racontez comment \
                 s'est passée l'action : portes frappées, accueil, préoccupations entendues, ce qui a marché ou non. \
                 Votre fiche d'observation améliore la prochaine fiche militante du secteur.\n\n\
                 {base}/observations/nouvelle?mission={}\n\nMerci !\n",
                m.title, m.id
            );
            let email =
                OutgoingEmail { to: email.clone(), subject: format!("Votre fiche d'observation : {}", m.title), text };
            jobs::enqueue_in(&mut tx, &Job::SendEmail(email), now()).await.map_err(Error::Internal)?;
        }
        tx.commit().await?;
    }
    if !rows.is_empty() {
        jobs::wake();
    }
    Ok(rows.len())
}

/// The day after: reminds participants of missions that ended between 20 hours and 7 days ago and are not closed
/// yet (closing a mission reminds at once). Run by the housekeeping job; safe to run from several workers.
pub async fn send_due_reminders(db: &Db, public_url: &str) -> Result<usize> {
    let t = now();
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT m.id FROM missions m WHERE m.state = 'published' AND m.ends_at BETWEEN $1 AND $2 \
         AND EXISTS (SELECT 1 FROM mission_signups s WHERE s.mission_id = m.id AND s.reminded_at IS NULL \
         AND s.state IN ('signed', 'attended'))",
    )
    .bind(t - 7 * 86_400)
    .bind(t - 20 * 3_600)
    .fetch_all(&db.pool)
    .await?;
    let mut total = 0;
    for id in ids {
        total += remind(db, &get(db, id).await?, public_url).await?;
    }
    Ok(total)
}
