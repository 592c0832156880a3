//! The "for you" ranking: which missions suit an activist, and which activists suit a mission. A transparent
//! weighted score, each part between 0 and 1, with its reasons in French:
//!
//! | part | weight | value |
//! |---|---|---|
//! | skills | 0.35 | share of the mission's wanted skills and professional domains the activist has |
//! | causes | 0.25 | the mission's causes the activist shares, or words of its theme found in their causes and skills |
//! | distance | 0.25 | 1 ÷ (1 + km ÷ 15) between home commune and mission commune (0 beyond their own limit) |
//! | priority | 0.15 | the zone's class (mobilisable abstention and hesitant zones first) and priority rank in its département |
//!
//! Distances are great-circle distances between the interior points of the communes' contours shipped with
//! Terrain (a département's point when the commune's contours are not shipped): approximate, which is all a ranking
//! needs.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

use super::missions::{self, Mission};
use crate::db::Db;
use crate::error::Result;
use crate::territory::map;

pub const W_SKILLS: f64 = 0.35;
pub const W_CAUSES: f64 = 0.25;
pub const W_DISTANCE: f64 = 0.25;
pub const W_PRIORITY: f64 = 0.15;
/// Distance (km) at which the distance part is one half.
pub const HALF_KM: f64 = 15.0;

/// What the ranking knows of an activist.
#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub user_id: i64,
    pub display_name: String,
    pub commune_code: Option<String>,
    pub max_distance_km: i64,
    /// (skill id, name, kind): kind `skill` or `cause`.
    pub skills: Vec<(i64, String, String)>,
}

pub async fn profile(db: &Db, user_id: i64) -> Result<Profile> {
    profiles(db, &[user_id]).await?.pop().ok_or(crate::error::Error::NotFound)
}

/// Profiles of several accounts, in the order of `ids`: two queries per 500 accounts.
pub async fn profiles(db: &Db, ids: &[i64]) -> Result<Vec<Profile>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT u.id, u.display_name, p.commune_code, COALESCE(p.max_distance_km, 0) FROM users u \
             LEFT JOIN user_profiles p ON p.user_id = u.id WHERE u.id IN ({list})"
        );
        let mut q = sqlx::query_as::<_, (i64, String, Option<String>, i64)>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        let mut by_id: HashMap<i64, Profile> = q
            .fetch_all(&db.pool)
            .await?
            .into_iter()
            .map(|(user_id, display_name, commune_code, max_distance_km)| {
                (user_id, Profile { user_id, display_name, commune_code, max_distance_km, skills: Vec::new() })
            })
            .collect();
        let sql = format!(
            "SELECT us.user_id, s.id, s.name, s.kind FROM user_skills us JOIN skills s ON s.id = us.skill_id \
             WHERE us.user_id IN ({list}) ORDER BY us.user_id, s.kind DESC, s.name"
        );
        let mut q = sqlx::query_as::<_, (i64, i64, String, String)>(&sql);
        for id in chunk {
            q = q.bind(id);
        }
        for (user, id, name, kind) in q.fetch_all(&db.pool).await? {
            if let Some(p) = by_id.get_mut(&user) {
                p.skills.push((id, name, kind));
            }
        }
        out.extend(chunk.iter().filter_map(|id| by_id.remove(id)));
    }
    Ok(out)
}

/// Saves an activist's own profile (commune checked, skills from the curated list).
pub async fn save_profile(
    db: &Db,
    user_id: i64,
    commune_code: Option<&str>,
    max_distance_km: i64,
    skills: &[i64],
) -> Result<()> {
    use crate::error::Error;
    if !(0..=1_000).contains(&max_distance_km) {
        return Err(Error::Invalid("Distance : de 0 (indifférent) à 1 000 km.".into()));
    }
    let commune = commune_code.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = commune {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM communes WHERE code = $1").bind(c).fetch_one(&db.pool).await?;
        if n == 0 {
            return Err(Error::Invalid(format!("Commune « {c} » inconnue : choisissez-la dans la liste.")));
        }
    }
    let mut skills = skills.to_vec();
    skills.sort();
    skills.dedup();
    if skills.len() > 60 {
        return Err(Error::Invalid("60 compétences et causes au plus.".into()));
    }
    let t = crate::db::now();
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM user_profiles WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO user_profiles (user_id, commune_code, max_distance_km, updated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(commune)
    .bind(max_distance_km)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM user_skills WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
    for s in &skills {
        sqlx::query("INSERT INTO user_skills (user_id, skill_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(s)
            .execute(&mut *tx)
            .await
            .map_err(|_| Error::Invalid("Compétence ou cause inconnue.".into()))?;
    }
    tx.commit().await?;
    Ok(())
}

/// Interior points (lon, lat) of the shipped communes and départements, loaded once (read-only reference data).
fn points() -> &'static HashMap<String, (f64, f64)> {
    static POINTS: OnceLock<HashMap<String, (f64, f64)>> = OnceLock::new();
    POINTS.get_or_init(|| {
        let mut out = HashMap::new();
        for layer in map::SHIPPED {
            if (layer.key == "departements" || layer.key.starts_with("communes-"))
                && let Ok(zones) = map::load_shipped(layer.key)
            {
                let prefix = if layer.key == "departements" { "D" } else { "C" };
                for (code, point) in map::label_points(&zones) {
                    out.insert(format!("{prefix}{code}"), point);
                }
            }
        }
        out
    })
}

/// The commune of a municipal arrondissement of Paris, Lyon or Marseille (the contours have the communes only).
fn arrondissement_parent(code: &str) -> Option<&'static str> {
    let n: u32 = code.parse().ok()?;
    match n {
        75101..=75120 => Some("75056"),
        69381..=69389 => Some("69123"),
        13201..=13216 => Some("13055"),
        _ => None,
    }
}

/// Position of a commune: its own interior point, else its département's.
pub fn position(commune: &str) -> Option<(f64, f64)> {
    let p = points();
    let commune = arrondissement_parent(commune).unwrap_or(commune);
    p.get(&format!("C{commune}")).or_else(|| p.get(&format!("D{}", super::departement_of_commune(commune)))).copied()
}

/// Great-circle distance in km.
pub fn haversine_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lon1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lon2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().asin()
}

pub fn distance_km(a: &str, b: &str) -> Option<f64> {
    if a == b {
        return Some(0.0);
    }
    Some(haversine_km(position(a)?, position(b)?))
}

/// Lower-case words of 4 letters or more, accents folded ("hôpital" → "hopital"), for theme matching.
fn words(text: &str) -> Vec<String> {
    let folded: String = text
        .chars()
        .map(|c| match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' => 'e',
            'î' | 'ï' | 'Î' => 'i',
            'ô' | 'ö' | 'Ô' => 'o',
            'ù' | 'û' | 'ü' | 'Û' => 'u',
            'ç' | 'Ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 4)
        .map(|w| w.trim_end_matches('s').to_string())
        .collect()
}

/// The zone facts the priority part reads: class and priority percentile within the département.
#[derive(Clone, Debug, Default)]
pub struct ZoneFacts {
    pub class: String,
    /// 0 (lowest priority of its département) … 1 (highest).
    pub percentile: f64,
}

pub async fn zone_facts(db: &Db, mission: &Mission) -> Result<ZoneFacts> {
    for (level, code) in &mission.turf().0 {
        let row: Option<(String, String, f64)> =
            sqlx::query_as("SELECT class, departement, priority FROM zone_classes WHERE level = $1 AND zone = $2")
                .bind(level.as_str())
                .bind(code)
                .fetch_optional(&db.pool)
                .await?;
        if let Some((class, dep, priority)) = row {
            let (below, total): (i64, i64) = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN priority < $1 THEN 1 ELSE 0 END), 0) AS BIGINT), COUNT(*) FROM zone_classes \
                 WHERE level = $2 AND departement = $3",
            )
            .bind(priority)
            .bind(level.as_str())
            .bind(&dep)
            .fetch_one(&db.pool)
            .await?;
            let percentile = if total > 1 { below as f64 / (total - 1) as f64 } else { 1.0 };
            return Ok(ZoneFacts { class, percentile });
        }
    }
    Ok(ZoneFacts::default())
}

/// A scored pair, with the reasons shown to the activist or the coordinator.
#[derive(Clone, Debug, Serialize)]
pub struct Score {
    pub total: f64,
    pub skills: f64,
    pub causes: f64,
    pub distance: f64,
    pub priority: f64,
    pub km: Option<f64>,
    pub reasons: Vec<String>,
}

impl Score {
    /// "87 %".
    pub fn percent(&self) -> String {
        format!("{:.0} %", self.total * 100.0)
    }
}

/// Scores one activist for one mission. `wanted`: the mission's skills and causes (id, name, kind).
pub fn score(profile: &Profile, mission: &Mission, wanted: &[(i64, String, String)], zone: &ZoneFacts) -> Score {
    let mut reasons = Vec::new();
    let has = |id: i64| profile.skills.iter().any(|(s, _, _)| *s == id);

    let wanted_skills: Vec<&(i64, String, String)> = wanted.iter().filter(|(_, _, k)| k == "skill").collect();
    let matched: Vec<&str> = wanted_skills.iter().filter(|(id, _, _)| has(*id)).map(|(_, n, _)| n.as_str()).collect();
    let skills = if wanted_skills.is_empty() { 0.0 } else { matched.len() as f64 / wanted_skills.len() as f64 };
    if !matched.is_empty() {
        reasons.push(format!("Compétence recherchée : {}", matched.join(", ")));
    }

    let wanted_causes: Vec<&(i64, String, String)> = wanted.iter().filter(|(_, _, k)| k == "cause").collect();
    let shared: Vec<&str> = wanted_causes.iter().filter(|(id, _, _)| has(*id)).map(|(_, n, _)| n.as_str()).collect();
    let theme_words = words(&format!("{} {}", mission.theme, mission.title));
    let theme_hits: Vec<&str> = profile
        .skills
        .iter()
        .filter(|(_, name, _)| {
            !shared.contains(&name.as_str())
                && !matched.contains(&name.as_str())
                && words(name).iter().any(|w| theme_words.contains(w))
        })
        .map(|(_, n, _)| n.as_str())
        .collect();
    let causes = if !wanted_causes.is_empty() {
        (shared.len() as f64 / wanted_causes.len() as f64).max(if theme_hits.is_empty() { 0.0 } else { 0.5 })
    } else if !theme_hits.is_empty() {
        1.0
    } else {
        0.0
    };
    if !shared.is_empty() {
        reasons.push(format!("Cause partagée : {}", shared.join(", ")));
    }
    if !theme_hits.is_empty() {
        reasons.push(format!("Thème proche de : {}", theme_hits.join(", ")));
    }

    let km = match (&profile.commune_code, &mission.commune_code) {
        (Some(a), Some(b)) => distance_km(a, b),
        _ => None,
    };
    let distance = match km {
        Some(d) if profile.max_distance_km > 0 && d > profile.max_distance_km as f64 => {
            reasons.push(format!("Au-delà de votre limite ({} km)", profile.max_distance_km));
            0.0
        }
        Some(d) => {
            reasons.push(if d < 1.0 { "Dans votre commune".to_string() } else { format!("À {d:.0} km") });
            1.0 / (1.0 + d / HALF_KM)
        }
        None => 0.3,
    };

    let class_part = match zone.class.as_str() {
        "abstention" | "hesitant" => 1.0,
        "acquis_gauche" => 0.5,
        "acquis_droite" => 0.2,
        _ => 0.3,
    };
    let priority = if zone.class.is_empty() { 0.3 } else { 0.6 * class_part + 0.4 * zone.percentile };
    if matches!(zone.class.as_str(), "abstention" | "hesitant") {
        let label = crate::territory::classify::ZoneClass::parse(&zone.class).map(|c| c.label()).unwrap_or("");
        reasons.push(format!("Zone prioritaire ({})", label.to_lowercase()));
    }

    let total = W_SKILLS * skills + W_CAUSES * causes + W_DISTANCE * distance + W_PRIORITY * priority;
    Score { total, skills, causes, distance, priority, km, reasons }
}

/// Open missions ranked for an activist (those with places left that they have not joined), best first.
pub async fn recommend(db: &Db, user_id: i64, limit: usize) -> Result<Vec<(Mission, Score)>> {
    let me = profile(db, user_id).await?;
    let open = missions::list(db, &missions::Filter::default(), 500).await?;
    let joined: Vec<i64> = sqlx::query_scalar(
        "SELECT mission_id FROM mission_signups WHERE user_id = $1 AND state IN ('signed', 'attended')",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    let open: Vec<Mission> = open.into_iter().filter(|m| !joined.contains(&m.id) && m.remaining() > 0).collect();
    let mut wanted = missions::skills_of(db, &open.iter().map(|m| m.id).collect::<Vec<_>>()).await?;
    // Missions on the same turf share its facts.
    let mut zones: HashMap<String, ZoneFacts> = HashMap::new();
    let mut scored = Vec::with_capacity(open.len());
    for m in open {
        if !zones.contains_key(&m.turf) {
            zones.insert(m.turf.clone(), zone_facts(db, &m).await?);
        }
        let s = score(&me, &m, &wanted.remove(&m.id).unwrap_or_default(), &zones[&m.turf]);
        scored.push((m, s));
    }
    scored.sort_by(|a, b| b.1.total.total_cmp(&a.1.total).then(a.0.starts_at.cmp(&b.0.starts_at)));
    scored.truncate(limit);
    Ok(scored)
}

/// Activists ranked for a mission, for its coordinators: the active accounts of the mission's federation (every
/// account for a national mission) who have not signed up yet.
pub async fn candidates(db: &Db, mission: &Mission, limit: usize) -> Result<Vec<(Profile, Score)>> {
    let ids: Vec<i64> = match mission.federation_id {
        Some(f) => {
            sqlx::query_scalar(
                "SELECT DISTINCT u.id FROM users u JOIN role_grants g ON g.user_id = u.id \
                 WHERE u.disabled = 0 AND u.password_hash IS NOT NULL AND g.federation_id = $1 \
                 AND u.id NOT IN (SELECT user_id FROM mission_signups WHERE mission_id = $2 AND state <> 'cancelled') \
                 ORDER BY u.id LIMIT 5000",
            )
            .bind(f)
            .bind(mission.id)
            .fetch_all(&db.pool)
            .await?
        }
        None => {
            sqlx::query_scalar(
                "SELECT u.id FROM users u WHERE u.disabled = 0 AND u.password_hash IS NOT NULL \
                 AND u.id NOT IN (SELECT user_id FROM mission_signups WHERE mission_id = $1 AND state <> 'cancelled') \
                 ORDER BY u.id LIMIT 5000",
            )
            .bind(mission.id)
            .fetch_all(&db.pool)
            .await?
        }
    };
    let wanted = missions::skills(db, mission.id).await?;
    let zone = zone_facts(db, mission).await?;
    let mut scored: Vec<(Profile, Score)> = profiles(db, &ids)
        .await?
        .into_iter()
        .map(|p| {
            let s = score(&p, mission, &wanted, &zone);
            (p, s)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total.total_cmp(&a.1.total).then(a.0.user_id.cmp(&b.0.user_id)));
    scored.truncate(limit);
    Ok(scored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mission(theme: &str, commune: &str) -> Mission {
        Mission {
            id: 1,
            federation_id: Some(1),
            section_id: None,
            title: "Porte-à-porte".into(),
            method: "porte_a_porte".into(),
            theme: theme.into(),
            description: String::new(),
            starts_at: 0,
            ends_at: 0,
            places: 10,
            meeting_point: String::new(),
            commune_code: Some(commune.into()),
            turf: String::new(),
            state: "published".into(),
            created_by: None,
            created_at: 0,
            updated_at: 0,
            closed_at: None,
            place_label: String::new(),
            commune_name: String::new(),
            taken: 0,
        }
    }

    #[test]
    fn distances_between_shipped_communes() {
        // Lyon 1er → Vénissieux: about 8 km; Lyon → Brest: about 800 km (département points).
        let d = distance_km("69381", "69259").unwrap();
        assert!((3.0..15.0).contains(&d), "{d}");
        let far = distance_km("69259", "29019").unwrap();
        assert!((650.0..900.0).contains(&far), "{far}");
        assert_eq!(distance_km("69259", "69259"), Some(0.0));
        assert!(position("75056").is_some(), "Paris falls back to its département");
    }

    #[test]
    fn a_nurse_nearby_beats_a_postal_worker_and_a_faraway_nurse() {
        let sante = (1, "Santé".to_string(), "skill".to_string());
        let poste = (2, "La Poste".to_string(), "skill".to_string());
        let hopital = (3, "Santé et hôpital".to_string(), "cause".to_string());
        let m = mission("Défendre l'hôpital", "69259");
        let wanted = vec![sante.clone()];
        let zone = ZoneFacts { class: "abstention".into(), percentile: 0.9 };
        let nurse = Profile {
            commune_code: Some("69259".into()),
            skills: vec![sante.clone(), hopital.clone()],
            ..Default::default()
        };
        let postie = Profile { commune_code: Some("69259".into()), skills: vec![poste], ..Default::default() };
        let far_nurse =
            Profile { commune_code: Some("29019".into()), skills: vec![sante, hopital], ..Default::default() };
        let (a, b, c) = (
            score(&nurse, &m, &wanted, &zone),
            score(&postie, &m, &wanted, &zone),
            score(&far_nurse, &m, &wanted, &zone),
        );
        assert!(a.total > c.total && c.total > b.total, "{a:?} {b:?} {c:?}");
        assert!(a.reasons.iter().any(|r| r.contains("Santé")), "{:?}", a.reasons);
        assert!(a.reasons.iter().any(|r| r.contains("hôpital")), "theme matches the cause: {:?}", a.reasons);
        assert!(a.reasons.iter().any(|r| r.contains("prioritaire")), "{:?}", a.reasons);
    }

    #[test]
    fn theme_words_fold_accents_and_plurals() {
        assert!(words("Défendre les hôpitaux publics").contains(&"hopitaux".to_string()));
        assert!(words("Santé et hôpital").contains(&"hopital".to_string()));
        assert!(words("Écoles").contains(&"ecole".to_string()));
    }
}
