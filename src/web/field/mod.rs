//! Field pages (seed 002): the mission catalogue with its "for you" ranking, mission pages (sign-up, carpooling,
//! calendar, attendance, closing), the activist's profile, fiches militantes (phone page and PDF, versioned), fiches
//! d'observation (phone form, review of flagged ones) and "what works where".
//!
//! Browsing missions and sheets needs only a signed-in account; publishing and managing missions needs
//! `Perm::ManageMissions` at the mission's place (checked in `field::missions`). People to re-mobilise appear on a
//! sheet only within the reader's `ViewPeople` scope, and each such reading is audited.

mod catalogue;
mod fiches;
mod forms;
mod mission;
mod mission_form;
mod observations;
mod profile;
#[cfg(test)]
mod tests;
mod what_works;

use axum::Router;
use axum::routing::{get, post};

use crate::app::App;
use catalogue::catalogue;
use fiches::{add_issue, fiche_page, fiche_pdf, mission_fiche, mission_fiche_pdf};
use mission::{attendance, cancel, cancel_signup, candidates, close, feed, mission_ics, show, sign_up};
use mission_form::{create, edit_form, new_form, update};
use observations::{file_report, report_form, report_list, report_page, review};
use profile::{profile_form, save_profile};
use what_works::what_works;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/missions", get(catalogue).post(create))
        .route("/missions/nouvelle", get(new_form))
        .route("/missions/{id}", get(show))
        .route("/missions/{id}/modifier", get(edit_form).post(update))
        .route("/missions/{id}/inscription", post(sign_up))
        .route("/missions/{id}/desinscription", post(cancel_signup))
        .route("/missions/{id}/presence", post(attendance))
        .route("/missions/{id}/cloturer", post(close))
        .route("/missions/{id}/annuler", post(cancel))
        .route("/missions/{id}/candidats", get(candidates))
        .route("/missions/{id}/agenda.ics", get(mission_ics))
        .route("/missions/{id}/fiche", get(mission_fiche))
        .route("/missions/{id}/fiche.pdf", get(mission_fiche_pdf))
        .route("/agenda/{token}", get(feed))
        .route("/profil-militant", get(profile_form).post(save_profile))
        .route("/fiches", get(fiche_page))
        .route("/fiches/fiche.pdf", get(fiche_pdf))
        .route("/fiches/enjeux", post(add_issue))
        .route("/observations", get(report_list).post(file_report))
        .route("/observations/nouvelle", get(report_form))
        .route("/observations/{id}", get(report_page))
        .route("/observations/{id}/revue", post(review))
        .route("/ce-qui-marche", get(what_works))
}
