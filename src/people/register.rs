//! Register of processing activities (GDPR art. 30), kept in code: every column of a table that holds
//! personal data is declared here with its purpose, legal basis and retention. A test fails when a column is
//! added to such a table without being declared, and the access export walks the same list of tables.

pub struct Declaration {
    pub table: &'static str,
    pub column: &'static str,
    pub data: &'static str,
    pub purpose: &'static str,
    pub basis: &'static str,
    pub retention: &'static str,
}

const CONTACT: &str = "Contacter la personne pour l'action politique de la fédération";
const BASIS: &str = "Art. 9-2-d (adhérent·es, contacts réguliers) ou 9-2-a (consentement explicite)";
const RETENTION: &str = "Adhérent·es : durée de l'adhésion ; autres : 3 ans après le dernier contact à leur initiative";
const TECH: &str = "Fonctionnement du carnet d'adresses";

const fn d(table: &'static str, column: &'static str, data: &'static str, purpose: &'static str) -> Declaration {
    Declaration { table, column, data, purpose, basis: BASIS, retention: RETENTION }
}

/// Tables holding personal data of address-book people (all rows tied to one person).
pub const PERSONAL_TABLES: [&str; 11] = [
    "people",
    "person_contacts",
    "person_tags",
    "person_skills",
    "consent_events",
    "person_events",
    "consent_state",
    "campaign_recipients",
    "campaign_events",
    "email_blocks",
    "soft_bounces",
];

/// Short-lived tables holding an address before it is a person (sign-ups) or to reach one (self-service links).
/// `campaign_audience` holds the frozen audience of a campaign being sent, as lists of person ids, until the senders
/// turn them into `campaign_recipients` rows.
pub const TRANSIENT_TABLES: [&str; 4] = ["signups", "person_links", "import_files", "campaign_audience"];

/// Tables holding personal data of accounts (activists and staff) for field work: their own profile for the
/// ranking of missions, and their sign-ups. Each account sees and edits its own (`/profil-militant`).
pub const ACCOUNT_TABLES: [&str; 3] = ["user_profiles", "user_skills", "mission_signups"];

const MATCH: &str = "Proposer à chaque militant·e les missions qui lui correspondent";
const MISSION: &str = "Organiser les missions (places, covoiturage, présence, fiche d'observation)";

const fn account(table: &'static str, column: &'static str, data: &'static str, purpose: &'static str) -> Declaration {
    Declaration {
        table,
        column,
        data,
        purpose,
        basis: "Adhésion ou participation à l'organisation (RGPD art. 9-2-d), données fournies par la personne",
        retention: "Durée du compte ; supprimé avec lui",
    }
}

const SIGNUP: &str = "Confirmer une inscription (double opt-in)";
const SIGNUP_BASIS: &str = "Consentement de la personne (RGPD art. 9-2-a)";
const SIGNUP_RETENTION: &str = "7 jours sans confirmation";
const LINK: &str = "Envoyer à la personne un lien vers ses données (RGPD art. 15 à 21)";
const LINK_BASIS: &str = "Obligation légale (RGPD art. 12)";
const LINK_RETENTION: &str = "1 heure";

const SENDING: &str = "Envoyer chaque lettre une fois et une seule à chaque destinataire";
const TRACKING: &str = "Mesurer l'audience des lettres (individuellement seulement avec consentement)";
const BOUNCES: &str = "Ne plus écrire aux adresses invalides ou aux personnes qui se sont plaintes";

const fn n(table: &'static str, column: &'static str, data: &'static str, purpose: &'static str) -> Declaration {
    Declaration {
        table,
        column,
        data,
        purpose,
        basis: "Consentement à la lettre (RGPD art. 9-2-a) ; intérêt légitime pour les rebonds et plaintes",
        retention: "Durée de conservation de la personne ; effacé avec elle (les totaux anonymes restent)",
    }
}

const fn import_file(column: &'static str, data: &'static str) -> Declaration {
    Declaration {
        table: "import_files",
        column,
        data,
        purpose: "Montrer l'aperçu d'un import puis l'exécuter",
        basis: BASIS,
        retention: "Jusqu'à la fin de l'import (1 jour au plus sans confirmation)",
    }
}

const fn signup(column: &'static str, data: &'static str) -> Declaration {
    Declaration { table: "signups", column, data, purpose: SIGNUP, basis: SIGNUP_BASIS, retention: SIGNUP_RETENTION }
}

const fn link(column: &'static str, data: &'static str) -> Declaration {
    Declaration { table: "person_links", column, data, purpose: LINK, basis: LINK_BASIS, retention: LINK_RETENTION }
}

const fn audience(column: &'static str, data: &'static str) -> Declaration {
    Declaration {
        table: "campaign_audience",
        column,
        data,
        purpose: SENDING,
        basis: "Consentement à la lettre (RGPD art. 9-2-a)",
        retention: "Jusqu'à ce que l'envoi prenne la liste (minutes) ; une personne effacée en est retirée aussitôt",
    }
}

pub const DECLARATIONS: &[Declaration] = &[
    d("people", "id", "Identifiant interne", TECH),
    d("people", "federation_id", "Fédération de rattachement", "Cloisonnement entre fédérations"),
    d("people", "section_id", "Section de rattachement", "Organisation locale"),
    d("people", "commune_code", "Commune (code INSEE)", "Organisation locale et ciblage territorial"),
    d("people", "first_name", "Prénom", CONTACT),
    d("people", "last_name", "Nom", CONTACT),
    d("people", "first_key", "Prénom sans accents ni majuscules (copie pour la recherche)", "Recherche rapide"),
    d("people", "last_key", "Nom sans accents ni majuscules (copie pour la recherche)", "Recherche rapide"),
    d("people", "email", "Adresse e-mail", CONTACT),
    d("people", "phone", "Téléphone", CONTACT),
    d("people", "address", "Adresse postale", CONTACT),
    d("people", "postcode", "Code postal", CONTACT),
    d("people", "city", "Commune (texte)", CONTACT),
    d(
        "people",
        "category",
        "Catégorie (adhérent·e, sympathisant·e, curieux·se) : révèle une opinion politique",
        CONTACT,
    ),
    d("people", "legal_basis", "Base légale du traitement", "Conformité (RGPD art. 6 et 9)"),
    d("people", "origin", "Origine des données", "Information de la personne (CNIL)"),
    d("people", "origin_channel", "Canal de collecte", "Information de la personne (CNIL)"),
    d("people", "collected_by", "Compte ayant collecté", "Traçabilité"),
    d("people", "notes", "Notes de l'équipe", CONTACT),
    d("people", "availability", "Disponibilités", "Proposer des missions militantes"),
    d("people", "external_id", "Identifiant dans un autre outil (NationBuilder…)", "Dédoublonnage des imports"),
    d("people", "created_at", "Date de création", TECH),
    d("people", "updated_at", "Date de modification", TECH),
    d("people", "last_activity_at", "Dernière interaction à l'initiative de la personne", "Durée de conservation"),
    d("person_contacts", "person_id", "Personne", TECH),
    d("person_contacts", "federation_id", "Fédération", TECH),
    d("person_contacts", "kind", "Type (e-mail ou téléphone)", TECH),
    d("person_contacts", "value", "Autres adresses e-mail et numéros de téléphone", CONTACT),
    d("person_contacts", "created_at", "Date d'ajout", TECH),
    d("person_tags", "person_id", "Personne", TECH),
    d("person_tags", "tag", "Étiquettes", "Ciblage des communications"),
    d("person_skills", "person_id", "Personne", TECH),
    d("person_skills", "skill_id", "Compétences et domaines professionnels", "Proposer des missions adaptées"),
    d("consent_events", "id", "Identifiant de la décision", TECH),
    d("consent_events", "person_id", "Personne", TECH),
    d("consent_events", "purpose", "Finalité consentie ou refusée", "Preuve du consentement (RGPD art. 7)"),
    d("consent_events", "granted", "Décision", "Preuve du consentement (RGPD art. 7)"),
    d("consent_events", "source", "Canal de la décision", "Preuve du consentement (RGPD art. 7)"),
    d("consent_events", "wording_version", "Version du texte présenté", "Preuve du consentement (RGPD art. 7)"),
    d("consent_events", "ip", "Adresse IP (formulaires)", "Preuve du consentement (RGPD art. 7)"),
    d("consent_events", "recorded_by", "Compte ayant enregistré", "Traçabilité"),
    d("consent_events", "at", "Date", "Preuve du consentement (RGPD art. 7)"),
    d("person_events", "id", "Identifiant de l'événement", TECH),
    d("person_events", "person_id", "Personne", TECH),
    d("person_events", "kind", "Type d'événement", "Historique des échanges"),
    d("person_events", "summary", "Résumé de l'événement", "Historique des échanges"),
    d("person_events", "actor_user_id", "Compte à l'origine", "Traçabilité"),
    d("person_events", "at", "Date", "Historique des échanges"),
    d("consent_state", "person_id", "Personne", TECH),
    d("consent_state", "purpose", "Finalité", "État courant du consentement, déduit du registre des décisions"),
    d(
        "consent_state",
        "granted",
        "Décision en vigueur",
        "État courant du consentement, déduit du registre des décisions",
    ),
    d("consent_state", "at", "Date de la décision en vigueur", "État courant du consentement"),
    n("campaign_recipients", "campaign_id", "Lettre envoyée à la personne", SENDING),
    n("campaign_recipients", "person_id", "Personne destinataire", SENDING),
    n("campaign_recipients", "state", "État de l'envoi (en attente, envoyé, échec…)", SENDING),
    n("campaign_recipients", "track", "Mesure individuelle acceptée au moment de l'envoi", SENDING),
    n("campaign_recipients", "attempts", "Nombre de tentatives", SENDING),
    n("campaign_recipients", "next_attempt_at", "Prochaine tentative", SENDING),
    n("campaign_recipients", "worker", "Processus d'envoi", SENDING),
    n("campaign_recipients", "lease_until", "Réservation par le processus d'envoi", SENDING),
    n("campaign_recipients", "detail", "Réponse du serveur de messagerie", SENDING),
    n("campaign_recipients", "sent_at", "Date d'envoi", SENDING),
    audience("campaign_id", "Lettre en cours d'envoi"),
    audience("bucket", "Tranche d'identifiants de personnes"),
    audience("track", "Mesure individuelle acceptée au moment de l'envoi"),
    audience("first_id", "Premier identifiant de la liste"),
    audience("last_id", "Dernier identifiant de la liste"),
    audience("n", "Nombre de personnes de la liste"),
    audience("person_ids", "Personnes destinataires pas encore prises par l'envoi"),
    n("campaign_events", "id", "Identifiant de l'événement", TRACKING),
    n("campaign_events", "campaign_id", "Lettre concernée", TRACKING),
    n("campaign_events", "person_id", "Personne (seulement si elle a accepté la mesure individuelle)", TRACKING),
    n("campaign_events", "kind", "Ouverture, clic, désinscription, rebond, plainte", TRACKING),
    n("campaign_events", "link_idx", "Lien cliqué", TRACKING),
    n("campaign_events", "at", "Date", TRACKING),
    n("email_blocks", "person_id", "Personne dont l'adresse n'est plus écrite", BOUNCES),
    n("email_blocks", "reason", "Raison (rebond définitif, rebonds répétés, plainte)", BOUNCES),
    n("email_blocks", "detail", "Réponse du serveur de messagerie", BOUNCES),
    n("email_blocks", "at", "Date", BOUNCES),
    n("soft_bounces", "person_id", "Personne", BOUNCES),
    n("soft_bounces", "campaign_id", "Lettre concernée", BOUNCES),
    n("soft_bounces", "status", "Code d'état du rebond temporaire", BOUNCES),
    n("soft_bounces", "at", "Date", BOUNCES),
    signup("token_hash", "Empreinte du lien de confirmation"),
    signup("federation_id", "Fédération choisie"),
    signup("email", "Adresse e-mail"),
    signup("first_name", "Prénom"),
    signup("last_name", "Nom"),
    signup("postcode", "Code postal"),
    signup("purposes", "Consentements cochés"),
    signup("ip", "Adresse IP (preuve du consentement)"),
    signup("created_at", "Date"),
    signup("expires_at", "Expiration"),
    import_file("import_id", "Import"),
    import_file("content", "Contenu du fichier importé"),
    account("user_profiles", "user_id", "Compte", TECH),
    account("user_profiles", "commune_code", "Commune de résidence (code Insee)", MATCH),
    account("user_profiles", "max_distance_km", "Distance maximale acceptée", MATCH),
    account("user_profiles", "updated_at", "Date de modification", TECH),
    account("user_skills", "user_id", "Compte", TECH),
    account(
        "user_skills",
        "skill_id",
        "Compétences, domaines professionnels et causes (peuvent révéler une opinion)",
        MATCH,
    ),
    account("mission_signups", "mission_id", "Mission", MISSION),
    account("mission_signups", "user_id", "Compte inscrit", MISSION),
    account("mission_signups", "state", "Inscription, désinscription, présence", MISSION),
    account("mission_signups", "seats_offered", "Places proposées en covoiturage", MISSION),
    account("mission_signups", "needs_seat", "Besoin d'une place en covoiturage", MISSION),
    account("mission_signups", "signed_at", "Date d'inscription", MISSION),
    account("mission_signups", "updated_at", "Date de modification", MISSION),
    account("mission_signups", "reminded_at", "Date du rappel de la fiche d'observation", MISSION),
    link("token_hash", "Empreinte du lien"),
    link("email", "Adresse e-mail"),
    link("created_at", "Date"),
    link("expires_at", "Expiration"),
];

pub fn is_declared(table: &str, column: &str) -> bool {
    DECLARATIONS.iter().any(|d| d.table == table && d.column == column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_cover_only_personal_tables_once() {
        for d in DECLARATIONS {
            assert!(
                PERSONAL_TABLES.contains(&d.table)
                    || TRANSIENT_TABLES.contains(&d.table)
                    || ACCOUNT_TABLES.contains(&d.table),
                "{}.{} is not a personal table",
                d.table,
                d.column
            );
            assert_eq!(DECLARATIONS.iter().filter(|x| x.table == d.table && x.column == d.column).count(), 1);
        }
    }
}
