//! Reading an election's bureaux with their votes by bloc, and summing them into zones.

use std::collections::HashMap;

use super::Tally;
use crate::db::{Backend, Db};
use crate::error::{Error, Result};
use crate::territory::import::Bloc;

/// A bureau's figures in one election.
#[derive(Clone, Debug)]
pub(super) struct BureauTally {
    key: String,
    commune: String,
    pub(super) departement: String,
    circonscription: Option<String>,
    pub(super) tally: Tally,
}

/// An election: id, label and the blocs its bureau sums were computed with.
pub(super) async fn election(db: &Db, key: &str) -> Result<(i64, String, String)> {
    sqlx::query_as("SELECT id, label, blocs FROM elections WHERE key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?
        .ok_or_else(|| Error::Invalid(format!("élection « {key} » introuvable : importez-la d'abord")))
}

fn json_agg(backend: Backend, row: &str) -> String {
    match backend {
        Backend::Sqlite => format!("json_group_array(json_array({row}))"),
        Backend::Postgres => format!("COALESCE(json_agg(json_build_array({row}))::text, '[]')"),
    }
}

/// Recomputes the votes by bloc of an election's bureaux when its choices' blocs are no longer those the sums were
/// computed with (HQ moved a choice to another bloc since the import). True when it did.
pub async fn refresh_bloc_sums(db: &Db, election_id: i64) -> Result<bool> {
    let stored: String = sqlx::query_scalar("SELECT blocs FROM elections WHERE id = $1")
        .bind(election_id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(Error::NotFound)?;
    let choices: Vec<(i64, String)> =
        sqlx::query_as("SELECT idx, bloc FROM election_choices WHERE election_id = $1 ORDER BY idx")
            .bind(election_id)
            .fetch_all(&db.pool)
            .await?;
    let current = choices.iter().map(|(_, b)| b.as_str()).collect::<Vec<_>>().join(",");
    if current == stored {
        return Ok(false);
    }
    // SUM(CASE …) over the choice numbers of each bloc (integers from the database, so safe to inline).
    let sum_of = |bloc: Bloc| {
        let idx: Vec<String> =
            choices.iter().filter(|(_, b)| Bloc::parse(b) == Some(bloc)).map(|(i, _)| i.to_string()).collect();
        if idx.is_empty() {
            "0".to_string()
        } else {
            format!("SUM(CASE WHEN choice_idx IN ({}) THEN voix ELSE 0 END)", idx.join(", "))
        }
    };
    let sql = format!(
        "UPDATE bureau_results SET gauche = s.g, centre = s.c, droite = s.d, extreme_droite = s.x, autre = s.a \
         FROM (SELECT bureau_key, {} AS g, {} AS c, {} AS d, {} AS x, {} AS a FROM bureau_votes \
         WHERE election_id = $1 GROUP BY bureau_key) AS s \
         WHERE bureau_results.election_id = $1 AND bureau_results.bureau_key = s.bureau_key",
        sum_of(Bloc::Gauche),
        sum_of(Bloc::Centre),
        sum_of(Bloc::Droite),
        sum_of(Bloc::ExtremeDroite),
        sum_of(Bloc::Autre),
    );
    let mut tx = db.pool.begin().await?;
    sqlx::query(&sql).bind(election_id).execute(&mut *tx).await?;
    sqlx::query("UPDATE elections SET blocs = $1 WHERE id = $2")
        .bind(&current)
        .bind(election_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// The bureaux of an election with their votes by bloc, as one JSON text.
pub(super) async fn load_bureaux(db: &Db, election_id: i64) -> Result<Vec<BureauTally>> {
    refresh_bloc_sums(db, election_id).await?;
    let sql = format!(
        "SELECT {} FROM bureau_results r JOIN bureaux b ON b.key = r.bureau_key WHERE r.election_id = $1",
        json_agg(
            db.backend,
            "r.bureau_key, b.commune_code, b.departement, b.circonscription, r.inscrits, r.votants, r.exprimes, \
             r.gauche, r.centre, r.droite, r.extreme_droite"
        )
    );
    let text: String = sqlx::query_scalar(&sql).bind(election_id).fetch_one(&db.pool).await?;
    type Row = (String, String, String, Option<String>, u64, u64, u64, u64, u64, u64, u64);
    let rows: Vec<Row> = serde_json::from_str(&text).map_err(anyhow::Error::from)?;
    Ok(rows
        .into_iter()
        .map(|(key, commune, departement, circonscription, inscrits, votants, exprimes, gauche, centre, droite, xd)| {
            BureauTally {
                key,
                commune,
                departement,
                circonscription,
                tally: Tally { inscrits, votants, exprimes, gauche, centre, droite, extreme_droite: xd },
            }
        })
        .collect())
}

/// Zones of one level: code → (département, figures summed over their bureaux); codes borrowed from the bureaux.
pub(super) type Zones<'b> = HashMap<&'b str, (&'b str, Tally)>;

/// Sums bureaux into zones of each level: bureau, commune, circonscription.
pub(super) fn aggregate(bureaux: &[BureauTally]) -> [Zones<'_>; 3] {
    let mut levels: [Zones<'_>; 3] = [
        HashMap::with_capacity(bureaux.len()),
        HashMap::with_capacity(bureaux.len() / 2),
        HashMap::with_capacity(1_000),
    ];
    for b in bureaux {
        let codes = [Some(b.key.as_str()), Some(b.commune.as_str()), b.circonscription.as_deref()];
        for (zones, code) in levels.iter_mut().zip(codes) {
            let Some(code) = code else { continue };
            zones.entry(code).or_insert((b.departement.as_str(), Tally::default())).1.add(&b.tally);
        }
    }
    levels
}
