//! Classification of every zone of a pair of elections: counts, summary, and the run that replaces `zone_classes`.

use std::collections::HashMap;

use serde::Serialize;

use super::load::{aggregate, election, load_bureaux};
use super::write::{ZoneRow, insert_rows};
use super::{Level, Tally, Thresholds, ZoneClass, assess, load_thresholds};
use crate::db::{Backend, Db, now};
use crate::error::{Error, Result};

/// Counts by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub acquis_gauche: usize,
    pub acquis_droite: usize,
    pub hesitant: usize,
    pub abstention: usize,
}

impl ClassCounts {
    fn add(&mut self, class: ZoneClass) {
        match class {
            ZoneClass::AcquisGauche => self.acquis_gauche += 1,
            ZoneClass::AcquisDroite => self.acquis_droite += 1,
            ZoneClass::Hesitant => self.hesitant += 1,
            ZoneClass::Abstention => self.abstention += 1,
        }
    }
}

/// What [`classify_all`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub reference: String,
    pub previous: String,
    /// Zones classified at each level.
    pub bureaux: usize,
    pub communes: usize,
    pub circonscriptions: usize,
    /// Bureaux of the reference also in the previous election, and not.
    pub matched_bureaux: usize,
    pub reference_only_bureaux: usize,
    /// Bureaux of the previous election that the reference does not have (not classified).
    pub previous_only_bureaux: usize,
    /// Classes of the bureaux.
    pub bureau_classes: ClassCounts,
    pub commune_classes: ClassCounts,
    pub thresholds: Thresholds,
}

/// Recomputes the classification of every zone for a pair of elections (by key), with the saved thresholds, and
/// replaces that pair's `zone_classes` rows in one transaction.
pub async fn classify_all(db: &Db, reference_key: &str, previous_key: &str) -> Result<Summary> {
    let thresholds = load_thresholds(db).await?;
    classify_all_with(db, reference_key, previous_key, &thresholds).await
}

/// [`classify_all`] with given thresholds.
pub async fn classify_all_with(
    db: &Db,
    reference_key: &str,
    previous_key: &str,
    thresholds: &Thresholds,
) -> Result<Summary> {
    thresholds.check().map_err(Error::Invalid)?;
    if reference_key == previous_key {
        return Err(Error::Invalid("choisissez deux élections différentes".into()));
    }
    let started = std::time::Instant::now();
    let (reference_id, _, _) = election(db, reference_key).await?;
    let (previous_id, _, _) = election(db, previous_key).await?;
    let (reference, previous) = tokio::try_join!(load_bureaux(db, reference_id), load_bureaux(db, previous_id))?;
    let read = started.elapsed();

    // Abstention of each département over all its bureaux of the reference election.
    let mut departements: HashMap<&str, Tally> = HashMap::new();
    for b in &reference {
        departements.entry(b.departement.as_str()).or_default().add(&b.tally);
    }
    let departement_abstention: HashMap<&str, f64> =
        departements.iter().map(|(d, t)| (*d, t.shares().abstention)).collect();

    let now_levels = aggregate(&reference);
    let before_levels = aggregate(&previous);
    let mut summary = Summary {
        reference: reference_key.to_string(),
        previous: previous_key.to_string(),
        thresholds: *thresholds,
        ..Summary::default()
    };
    summary.previous_only_bureaux = before_levels[0].keys().filter(|k| !now_levels[0].contains_key(*k)).count();

    let mut out: Vec<ZoneRow<'_>> = Vec::with_capacity(now_levels.iter().map(HashMap::len).sum());
    for (level, (zones, before)) in
        [Level::Bureau, Level::Commune, Level::Circonscription].into_iter().zip(now_levels.iter().zip(&before_levels))
    {
        // In key order: rows are written in the order of the table's primary key.
        let mut zones: Vec<(&str, &(&str, Tally))> = zones.iter().map(|(z, v)| (*z, v)).collect();
        zones.sort_unstable_by_key(|(zone, _)| *zone);
        for (zone, &(departement, tally)) in zones {
            let departement_abstention = departement_abstention.get(departement).copied().unwrap_or(0.0);
            let prev = before.get(zone).map(|(_, t)| t);
            let assessment = assess(&tally, prev, departement_abstention, thresholds);
            match level {
                Level::Bureau => {
                    summary.bureaux += 1;
                    if prev.is_some() {
                        summary.matched_bureaux += 1;
                    } else {
                        summary.reference_only_bureaux += 1;
                    }
                    summary.bureau_classes.add(assessment.class);
                }
                Level::Commune => {
                    summary.communes += 1;
                    summary.commune_classes.add(assessment.class);
                }
                Level::Circonscription => summary.circonscriptions += 1,
            }
            out.push(ZoneRow { level, zone, departement, tally, assessment, departement_abstention });
        }
    }

    let assessed = started.elapsed();
    // One transaction on a connection of its own, closed afterwards (its settings are for bulk writing; after an
    // error, closing it rolls back).
    let t = now();
    let mut conn = db.pool.acquire().await?;
    conn.close_on_drop();
    if db.backend == Backend::Sqlite {
        // Derived public data, recomputed at will: no zero-filling of freed pages (secure_delete protects people's
        // data), and no wait for the disk at commit (a power cut can only lose this recomputation).
        for pragma in ["cache_size = -131072", "secure_delete = OFF", "synchronous = NORMAL"] {
            sqlx::query(&format!("PRAGMA {pragma}")).execute(&mut *conn).await?;
        }
    }
    // The whole table: SQLite then frees its pages at once instead of deleting row by row. SQLite takes the write lock
    // at once (IMMEDIATE), so that another writer waits instead of failing.
    // (Two prepared statements rather than one `raw_sql`, whose future is not `Send`.)
    let begin = match db.backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    sqlx::query(begin).execute(&mut *conn).await?;
    if let Err(e) = sqlx::query("DELETE FROM zone_classes").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    let written = insert_rows(&mut conn, db.backend, &out, (reference_id, previous_id, t)).await;
    if let Err(e) = written {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    tracing::info!(
        read_ms = read.as_millis() as u64,
        assess_ms = (assessed - read).as_millis() as u64,
        write_ms = (started.elapsed() - assessed).as_millis() as u64,
        "zones classified"
    );
    Ok(summary)
}
