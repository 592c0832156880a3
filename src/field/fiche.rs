//! Fiches militantes: the briefing sheet of a turf, built from the territory data (classification, results,
//! socio-economic indicators), the local issues HQ wrote, and the counted fiches d'observation of the turf and of
//! zones of the same class. This closes the seed's loop: a report filed today changes the next sheet.
//!
//! A sheet's content holds no personal data and is deterministic from its inputs; it is stored as a new version
//! whenever it differs from the latest one (so new reports or data produce version n+1 at the next view, from any
//! process). The people to re-mobilise are added for each reader at display time, within their scope, and audited.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::reports::{self, Knowledge};
use super::{Method, Turf};
use crate::access::{Access, Perm};
use crate::db::{Db, now};
use crate::error::{Error, Result};
use crate::territory::classify::{self, ZoneClass, format_count, format_percent, format_points};

/// A labelled line of a sheet.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub label: String,
    pub detail: String,
}

fn item(label: impl Into<String>, detail: impl Into<String>) -> Item {
    Item { label: label.into(), detail: detail.into() }
}

/// The stored content of a version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub turf: String,
    /// "Vénissieux" or "Vénissieux, bureau 0101 et 2 autres zones".
    pub name: String,
    pub zones: Vec<String>,
    /// Class code of the main zone ('' when unclassified) and its French label.
    pub class: String,
    pub class_label: String,
    /// The classification's plain-French explanation(s).
    pub profile: String,
    pub facts: Vec<Item>,
    pub targeting: Vec<String>,
    pub issues: Vec<Item>,
    pub methods: Vec<Item>,
    pub script: Vec<String>,
    pub advice: Vec<String>,
    /// Counted fiches d'observation of the turf.
    pub reports: i64,
    pub sources: String,
}

/// A stored version.
#[derive(Clone, Debug)]
pub struct Fiche {
    pub turf: String,
    pub version: i64,
    pub reason: String,
    pub created_at: i64,
    pub content: Content,
}

/// One classified zone of the turf (zone_classes row).
#[derive(Clone, Debug, sqlx::FromRow)]
struct ClassRow {
    departement: String,
    inscrits: i64,
    votants: i64,
    exprimes: i64,
    left_share: f64,
    right_share: f64,
    extreme_droite_share: f64,
    delta_left: Option<f64>,
    delta_abstention: Option<f64>,
    class: String,
    priority: f64,
    explanation: String,
}

async fn class_rows(db: &Db, turf: &Turf) -> Result<Vec<ClassRow>> {
    let mut out = Vec::new();
    for (level, code) in &turf.0 {
        let row: Option<ClassRow> = sqlx::query_as(
            "SELECT departement, inscrits, votants, exprimes, left_share, right_share, \
             extreme_droite_share, delta_left, delta_abstention, class, priority, explanation \
             FROM zone_classes WHERE level = $1 AND zone = $2",
        )
        .bind(level.as_str())
        .bind(code)
        .fetch_optional(&db.pool)
        .await?;
        if let Some(mut row) = row {
            if row.explanation.is_empty() {
                row.explanation = classify::explanation(db, *level, code).await?;
            }
            out.push(row);
        }
    }
    Ok(out)
}

/// The classification pair, for the sources line: ("Présidentielle 2017, 1er tour", "…").
async fn election_pair(db: &Db) -> Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT r.label, p.label FROM (SELECT reference_election_id, previous_election_id FROM zone_classes LIMIT 1) z \
         JOIN elections r ON r.id = z.reference_election_id JOIN elections p ON p.id = z.previous_election_id",
    )
    .fetch_optional(&db.pool)
    .await?)
}

/// Indicators of the turf's communes that a canvasser can use, with French labels (Insee Filosofi codes end with
/// the data's year: MED21, TP6021…).
async fn socio_facts(db: &Db, turf: &Turf) -> Result<(Vec<Item>, Option<f64>, String)> {
    let communes = turf.communes();
    let Some(commune) = communes.first() else { return Ok((Vec::new(), None, String::new())) };
    let rows: Vec<(String, Option<f64>, String)> =
        sqlx::query_as("SELECT indicator, value, source FROM commune_indicators WHERE commune_code = $1")
            .bind(commune)
            .fetch_all(&db.pool)
            .await?;
    let mut out = Vec::new();
    let mut poverty = None;
    let mut source = String::new();
    let pick = |prefix: &str| {
        rows.iter().find(|(code, _, _)| {
            code.starts_with(prefix)
                && code[prefix.len()..].len() == 2
                && code[prefix.len()..].chars().all(|c| c.is_ascii_digit())
        })
    };
    let wanted = [
        ("MED", "Revenu médian (par unité de consommation)", "€"),
        ("TP60", "Taux de pauvreté", "%"),
        ("PCHO", "Part des allocations chômage dans les revenus", "%"),
        ("PPMINI", "Part des minima sociaux dans les revenus", "%"),
    ];
    for (prefix, label, unit) in wanted {
        if let Some((_, value, src)) = pick(prefix) {
            source = src.clone();
            let text = match value {
                None => "secret statistique".to_string(),
                Some(v) if unit == "€" => format!("{}\u{a0}€ par an", format_count(v.round() as u64)),
                Some(v) => format_percent(v / 100.0),
            };
            if prefix == "TP60" {
                poverty = *value;
            }
            out.push(item(label, text));
        }
    }
    Ok((out, poverty, source))
}

async fn departement_abstention(db: &Db, dep: &str) -> Result<Option<f64>> {
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT CAST(SUM(inscrits) AS BIGINT), CAST(SUM(votants) AS BIGINT) FROM zone_classes WHERE level = 'circonscription' AND departement = $1 \
         HAVING COUNT(*) > 0",
    )
    .bind(dep)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.and_then(|(i, v)| (i > 0).then(|| 1.0 - v as f64 / i as f64)))
}

/// Builds the content of a turf's sheet from the current data.
pub async fn build(db: &Db, turf: &Turf, party: &str) -> Result<Content> {
    let mut c = Content { turf: turf.key(), name: super::turf_name(db, turf).await?, ..Default::default() };
    for (level, code) in &turf.0 {
        c.zones.push(super::zone_name(db, *level, code).await?);
    }
    let rows = class_rows(db, turf).await?;
    let main = rows.first();
    c.class = main.map(|r| r.class.clone()).unwrap_or_default();
    c.class_label = ZoneClass::parse(&c.class).map(|z| z.label().to_string()).unwrap_or_default();

    // Figures summed over the classified zones.
    if !rows.is_empty() {
        let inscrits: i64 = rows.iter().map(|r| r.inscrits).sum();
        let votants: i64 = rows.iter().map(|r| r.votants).sum();
        let exprimes: i64 = rows.iter().map(|r| r.exprimes).sum();
        let weighted = |f: fn(&ClassRow) -> f64| {
            if exprimes == 0 {
                0.0
            } else {
                rows.iter().map(|r| f(r) * r.exprimes as f64).sum::<f64>() / exprimes as f64
            }
        };
        let abstention = if inscrits == 0 { 0.0 } else { 1.0 - votants as f64 / inscrits as f64 };
        let dep_abst = departement_abstention(db, &rows[0].departement).await?;
        c.facts.push(item("Inscrit·es", format_count(inscrits.max(0) as u64)));
        c.facts.push(item(
            "Abstention",
            match dep_abst {
                Some(d) => format!("{} (département {})", format_percent(abstention), format_percent(d)),
                None => format_percent(abstention),
            },
        ));
        c.facts.push(item("Gauche", format!("{} des exprimés", format_percent(weighted(|r| r.left_share)))));
        c.facts.push(item(
            "Droite et extrême droite",
            format!(
                "{} des exprimés (dont extrême droite {})",
                format_percent(weighted(|r| r.right_share)),
                format_percent(weighted(|r| r.extreme_droite_share))
            ),
        ));
        if let Some(r) = main {
            if let Some(d) = r.delta_left {
                c.facts.push(item("Évolution de la gauche", format_points(d)));
            }
            if let Some(d) = r.delta_abstention {
                c.facts.push(item("Évolution de l'abstention", format_points(d)));
            }
        }
        let potential: f64 = rows.iter().map(|r| r.priority).sum();
        c.facts.push(item("Voix à gagner (estimation)", format_count(potential.round().max(0.0) as u64)));
        c.profile = if rows.len() == 1 {
            rows[0].explanation.clone()
        } else {
            let mut counts: Vec<(String, usize)> = Vec::new();
            for r in &rows {
                let label = ZoneClass::parse(&r.class).map(|z| z.label()).unwrap_or("?").to_lowercase();
                match counts.iter_mut().find(|(l, _)| *l == label) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((label, 1)),
                }
            }
            let summary = counts.iter().map(|(l, n)| format!("{n} {l}")).collect::<Vec<_>>().join(", ");
            format!("{} zones classées : {summary}. Zone principale — {}", rows.len(), rows[0].explanation)
        };
    } else {
        c.profile = "Pas encore de classement pour ce secteur : importez deux élections et lancez la classification \
                     (Territoire)."
            .into();
    }
    let (socio, poverty, socio_source) = socio_facts(db, turf).await?;
    c.facts.extend(socio);

    // Whom to focus on.
    c.targeting = targeting(&c.class, poverty);

    // Local issues: HQ's, then the concerns the reports heard.
    let knowledge = reports::knowledge(db, turf, &c.class).await?;
    c.reports = knowledge.reports;
    let mut issue_zones = turf.0.clone();
    for commune in turf.communes() {
        issue_zones.push((classify::Level::Commune, commune));
    }
    issue_zones.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    issue_zones.dedup();
    for (level, code) in &issue_zones {
        let issues: Vec<(String, String)> = sqlx::query_as(
            "SELECT title, detail FROM zone_issues WHERE level = $1 AND zone = $2 ORDER BY created_at DESC, id DESC \
             LIMIT 10",
        )
        .bind(level.as_str())
        .bind(code)
        .fetch_all(&db.pool)
        .await?;
        c.issues.extend(
            issues
                .into_iter()
                .map(|(t, d)| item(t, if d.is_empty() { "Enjeu signalé par l'équipe".into() } else { d })),
        );
    }
    for (name, n) in &knowledge.concerns {
        c.issues
            .push(item(name.clone(), format!("citée dans {n} fiche{} d'observation", if *n > 1 { "s" } else { "" })));
    }
    for text in &knowledge.concerns_text {
        c.issues.push(item("Entendu sur le terrain", text.clone()));
    }

    // What worked here, then in zones of the same class.
    for m in &knowledge.methods_here {
        c.methods.push(item(m.label(), format!("Ici : {}", m.summary())));
    }
    for text in &knowledge.worked {
        c.methods.push(item("A marché ici", text.clone()));
    }
    for text in &knowledge.not_worked {
        c.methods.push(item("À éviter ici", text.clone()));
    }
    for m in knowledge.methods_similar.iter().take(4) {
        c.methods.push(item(
            m.label(),
            format!("Dans les autres zones « {} » : {}", c.class_label.to_lowercase(), m.summary()),
        ));
    }
    if c.methods.is_empty() {
        c.methods.push(item(
            "Pas encore de retour",
            "Aucune fiche d'observation sur ce secteur ni sur des zones semblables : la vôtre sera la première.",
        ));
    }

    c.script = script(party, &c, &knowledge);
    c.advice = advice(db, turf, &c.class, &knowledge).await?;

    let mut sources = vec!["Résultats : ministère de l'Intérieur (Licence Ouverte 2.0)".to_string()];
    if let Some((reference, previous)) = election_pair(db).await? {
        sources[0] = format!("Résultats : {reference} comparée à {previous} (ministère de l'Intérieur)");
    }
    if !socio_source.is_empty() {
        sources.push(socio_source);
    }
    sources.push(format!("{} fiche{} d'observation", c.reports, if c.reports > 1 { "s" } else { "" }));
    c.sources = sources.join(" · ");
    Ok(c)
}

fn targeting(class: &str, poverty: Option<f64>) -> Vec<String> {
    let mut out: Vec<String> = match class {
        "abstention" => vec![
            "Priorité aux abstentionnistes : la gauche est forte chez celles et ceux qui votent, beaucoup ne votent pas."
                .into(),
            "Parlez de l'utilité du vote, des dates et des procurations ; proposez l'inscription sur les listes.".into(),
        ],
        "hesitant" => vec![
            "Priorité aux électeurs hésitants : le secteur a changé de vote ou se joue à peu de voix.".into(),
            "Écoutez d'abord, puis reliez nos propositions à ce qui préoccupe la personne.".into(),
        ],
        "acquis_gauche" => vec![
            "Secteur favorable : mobilisez les sympathisant·es, recrutez des bénévoles, proposez les procurations."
                .into(),
        ],
        "acquis_droite" => vec![
            "Secteur défavorable : ciblez les immeubles et rues populaires, ne vous attardez pas sur les refus.".into(),
        ],
        _ => vec!["Écoutez les préoccupations et notez-les dans la fiche d'observation.".into()],
    };
    if poverty.is_some_and(|p| p >= 20.0) {
        out.push("Pauvreté élevée : le pouvoir d'achat, le logement et les services publics parlent ici.".into());
    }
    out
}

fn script(party: &str, c: &Content, k: &Knowledge) -> Vec<String> {
    let place = c.zones.first().map(|z| z.split(',').next().unwrap_or(z).to_string()).unwrap_or_default();
    let mut out = vec![format!(
        "« Bonjour, je suis militant·e de {party} à {place}. Nous passons voir les habitantes et les habitants pour \
         savoir ce qui compte pour vous ici. »"
    )];
    match k.concerns.first() {
        Some((concern, _)) => out.push(format!(
            "« Des voisins nous ont parlé de {} : c'est aussi un sujet pour vous ? » Puis écoutez, et présentez notre \
             proposition sur ce sujet.",
            concern.to_lowercase()
        )),
        None => out.push(
            "« Qu'est-ce qui devrait changer en priorité dans le quartier ? » Puis écoutez, et présentez la \
             proposition qui y répond."
                .into(),
        ),
    }
    out.push(match c.class.as_str() {
        "abstention" => "« Vous pensez aller voter ? On peut vous aider pour la procuration. »".into(),
        "hesitant" => "« Qu'est-ce qui vous ferait choisir ? » Laissez un tract et un contact.".into(),
        _ => "« Voulez-vous être tenu·e au courant ou nous rejoindre ? » Notez le contact seulement avec son accord."
            .into(),
    });
    out
}

async fn advice(db: &Db, turf: &Turf, class: &str, k: &Knowledge) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let door = k.methods_here.iter().find(|m| m.method == Method::PorteAPorte.as_str());
    let rate = door.and_then(|m| m.contact_rate()).unwrap_or(0.3).clamp(0.05, 1.0);
    // Doors for about 4 conversations per building, between 6 and 20.
    let doors = ((4.0 / rate).round() as i64).clamp(6, 20);
    out.push(format!(
        "Visez {doors} portes par immeuble (taux d'ouverture {}{}).",
        format_percent(rate),
        if door.is_some() { " constaté ici" } else { " habituel" }
    ));
    // Start with the highest-priority bureaux of the turf's communes.
    let communes = turf.communes();
    if let Some(commune) = communes.first() {
        let best: Vec<String> = sqlx::query_scalar(
            "SELECT z.zone FROM zone_classes z JOIN bureaux b ON b.key = z.zone WHERE z.level = 'bureau' \
             AND b.commune_code = $1 ORDER BY z.priority DESC LIMIT 3",
        )
        .bind(commune)
        .fetch_all(&db.pool)
        .await?;
        let in_turf: Vec<&String> = best
            .iter()
            .filter(|b| {
                turf.0.iter().any(|(l, z)| *l == classify::Level::Commune || (*l == classify::Level::Bureau && z == *b))
            })
            .collect();
        if !in_turf.is_empty() {
            let names: Vec<String> =
                in_turf.iter().map(|b| format!("bureau {}", b.rsplit('-').next().unwrap_or(b))).collect();
            out.push(format!("Commencez par les secteurs prioritaires : {}.", names.join(", ")));
        }
    }
    out.push(match class {
        "abstention" => "Jamais plus de 5 minutes par porte ; 10 si la personne hésite à voter.".into(),
        "hesitant" => "Jamais plus de 8 minutes par porte : laissez le temps d'une vraie conversation.".into(),
        _ => "Jamais plus de 5 minutes par porte.".to_string(),
    });
    out.push("Travaillez en binôme ; notez au fur et à mesure portes, contacts et préoccupations.".into());
    if let Some(best) = k.methods_similar.first().filter(|m| m.reports >= 2 && m.success_rate() >= 0.6) {
        out.push(format!("Dans les zones semblables, « {} » a le mieux marché.", best.label()));
    }
    out.push("Après l'action : remplissez la fiche d'observation (5 minutes, depuis votre téléphone).".into());
    Ok(out)
}

fn fingerprint(c: &Content) -> String {
    let json = serde_json::to_vec(c).unwrap_or_default();
    data_encoding::HEXLOWER.encode(&Sha256::digest(&json))
}

/// Why a version differs from the previous one, in French.
fn reason(previous: Option<&Content>, c: &Content) -> String {
    let Some(p) = previous else { return "Première version".into() };
    let mut why = Vec::new();
    if c.reports > p.reports {
        let n = c.reports - p.reports;
        why.push(format!(
            "{n} nouvelle{} fiche{} d'observation",
            if n > 1 { "s" } else { "" },
            if n > 1 { "s" } else { "" }
        ));
    }
    if c.facts != p.facts || c.profile != p.profile {
        why.push("données électorales ou socio-économiques mises à jour".into());
    }
    if c.issues.len() != p.issues.len() && c.reports == p.reports {
        why.push("enjeux locaux mis à jour".into());
    }
    if why.is_empty() {
        why.push("mise à jour".into());
    }
    let mut s = why.join(", ");
    if let Some(first) = s.get(..1) {
        s = first.to_uppercase() + &s[1..];
    }
    s
}

async fn latest(db: &Db, turf: &str) -> Result<Option<Fiche>> {
    let row: Option<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT version, content, reason, created_at FROM fiches WHERE turf = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(turf)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => None,
        Some((version, content, reason, created_at)) => Some(Fiche {
            turf: turf.to_string(),
            version,
            reason,
            created_at,
            content: serde_json::from_str(&content).map_err(anyhow::Error::from)?,
        }),
    })
}

/// The current sheet of a turf: the latest version, or a new one when the data or the reports changed it.
pub async fn current(db: &Db, turf: &Turf, party: &str) -> Result<Fiche> {
    if turf.is_empty() {
        return Err(Error::Invalid("Ce secteur est vide.".into()));
    }
    super::check_turf(db, turf).await?;
    let key = turf.key();
    let content = build(db, turf, party).await?;
    let print = fingerprint(&content);
    for _ in 0..3 {
        let last = match latest(db, &key).await? {
            Some(l) if fingerprint(&l.content) == print => return Ok(l),
            last => last,
        };
        let version = last.as_ref().map(|l| l.version + 1).unwrap_or(1);
        let why = reason(last.as_ref().map(|l| &l.content), &content);
        let t = now();
        let inserted = sqlx::query(
            "INSERT INTO fiches (turf, version, fingerprint, content, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key)
        .bind(version)
        .bind(&print)
        .bind(serde_json::to_string(&content).map_err(anyhow::Error::from)?)
        .bind(&why)
        .bind(t)
        .execute(&db.pool)
        .await;
        match inserted {
            Ok(_) => return Ok(Fiche { turf: key, version, reason: why, created_at: t, content }),
            // Another process wrote this version first: read again.
            Err(e) if crate::error::is_unique_violation(&e) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Conflict("La fiche est en cours de mise à jour : réessayez.".into()))
}

/// The versions of a turf's sheet, newest first: (version, reason, created_at).
pub async fn versions(db: &Db, turf: &Turf) -> Result<Vec<(i64, String, i64)>> {
    Ok(sqlx::query_as("SELECT version, reason, created_at FROM fiches WHERE turf = $1 ORDER BY version DESC LIMIT 50")
        .bind(turf.key())
        .fetch_all(&db.pool)
        .await?)
}

/// A person to re-mobilise.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Remobilise {
    pub id: i64,
    pub first_name: String,
    pub last_name: String,
    pub category: String,
    pub last_activity_at: i64,
}

/// Members and sympathisers living in the turf's communes who have not been active for six months, when the
/// reader may see the people of the turf's federation (empty otherwise). The caller audits the reading.
pub async fn people_to_remobilise(
    db: &Db,
    access: &Access,
    turf: &Turf,
    federation_id: Option<i64>,
) -> Result<Vec<Remobilise>> {
    let Some(fed) = federation_id else { return Ok(Vec::new()) };
    if !access.allows_somewhere(Perm::ViewPeople) {
        return Ok(Vec::new());
    }
    let communes = turf.communes();
    if communes.is_empty() {
        return Ok(Vec::new());
    }
    let scope = access.filter(Perm::ViewPeople, "p.federation_id", Some("p.section_id"));
    let placeholders: Vec<String> = (0..communes.len()).map(|i| format!("${}", i + 3)).collect();
    let sql = format!(
        "SELECT p.id, p.first_name, p.last_name, p.category, p.last_activity_at FROM people p \
         WHERE p.federation_id = $1 AND p.last_activity_at < $2 AND p.category IN ('member', 'sympathiser') \
         AND p.commune_code IN ({}) AND {scope} ORDER BY p.category, p.last_activity_at DESC LIMIT 30",
        placeholders.join(", ")
    );
    let mut q = sqlx::query_as::<_, Remobilise>(&sql).bind(fed).bind(now() - 182 * 86_400);
    for c in &communes {
        q = q.bind(c);
    }
    Ok(q.fetch_all(&db.pool).await?)
}

/// The map of a turf (its zones highlighted among their neighbours), when contours exist for them.
pub async fn map_svg(db: &Db, turf: &Turf) -> Result<Option<String>> {
    crate::territory::zone::turf_map_svg(db, &turf.0, 720).await
}

/// The printable PDF of a version, for one reader: `people` are the (name, detail) lines they may see.
pub fn pdf(
    fiche: &Fiche,
    subtitle: &str,
    map: Option<&str>,
    people: &[(String, String)],
    generated_at: &str,
) -> Result<Vec<u8>> {
    use crate::territory::fiche_pdf::{FicheDoc, Line, render_pdf};
    let c = &fiche.content;
    let lines =
        |items: &[Item]| items.iter().map(|i| Line { label: i.label.clone(), detail: i.detail.clone() }).collect();
    let doc = FicheDoc {
        title: format!("Fiche militante — {}", c.name),
        subtitle: subtitle.to_string(),
        version: fiche.version,
        generated_at: generated_at.to_string(),
        map_svg: map.map(str::to_string),
        map_caption: if c.class_label.is_empty() {
            "Secteur en surbrillance".into()
        } else {
            format!("Secteur en surbrillance · classement : {}", c.class_label.to_lowercase())
        },
        facts: lines(&c.facts),
        profile: c.profile.clone(),
        targeting: c.targeting.clone(),
        issues: lines(&c.issues),
        methods: lines(&c.methods),
        script: c.script.clone(),
        advice: c.advice.clone(),
        people: people.iter().map(|(n, d)| Line { label: n.clone(), detail: d.clone() }).collect(),
        sources: c.sources.clone(),
    };
    render_pdf(&doc).map_err(|e| Error::Internal(anyhow::anyhow!("fiche PDF: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_what_changed() {
        let a = Content { reports: 1, ..Default::default() };
        let b = Content { reports: 4, ..Default::default() };
        assert_eq!(reason(None, &a), "Première version");
        assert_eq!(reason(Some(&a), &b), "3 nouvelles fiches d'observation");
        let c = Content { reports: 1, facts: vec![item("Abstention", "40 %")], ..Default::default() };
        assert!(reason(Some(&a), &c).starts_with("Données électorales"));
        assert_ne!(fingerprint(&a), fingerprint(&b));
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    }

    #[test]
    fn targeting_follows_the_class() {
        assert!(targeting("abstention", None)[0].contains("abstentionnistes"));
        assert!(targeting("hesitant", Some(25.0)).iter().any(|t| t.contains("Pauvreté")));
    }
}
