//! Lists and campaigns: composing, the audience, freezing it into lists the senders turn into the per-recipient
//! ledger, and the life cycle (draft → scheduled → sending ⇄ paused → sent, or cancelled).
//!
//! Audience = the saved segment (if any) ∩ the sender's scope ∩ people with a current consent for the list's
//! purpose − blocked addresses (bounces, complaints). Erased and objecting people no longer exist as people.

use serde::Serialize;

use super::render::{self, Document};
use crate::access::{Access, Perm, Scope};
use crate::db::{self, Backend, Db, now};
use crate::error::{Error, Result};
use crate::jobs::{self, Job};
use crate::people::segments::{self, Sql};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct MailingList {
    pub id: i64,
    pub federation_id: Option<i64>,
    pub name: String,
    pub purpose: String,
    pub description: String,
}

impl MailingList {
    pub fn scope(&self) -> Scope {
        match self.federation_id {
            Some(federation_id) => Scope::Federation { federation_id },
            None => Scope::National,
        }
    }
}

/// Creates the national lists and one list per federation, once (idempotent, at start-up).
pub async fn ensure_lists(db: &Db) -> Result<()> {
    let t = now();
    for (name, purpose, description) in [
        ("Lettre nationale", "newsletter_national", "La lettre d'information nationale du parti."),
        ("Alertes militantes", "alerts", "Les alertes et guides envoyés aux militant·es."),
    ] {
        sqlx::query(
            "INSERT INTO mailing_lists (federation_id, name, purpose, description, created_at) \
             SELECT NULL, $1, $2, $3, $4 WHERE NOT EXISTS \
             (SELECT 1 FROM mailing_lists WHERE federation_id IS NULL AND name = $1)",
        )
        .bind(name)
        .bind(purpose)
        .bind(description)
        .bind(t)
        .execute(&db.pool)
        .await?;
    }
    sqlx::query(
        "INSERT INTO mailing_lists (federation_id, name, purpose, description, created_at) \
         SELECT f.id, 'Lettre de la fédération', 'newsletter_federation', \
         'La lettre d''information de la fédération.', $1 FROM federations f \
         WHERE NOT EXISTS (SELECT 1 FROM mailing_lists l WHERE l.federation_id = f.id)",
    )
    .bind(t)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The lists the caller may send to.
pub async fn lists(db: &Db, access: &Access) -> Result<Vec<MailingList>> {
    let scope = access.filter(Perm::SendNewsletters, "l.federation_id", None);
    let national =
        if access.allows(Perm::SendNewsletters, Scope::National) { "l.federation_id IS NULL" } else { "1=0" };
    Ok(sqlx::query_as(&format!(
        "SELECT l.id, l.federation_id, l.name, l.purpose, l.description FROM mailing_lists l \
         LEFT JOIN federations f ON f.id = l.federation_id \
         WHERE ({national} OR (l.federation_id IS NOT NULL AND {scope})) ORDER BY l.federation_id IS NOT NULL, f.code, l.name"
    ))
    .fetch_all(&db.pool)
    .await?)
}

pub async fn list_by_id(db: &Db, access: &Access, id: i64) -> Result<MailingList> {
    lists(db, access).await?.into_iter().find(|l| l.id == id).ok_or(Error::NotFound)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Campaign {
    pub id: i64,
    pub federation_id: Option<i64>,
    pub list_id: i64,
    pub segment_id: Option<i64>,
    pub name: String,
    pub template: String,
    pub document: String,
    pub tracking: i64,
    pub state: String,
    pub scheduled_at: Option<i64>,
    pub audience: i64,
    pub pause_reason: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

pub const CAMPAIGN_COLUMNS: &str = "c.id, c.federation_id, c.list_id, c.segment_id, c.name, c.template, c.document, \
    c.tracking, c.state, c.scheduled_at, c.audience, c.pause_reason, c.created_at, c.updated_at, c.started_at, \
    c.finished_at";

impl Campaign {
    pub fn scope(&self) -> Scope {
        match self.federation_id {
            Some(federation_id) => Scope::Federation { federation_id },
            None => Scope::National,
        }
    }
    pub fn document(&self) -> Document {
        serde_json::from_str(&self.document).unwrap_or_default()
    }
    pub fn state_label(&self) -> &'static str {
        state_label(&self.state)
    }
    pub fn editable(&self) -> bool {
        self.state == "draft"
    }
}

pub fn state_label(state: &str) -> &'static str {
    match state {
        "draft" => "Brouillon",
        "scheduled" => "Programmée",
        "sending" => "Envoi en cours",
        "paused" => "En pause",
        "sent" => "Envoyée",
        "cancelled" => "Annulée",
        _ => "?",
    }
}

/// The campaigns the caller may see, newest first.
pub async fn list(db: &Db, access: &Access) -> Result<Vec<Campaign>> {
    let scope = scope_condition(access);
    Ok(sqlx::query_as(&format!(
        "SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE {scope} ORDER BY c.created_at DESC, c.id DESC LIMIT 200"
    ))
    .fetch_all(&db.pool)
    .await?)
}

fn scope_condition(access: &Access) -> String {
    let national = if access.allows(Perm::SendNewsletters, Scope::National) { "(1=1)" } else { "(1=0)" };
    let federations = access.filter(Perm::SendNewsletters, "c.federation_id", None);
    format!("(CASE WHEN c.federation_id IS NULL THEN {national} ELSE {federations} END)")
}

/// A campaign the caller may see; `NotFound` otherwise.
pub async fn get(db: &Db, access: &Access, id: i64) -> Result<Campaign> {
    let scope = scope_condition(access);
    sqlx::query_as(&format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.id = $1 AND {scope}"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(Error::NotFound)
}

/// Reads a campaign without a caller (workers).
pub async fn load(db: &Db, id: i64) -> Result<Campaign> {
    sqlx::query_as(&format!("SELECT {CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(Error::NotFound)
}

/// A first document a volunteer edits rather than a blank page.
pub fn starter_document(list: &MailingList) -> Document {
    use render::Block;
    Document {
        subject: format!("{} — les nouvelles du mois", list.name),
        preheader: "Les rendez-vous et les actions près de chez vous.".into(),
        blocks: vec![
            Block::Title { text: "Bonjour {{ prénom | \"à toutes et à tous\" }} !".into() },
            Block::Text {
                markdown: "Voici les nouvelles de notre fédération : les prochaines actions, les réunions \
                           publiques et les campagnes en cours.\n\n**Rejoignez-nous** sur le terrain !"
                    .into(),
            },
            Block::Button { label: "Voir les prochaines actions".into(), href: "https://example.org/agenda".into() },
            Block::Separator,
            Block::Quote { text: "Le changement commence près de chez soi.".into(), author: None },
        ],
    }
}

/// Starts a draft for a list the caller may send to.
pub async fn create(db: &Db, access: &Access, list_id: i64, name: &str) -> Result<Campaign> {
    let list = list_by_id(db, access, list_id).await?;
    if !access.allows(Perm::SendNewsletters, list.scope()) {
        return Err(Error::Forbidden);
    }
    let name = clean_name(name)?;
    let doc = starter_document(&list);
    let t = now();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO campaigns (federation_id, list_id, name, template, document, tracking, state, created_by, \
         created_at, updated_at) VALUES ($1, $2, $3, 'classique', $4, 1, 'draft', $5, $6, $6) RETURNING id",
    )
    .bind(list.federation_id)
    .bind(list.id)
    .bind(&name)
    .bind(serde_json::to_string(&doc).map_err(anyhow::Error::from)?)
    .bind(access.user_id)
    .bind(t)
    .fetch_one(&db.pool)
    .await?;
    get(db, access, id).await
}

fn clean_name(name: &str) -> Result<String> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() || name.chars().count() > 120 {
        return Err(Error::Invalid("Donnez un nom à la lettre (120 caractères au plus).".into()));
    }
    Ok(name)
}

/// What the composer submits.
pub struct Draft {
    pub name: String,
    pub template: String,
    pub document: Document,
    pub segment_id: Option<i64>,
    pub tracking: bool,
}

/// Saves a draft; refused (nothing changed) with every problem listed when the document is not valid.
pub async fn save(db: &Db, access: &Access, campaign: &Campaign, draft: &Draft) -> Result<Campaign> {
    if !access.allows(Perm::SendNewsletters, campaign.scope()) {
        return Err(Error::Forbidden);
    }
    if !campaign.editable() {
        return Err(Error::Conflict("Cette lettre est déjà partie : elle ne peut plus être modifiée.".into()));
    }
    let name = clean_name(&draft.name)?;
    if render::template(&draft.template).is_none() {
        return Err(Error::Invalid("Modèle inconnu.".into()));
    }
    render::validate(&draft.document).map_err(|e| Error::Invalid(e.to_string()))?;
    if let Some(segment) = draft.segment_id {
        // Must be a segment the caller may use (404 otherwise).
        segments::get(db, access, segment).await?;
    }
    sqlx::query(
        "UPDATE campaigns SET name = $1, template = $2, document = $3, segment_id = $4, tracking = $5, updated_at = $6 \
         WHERE id = $7 AND state = 'draft'",
    )
    .bind(&name)
    .bind(&draft.template)
    .bind(serde_json::to_string(&draft.document).map_err(anyhow::Error::from)?)
    .bind(draft.segment_id)
    .bind(draft.tracking as i64)
    .bind(now())
    .bind(campaign.id)
    .execute(&db.pool)
    .await?;
    get(db, access, campaign.id).await
}

/// The audience condition over `people p`, with its bound values.
async fn audience_condition(db: &Db, access: &Access, campaign: &Campaign) -> Result<(String, Sql)> {
    let list: MailingList =
        sqlx::query_as("SELECT id, federation_id, name, purpose, description FROM mailing_lists WHERE id = $1")
            .bind(campaign.list_id)
            .fetch_one(&db.pool)
            .await?;
    let mut sql = Sql::default();
    let mut parts = vec![
        access.filter(Perm::ViewPeople, "p.federation_id", Some("p.section_id")),
        "p.email IS NOT NULL".to_string(),
    ];
    if let Some(f) = campaign.federation_id {
        parts.push(format!("p.federation_id = {}", sql.int(f)));
    }
    let purpose = sql.text(list.purpose.clone());
    parts.push(format!(
        "p.id IN (SELECT cs.person_id FROM consent_state cs WHERE cs.purpose = {purpose} AND cs.granted = 1)"
    ));
    parts.push("p.id NOT IN (SELECT b.person_id FROM email_blocks b)".into());
    if let Some(segment_id) = campaign.segment_id {
        let segment = segments::get(db, access, segment_id).await?;
        parts.push(segments::compile(db, access, &segment.definition, &mut sql).await?);
    }
    Ok((parts.join(" AND "), sql))
}

/// How many people the campaign would reach now (shown before sending).
pub async fn count_audience(db: &Db, access: &Access, campaign: &Campaign) -> Result<i64> {
    let (cond, sql) = audience_condition(db, access, campaign).await?;
    Ok(sqlx::query_scalar_with(&format!("SELECT COUNT(*) FROM people p WHERE {cond}"), sql.arguments()?)
        .fetch_one(&db.pool)
        .await?)
}

/// Sends now (`at` None) or schedules: freezes the audience into lists of person ids in one transaction,
/// stores the links, and queues the sending tasks. A second call finds the campaign no longer a draft.
pub async fn launch(
    db: &Db,
    access: &Access,
    campaign: &Campaign,
    sender: &render::Sender,
    shards: u32,
    at: Option<i64>,
) -> Result<i64> {
    if !access.allows(Perm::SendNewsletters, campaign.scope()) {
        return Err(Error::Forbidden);
    }
    if !campaign.editable() {
        return Err(Error::Conflict("Cette lettre est déjà partie.".into()));
    }
    let doc = campaign.document();
    render::validate(&doc).map_err(|e| Error::Invalid(e.to_string()))?;
    let t = now();
    if let Some(at) = at
        && at < t - 60
    {
        return Err(Error::Invalid("La date d'envoi est passée.".into()));
    }
    let (cond, sql) = audience_condition(db, access, campaign).await?;
    // The links as rendered: the click redirect resolves only to these.
    let template = render::template(&campaign.template).ok_or_else(|| Error::Invalid("Modèle inconnu.".into()))?;
    let compiled = render::compile(&doc, template, sender).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut tx = db.pool.begin().await?;
    let claimed =
        sqlx::query("UPDATE campaigns SET state = 'sending', updated_at = $1 WHERE id = $2 AND state = 'draft'")
            .bind(t)
            .bind(campaign.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    if claimed != 1 {
        return Err(Error::Conflict("Cette lettre est déjà partie.".into()));
    }
    // The audience, frozen as lists of person ids by range of ids (migration 16), each with whether its people
    // allowed individual tracking; senders turn them into recipient rows. Read, then written: PostgreSQL runs the
    // query on several cores when it only reads (not inside an INSERT), 1.4-1.8 s instead of 2.3 s for 1M people.
    let list = match db.backend {
        Backend::Sqlite => "json_group_array(p.id)",
        Backend::Postgres => "CAST(json_agg(p.id) AS TEXT)",
    };
    let tracked = "CAST(CASE WHEN trk.person_id IS NULL THEN 0 ELSE 1 END AS BIGINT)";
    let lists: Vec<(i64, i64, i64, i64, i64, String)> = sqlx::query_as_with(
        &format!(
            "SELECT p.id / {AUDIENCE_LIST}, {tracked}, MIN(p.id), MAX(p.id), COUNT(*), {list} \
             FROM people p LEFT JOIN consent_state trk ON trk.person_id = p.id AND trk.purpose = 'tracking' \
             AND trk.granted = 1 WHERE {cond} GROUP BY p.id / {AUDIENCE_LIST}, {tracked}"
        ),
        sql.arguments()?,
    )
    .fetch_all(&mut *tx)
    .await?;
    db::insert_all(
        &mut tx,
        db.backend,
        "INSERT INTO campaign_audience (campaign_id, bucket, track, first_id, last_id, n, person_ids)",
        &format!("({}, ?, ?, ?, ?, ?, ?)", campaign.id),
        "",
        &lists,
        |q, (bucket, track, first, last, n, ids)| {
            q.bind(*bucket).bind(*track).bind(*first).bind(*last).bind(*n).bind(ids.as_str())
        },
    )
    .await?;
    let n: i64 = lists.iter().map(|l| l.4).sum();
    for (i, url) in compiled.links().iter().enumerate() {
        sqlx::query("INSERT INTO campaign_links (campaign_id, idx, url) VALUES ($1, $2, $3)")
            .bind(campaign.id)
            .bind(i as i64)
            .bind(url)
            .execute(&mut *tx)
            .await?;
    }
    let state = if at.is_some() { "scheduled" } else { "sending" };
    sqlx::query(
        "UPDATE campaigns SET state = $1, audience = $2, scheduled_at = $3, started_at = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(state)
    .bind(n)
    .bind(at)
    .bind(if at.is_some() { None } else { Some(t) })
    .bind(t)
    .bind(campaign.id)
    .execute(&mut *tx)
    .await?;
    for shard in 0..shards.max(1) {
        jobs::enqueue_in(&mut tx, &Job::SendCampaign { campaign_id: campaign.id, shard }, at.unwrap_or(t)).await?;
    }
    tx.commit().await?;
    jobs::wake();
    Ok(n)
}

/// The range of person ids of each list the audience is frozen in (migration 16): small enough for a sender to
/// turn one into recipient rows in a short transaction (tens of milliseconds), large enough that a million people
/// make about 250 lists.
const AUDIENCE_LIST: i64 = 8192;

/// Turns up to `lists` of a campaign's frozen audience lists into recipient rows in `state` (`pending` for the
/// senders, `skipped` when cancelling), and deletes them, on `conn` (in a transaction, which the caller commits):
/// a person is in a list or has a row, never both. Returns the lowest person id of the lists taken; None when none
/// is left, or with `skip_locked` (PostgreSQL) when the others are being taken by other senders.
pub(crate) async fn take_audience(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    campaign_id: i64,
    lists: i64,
    skip_locked: bool,
    state: &str,
    detail: &str,
) -> Result<Option<i64>> {
    // Exactly the rows locked (not every row of their range, which another sender may hold: a deadlock).
    let lock = match backend {
        Backend::Postgres if skip_locked => "FOR UPDATE SKIP LOCKED",
        Backend::Postgres => "FOR UPDATE",
        Backend::Sqlite => "",
    };
    let taken: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
        "DELETE FROM campaign_audience WHERE (campaign_id, bucket, track) IN (SELECT campaign_id, bucket, track \
         FROM campaign_audience WHERE campaign_id = $1 ORDER BY bucket, track LIMIT $2 {lock}) \
         RETURNING track, first_id, person_ids"
    ))
    .bind(campaign_id)
    .bind(lists)
    .fetch_all(&mut *conn)
    .await?;
    // Only people who still exist (the deletion trigger takes them out of the lists, but a list may be taken
    // while a person is being deleted).
    let insert = format!(
        "INSERT INTO campaign_recipients (campaign_id, person_id, state, track, detail) \
         SELECT $1, p.id, $2, $3, $4 FROM people p WHERE p.id IN ({}) ON CONFLICT DO NOTHING",
        db::json_ids(backend, 5)
    );
    for (track, _, ids) in &taken {
        sqlx::query(&insert)
            .bind(campaign_id)
            .bind(state)
            .bind(*track)
            .bind(detail)
            .bind(ids.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(taken.iter().map(|(_, first, _)| *first).min())
}

/// Pause, resume or cancel. Pausing stops the senders at their next batch; resuming queues them again.
pub async fn control(db: &Db, access: &Access, campaign: &Campaign, action: &str, shards: u32) -> Result<()> {
    if !access.allows(Perm::SendNewsletters, campaign.scope()) {
        return Err(Error::Forbidden);
    }
    let (from, to): (&[&str], &str) = match action {
        "pause" => (&["sending", "scheduled"], "paused"),
        "resume" => (&["paused"], "sending"),
        "cancel" => (&["sending", "scheduled", "paused", "draft"], "cancelled"),
        _ => return Err(Error::Invalid("Action inconnue.".into())),
    };
    if !from.contains(&campaign.state.as_str()) {
        return Err(Error::Conflict(format!("Impossible : la lettre est « {} ».", campaign.state_label())));
    }
    let t = now();
    let mut tx = db.pool.begin().await?;
    sqlx::query("UPDATE campaigns SET state = $1, pause_reason = '', updated_at = $2 WHERE id = $3 AND state = $4")
        .bind(to)
        .bind(t)
        .bind(campaign.id)
        .bind(&campaign.state)
        .execute(&mut *tx)
        .await?;
    if to == "cancelled" {
        // What is left of the frozen lists is skipped too (a sender taking a list meanwhile is waited for; the
        // rows it made pending are skipped below).
        while take_audience(&mut tx, db.backend, campaign.id, 16, false, "skipped", "lettre annulée").await?.is_some()
        {
        }
        sqlx::query(
            "UPDATE campaign_recipients SET state = 'skipped', detail = 'lettre annulée' \
             WHERE campaign_id = $1 AND state = 'pending'",
        )
        .bind(campaign.id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE campaigns SET finished_at = $1 WHERE id = $2")
            .bind(t)
            .bind(campaign.id)
            .execute(&mut *tx)
            .await?;
    }
    if action == "resume" {
        for shard in 0..shards.max(1) {
            jobs::enqueue_in(&mut tx, &Job::SendCampaign { campaign_id: campaign.id, shard }, t).await?;
        }
    }
    tx.commit().await?;
    jobs::wake();
    Ok(())
}

/// Scheduled campaigns whose time has come start sending (called by the sender jobs themselves).
pub async fn start_if_due(db: &Db, campaign_id: i64) -> Result<()> {
    let t = now();
    sqlx::query(
        "UPDATE campaigns SET state = 'sending', started_at = $1, updated_at = $1 \
         WHERE id = $2 AND state = 'scheduled' AND scheduled_at <= $1",
    )
    .bind(t)
    .bind(campaign_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Per-state recipient counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub uncertain: i64,
}

pub async fn progress(db: &Db, campaign_id: i64) -> Result<Progress> {
    // The state index leaves pending rows out (migration 15): the other states are counted in it, all rows in the
    // primary key, and the people still in the frozen lists, in one statement so that the counts agree.
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, COUNT(*) FROM campaign_recipients WHERE campaign_id = $1 AND state <> 'pending' GROUP BY state \
         UNION ALL SELECT '*', COUNT(*) FROM campaign_recipients WHERE campaign_id = $1 \
         UNION ALL SELECT '+', CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM campaign_audience WHERE campaign_id = $1",
    )
    .bind(campaign_id)
    .fetch_all(&db.pool)
    .await?;
    let mut p = Progress::default();
    for (state, n) in rows {
        // Pending: all rows and the lists, less each other state.
        p.pending += if state == "*" || state == "+" { n } else { -n };
        match state.as_str() {
            "sending" => p.sending = n,
            "sent" => p.sent = n,
            "failed" => p.failed = n,
            "skipped" => p.skipped = n,
            "uncertain" => p.uncertain = n,
            _ => {}
        }
    }
    Ok(p)
}
