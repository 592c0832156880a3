//! Consent ledger (GDPR art. 7): one append-only row per decision, per purpose; the current state of a purpose
//! is its latest row. Withdrawing is a new row and applies at once everywhere the state is read.

use serde::Serialize;

use super::Person;
use crate::db::{Db, now};
use crate::error::{Error, Result};

/// The purposes a person can consent to, with the wording shown to them.
pub const PURPOSES: [(&str, &str); 6] = [
    ("newsletter_national", "Lettre d'information nationale (e-mail)"),
    ("newsletter_federation", "Lettre d'information de la fédération (e-mail)"),
    ("sms", "Messages SMS"),
    ("phone", "Appels téléphoniques"),
    ("alerts", "Alertes militantes (e-mail)"),
    ("tracking", "Mesure individuelle des ouvertures et des clics de nos lettres"),
];

/// Version of the consent wording in force; stored with every decision as proof.
pub const WORDING_VERSION: &str = "2026-11-v1";

pub const SOURCES: [&str; 7] = ["form", "import", "field", "self_service", "staff", "unsubscribe", "complaint"];

pub fn purpose_label(code: &str) -> &'static str {
    PURPOSES.iter().find(|(c, _)| *c == code).map(|(_, l)| *l).unwrap_or("?")
}

pub fn source_label(code: &str) -> &'static str {
    match code {
        "form" => "formulaire d'inscription",
        "import" => "import de fichier",
        "field" => "collecte sur le terrain",
        "self_service" => "la personne elle-même",
        "staff" => "saisie par l'équipe",
        "unsubscribe" => "lien de désinscription d'une lettre",
        "complaint" => "signalement comme indésirable",
        _ => "?",
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow, PartialEq)]
pub struct ConsentEvent {
    pub id: i64,
    pub purpose: String,
    pub granted: i64,
    pub source: String,
    pub wording_version: String,
    pub ip: String,
    pub recorded_by: Option<i64>,
    pub at: i64,
}

/// The current state of one purpose.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    pub purpose: &'static str,
    pub label: &'static str,
    /// None: never asked.
    pub granted: Option<bool>,
    pub at: Option<i64>,
    pub source: String,
}

pub async fn ledger(db: &Db, person: &Person) -> Result<Vec<ConsentEvent>> {
    Ok(sqlx::query_as(
        "SELECT id, purpose, granted, source, wording_version, ip, recorded_by, at FROM consent_events \
         WHERE person_id = $1 ORDER BY id",
    )
    .bind(person.id)
    .fetch_all(&db.pool)
    .await?)
}

/// Derives the current state of every purpose from the ledger: the last decision wins.
pub fn current(events: &[ConsentEvent]) -> Vec<State> {
    PURPOSES
        .iter()
        .map(|(purpose, label)| {
            let last = events.iter().filter(|e| e.purpose == *purpose).max_by_key(|e| e.id);
            State {
                purpose,
                label,
                granted: last.map(|e| e.granted != 0),
                at: last.map(|e| e.at),
                source: last.map(|e| e.source.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// Records a decision (inside the caller's transaction when there is one).
#[allow(clippy::too_many_arguments)]
pub async fn record<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    executor: E,
    person_id: i64,
    purpose: &str,
    granted: bool,
    source: &str,
    ip: &str,
    recorded_by: Option<i64>,
) -> Result<()> {
    if !PURPOSES.iter().any(|(p, _)| *p == purpose) {
        return Err(Error::Invalid("Finalité de consentement inconnue.".into()));
    }
    if !SOURCES.contains(&source) {
        return Err(Error::Invalid("Origine du consentement inconnue.".into()));
    }
    sqlx::query(
        "INSERT INTO consent_events (person_id, purpose, granted, source, wording_version, ip, recorded_by, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(person_id)
    .bind(purpose)
    .bind(granted as i64)
    .bind(source)
    .bind(WORDING_VERSION)
    .bind(ip)
    .bind(recorded_by)
    .bind(now())
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: i64, purpose: &str, granted: bool) -> ConsentEvent {
        ConsentEvent {
            id,
            purpose: purpose.into(),
            granted: granted as i64,
            source: "staff".into(),
            wording_version: WORDING_VERSION.into(),
            ip: String::new(),
            recorded_by: None,
            at: id,
        }
    }

    #[test]
    fn the_last_decision_wins_for_every_sequence() {
        // Every sequence of up to 6 decisions on two purposes: the state is the last decision of each.
        for mask in 0u32..(1 << 12) {
            let n = (mask & 7) as usize % 7;
            let events: Vec<ConsentEvent> = (0..n)
                .map(|i| {
                    let purpose = if mask >> (3 + i) & 1 == 1 { "sms" } else { "phone" };
                    ev(i as i64 + 1, purpose, (mask >> (i + 5)) & 1 == 1)
                })
                .collect();
            let state = current(&events);
            for s in state {
                let expected = events.iter().rev().find(|e| e.purpose == s.purpose).map(|e| e.granted != 0);
                assert_eq!(s.granted, expected, "mask {mask}");
            }
        }
    }

    #[test]
    fn never_asked_is_not_consent() {
        assert!(current(&[]).iter().all(|s| s.granted.is_none()));
        let s = current(&[ev(1, "alerts", true), ev(2, "alerts", false)]);
        assert_eq!(s.iter().find(|s| s.purpose == "alerts").unwrap().granted, Some(false));
    }
}
