//! Append-only audit log of security events and personal-data access: who, when, what, from where.
//! The table refuses UPDATE and DELETE (triggers on both backends). Details never hold personal data.

use serde::Serialize;

use crate::access::{Access, Perm};
use crate::db::{Db, now};

/// Where a request came from, for the audit trail.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub ip: String,
    pub request_id: String,
}

impl RequestMeta {
    pub fn cli() -> RequestMeta {
        RequestMeta { ip: "cli".into(), request_id: String::new() }
    }
}

pub struct Entry {
    pub actor_user_id: Option<i64>,
    pub action: &'static str,
    pub target_type: &'static str,
    pub target_id: String,
    pub federation_id: Option<i64>,
    pub details: serde_json::Value,
}

impl Entry {
    pub fn new(actor_user_id: Option<i64>, action: &'static str) -> Entry {
        Entry {
            actor_user_id,
            action,
            target_type: "",
            target_id: String::new(),
            federation_id: None,
            details: serde_json::json!({}),
        }
    }
    pub fn target(mut self, target_type: &'static str, id: impl ToString) -> Entry {
        self.target_type = target_type;
        self.target_id = id.to_string();
        self
    }
    pub fn federation(mut self, id: Option<i64>) -> Entry {
        self.federation_id = id;
        self
    }
    pub fn details(mut self, details: serde_json::Value) -> Entry {
        self.details = details;
        self
    }
}

pub async fn record(db: &Db, meta: &RequestMeta, entry: Entry) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, action, target_type, target_id, federation_id, ip, request_id, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(now())
    .bind(entry.actor_user_id)
    .bind(entry.action)
    .bind(entry.target_type)
    .bind(entry.target_id)
    .bind(entry.federation_id)
    .bind(&meta.ip)
    .bind(&meta.request_id)
    .bind(entry.details.to_string())
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Row {
    pub id: i64,
    pub at: i64,
    pub actor_user_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub federation_id: Option<i64>,
    pub ip: String,
    pub request_id: String,
    pub details: String,
}

/// The newest entries the caller may read, optionally only one action.
pub async fn list(db: &Db, access: &Access, action: Option<&str>, limit: i64) -> anyhow::Result<Vec<Row>> {
    let scope = access.filter(Perm::ViewAudit, "a.federation_id", None);
    let sql = format!(
        "SELECT a.id, a.at, a.actor_user_id, u.email AS actor_email, a.action, a.target_type, a.target_id, \
         a.federation_id, a.ip, a.request_id, a.details FROM audit_log a LEFT JOIN users u ON u.id = a.actor_user_id \
         WHERE {scope} AND ($1 = '' OR a.action = $1) ORDER BY a.id DESC LIMIT $2"
    );
    Ok(sqlx::query_as(&sql).bind(action.unwrap_or("")).bind(limit).fetch_all(&db.pool).await?)
}

/// Action names with their French label, for the log page.
pub fn action_label(action: &str) -> &'static str {
    match action {
        "login" => "Connexion",
        "login_failed" => "Échec de connexion",
        "login_throttled" => "Connexion bloquée (trop d'essais)",
        "totp_failed" => "Code à usage unique refusé",
        "totp_enabled" => "Double authentification activée",
        "logout" => "Déconnexion",
        "password_reset_requested" => "Demande de réinitialisation",
        "password_changed" => "Mot de passe changé",
        "invitation_sent" => "Invitation envoyée",
        "invitation_accepted" => "Invitation acceptée",
        "role_granted" => "Rôle attribué",
        "role_revoked" => "Rôle retiré",
        "user_created" => "Compte créé",
        "user_disabled" => "Compte désactivé",
        "user_enabled" => "Compte réactivé",
        "api_token_created" => "Jeton d'API créé",
        "api_token_revoked" => "Jeton d'API révoqué",
        "section_created" => "Section créée",
        "section_updated" => "Section modifiée",
        "section_deleted" => "Section supprimée",
        "access_denied" => "Accès refusé",
        "person_viewed" => "Fiche personne consultée",
        "fiche_people_viewed" => "Personnes à remobiliser consultées (fiche militante)",
        "mission_created" => "Mission publiée",
        "mission_updated" => "Mission modifiée",
        "mission_closed" => "Mission close",
        "mission_cancelled" => "Mission annulée",
        "field_report_filed" => "Fiche d'observation remplie",
        "field_report_reviewed" => "Fiche d'observation vérifiée",
        "zone_issue_added" => "Enjeu local ajouté",
        "person_created" => "Personne créée",
        "person_updated" => "Personne modifiée",
        "person_exported" => "Données d'une personne exportées",
        "person_erased" => "Personne effacée",
        "people_exported" => "Personnes exportées (CSV)",
        "people_imported" => "Personnes importées",
        "import_rejects_downloaded" => "Rejets d'import téléchargés",
        "segment_saved" => "Segment enregistré",
        "skill_added" => "Compétence ajoutée à la liste",
        "people_merged" => "Fiches fusionnées",
        "people_tagged" => "Étiquette ajoutée en masse",
        "retention_purge" => "Purge des personnes inactives (durée de conservation)",
        "person_self_erased" => "Effacement demandé par la personne",
        "segment_deleted" => "Segment supprimé",
        "election_imported" => "Résultats d'élection importés",
        "indicators_imported" => "Indicateurs socio-économiques importés",
        "territory_import_queued" => "Import de données territoriales lancé",
        "election_blocs_changed" => "Blocs d'une élection modifiés",
        "territory_thresholds_changed" => "Seuils du classement modifiés",
        "territory_classified" => "Classement des zones recalculé",
        _ => "Autre",
    }
}
