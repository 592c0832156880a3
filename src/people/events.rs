//! A person's timeline: their own events, their addition by an import, and the newsletters they were sent.

use serde::Serialize;

use super::Person;
use crate::db::{Db, now};
use crate::error::Result;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub summary: String,
    pub actor_user_id: Option<i64>,
    pub at: i64,
}

/// The rows of `person_events` of a person, newest first.
pub(super) async fn own_events(db: &Db, person: &Person) -> Result<Vec<Event>> {
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
pub(super) async fn import_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
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
pub(super) async fn insert_event<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
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
