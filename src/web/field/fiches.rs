//! Fiches militantes: a turf's or a mission's sheet on the phone and as a PDF, its versions and local issues.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::forms::{Pairs, first, when};
use super::mission::{Msg, flash};
use crate::access::{Perm, Scope};
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::field::Turf;
use crate::field::fiche::{self, Fiche};
use crate::field::missions::{self, Mission};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_time, render};

pub struct PersonLine {
    pub id: i64,
    pub name: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "field/fiche.html")]
struct FichePage {
    layout: Layout,
    fiche: Fiche,
    subtitle: String,
    created: String,
    map: Option<String>,
    people: Vec<PersonLine>,
    versions: Vec<(i64, String, String)>,
    pdf_url: String,
    report_url: String,
    can_add_issue: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct TurfQuery {
    #[serde(default)]
    secteur: String,
    #[serde(default)]
    msg: String,
}

/// Everything a sheet shows a reader: the current version, the map, and the people they may re-mobilise.
struct Sheet {
    fiche: Fiche,
    map: Option<String>,
    people: Vec<PersonLine>,
    federation_id: Option<i64>,
}

async fn sheet(app: &App, viewer: &Viewer, turf: &Turf) -> WebResult<Sheet> {
    let fiche = fiche::current(&app.db, turf, &app.config.charter.party_name).await?;
    let federation_id = crate::field::turf_federation(&app.db, turf).await?;
    let found = fiche::people_to_remobilise(&app.db, &viewer.access, turf, federation_id).await?;
    if !found.is_empty() {
        audit::record(
            &app.db,
            &viewer.meta,
            viewer
                .audit("fiche_people_viewed")
                .target("turf", turf.key())
                .federation(federation_id)
                .details(serde_json::json!({ "people": found.iter().map(|p| p.id).collect::<Vec<_>>() })),
        )
        .await?;
    }
    let people = found
        .into_iter()
        .map(|p| PersonLine {
            id: p.id,
            name: crate::people::display_name(&p.first_name, &p.last_name, None),
            detail: format!(
                "{}, dernière activité le {}",
                crate::people::category_label(&p.category),
                format_time(p.last_activity_at).get(..10).unwrap_or("")
            ),
        })
        .collect();
    let map = fiche::map_svg(&app.db, turf).await?;
    Ok(Sheet { fiche, map, people, federation_id })
}

async fn fiche_view(
    app: &App,
    viewer: &Viewer,
    turf: &Turf,
    mission: Option<&Mission>,
    msg: &str,
) -> WebResult<Response> {
    let s = sheet(app, viewer, turf).await?;
    let versions =
        fiche::versions(&app.db, turf).await?.into_iter().map(|(v, reason, at)| (v, reason, format_time(at))).collect();
    let turf_param = serde_urlencoded::to_string([("secteur", turf.key())]).unwrap_or_default();
    let (pdf_url, report_url, subtitle) = match mission {
        Some(m) => (
            format!("/missions/{}/fiche.pdf", m.id),
            format!("/observations/nouvelle?mission={}", m.id),
            format!("{} « {} » · {}", m.method().label(), m.title, when(m)),
        ),
        None => {
            (format!("/fiches/fiche.pdf?{turf_param}"), format!("/observations/nouvelle?{turf_param}"), String::new())
        }
    };
    let place = s.federation_id.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    let mut layout = Layout::new(app, viewer, &format!("Fiche militante — {}", s.fiche.content.name), "/missions");
    layout.flash = flash(msg);
    render(FichePage {
        layout,
        created: format_time(s.fiche.created_at),
        fiche: s.fiche,
        subtitle,
        map: s.map,
        people: s.people,
        versions,
        pdf_url,
        report_url,
        can_add_issue: viewer.access.allows(Perm::ManageTerritory, Scope::National)
            || viewer.access.allows(Perm::ManageMissions, place),
    })
}

pub(super) fn turf_of(m: &Mission) -> Result<Turf, Error> {
    let turf = m.turf();
    if !turf.is_empty() {
        return Ok(turf);
    }
    match &m.commune_code {
        Some(c) => Turf::parse(&format!("commune:{c}")),
        None => Err(Error::NotFound),
    }
}

pub(super) async fn fiche_page(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<TurfQuery>,
) -> WebResult<Response> {
    let turf = Turf::parse(&q.secteur)?;
    if turf.is_empty() {
        return Err(Error::Invalid("Indiquez un secteur, par exemple commune:69259.".into()).into());
    }
    fiche_view(&app, &viewer, &turf, None, &q.msg).await
}

pub(super) async fn mission_fiche(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<Msg>,
) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let turf = turf_of(&m)?;
    fiche_view(&app, &viewer, &turf, Some(&m), &q.msg).await
}

async fn pdf_response(app: &App, viewer: &Viewer, turf: &Turf, mission: Option<&Mission>) -> WebResult<Response> {
    let s = sheet(app, viewer, turf).await?;
    let subtitle = mission.map(|m| format!("{} « {} » · {}", m.method().label(), m.title, when(m))).unwrap_or_default();
    let people: Vec<(String, String)> = s.people.into_iter().map(|p| (p.name, p.detail)).collect();
    let bytes = fiche::pdf(&s.fiche, &subtitle, s.map.as_deref(), &people, &format_time(s.fiche.created_at))?;
    let name = format!("fiche-militante-v{}.pdf", s.fiche.version);
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (header::CONTENT_DISPOSITION, format!("inline; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

pub(super) async fn fiche_pdf(
    State(app): State<App>,
    viewer: Viewer,
    Query(q): Query<TurfQuery>,
) -> WebResult<Response> {
    let turf = Turf::parse(&q.secteur)?;
    if turf.is_empty() {
        return Err(Error::Invalid("Indiquez un secteur.".into()).into());
    }
    pdf_response(&app, &viewer, &turf, None).await
}

pub(super) async fn mission_fiche_pdf(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> WebResult<Response> {
    let m = missions::get(&app.db, id).await?;
    let turf = turf_of(&m)?;
    pdf_response(&app, &viewer, &turf, Some(&m)).await
}

pub(super) async fn add_issue(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    let turf = Turf::parse(first(&pairs, "secteur"))?;
    let (level, zone) = turf.0.first().cloned().ok_or_else(|| Error::Invalid("Secteur vide.".into()))?;
    let fed = crate::field::turf_federation(&app.db, &turf).await?;
    let place = fed.map(|f| Scope::Federation { federation_id: f }).unwrap_or(Scope::National);
    if !(viewer.access.allows(Perm::ManageTerritory, Scope::National)
        || viewer.access.allows(Perm::ManageMissions, place))
    {
        return Err(Error::Forbidden.into());
    }
    let title = first(&pairs, "titre");
    let detail = first(&pairs, "detail");
    if title.is_empty() || title.chars().count() > 200 || detail.chars().count() > 1_000 {
        return Err(Error::Invalid("Enjeu : un titre (200 caractères au plus) et un détail facultatif.".into()).into());
    }
    sqlx::query(
        "INSERT INTO zone_issues (level, zone, title, detail, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(level.as_str())
    .bind(&zone)
    .bind(title)
    .bind(detail)
    .bind(viewer.user_id)
    .bind(crate::db::now())
    .execute(&app.db.pool)
    .await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("zone_issue_added").target("turf", turf.key()).federation(fed))
        .await?;
    let back = first(&pairs, "retour");
    let back = if back.starts_with("/missions/") || back.starts_with("/fiches?") {
        back.to_string()
    } else {
        format!("/fiches?{}", serde_urlencoded::to_string([("secteur", turf.key())]).unwrap_or_default())
    };
    let sep = if back.contains('?') { '&' } else { '?' };
    Ok(Redirect::to(&format!("{back}{sep}msg=enjeu")).into_response())
}
