//! Everything stored about a person (GDPR art. 15 and 20), as JSON and as CSV.

use super::events::own_events;
use super::{PERSON_COLUMNS, Person, consent, contacts, csv_import, skills, tags};
use crate::access::{Access, Perm};
use crate::db::Db;
use crate::error::{Error, Result};

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
