//! Classification of zones — bureaux de vote, communes, circonscriptions — for campaign targeting, from two imported
//! elections: the **reference** (the recent one the classes describe) and the **previous** one (what changes are
//! measured against).
//!
//! # Figures
//!
//! For each zone, numbers are summed over its bureaux (a commune or a circonscription is the sum of its bureaux), then:
//!
//! - gauche (`left`) = votes of the choices of bloc `gauche` ÷ exprimés;
//! - droite (`right`) = votes of blocs `droite` **and** `extreme_droite` ÷ exprimés (the extrême droite is also kept
//!   apart: `extreme_droite`); the centre and the others count in neither;
//! - abstention = 1 − votants ÷ inscrits;
//! - changes (Δ) = reference − previous, in points of share, when the zone exists in both elections. Bureau keys
//!   change between elections (2 to 4 % of them): a bureau present in the reference only gets no Δ and is classified
//!   on the reference alone, which its explanation says. Communes and circonscriptions are compared whole.
//!
//! # Classes (first match wins)
//!
//! 1. `abstention` — mobilisable abstention: abstention ≥ the département's abstention + `abstention_gap` **and**
//!    gauche ≥ `abstention_left_min` of the exprimés (those who stay home live among left voters);
//! 2. `hesitant` — volatile (|Δ gauche| ≥ `volatility`) or close (|gauche − droite| ≤ `closeness`);
//! 3. `acquis_gauche` when gauche > droite, else `acquis_droite`.
//!
//! The département's abstention is computed over all its bureaux in the reference election.
//!
//! # Priority score
//!
//! The number of voters the party can hope to win in the zone, to rank zones (it grows with their size):
//!
//! ```text
//! priority = abstentions × gauche                                  (mobilisable abstainers)
//!          + exprimés × persuadable_share × max(0, 1 − |gauche − droite| ÷ closeness_scale)
//!                                                                   (persuadable hesitant voters)
//! ```
//!
//! where abstentions = inscrits − votants. The second term is the "closeness factor" applied to the voters: a tied
//! zone counts `persuadable_share` of its voters (10 % by default), one where the gap reaches `closeness_scale`
//! (20 points by default) counts none.
//!
//! Thresholds live in [`Thresholds`] (defaults documented there), stored in the `settings` row
//! `territory_thresholds` that HQ can tune ([`load_thresholds`], [`save_thresholds`]).
//!
//! [`classify_all`] recomputes the `zone_classes` table wholesale (it holds the classification of one pair of
//! elections: the last one computed): one query per election reads its bureaux with their votes by bloc (kept in
//! `bureau_results`, recomputed first by [`refresh_bloc_sums`] if HQ changed a bloc since the import) as one JSON
//! text, the maths run in memory, and the table is emptied and written again in one transaction, in multi-row
//! INSERTs with bound parameters; the explanations of the next rows are written while the database inserts the
//! previous ones.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::import::Bloc;
use crate::db::{Backend, Db, now};
use crate::error::{Error, Result};

/// Narrow no-break space: French thousands separator and space before `%`.
const NNBSP: char = '\u{202f}';
/// Settings key of the thresholds (JSON).
const SETTINGS_KEY: &str = "territory_thresholds";
/// Floating-point slack for comparisons with thresholds (shares computed from integers).
const EPSILON: f64 = 1e-9;

/// Tunable thresholds, as fractions (0.05 = 5 points).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// A zone whose left share moved by at least this much is volatile (hésitant). Default 0.05 (5 points).
    pub volatility: f64,
    /// A zone where |gauche − droite| is at most this is close (hésitant). Default 0.05 (5 points).
    pub closeness: f64,
    /// Abstention must exceed the département's by at least this to be mobilisable. Default 0.05 (5 points).
    pub abstention_gap: f64,
    /// Minimum left share of the exprimés for abstention to be mobilisable. Default 0.35 (35 %).
    pub abstention_left_min: f64,
    /// Share of the voters of a tied zone counted as persuadable in the priority score. Default 0.10.
    pub persuadable_share: f64,
    /// Gap |gauche − droite| at which a zone no longer counts any persuadable voter. Default 0.20 (20 points).
    pub closeness_scale: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            volatility: 0.05,
            closeness: 0.05,
            abstention_gap: 0.05,
            abstention_left_min: 0.35,
            persuadable_share: 0.10,
            closeness_scale: 0.20,
        }
    }
}

impl Thresholds {
    /// French message for the first value out of range.
    pub fn check(&self) -> std::result::Result<(), String> {
        let fields = [
            ("volatilité", self.volatility),
            ("écart serré", self.closeness),
            ("écart d'abstention", self.abstention_gap),
            ("part minimale de la gauche", self.abstention_left_min),
            ("part d'électeurs persuadables", self.persuadable_share),
            ("écart où plus personne n'est persuadable", self.closeness_scale),
        ];
        for (name, value) in fields {
            if !value.is_finite() || !(0.0..=1.0).contains(&value) {
                return Err(format!("seuil « {name} » invalide : entre 0 et 1 (0,05 = 5 points)"));
            }
        }
        if self.closeness_scale <= 0.0 {
            return Err("l'écart où plus personne n'est persuadable doit être positif".into());
        }
        Ok(())
    }
}

/// The thresholds HQ saved, or the defaults (missing fields take their default too).
pub async fn load_thresholds(db: &Db) -> Result<Thresholds> {
    let stored: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
        .bind(SETTINGS_KEY)
        .fetch_optional(&db.pool)
        .await?;
    Ok(stored.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default())
}

/// Saves thresholds after checking them (French message in [`Error::Invalid`]). Classifications already computed are
/// not changed: run [`classify_all`] again.
pub async fn save_thresholds(db: &Db, thresholds: &Thresholds) -> Result<()> {
    thresholds.check().map_err(Error::Invalid)?;
    let value = serde_json::to_string(thresholds).map_err(anyhow::Error::from)?;
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(SETTINGS_KEY)
    .bind(value)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Figures of a zone in one election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub inscrits: u64,
    pub votants: u64,
    pub exprimes: u64,
    pub gauche: u64,
    pub centre: u64,
    /// Droite without the extrême droite.
    pub droite: u64,
    pub extreme_droite: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.inscrits += other.inscrits;
        self.votants += other.votants;
        self.exprimes += other.exprimes;
        self.gauche += other.gauche;
        self.centre += other.centre;
        self.droite += other.droite;
        self.extreme_droite += other.extreme_droite;
    }

    pub fn abstentions(&self) -> u64 {
        self.inscrits.saturating_sub(self.votants)
    }

    /// Shares of the zone (0 where a denominator is 0).
    pub fn shares(&self) -> Shares {
        let of = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        Shares {
            left: of(self.gauche, self.exprimes),
            right: of(self.droite + self.extreme_droite, self.exprimes),
            extreme_droite: of(self.extreme_droite, self.exprimes),
            abstention: if self.inscrits == 0 { 0.0 } else { 1.0 - of(self.votants, self.inscrits) },
        }
    }
}

/// Shares as fractions of the exprimés (abstention: of the inscrits). As a difference between two elections, the same
/// fields hold changes in points (0.041 = +4.1 points).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Shares {
    pub left: f64,
    /// Droite including the extrême droite.
    pub right: f64,
    pub extreme_droite: f64,
    pub abstention: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZoneClass {
    AcquisGauche,
    AcquisDroite,
    Hesitant,
    Abstention,
}

impl ZoneClass {
    pub const ALL: [ZoneClass; 4] =
        [ZoneClass::AcquisGauche, ZoneClass::AcquisDroite, ZoneClass::Hesitant, ZoneClass::Abstention];

    pub fn as_str(self) -> &'static str {
        match self {
            ZoneClass::AcquisGauche => "acquis_gauche",
            ZoneClass::AcquisDroite => "acquis_droite",
            ZoneClass::Hesitant => "hesitant",
            ZoneClass::Abstention => "abstention",
        }
    }

    pub fn parse(s: &str) -> Option<ZoneClass> {
        ZoneClass::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// French label for pages and legends.
    pub fn label(self) -> &'static str {
        match self {
            ZoneClass::AcquisGauche => "Acquis à gauche",
            ZoneClass::AcquisDroite => "Acquis à droite",
            ZoneClass::Hesitant => "Hésitant",
            ZoneClass::Abstention => "Abstention mobilisable",
        }
    }
}

/// Kind of zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Bureau,
    Commune,
    Circonscription,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Bureau, Level::Commune, Level::Circonscription];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Bureau => "bureau",
            Level::Commune => "commune",
            Level::Circonscription => "circonscription",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// French noun, plural: "bureaux de vote", "communes", "circonscriptions".
    pub fn plural_label(self) -> &'static str {
        match self {
            Level::Bureau => "bureaux de vote",
            Level::Commune => "communes",
            Level::Circonscription => "circonscriptions",
        }
    }

    /// "Bureau absent", "Commune absente"…
    fn absent(self) -> &'static str {
        match self {
            Level::Bureau => "Bureau absent",
            Level::Commune => "Commune absente",
            Level::Circonscription => "Circonscription absente",
        }
    }
}

/// A zone assessed: figures, changes, class and priority.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Assessment {
    pub shares: Shares,
    /// Reference − previous; None when the zone is absent from the previous election.
    pub delta: Option<Shares>,
    pub class: ZoneClass,
    /// Abstentions × gauche.
    pub mobilisable: f64,
    /// Exprimés × closeness factor.
    pub persuadable: f64,
    /// mobilisable + persuadable.
    pub priority: f64,
    /// The zone's abstention minus its département's.
    pub abstention_gap: f64,
    /// Volatile (|Δ gauche| ≥ threshold) and close (|gauche − droite| ≤ threshold), for the explanation.
    pub volatile: bool,
    pub close: bool,
}

/// Persuadable share of a zone's voters: `persuadable_share × max(0, 1 − |gauche − droite| ÷ closeness_scale)`.
pub fn closeness_factor(shares: &Shares, t: &Thresholds) -> f64 {
    let gap = (shares.left - shares.right).abs();
    t.persuadable_share * (1.0 - gap / t.closeness_scale).max(0.0)
}

/// Classifies one zone (see the module documentation).
pub fn assess(reference: &Tally, previous: Option<&Tally>, departement_abstention: f64, t: &Thresholds) -> Assessment {
    let shares = reference.shares();
    let delta = previous.map(|p| {
        let before = p.shares();
        Shares {
            left: shares.left - before.left,
            right: shares.right - before.right,
            extreme_droite: shares.extreme_droite - before.extreme_droite,
            abstention: shares.abstention - before.abstention,
        }
    });
    let abstention_gap = shares.abstention - departement_abstention;
    let mobilisable_zone =
        abstention_gap + EPSILON >= t.abstention_gap && shares.left + EPSILON >= t.abstention_left_min;
    let volatile = delta.is_some_and(|d| d.left.abs() + EPSILON >= t.volatility);
    let close = (shares.left - shares.right).abs() <= t.closeness + EPSILON;
    let class = if mobilisable_zone {
        ZoneClass::Abstention
    } else if volatile || close {
        ZoneClass::Hesitant
    } else if shares.left > shares.right {
        ZoneClass::AcquisGauche
    } else {
        ZoneClass::AcquisDroite
    };
    let mobilisable = reference.abstentions() as f64 * shares.left;
    let persuadable = reference.exprimes as f64 * closeness_factor(&shares, t);
    Assessment {
        shares,
        delta,
        class,
        mobilisable,
        persuadable,
        priority: mobilisable + persuadable,
        abstention_gap,
        volatile,
        close,
    }
}

/// "41,2 %" (one decimal, comma, narrow no-break space).
pub fn format_percent(share: f64) -> String {
    let mut out = String::new();
    push_percent(&mut out, share);
    out
}

/// "+4,1 points", "−2,0 points", "0,0 point".
pub fn format_points(delta: f64) -> String {
    let mut out = String::new();
    push_points(&mut out, delta, true);
    out
}

/// "12 345" with narrow no-break spaces between thousands.
pub fn format_count(n: u64) -> String {
    let mut out = String::new();
    push_count(&mut out, n);
    out
}

/// One decimal with a comma: 41.25 → "41,3" (−0.04 shows as "0,0").
fn push_decimal(out: &mut String, x: f64) {
    let tenths = (x * 10.0).round() as i64;
    if tenths < 0 {
        out.push('−');
    }
    let tenths = tenths.unsigned_abs();
    let _ = write!(out, "{},{}", tenths / 10, tenths % 10);
}

fn push_percent(out: &mut String, share: f64) {
    push_decimal(out, share * 100.0);
    out.push(NNBSP);
    out.push('%');
}

/// Points with their sign ("+4,1 points", "−2,0 points") or without it.
fn push_points(out: &mut String, delta: f64, signed: bool) {
    let rounded = (delta * 1000.0).round() / 10.0;
    if signed && rounded > 0.0 {
        out.push('+');
    } else if signed && rounded < 0.0 {
        out.push('−');
    }
    push_decimal(out, rounded.abs());
    out.push_str(if rounded.abs() >= 2.0 { " points" } else { " point" });
}

fn push_count(out: &mut String, n: u64) {
    let digits = n.to_string();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(NNBSP);
        }
        out.push(c);
    }
}

/// Plain-French explanation of an assessment, e.g. « Abstention mobilisable : l'abstention dépasse de 14,0 points
/// celle du département… Abstention 41,0 % (département 27,0 %), gauche 58,3 % des exprimés… ».
pub fn explain(level: Level, a: &Assessment, departement_abstention: f64, previous_label: &str) -> String {
    let s = &a.shares;
    let gap = (s.left - s.right).abs();
    let mut out = String::with_capacity(420);
    out.push_str(a.class.label());
    out.push_str(" : ");
    match a.class {
        ZoneClass::Abstention => {
            out.push_str("l'abstention dépasse de ");
            push_points(&mut out, a.abstention_gap, false);
            out.push_str(" celle du département et la gauche fait ");
            push_percent(&mut out, s.left);
            out.push_str(" des exprimés.");
        }
        ZoneClass::Hesitant => {
            if a.close {
                out.push_str("gauche et droite à ");
                push_points(&mut out, gap, false);
                out.push_str(" d'écart");
            }
            if a.volatile
                && let Some(d) = a.delta
            {
                out.push_str(if a.close { ", vote volatil (gauche " } else { "vote volatil (gauche " });
                push_points(&mut out, d.left, true);
                out.push(')');
            }
            out.push('.');
        }
        ZoneClass::AcquisGauche => {
            out.push_str("la gauche devance la droite de ");
            push_points(&mut out, gap, false);
            out.push('.');
        }
        ZoneClass::AcquisDroite => {
            out.push_str("la droite devance la gauche de ");
            push_points(&mut out, gap, false);
            out.push('.');
        }
    }
    out.push_str(" Abstention ");
    push_percent(&mut out, s.abstention);
    out.push_str(" (département ");
    push_percent(&mut out, departement_abstention);
    out.push_str("), gauche ");
    push_percent(&mut out, s.left);
    out.push_str(" des exprimés, droite ");
    push_percent(&mut out, s.right);
    out.push_str(" (dont extrême droite ");
    push_percent(&mut out, s.extreme_droite);
    out.push_str(").");
    match a.delta {
        Some(d) => {
            let _ = write!(out, " Depuis {previous_label} : gauche ");
            push_points(&mut out, d.left, true);
            out.push_str(", droite ");
            push_points(&mut out, d.right, true);
            out.push_str(", abstention ");
            push_points(&mut out, d.abstention, true);
            out.push('.');
        }
        None => {
            let _ = write!(
                out,
                " {} de l'élection précédente ({previous_label}) : classement sur la seule élection de référence, \
                 sans évolution.",
                level.absent()
            );
        }
    }
    let (mobilisable, persuadable) = (a.mobilisable.round() as u64, a.persuadable.round() as u64);
    out.push_str(" Électeurs à gagner : environ ");
    push_count(&mut out, mobilisable + persuadable);
    out.push_str(" (");
    push_count(&mut out, mobilisable);
    out.push_str(if mobilisable > 1 { " abstentionnistes mobilisables, " } else { " abstentionniste mobilisable, " });
    push_count(&mut out, persuadable);
    out.push_str(if persuadable > 1 { " hésitants persuadables)." } else { " hésitant persuadable)." });
    out
}

/// Counts by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClassCounts {
    pub acquis_gauche: usize,
    pub acquis_droite: usize,
    pub hesitant: usize,
    pub abstention: usize,
}

impl ClassCounts {
    fn add(&mut self, class: ZoneClass) {
        match class {
            ZoneClass::AcquisGauche => self.acquis_gauche += 1,
            ZoneClass::AcquisDroite => self.acquis_droite += 1,
            ZoneClass::Hesitant => self.hesitant += 1,
            ZoneClass::Abstention => self.abstention += 1,
        }
    }
}

/// What [`classify_all`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub reference: String,
    pub previous: String,
    /// Zones classified at each level.
    pub bureaux: usize,
    pub communes: usize,
    pub circonscriptions: usize,
    /// Bureaux of the reference also in the previous election, and not.
    pub matched_bureaux: usize,
    pub reference_only_bureaux: usize,
    /// Bureaux of the previous election that the reference does not have (not classified).
    pub previous_only_bureaux: usize,
    /// Classes of the bureaux.
    pub bureau_classes: ClassCounts,
    pub commune_classes: ClassCounts,
    pub thresholds: Thresholds,
}

/// A bureau's figures in one election.
#[derive(Clone, Debug)]
struct BureauTally {
    key: String,
    commune: String,
    departement: String,
    circonscription: Option<String>,
    tally: Tally,
}

/// An election: id, label and the blocs its bureau sums were computed with.
async fn election(db: &Db, key: &str) -> Result<(i64, String, String)> {
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
async fn load_bureaux(db: &Db, election_id: i64) -> Result<Vec<BureauTally>> {
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
type Zones<'b> = HashMap<&'b str, (&'b str, Tally)>;

/// Sums bureaux into zones of each level: bureau, commune, circonscription.
fn aggregate(bureaux: &[BureauTally]) -> [Zones<'_>; 3] {
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

/// Recomputes the classification of every zone for a pair of elections (by key), with the saved thresholds, and
/// replaces that pair's `zone_classes` rows in one transaction.
pub async fn classify_all(db: &Db, reference_key: &str, previous_key: &str) -> Result<Summary> {
    let thresholds = load_thresholds(db).await?;
    classify_all_with(db, reference_key, previous_key, &thresholds).await
}

/// One row of `zone_classes`, ready to write.
struct ZoneRow<'b> {
    level: Level,
    zone: &'b str,
    departement: &'b str,
    tally: Tally,
    assessment: Assessment,
    departement_abstention: f64,
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

const VOLATILE: i64 = 1;
const CLOSE: i64 = 2;

/// What a stored zone_classes row holds to rebuild its explanation.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stored {
    pub level: String,
    pub zone: String,
    pub left_share: f64,
    pub right_share: f64,
    pub extreme_droite_share: f64,
    pub abstention: f64,
    pub delta_left: Option<f64>,
    pub delta_right: Option<f64>,
    pub delta_abstention: Option<f64>,
    pub class: String,
    pub priority: f64,
    pub departement_abstention: f64,
    pub mobilisable: f64,
    pub flags: i64,
    /// Stored by classifications made before explanations were written on the fly ('' since).
    pub explanation: String,
    pub previous_label: String,
}

/// The explanation of a stored row, as [`explain`] wrote it at classification time.
pub fn explain_stored(r: &Stored) -> String {
    if !r.explanation.is_empty() {
        return r.explanation.clone();
    }
    let level = match r.level.as_str() {
        "bureau" => Level::Bureau,
        "commune" => Level::Commune,
        _ => Level::Circonscription,
    };
    let Some(class) = ZoneClass::parse(&r.class) else { return String::new() };
    let delta = match (r.delta_left, r.delta_right, r.delta_abstention) {
        (Some(left), Some(right), Some(abstention)) => Some(Shares { left, right, extreme_droite: 0.0, abstention }),
        _ => None,
    };
    let a = Assessment {
        shares: Shares {
            left: r.left_share,
            right: r.right_share,
            extreme_droite: r.extreme_droite_share,
            abstention: r.abstention,
        },
        delta,
        class,
        mobilisable: r.mobilisable,
        persuadable: (r.priority - r.mobilisable).max(0.0),
        priority: r.priority,
        abstention_gap: r.abstention - r.departement_abstention,
        volatile: r.flags & VOLATILE != 0,
        close: r.flags & CLOSE != 0,
    };
    explain(level, &a, r.departement_abstention, &r.previous_label)
}

/// Explanations of zones of one level, by zone code (zones not classified are absent).
pub async fn explanations(db: &Db, level: Level, zones: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::with_capacity(zones.len());
    for chunk in zones.chunks(200) {
        let placeholders: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
        let sql = format!(
            "SELECT z.level, z.zone, z.left_share, z.right_share, z.extreme_droite_share, z.abstention, z.delta_left, \
             z.delta_right, z.delta_abstention, z.class, z.priority, z.departement_abstention, z.mobilisable, \
             z.flags, z.explanation, COALESCE(e.label, '') AS previous_label FROM zone_classes z \
             LEFT JOIN elections e ON e.id = z.previous_election_id WHERE z.level = $1 AND z.zone IN ({})",
            placeholders.join(", ")
        );
        let mut q = sqlx::query_as::<_, Stored>(&sql).bind(level.as_str());
        for z in chunk {
            q = q.bind(z);
        }
        for r in q.fetch_all(&db.pool).await? {
            out.insert(r.zone.clone(), explain_stored(&r));
        }
    }
    Ok(out)
}

/// The explanation of one zone ('' when it is not classified).
pub async fn explanation(db: &Db, level: Level, zone: &str) -> Result<String> {
    Ok(explanations(db, level, &[zone.to_string()]).await?.remove(zone).unwrap_or_default())
}

/// Writes the rows of `zone_classes` (the transaction is the caller's). Rows go as bound parameters (SQLite would
/// parse a JSON row once per column read); the explanations of the next chunk are written while the database inserts
/// the current one. `ids` = (reference election, previous election, computation time). A function of its own, not an
/// async block: its future stays `Send`, so that web handlers and workers may run the classification.
async fn insert_rows(
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

/// [`classify_all`] with given thresholds.
pub async fn classify_all_with(
    db: &Db,
    reference_key: &str,
    previous_key: &str,
    thresholds: &Thresholds,
) -> Result<Summary> {
    thresholds.check().map_err(Error::Invalid)?;
    if reference_key == previous_key {
        return Err(Error::Invalid("choisissez deux élections différentes".into()));
    }
    let started = std::time::Instant::now();
    let (reference_id, _, _) = election(db, reference_key).await?;
    let (previous_id, _, _) = election(db, previous_key).await?;
    let (reference, previous) = tokio::try_join!(load_bureaux(db, reference_id), load_bureaux(db, previous_id))?;
    let read = started.elapsed();

    // Abstention of each département over all its bureaux of the reference election.
    let mut departements: HashMap<&str, Tally> = HashMap::new();
    for b in &reference {
        departements.entry(b.departement.as_str()).or_default().add(&b.tally);
    }
    let departement_abstention: HashMap<&str, f64> =
        departements.iter().map(|(d, t)| (*d, t.shares().abstention)).collect();

    let now_levels = aggregate(&reference);
    let before_levels = aggregate(&previous);
    let mut summary = Summary {
        reference: reference_key.to_string(),
        previous: previous_key.to_string(),
        thresholds: *thresholds,
        ..Summary::default()
    };
    summary.previous_only_bureaux = before_levels[0].keys().filter(|k| !now_levels[0].contains_key(*k)).count();

    let mut out: Vec<ZoneRow<'_>> = Vec::with_capacity(now_levels.iter().map(HashMap::len).sum());
    for (level, (zones, before)) in
        [Level::Bureau, Level::Commune, Level::Circonscription].into_iter().zip(now_levels.iter().zip(&before_levels))
    {
        // In key order: rows are written in the order of the table's primary key.
        let mut zones: Vec<(&str, &(&str, Tally))> = zones.iter().map(|(z, v)| (*z, v)).collect();
        zones.sort_unstable_by_key(|(zone, _)| *zone);
        for (zone, &(departement, tally)) in zones {
            let departement_abstention = departement_abstention.get(departement).copied().unwrap_or(0.0);
            let prev = before.get(zone).map(|(_, t)| t);
            let assessment = assess(&tally, prev, departement_abstention, thresholds);
            match level {
                Level::Bureau => {
                    summary.bureaux += 1;
                    if prev.is_some() {
                        summary.matched_bureaux += 1;
                    } else {
                        summary.reference_only_bureaux += 1;
                    }
                    summary.bureau_classes.add(assessment.class);
                }
                Level::Commune => {
                    summary.communes += 1;
                    summary.commune_classes.add(assessment.class);
                }
                Level::Circonscription => summary.circonscriptions += 1,
            }
            out.push(ZoneRow { level, zone, departement, tally, assessment, departement_abstention });
        }
    }

    let assessed = started.elapsed();
    // One transaction on a connection of its own, closed afterwards (its settings are for bulk writing; after an
    // error, closing it rolls back).
    let t = now();
    let mut conn = db.pool.acquire().await?;
    conn.close_on_drop();
    if db.backend == Backend::Sqlite {
        // Derived public data, recomputed at will: no zero-filling of freed pages (secure_delete protects people's
        // data), and no wait for the disk at commit (a power cut can only lose this recomputation).
        for pragma in ["cache_size = -131072", "secure_delete = OFF", "synchronous = NORMAL"] {
            sqlx::query(&format!("PRAGMA {pragma}")).execute(&mut *conn).await?;
        }
    }
    // The whole table: SQLite then frees its pages at once instead of deleting row by row. SQLite takes the write lock
    // at once (IMMEDIATE), so that another writer waits instead of failing.
    // (Two prepared statements rather than one `raw_sql`, whose future is not `Send`.)
    let begin = match db.backend {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    sqlx::query(begin).execute(&mut *conn).await?;
    if let Err(e) = sqlx::query("DELETE FROM zone_classes").execute(&mut *conn).await {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e.into());
    }
    let written = insert_rows(&mut conn, db.backend, &out, (reference_id, previous_id, t)).await;
    if let Err(e) = written {
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        return Err(e);
    }
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    tracing::info!(
        read_ms = read.as_millis() as u64,
        assess_ms = (assessed - read).as_millis() as u64,
        write_ms = (started.elapsed() - assessed).as_millis() as u64,
        "zones classified"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(inscrits: u64, votants: u64, exprimes: u64, gauche: u64, droite: u64, extreme_droite: u64) -> Tally {
        Tally { inscrits, votants, exprimes, gauche, centre: 0, droite, extreme_droite }
    }

    #[test]
    fn shares_and_their_changes() {
        let t = tally(1000, 600, 580, 290, 100, 74);
        let s = t.shares();
        assert!((s.left - 0.5).abs() < 1e-12);
        assert!((s.right - 0.3).abs() < 1e-12);
        assert!((s.extreme_droite - 74.0 / 580.0).abs() < 1e-12);
        assert!((s.abstention - 0.4).abs() < 1e-12);
        assert_eq!(Tally::default().shares(), Shares::default());
        let a = assess(&t, Some(&tally(1000, 700, 680, 272, 204, 0)), 0.3, &Thresholds::default());
        let d = a.delta.unwrap();
        assert!((d.left - 0.1).abs() < 1e-12);
        assert!((d.right - 0.0).abs() < 1e-12);
        assert!((d.abstention - 0.1).abs() < 1e-12);
    }

    #[test]
    fn classes_follow_their_order() {
        let t = Thresholds::default();
        // Abstention 40 % in a département at 30 %, left 50 %: mobilisable.
        let mobilisable = tally(1000, 600, 580, 290, 174, 0);
        assert_eq!(assess(&mobilisable, None, 0.30, &t).class, ZoneClass::Abstention);
        // Same zone in a département at 36 %: only 4 points above, and left 50 % vs right 30 %.
        assert_eq!(assess(&mobilisable, None, 0.36, &t).class, ZoneClass::AcquisGauche);
        // Exactly at the gap is enough.
        assert_eq!(assess(&mobilisable, None, 0.35, &t).class, ZoneClass::Abstention);
        // High abstention but a weak left: not mobilisable for the party.
        let weak_left = tally(1000, 600, 600, 180, 300, 100);
        assert_eq!(assess(&weak_left, None, 0.20, &t).class, ZoneClass::AcquisDroite);
        // Close: |left − right| ≤ 5 points.
        let close = tally(1000, 800, 800, 300, 200, 140);
        assert_eq!(assess(&close, None, 0.2, &t).class, ZoneClass::Hesitant);
        // Volatile: the left moved by 6 points.
        let before = tally(1000, 800, 800, 400, 300, 0);
        let now = tally(1000, 800, 800, 448, 300, 0);
        let a = assess(&now, Some(&before), 0.2, &t);
        assert!(a.volatile && !a.close);
        assert_eq!(a.class, ZoneClass::Hesitant);
        // Without the previous election the same zone is acquired.
        assert_eq!(assess(&now, None, 0.2, &t).class, ZoneClass::AcquisGauche);
    }

    #[test]
    fn priority_formula() {
        let t = Thresholds::default();
        // 400 abstentions × 50 % = 200; left 50 % vs right 30 %: gap 20 points = closeness_scale → no persuadable.
        let z = tally(1000, 600, 580, 290, 174, 0);
        let a = assess(&z, None, 0.3, &t);
        assert!((a.mobilisable - 200.0).abs() < 1e-9);
        assert!(a.persuadable.abs() < 1e-9);
        // Tied zone: 10 % of the 800 voters are persuadable.
        let tied = tally(1000, 800, 800, 300, 300, 0);
        let a = assess(&tied, None, 0.2, &t);
        assert!((a.persuadable - 80.0).abs() < 1e-9);
        assert!((a.priority - (200.0 * 0.375 + 80.0)).abs() < 1e-9);
        // 10 points apart: half of it.
        let s = Shares { left: 0.4, right: 0.3, ..Shares::default() };
        assert!((closeness_factor(&s, &t) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn french_number_formatting() {
        assert_eq!(format_percent(0.4123), "41,2\u{202f}%");
        assert_eq!(format_percent(0.27), "27,0\u{202f}%");
        assert_eq!(format_percent(1.0), "100,0\u{202f}%");
        assert_eq!(format_points(0.041), "+4,1 points");
        assert_eq!(format_points(-0.02), "−2,0 points");
        assert_eq!(format_points(0.015), "+1,5 point");
        assert_eq!(format_points(-0.0001), "0,0 point");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1234), "1\u{202f}234");
        assert_eq!(format_count(47_582_183), "47\u{202f}582\u{202f}183");
    }

    #[test]
    fn explanations_are_plain_french() {
        let t = Thresholds::default();
        let z = tally(1000, 590, 580, 338, 174, 58);
        let a = assess(&z, Some(&tally(1000, 700, 690, 380, 200, 50)), 0.27, &t);
        assert_eq!(a.class, ZoneClass::Abstention);
        let text = explain(Level::Bureau, &a, 0.27, "Présidentielle 2017, 2d tour");
        assert!(
            text.starts_with(
                "Abstention mobilisable : l'abstention dépasse de 14,0 points celle du département et la gauche fait \
                 58,3\u{202f}% des exprimés. Abstention 41,0\u{202f}% (département 27,0\u{202f}%), gauche \
                 58,3\u{202f}% des exprimés, droite 40,0\u{202f}% (dont extrême droite 10,0\u{202f}%)."
            ),
            "{text}"
        );
        assert!(text.contains("Depuis Présidentielle 2017, 2d tour : gauche +3,2 points"), "{text}");
        let alone = explain(Level::Commune, &assess(&z, None, 0.27, &t), 0.27, "Européennes 2019");
        assert!(
            alone.contains("Commune absente de l'élection précédente (Européennes 2019) : classement sur la seule"),
            "{alone}"
        );
        let close = assess(&tally(1000, 800, 800, 300, 280, 0), None, 0.2, &t);
        let text = explain(Level::Bureau, &close, 0.2, "x");
        assert!(text.starts_with("Hésitant : gauche et droite à 2,5 points d'écart."), "{text}");
    }

    #[test]
    fn thresholds_are_checked() {
        assert!(Thresholds::default().check().is_ok());
        assert!(Thresholds { volatility: 1.5, ..Thresholds::default() }.check().is_err());
        assert!(Thresholds { closeness_scale: 0.0, ..Thresholds::default() }.check().is_err());
        assert!(Thresholds { closeness: f64::NAN, ..Thresholds::default() }.check().is_err());
        // Missing fields take their default.
        let partial: Thresholds = serde_json::from_str(r#"{"volatility": 0.1}"#).unwrap();
        assert_eq!(partial, Thresholds { volatility: 0.1, ..Thresholds::default() });
    }
}
