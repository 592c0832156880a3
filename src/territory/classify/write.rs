//! Writing the rows of `zone_classes` in multi-row INSERTs with bound parameters.

use std::fmt::Write as _;

use super::{Assessment, Level, Tally};
use crate::db::Backend;
use crate::error::Result;

/// One row of `zone_classes`, ready to write.
pub(super) struct ZoneRow<'b> {
    pub(super) level: Level,
    pub(super) zone: &'b str,
    pub(super) departement: &'b str,
    pub(super) tally: Tally,
    pub(super) assessment: Assessment,
    pub(super) departement_abstention: f64,
}

/// Rows per INSERT: 16 parameters each, under SQLite's limit of 32,766 parameters per statement.
const ROWS_PER_INSERT: usize = 500;

/// `INSERT INTO zone_classes … VALUES (…), (…)` for `n` rows of 16 parameters, the elections and the time being
/// integers written in the statement. SQLite gets anonymous `?` parameters: the driver looks numbered ones up by
/// name, which costs a scan of all of them each.
fn insert_sql(backend: Backend, n: usize, reference_id: i64, previous_id: i64, t: i64) -> String {
    let mut sql = String::from(
        "INSERT INTO zone_classes (reference_election_id, previous_election_id, computed_at, explanation, level, zone, \
         departement, inscrits, votants, exprimes, left_share, right_share, extreme_droite_share, abstention, \
         delta_left, delta_right, delta_abstention, class, priority, departement_abstention, mobilisable, flags) VALUES ",
    );
    for row in 0..n {
        let _ = write!(sql, "{}({reference_id}, {previous_id}, {t}, ''", if row == 0 { "" } else { ", " });
        for column in 0..COLUMNS {
            match backend {
                Backend::Sqlite => sql.push_str(", ?"),
                Backend::Postgres => {
                    let _ = write!(sql, ", ${}", 1 + row * COLUMNS + column);
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// Bound columns of a zone_classes row.
const COLUMNS: usize = 18;

pub(super) const VOLATILE: i64 = 1;
pub(super) const CLOSE: i64 = 2;

/// Writes the rows of `zone_classes` (the transaction is the caller's). Rows go as bound parameters (SQLite would
/// parse a JSON row once per column read); the explanations of the next chunk are written while the database inserts
/// the current one. `ids` = (reference election, previous election, computation time). A function of its own, not an
/// async block: its future stays `Send`, so that web handlers and workers may run the classification.
pub(super) async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    out: &[ZoneRow<'_>],
    ids: (i64, i64, i64),
) -> Result<()> {
    let (reference_id, previous_id, t) = ids;
    let full = insert_sql(backend, ROWS_PER_INSERT, reference_id, previous_id, t);
    for chunk in out.chunks(ROWS_PER_INSERT) {
        let partial;
        let sql = if chunk.len() == ROWS_PER_INSERT {
            &full
        } else {
            partial = insert_sql(backend, chunk.len(), reference_id, previous_id, t);
            &partial
        };
        // Kept prepared on SQLite only (preparing 2,000 rows of parameters costs more than binding them): through
        // the Any driver a NULL delta is typed differently from a number, and PostgreSQL would refuse a later
        // chunk whose numbers meet the types of the first one's NULLs.
        let mut query = sqlx::query(sql).persistent(backend == Backend::Sqlite);
        for r in chunk {
            let (a, d) = (&r.assessment, r.assessment.delta);
            let flags = if a.volatile { VOLATILE } else { 0 } | if a.close { CLOSE } else { 0 };
            query = query
                .bind(r.level.as_str())
                .bind(r.zone)
                .bind(r.departement)
                .bind(r.tally.inscrits as i64)
                .bind(r.tally.votants as i64)
                .bind(r.tally.exprimes as i64)
                .bind(a.shares.left)
                .bind(a.shares.right)
                .bind(a.shares.extreme_droite)
                .bind(a.shares.abstention)
                .bind(d.map(|d| d.left))
                .bind(d.map(|d| d.right))
                .bind(d.map(|d| d.abstention))
                .bind(a.class.as_str())
                .bind(a.priority)
                .bind(r.departement_abstention)
                .bind(a.mobilisable)
                .bind(flags);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
