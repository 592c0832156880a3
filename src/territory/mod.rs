//! Territory: election results by polling station, socio-economic indicators, classification of zones.

pub mod classify;
pub mod fiche_pdf;
pub mod import;
pub mod map;
pub mod results;
