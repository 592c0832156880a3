//! Reference data: régions, départements, communes and the 102 federations (one per département of
//! metropolitan France and overseas départements, plus the French abroad). The files are embedded in the
//! binary (Etalab `decoupage-administratif`, Licence Ouverte 2.0, see data/README.md); newer official files
//! in the same layout can be loaded from a directory. Loading is an idempotent upsert.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};

use crate::db::{Db, now};

const REGIONS: &str = include_str!("../data/reference/regions.csv");
const DEPARTEMENTS: &str = include_str!("../data/reference/departements.csv");
const COMMUNES_GZ: &[u8] = include_bytes!("../data/reference/communes.csv.gz");
const CIRCONSCRIPTIONS_GZ: &[u8] = include_bytes!("../data/reference/communes_circonscriptions.csv.gz");

/// The federation of the French abroad (99 is INSEE's code for "abroad").
pub const ABROAD_CODE: &str = "99";
pub const ABROAD_NAME: &str = "Français de l'étranger";

#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub regions: usize,
    pub departements: usize,
    pub federations: usize,
    pub communes: usize,
    pub circonscription_links: usize,
}

struct Sources {
    regions: String,
    departements: String,
    communes: String,
    /// Optional in a directory of newer files.
    circonscriptions: Option<String>,
}

fn embedded() -> anyhow::Result<Sources> {
    let mut communes = String::new();
    flate2::read::GzDecoder::new(COMMUNES_GZ).read_to_string(&mut communes)?;
    let mut circonscriptions = String::new();
    flate2::read::GzDecoder::new(CIRCONSCRIPTIONS_GZ).read_to_string(&mut circonscriptions)?;
    Ok(Sources {
        regions: REGIONS.into(),
        departements: DEPARTEMENTS.into(),
        communes,
        circonscriptions: Some(circonscriptions),
    })
}

fn from_dir(dir: &Path) -> anyhow::Result<Sources> {
    let read = |name: &str| -> anyhow::Result<String> {
        let plain = dir.join(name);
        let gz = dir.join(format!("{name}.gz"));
        if plain.exists() {
            std::fs::read_to_string(&plain).with_context(|| format!("cannot read {}", plain.display()))
        } else {
            let mut s = String::new();
            flate2::read::GzDecoder::new(
                std::fs::File::open(&gz).with_context(|| format!("{} is missing (or {name})", gz.display()))?,
            )
            .read_to_string(&mut s)?;
            Ok(s)
        }
    };
    let has_circ =
        ["communes_circonscriptions.csv", "communes_circonscriptions.csv.gz"].iter().any(|f| dir.join(f).exists());
    let circonscriptions = if has_circ { Some(read("communes_circonscriptions.csv")?) } else { None };
    Ok(Sources {
        regions: read("regions.csv")?,
        departements: read("departements.csv")?,
        communes: read("communes.csv")?,
        circonscriptions,
    })
}

/// Rows of a CSV as maps from header to value, checking that the needed columns exist.
fn records(name: &str, text: &str, needed: &[&str]) -> anyhow::Result<Vec<HashMap<String, String>>> {
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_string()).collect();
    for n in needed {
        if !headers.iter().any(|h| h == n) {
            bail!("{name}: column '{n}' is missing (found: {})", headers.join(", "));
        }
    }
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("{name}: line {} is not valid CSV", i + 2))?;
        rows.push(headers.iter().cloned().zip(rec.iter().map(|v| v.trim().to_string())).collect());
    }
    Ok(rows)
}

/// Loads the embedded reference files when the database has no communes yet.
pub async fn ensure_seeded(db: &Db) -> anyhow::Result<Option<Report>> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM communes").fetch_one(&db.pool).await?;
    if n > 0 {
        return Ok(None);
    }
    Ok(Some(load(db, None).await?))
}

/// Upserts régions, départements, federations and communes from `dir` (or the embedded files).
pub async fn load(db: &Db, dir: Option<&Path>) -> anyhow::Result<Report> {
    let src = match dir {
        Some(d) => from_dir(d)?,
        None => embedded()?,
    };
    let regions = records("regions.csv", &src.regions, &["code", "nom"])?;
    let departements =
        records("departements.csv", &src.departements, &["code", "nom", "region", "zone", "population"])?;
    let communes = records(
        "communes.csv",
        &src.communes,
        &["code", "nom", "type", "departement", "population", "codes_postaux", "commune_parent"],
    )?;

    let mut tx = db.pool.begin().await?;
    let t = now();
    for r in &regions {
        sqlx::query(
            "INSERT INTO regions (code, name) VALUES ($1, $2) ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(&r["code"])
        .bind(&r["nom"])
        .execute(&mut *tx)
        .await?;
    }
    // Federations: metropolitan and overseas départements, plus the French abroad.
    let mut federations: Vec<(String, String)> = departements
        .iter()
        .filter(|d| d["zone"] == "metro" || d["zone"] == "drom")
        .map(|d| (d["code"].clone(), d["nom"].clone()))
        .collect();
    federations.push((ABROAD_CODE.into(), ABROAD_NAME.into()));
    for (code, name) in &federations {
        sqlx::query(
            "INSERT INTO federations (code, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(code)
        .bind(name)
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    let fed_ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>("SELECT code, id FROM federations")
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    for d in &departements {
        let population: Option<i64> = d["population"].parse().ok();
        sqlx::query(
            "INSERT INTO departements (code, name, region_code, zone, population, federation_id) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, region_code = excluded.region_code, zone = excluded.zone, \
             population = excluded.population, federation_id = excluded.federation_id",
        )
        .bind(&d["code"])
        .bind(&d["nom"])
        .bind(&d["region"])
        .bind(&d["zone"])
        .bind(population)
        .bind(fed_ids.get(&d["code"]).copied())
        .execute(&mut *tx)
        .await?;
    }
    // Current communes and municipal arrondissements; delegated/associated communes are parts of those.
    let kept: Vec<&HashMap<String, String>> = communes
        .iter()
        .filter(|c| c["type"] == "commune-actuelle" || c["type"] == "arrondissement-municipal")
        .collect();
    crate::db::insert_all(
        &mut tx,
        db.backend,
        "INSERT INTO communes (code, name, kind, departement_code, population, postcodes, parent_code, federation_id)",
        "(?, ?, ?, ?, ?, ?, ?, ?)",
        " ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
         departement_code = excluded.departement_code, population = excluded.population, postcodes = excluded.postcodes, \
         parent_code = excluded.parent_code, federation_id = excluded.federation_id",
        &kept,
        |q, c| {
            let parent = Some(c["commune_parent"].clone()).filter(|p| !p.is_empty());
            q.bind(c["code"].clone())
                .bind(c["nom"].clone())
                .bind(c["type"].clone())
                .bind(c["departement"].clone())
                .bind(c["population"].parse::<i64>().ok())
                .bind(c["codes_postaux"].split_whitespace().collect::<Vec<_>>().join(","))
                .bind(parent)
                .bind(fed_ids.get(&c["departement"]).copied())
        },
    )
    .await
    .context("cannot load communes")?;
    let mut circonscription_links = 0;
    if let Some(text) = &src.circonscriptions {
        let links = records("communes_circonscriptions.csv", text, &["commune", "circonscription", "rang"])?;
        let known: std::collections::HashSet<&str> = kept.iter().map(|c| c["code"].as_str()).collect();
        let links: Vec<_> = links.iter().filter(|l| known.contains(l["commune"].as_str())).collect();
        sqlx::query("DELETE FROM commune_circonscriptions").execute(&mut *tx).await?;
        crate::db::insert_all(
            &mut tx,
            db.backend,
            "INSERT INTO commune_circonscriptions (commune_code, circonscription, rang)",
            "(?, ?, ?)",
            " ON CONFLICT DO NOTHING",
            &links,
            |q, l| q.bind(l["commune"].clone()).bind(l["circonscription"].clone()).bind(l["rang"].clone()),
        )
        .await
        .context("cannot load circonscriptions")?;
        circonscription_links = links.len();
    }
    tx.commit().await?;
    Ok(Report {
        regions: regions.len(),
        departements: departements.len(),
        federations: federations.len(),
        communes: kept.len(),
        circonscription_links,
    })
}
