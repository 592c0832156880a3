//! The page of an import job (progress, summary, refusal), and how the pages name an import's state and target.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;

use super::require_hq;
use crate::app::App;
use crate::error::Error;
use crate::territory::upload::{self, Outcome, Target};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_int, render};

pub(super) fn import_state(job: &upload::ImportJob) -> &'static str {
    match (&job.import.outcome, job.state.as_str()) {
        (Some(Outcome::Imported { .. }), _) => "importé",
        (Some(Outcome::Refused { .. }), _) => "refusé",
        (None, "queued") => "en attente",
        (None, "running") => "en cours",
        (None, "failed") => "échoué",
        (None, _) => "terminé",
    }
}

pub(super) fn import_what(target: &Target) -> String {
    match target {
        Target::Results { label, key, .. } => format!("Résultats : {label} ({key})"),
        Target::Socio => "Indicateurs Filosofi".into(),
    }
}

#[derive(Template)]
#[template(path = "territory/import.html")]
struct ImportPage {
    layout: Layout,
    id: i64,
    filename: String,
    what: String,
    state: &'static str,
    pending: bool,
    percent: u64,
    /// Lines of the summary of a successful import.
    summary: Vec<String>,
    unmatched: Option<String>,
    refused: Option<String>,
    errors: Vec<upload::LineError>,
    more_errors: usize,
    failure: Option<String>,
}

pub(super) async fn import_page(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    require_hq(&viewer)?;
    let job = upload::get(&app.db, id).await?.ok_or(Error::NotFound)?;
    let pending = job.pending();
    let mut page = ImportPage {
        layout: Layout::new(&app, &viewer, "Import de données territoriales", "/territoire"),
        id: job.id,
        state: import_state(&job),
        what: import_what(&job.import.target),
        pending,
        percent: job.import.progress.percent(),
        summary: Vec::new(),
        unmatched: None,
        refused: None,
        errors: Vec::new(),
        more_errors: 0,
        failure: None,
        filename: job.import.filename.clone(),
    };
    page.layout.refresh = pending;
    match job.import.outcome {
        Some(Outcome::Imported { summary, unmatched_count, unmatched }) => {
            page.summary = summary;
            if unmatched_count > 0 {
                page.unmatched = Some(format!(
                    "{} code(s) de commune absent(s) du référentiel (consulats, communes fusionnées…), importé(s) \
                     quand même : {}{}.",
                    format_int(unmatched_count as i64),
                    unmatched.join(", "),
                    if unmatched_count > unmatched.len() { "…" } else { "" }
                ));
            }
        }
        Some(Outcome::Refused { message, errors, total_errors }) => {
            page.more_errors = total_errors.saturating_sub(errors.len());
            page.refused = Some(message);
            page.errors = errors;
        }
        None if job.state == "failed" => {
            page.failure = Some(
                "L'import n'a pas pu aboutir après plusieurs essais. Réessayez plus tard ; si le \
                problème persiste, contactez l'équipe technique."
                    .into(),
            );
        }
        None => {}
    }
    render(page)
}
