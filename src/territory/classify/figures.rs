//! A zone's figures, shares and changes, and its class and priority score.

use serde::Serialize;

use super::Thresholds;

/// Floating-point slack for comparisons with thresholds (shares computed from integers).
const EPSILON: f64 = 1e-9;

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
    pub(super) fn absent(self) -> &'static str {
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
