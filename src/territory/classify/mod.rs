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

mod compute;
mod figures;
mod load;
mod stored;
#[cfg(test)]
mod tests;
mod thresholds;
mod wording;
mod write;

pub use compute::{ClassCounts, Summary, classify_all, classify_all_with};
pub use figures::{Assessment, Level, Shares, Tally, ZoneClass, assess, closeness_factor};
pub use load::refresh_bloc_sums;
pub use stored::{Stored, explain_stored, explanation, explanations};
pub use thresholds::{Thresholds, load_thresholds, save_thresholds};
pub use wording::{explain, format_count, format_percent, format_points};
