//! Imported elections, and the pair the current classification was computed from.

use serde::Serialize;

use crate::db::Db;
use crate::error::Result;

/// An imported election, for listings.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct Election {
    pub id: i64,
    pub key: String,
    pub label: String,
    pub kind: String,
    pub round: i64,
    pub year: i64,
    pub source_file: String,
    pub layout: String,
    pub imported_at: i64,
    pub bureaux: i64,
    pub inscrits: i64,
    pub votants: i64,
    pub exprimes: i64,
    /// The bloc of each choice that the bureaux' sums were computed with (see `classify::refresh_bloc_sums`).
    pub blocs: String,
}

const ELECTION_COLUMNS: &str =
    "id, key, label, kind, round, year, source_file, layout, imported_at, bureaux, inscrits, votants, exprimes, blocs";

/// Imported elections, most recent first.
pub async fn elections(db: &Db) -> Result<Vec<Election>> {
    Ok(sqlx::query_as(&format!("SELECT {ELECTION_COLUMNS} FROM elections ORDER BY year DESC, kind, round DESC, key"))
        .fetch_all(&db.pool)
        .await?)
}

pub async fn election(db: &Db, key: &str) -> Result<Option<Election>> {
    Ok(sqlx::query_as(&format!("SELECT {ELECTION_COLUMNS} FROM elections WHERE key = $1"))
        .bind(key)
        .fetch_optional(&db.pool)
        .await?)
}

/// The pair of elections the current classification was computed from, and when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurrentPair {
    pub reference: Option<Election>,
    pub previous: Option<Election>,
    pub computed_at: i64,
}

pub async fn current_pair(db: &Db) -> Result<Option<CurrentPair>> {
    let row: Option<(i64, i64, i64)> =
        sqlx::query_as("SELECT reference_election_id, previous_election_id, computed_at FROM zone_classes LIMIT 1")
            .fetch_optional(&db.pool)
            .await?;
    let Some((reference, previous, computed_at)) = row else { return Ok(None) };
    let by_id = |id: i64| async move {
        sqlx::query_as::<_, Election>(&format!("SELECT {ELECTION_COLUMNS} FROM elections WHERE id = $1"))
            .bind(id)
            .fetch_optional(&db.pool)
            .await
    };
    Ok(Some(CurrentPair { reference: by_id(reference).await?, previous: by_id(previous).await?, computed_at }))
}
