//! Validating rows before they are written: suppression list, communes, sections and skills.

use std::collections::{HashMap, HashSet};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Options;
use crate::db::Db;
use crate::error::Result;
use crate::people;
use crate::people::csv_import::{self, Candidate, Row};

/// What validating a row needs besides the row: suppression list, communes, sections and skills.
pub(super) struct Resolver {
    pub(super) federation_id: i64,
    /// HMAC keyed with the pepper, cloned for each hash; `None` when the suppression list is empty.
    pub(super) suppression_mac: Option<Hmac<Sha256>>,
    pub(super) suppressed: HashSet<[u8; 32]>,
    /// (INSEE code, postcode, city) joined with NUL → commune.
    pub(super) communes: HashMap<String, Option<String>>,
    pub(super) sections: HashMap<String, Option<i64>>,
    /// Lower-case skill name → id (the first in name order, as a search of the list would find).
    pub(super) skills: HashMap<String, i64>,
}

/// A valid row, with what the database told about it.
pub(super) struct Item {
    pub(super) candidate: Candidate,
    pub(super) commune: Option<String>,
    pub(super) section: Option<i64>,
    pub(super) skill_ids: Vec<i64>,
    /// Search keys of the first and last names, worked out with the validation (on the other core).
    pub(super) keys: (String, String),
}

/// The rows of a batch, validated.
pub(super) struct Prepared {
    pub(super) items: Vec<Item>,
    pub(super) rejected: Vec<(Row, Vec<String>)>,
    pub(super) suppressed: usize,
}

/// Validates the rows of a batch: refused (with reasons), suppressed, or ready to write. Gives way to other tasks
/// every few hundred rows.
pub(super) async fn prepare(db: &Db, resolver: &mut Resolver, options: &Options, rows: &[Row]) -> Result<Prepared> {
    let mut out = Prepared { items: Vec::with_capacity(rows.len()), rejected: Vec::new(), suppressed: 0 };
    for (n, row) in rows.iter().enumerate() {
        if n % 500 == 499 {
            tokio::task::yield_now().await;
        }
        let candidate = match csv_import::validate_row(&options.mapping, row) {
            Ok(c) => c,
            Err(reasons) => {
                out.rejected.push((row.clone(), reasons));
                continue;
            }
        };
        if is_suppressed(resolver, &candidate) {
            out.suppressed += 1;
            continue;
        }
        match resolve(db, resolver, &candidate).await? {
            Err(reasons) => out.rejected.push((row.clone(), reasons)),
            Ok((commune, section, skill_ids)) => {
                let keys =
                    (people::search::name_key(&candidate.first_name), people::search::name_key(&candidate.last_name));
                out.items.push(Item { candidate, commune, section, skill_ids, keys })
            }
        }
    }
    Ok(out)
}

pub(super) fn is_suppressed(resolver: &Resolver, c: &Candidate) -> bool {
    let Some(mac) = &resolver.suppression_mac else { return false };
    // Same keyed hash as `suppression_hash`, compared as bytes.
    let listed = |kind: &str, value: &str| {
        let mut mac = mac.clone();
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        <[u8; 32]>::try_from(mac.finalize().into_bytes().as_slice()).is_ok_and(|h| resolver.suppressed.contains(&h))
    };
    c.email.iter().chain(&c.other_emails).any(|e| listed("email", e))
        || c.phone.iter().chain(&c.other_phones).any(|p| listed("phone", p))
}

type Resolved = (Option<String>, Option<i64>, Vec<i64>);

/// Commune, section and skills of a candidate, or the reasons to reject the row.
async fn resolve(
    db: &Db,
    resolver: &mut Resolver,
    c: &Candidate,
) -> Result<std::result::Result<Resolved, Vec<String>>> {
    let mut reasons = Vec::new();
    let key = format!("{}\0{}\0{}", c.commune_code, c.postcode, c.city);
    let commune = match resolver.communes.get(&key) {
        Some(v) => v.clone(),
        None => {
            let v = people::resolve_commune(db, resolver.federation_id, &c.commune_code, &c.postcode, &c.city).await?;
            resolver.communes.insert(key, v.clone());
            v
        }
    };
    if !c.commune_code.is_empty() && commune.is_none() {
        reasons.push(format!("commune « {} » inconnue ou hors de cette fédération", c.commune_code));
    }
    let section = match &commune {
        Some(code) => match resolver.sections.get(code) {
            Some(s) => *s,
            None => {
                let s = people::section_for_commune(db, resolver.federation_id, code).await?;
                resolver.sections.insert(code.clone(), s);
                s
            }
        },
        None => None,
    };
    let mut skill_ids = Vec::new();
    for name in &c.skills {
        match resolver.skills.get(&name.to_lowercase()) {
            Some(id) if !skill_ids.contains(id) => skill_ids.push(*id),
            Some(_) => {}
            None => reasons.push(format!("compétence inconnue : « {name} »")),
        }
    }
    Ok(if reasons.is_empty() { Ok((commune, section, skill_ids)) } else { Err(reasons) })
}
