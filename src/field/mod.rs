//! Field work (seed 002): missions and sign-ups, the activists' profile and the "for you" ranking, fiches
//! d'observation (field reports) and what they teach, and the versioned fiches militantes built from the territory
//! data and the reports. Schema and vocabulary: migrations/*/0008_field.sql.

pub mod fiche;
pub mod ical;
pub mod matching;
pub mod missions;
pub mod reports;

use crate::db::Db;
use crate::error::{Error, Result};
use crate::territory::classify::Level;

/// Kind of action. Differentiated methods (debate, cultural event, themed party) are first-class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    PorteAPorte,
    Marche,
    Tractage,
    Debat,
    EvenementCulturel,
    Fete,
    Phoning,
    Reunion,
    Collage,
    Autre,
}

impl Method {
    pub const ALL: [Method; 10] = [
        Method::PorteAPorte,
        Method::Marche,
        Method::Tractage,
        Method::Debat,
        Method::EvenementCulturel,
        Method::Fete,
        Method::Phoning,
        Method::Reunion,
        Method::Collage,
        Method::Autre,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::PorteAPorte => "porte_a_porte",
            Method::Marche => "marche",
            Method::Tractage => "tractage",
            Method::Debat => "debat",
            Method::EvenementCulturel => "evenement_culturel",
            Method::Fete => "fete",
            Method::Phoning => "phoning",
            Method::Reunion => "reunion",
            Method::Collage => "collage",
            Method::Autre => "autre",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Method::PorteAPorte => "Porte-à-porte",
            Method::Marche => "Marché",
            Method::Tractage => "Tractage",
            Method::Debat => "Débat public",
            Method::EvenementCulturel => "Événement culturel",
            Method::Fete => "Fête populaire",
            Method::Phoning => "Phoning",
            Method::Reunion => "Réunion d'appartement",
            Method::Collage => "Collage d'affiches",
            Method::Autre => "Autre action",
        }
    }

    /// Does the method knock on doors (doors knocked is then its main figure)?
    pub fn doors(self) -> bool {
        matches!(self, Method::PorteAPorte)
    }
}

/// Label of a stored method string (falls back to the raw value).
pub fn method_label(s: &str) -> String {
    Method::parse(s).map(|m| m.label().to_string()).unwrap_or_else(|| s.to_string())
}

/// A set of zones: the turf of a mission, a report or a fiche. Kept sorted and without duplicates, so that its
/// text form ("bureau:69259-0101,bureau:69259-0102") is a stable key.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Turf(pub Vec<(Level, String)>);

pub const TURF_MAX_ZONES: usize = 50;

impl Turf {
    pub fn parse(text: &str) -> Result<Turf> {
        let mut zones = Vec::new();
        for part in text.split([',', ' ', ';', '\n']).map(str::trim).filter(|p| !p.is_empty()) {
            let (level, code) = part.split_once(':').ok_or_else(|| {
                Error::Invalid(format!("Zone « {part} » : écrivez niveau:code, par exemple commune:69259."))
            })?;
            let level = match level {
                "bureau" => Level::Bureau,
                "commune" => Level::Commune,
                "circonscription" => Level::Circonscription,
                _ => {
                    return Err(Error::Invalid(format!(
                        "Zone « {part} » : le niveau doit être bureau, commune ou circonscription."
                    )));
                }
            };
            let valid = !code.is_empty()
                && code.len() <= 16
                && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
            if !valid {
                return Err(Error::Invalid(format!("Zone « {part} » : code invalide.")));
            }
            zones.push((level, code.to_string()));
        }
        zones.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        zones.dedup();
        if zones.len() > TURF_MAX_ZONES {
            return Err(Error::Invalid(format!("Un secteur compte au plus {TURF_MAX_ZONES} zones.")));
        }
        Ok(Turf(zones))
    }

    pub fn key(&self) -> String {
        self.0.iter().map(|(l, c)| format!("{}:{c}", l.as_str())).collect::<Vec<_>>().join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The commune of each zone (bureau keys start with it; a circonscription has none).
    pub fn communes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter_map(|(l, c)| match l {
                Level::Commune => Some(c.clone()),
                Level::Bureau => c.split_once('-').map(|(commune, _)| commune.to_string()),
                Level::Circonscription => None,
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The département of the first zone ("69", "2A", "971").
    pub fn departement(&self) -> Option<String> {
        let (level, code) = self.0.first()?;
        Some(match level {
            Level::Circonscription => code.split_once('-').map(|(d, _)| d.to_string()).unwrap_or_default(),
            _ => departement_of_commune(code),
        })
    }
}

/// Département of an INSEE commune code: 3 characters overseas (971…), else 2 ("2A" Corsica).
pub fn departement_of_commune(code: &str) -> String {
    if code.starts_with("97") || code.starts_with("98") {
        code.chars().take(3).collect()
    } else {
        code.chars().take(2).collect()
    }
}

/// A readable name for each zone of a turf ("Vénissieux", "Vénissieux, bureau 0101", "Rhône, 14e circonscription").
pub async fn zone_name(db: &Db, level: Level, code: &str) -> Result<String> {
    let commune_name = |c: String| async move {
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM communes WHERE code = $1").bind(&c).fetch_optional(&db.pool).await?;
        Ok::<String, Error>(name.unwrap_or(c))
    };
    Ok(match level {
        Level::Commune => commune_name(code.to_string()).await?,
        Level::Bureau => match code.split_once('-') {
            Some((c, b)) => format!("{}, bureau {b}", commune_name(c.to_string()).await?),
            None => code.to_string(),
        },
        Level::Circonscription => match code.split_once('-') {
            Some((d, _)) => {
                let dep: Option<String> = sqlx::query_scalar("SELECT name FROM departements WHERE code = $1")
                    .bind(d)
                    .fetch_optional(&db.pool)
                    .await?;
                crate::territory::zone::circonscription_name(&dep.unwrap_or_else(|| d.to_string()), code)
            }
            None => code.to_string(),
        },
    })
}

/// "Vénissieux" for one zone, "Vénissieux, bureau 0101 et 2 autres zones" for more.
pub async fn turf_name(db: &Db, turf: &Turf) -> Result<String> {
    match turf.0.as_slice() {
        [] => Ok("Sans secteur".into()),
        [(l, c)] => zone_name(db, *l, c).await,
        [(l, c), rest @ ..] => {
            let first = zone_name(db, *l, c).await?;
            Ok(format!("{first} et {} autre{} zone{}", rest.len(), plural(rest.len()), plural(rest.len())))
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n > 1 { "s" } else { "" }
}

/// The federation a turf belongs to (its first commune's, or its circonscription's département's).
pub async fn turf_federation(db: &Db, turf: &Turf) -> Result<Option<i64>> {
    if let Some(c) = turf.communes().first() {
        let fed: Option<Option<i64>> = sqlx::query_scalar("SELECT federation_id FROM communes WHERE code = $1")
            .bind(c)
            .fetch_optional(&db.pool)
            .await?;
        if let Some(Some(f)) = fed {
            return Ok(Some(f));
        }
    }
    let Some(dep) = turf.departement() else { return Ok(None) };
    Ok(sqlx::query_scalar("SELECT federation_id FROM departements WHERE code = $1")
        .bind(dep)
        .fetch_optional(&db.pool)
        .await?
        .flatten())
}

/// Checks that every zone of a turf exists (a commune of the reference, a bureau or circonscription of an imported
/// election). French error naming the unknown zones.
pub async fn check_turf(db: &Db, turf: &Turf) -> Result<()> {
    let mut unknown = Vec::new();
    for (level, code) in &turf.0 {
        let sql = match level {
            Level::Commune => "SELECT COUNT(*) FROM communes WHERE code = $1",
            Level::Bureau => "SELECT COUNT(*) FROM bureaux WHERE key = $1",
            Level::Circonscription => "SELECT COUNT(*) FROM bureaux WHERE circonscription = $1",
        };
        let n: i64 = sqlx::query_scalar(sql).bind(code).fetch_one(&db.pool).await?;
        if n == 0 {
            unknown.push(format!("{}:{code}", level.as_str()));
        }
    }
    if unknown.is_empty() { Ok(()) } else { Err(Error::Invalid(format!("Zones inconnues : {}.", unknown.join(", ")))) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turf_keys_are_sorted_and_deduplicated() {
        let t = Turf::parse("bureau:69259-0102, commune:69259 bureau:69259-0101,bureau:69259-0102").unwrap();
        assert_eq!(t.key(), "bureau:69259-0101,bureau:69259-0102,commune:69259");
        assert_eq!(t.communes(), vec!["69259".to_string()]);
        assert_eq!(t.departement().as_deref(), Some("69"));
        assert_eq!(Turf::parse("circonscription:69-14").unwrap().departement().as_deref(), Some("69"));
        assert_eq!(Turf::parse("commune:97411").unwrap().departement().as_deref(), Some("974"));
        assert!(Turf::parse("").unwrap().is_empty());
        assert!(Turf::parse("69259").is_err());
        assert!(Turf::parse("ville:69259").is_err());
        assert!(Turf::parse("commune:69'--").is_err());
    }

    #[test]
    fn methods_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::parse(m.as_str()), Some(m));
        }
        assert_eq!(method_label("porte_a_porte"), "Porte-à-porte");
    }
}
