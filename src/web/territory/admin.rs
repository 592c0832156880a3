//! HQ's page: elections and their blocs, classification, thresholds, upload of results and indicators.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::imports::{import_state, import_what};
use super::require_hq;
use super::thresholds::{
    THRESHOLD_FIELDS, ThresholdField, as_points, parse_thresholds, threshold_fields, threshold_values,
};
use super::views::{capitalise, pair_text};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::territory::classify;
use crate::territory::import::ElectionKind;
use crate::territory::upload::{self, Target};
use crate::territory::zone;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, MsgQuery, format_int, format_time, render_status};
use crate::web::segments::Choice;

pub struct ElectionAdminRow {
    pub key: String,
    pub label: String,
    pub bureaux: String,
    pub imported: String,
    /// HQ changed blocs since the bureaux' sums were computed (the next classification recomputes them).
    pub stale: bool,
}

pub struct ImportRow {
    pub href: String,
    pub filename: String,
    pub what: String,
    pub state: &'static str,
    pub when: String,
}

fn kind_label(kind: ElectionKind) -> &'static str {
    match kind {
        ElectionKind::Presidentielle => "Présidentielle",
        ElectionKind::Legislatives => "Législatives",
        ElectionKind::Europeennes => "Européennes",
        ElectionKind::Municipales => "Municipales",
        ElectionKind::Regionales => "Régionales",
        ElectionKind::Departementales => "Départementales",
        ElectionKind::Referendum => "Référendum",
        ElectionKind::Autre => "Autre",
    }
}

/// What the upload form keeps when it comes back with an error.
#[derive(Default)]
pub struct UploadFields {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub round: String,
    pub year: String,
}

#[derive(Template)]
#[template(path = "territory/admin.html")]
struct AdminPage {
    layout: Layout,
    elections: Vec<ElectionAdminRow>,
    pair: Option<String>,
    references: Vec<Choice>,
    previouses: Vec<Choice>,
    classify_error: Option<String>,
    thresholds: Vec<ThresholdField>,
    thresholds_error: Option<String>,
    imports: Vec<ImportRow>,
    kinds: Vec<Choice>,
    upload: UploadFields,
    upload_error: Option<String>,
}

/// Errors and entered values of the forms of the HQ page.
#[derive(Default)]
struct AdminState {
    flash: String,
    classify_error: Option<String>,
    thresholds: Option<[String; 6]>,
    thresholds_error: Option<String>,
    upload: UploadFields,
    upload_error: Option<String>,
}

async fn admin_page(app: &App, viewer: &Viewer, state: AdminState) -> WebResult<Response> {
    require_hq(viewer)?;
    let elections = zone::elections(&app.db).await?;
    let mut rows = Vec::with_capacity(elections.len());
    for e in &elections {
        let current: Vec<String> =
            sqlx::query_scalar("SELECT bloc FROM election_choices WHERE election_id = $1 ORDER BY idx")
                .bind(e.id)
                .fetch_all(&app.db.pool)
                .await?;
        rows.push(ElectionAdminRow {
            key: e.key.clone(),
            label: e.label.clone(),
            bureaux: format_int(e.bureaux),
            imported: format_time(e.imported_at),
            stale: current.join(",") != e.blocs,
        });
    }
    let pair = zone::current_pair(&app.db).await?;
    let (reference_id, previous_id) = pair
        .as_ref()
        .map(|p| (p.reference.as_ref().map(|e| e.id), p.previous.as_ref().map(|e| e.id)))
        .unwrap_or((None, None));
    let choices = |selected: Option<i64>, fallback: usize| -> Vec<Choice> {
        elections
            .iter()
            .enumerate()
            .map(|(i, e)| Choice {
                value: e.key.clone(),
                label: e.label.clone(),
                selected: selected.map_or(i == fallback, |id| id == e.id),
            })
            .collect()
    };
    let thresholds = match state.thresholds {
        Some(values) => values,
        None => threshold_values(&classify::load_thresholds(&app.db).await?).map(as_points),
    };
    let imports = upload::recent(&app.db, 10)
        .await?
        .into_iter()
        .map(|j| ImportRow {
            href: format!("/territoire/gestion/imports/{}", j.id),
            state: import_state(&j),
            what: import_what(&j.import.target),
            when: format_time(j.created_at),
            filename: j.import.filename,
        })
        .collect();
    let kinds = ElectionKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().into(),
            label: kind_label(*k).into(),
            selected: state.upload.kind == k.as_str(),
        })
        .collect();
    let mut layout = Layout::new(app, viewer, "Territoire : gestion", "/territoire");
    layout.flash = match state.flash.as_str() {
        "seuils" => Some("Seuils enregistrés. Relancez le classement pour les appliquer."),
        "classement" => Some("Classement recalculé."),
        _ => None,
    };
    let failed = state.classify_error.is_some() || state.thresholds_error.is_some() || state.upload_error.is_some();
    render_status(
        if failed { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK },
        AdminPage {
            layout,
            elections: rows,
            pair: pair_text(app).await?,
            references: choices(reference_id, 0),
            previouses: choices(previous_id, 1.min(elections.len().saturating_sub(1))),
            classify_error: state.classify_error,
            thresholds: threshold_fields(&thresholds),
            thresholds_error: state.thresholds_error,
            imports,
            kinds,
            upload: state.upload,
            upload_error: state.upload_error,
        },
    )
}

pub(super) async fn admin(State(app): State<App>, viewer: Viewer, Query(q): Query<MsgQuery>) -> WebResult<Response> {
    admin_page(&app, &viewer, AdminState { flash: q.msg, ..AdminState::default() }).await
}

pub(super) async fn save_thresholds(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    require_hq(&viewer)?;
    let thresholds = match parse_thresholds(&form) {
        Ok(t) => t,
        Err(message) => {
            let entered = THRESHOLD_FIELDS
                .map(|(name, _, _)| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default());
            let state =
                AdminState { thresholds: Some(entered), thresholds_error: Some(message), ..AdminState::default() };
            return admin_page(&app, &viewer, state).await;
        }
    };
    match classify::save_thresholds(&app.db, &thresholds).await {
        Ok(()) => {}
        Err(Error::Invalid(m)) => {
            let state = AdminState { thresholds_error: Some(m), ..AdminState::default() };
            return admin_page(&app, &viewer, state).await;
        }
        Err(e) => return Err(e.into()),
    }
    let details = serde_json::to_value(thresholds).map_err(anyhow::Error::from)?;
    audit::record(&app.db, &viewer.meta, viewer.audit("territory_thresholds_changed").details(details)).await?;
    Ok(Redirect::to("/territoire/gestion?msg=seuils#seuils").into_response())
}

#[derive(Deserialize)]
pub(super) struct ClassifyForm {
    #[serde(default)]
    reference: String,
    #[serde(default)]
    previous: String,
}

pub(super) async fn classify_zones(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<ClassifyForm>,
) -> WebResult<Response> {
    require_hq(&viewer)?;
    match classify::classify_all(&app.db, form.reference.trim(), form.previous.trim()).await {
        Ok(summary) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("territory_classified").details(serde_json::json!({
                    "reference": summary.reference, "previous": summary.previous,
                    "bureaux": summary.bureaux, "communes": summary.communes,
                    "circonscriptions": summary.circonscriptions,
                })),
            )
            .await?;
            Ok(Redirect::to("/territoire/gestion?msg=classement#classement").into_response())
        }
        Err(Error::Invalid(m)) => {
            admin_page(&app, &viewer, AdminState { classify_error: Some(capitalise(&m)), ..AdminState::default() })
                .await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn upload(State(app): State<App>, viewer: Viewer, mut multipart: Multipart) -> WebResult<Response> {
    require_hq(&viewer)?;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| Error::Invalid(format!("Envoi incomplet : {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| Error::Invalid(format!("Fichier illisible : {e}")))?;
            file = Some((filename, bytes.to_vec()));
        } else {
            let text = field.text().await.map_err(|e| Error::Invalid(e.to_string()))?;
            fields.push((name, text));
        }
    }
    let value =
        |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let entered = UploadFields {
        key: value("key"),
        label: value("label"),
        kind: value("kind"),
        round: value("round"),
        year: value("year"),
    };
    let socio = value("what") == "socio";
    let fail = |message: String, entered: UploadFields| {
        let app = app.clone();
        let viewer = &viewer;
        async move {
            admin_page(
                &app,
                viewer,
                AdminState { upload: entered, upload_error: Some(message), ..AdminState::default() },
            )
            .await
        }
    };
    let Some((filename, bytes)) = file.filter(|(n, b)| !(n.is_empty() && b.is_empty())) else {
        return fail("Choisissez un fichier.".into(), entered).await;
    };
    let target = if socio {
        Target::Socio
    } else {
        let (Ok(round), Ok(year)) = (entered.round.parse::<u32>(), entered.year.parse::<u32>()) else {
            return fail("Le tour et l'année sont des nombres (par exemple 1 et 2017).".into(), entered).await;
        };
        Target::Results {
            key: entered.key.clone(),
            label: entered.label.clone(),
            kind: entered.kind.clone(),
            round,
            year,
        }
    };
    match upload::enqueue(&app.db, viewer.user_id, &filename, target.clone(), &bytes).await {
        Ok(id) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("territory_import_queued").target("job", id).details(serde_json::json!({
                    "what": import_what(&target), "bytes": bytes.len(),
                })),
            )
            .await?;
            Ok(Redirect::to(&format!("/territoire/gestion/imports/{id}")).into_response())
        }
        Err(Error::Invalid(m)) => fail(m, entered).await,
        Err(e) => Err(e.into()),
    }
}
