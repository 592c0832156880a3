//! Territory pages: the national overview, a page per département, circonscription, commune and bureau de vote
//! (classification and its explanation, figures and changes, socio-economic profile, a choropleth map where contours
//! exist, sub-zones ranked by priority), and HQ's tools (import of results and indicators as a job, blocs of each
//! election, thresholds, classification).
//!
//! The data is public (official results, Insee, IGN): any signed-in user allowed to view the organisation somewhere
//! reads the pages; HQ's tools need `Perm::ManageTerritory` (403 otherwise) and are audited.

mod admin;
mod departement;
mod elections;
mod imports;
mod overview;
#[cfg(test)]
mod tests;
mod thresholds;
mod views;
mod zones;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use admin::{admin, classify_zones, save_thresholds, upload};
use departement::{departement_page, departement_svg};
use elections::{election_page, save_blocs};
use imports::import_page;
use overview::overview;
use zones::{bureau_page, circonscription_page, commune_page};

use super::auth::Viewer;
use crate::access::Perm;
use crate::app::App;
use crate::error::Error;
use crate::territory::atlas;
use crate::territory::upload;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/territoire", get(overview))
        .route("/territoire/departements/{code}", get(departement_page))
        .route("/territoire/departements/{code}/carte.svg", get(departement_svg))
        .route("/territoire/circonscriptions/{code}", get(circonscription_page))
        .route("/territoire/communes/{code}", get(commune_page))
        .route("/territoire/bureaux/{key}", get(bureau_page))
        .route("/territoire/gestion", get(admin))
        .route("/territoire/gestion/seuils", post(save_thresholds))
        .route("/territoire/gestion/classement", post(classify_zones))
        .route("/territoire/gestion/elections/{key}", get(election_page).post(save_blocs))
        .route(
            "/territoire/gestion/imports",
            post(upload).layer(DefaultBodyLimit::max(upload::MAX_UPLOAD_BYTES + 64 * 1024)),
        )
        .route("/territoire/gestion/imports/{id}", get(import_page))
}

/// Maps of pages: 640 px wide, scaled to the screen by the stylesheet, legend and credit as HTML under them.
const PAGE_MAP: atlas::Style = atlas::Style { width: 640, standalone: false };
/// The same map as a document of its own (download, print): legend and credit inside.
const DOCUMENT_MAP: atlas::Style = atlas::Style { width: 800, standalone: true };
/// Zones per page of a ranked list.
const PAGE_SIZE: i64 = 25;

fn require_view(viewer: &Viewer) -> Result<(), Error> {
    if viewer.access.allows_somewhere(Perm::ViewOrg) { Ok(()) } else { Err(Error::Forbidden) }
}

fn require_hq(viewer: &Viewer) -> Result<(), Error> {
    if viewer.access.allows_somewhere(Perm::ManageTerritory) { Ok(()) } else { Err(Error::Forbidden) }
}

fn is_hq(viewer: &Viewer) -> bool {
    viewer.access.allows_somewhere(Perm::ManageTerritory)
}
