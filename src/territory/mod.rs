//! Territory: election results by polling station, socio-economic indicators, classification of zones.

pub mod atlas;
pub mod classify;
pub mod fiche_pdf;
pub mod import;
pub mod indicators;
pub mod map;
pub mod results;
pub mod upload;
pub mod zone;
