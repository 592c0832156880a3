//! Address-book pages: list and search, person page with timeline and consents, create and edit, CSV import
//! with preview and progress, CSV export, access export, erasure, and the register of processing.
//! Every view of a person and every export is written to the audit log.

use askama::Template;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::Viewer;
use super::error::WebResult;
use super::pages::{Layout, format_int, format_time, render, render_status};
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::org::{self, Federation};
use crate::people::csv_import::{Category, Field};
use crate::people::{self, Filter, PersonInput, consent, import, register, retention};

/// Largest file accepted for an import (a 50 MB export of a big federation fits).
pub const MAX_IMPORT_BYTES: usize = 100 * 1024 * 1024;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/personnes", get(list))
        .route("/personnes/nouvelle", get(new_form).post(create))
        .route("/personnes/export.csv", get(export))
        .route("/personnes/import", get(import_form).post(upload).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)))
        .route("/personnes/import/{id}", get(import_page).post(confirm_import))
        .route("/personnes/import/{id}/rejets.csv", get(rejected))
        .route("/personnes/{id}", get(show).post(update))
        .route("/personnes/{id}/modifier", get(edit_form))
        .route("/personnes/{id}/consentements", post(record_consent))
        .route("/personnes/{id}/donnees.json", get(personal_data))
        .route("/personnes/{id}/donnees.csv", get(personal_data_csv))
        .route("/personnes/{id}/effacer", post(erase))
        .route("/registre", get(register_page))
        .route("/personnes/conservation", get(retention_page))
        .route("/personnes/etiqueter", post(bulk_tag))
        .route("/competences", get(skills_page).post(add_skill))
        .route("/personnes/{id}/fusionner", get(merge_page).post(merge))
}

fn require(viewer: &Viewer, perm: Perm) -> Result<(), Error> {
    if viewer.access.allows_somewhere(perm) { Ok(()) } else { Err(Error::Forbidden) }
}

/// Federations where the viewer may do `perm` (for selects).
async fn federations_for(app: &App, viewer: &Viewer, perm: Perm) -> WebResult<Vec<Federation>> {
    Ok(org::list_federations(&app.db, &viewer.access, "")
        .await?
        .into_iter()
        .map(|f| Federation { id: f.id, code: f.code, name: f.name })
        .filter(|f| viewer.access.allows(perm, f.scope()))
        .collect())
}

// ---------------------------------------------------------------------------------------------------
// List

#[derive(Template)]
#[template(path = "people/list.html")]
struct ListPage {
    layout: Layout,
    filter: Filter,
    people: Vec<people::PersonRow>,
    total: String,
    page: i64,
    pages: i64,
    query: String,
    can_manage: bool,
    national: bool,
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(flatten)]
    filter: Filter,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    msg: String,
}

const PAGE_SIZE: i64 = 50;

fn filter_query(f: &Filter) -> String {
    let enc = super::error::urlencode;
    format!(
        "q={}&category={}&tag={}&federation={}&segment={}",
        enc(&f.q),
        enc(&f.category),
        enc(&f.tag),
        enc(&f.federation),
        enc(&f.segment)
    )
}

async fn list(State(app): State<App>, viewer: Viewer, Query(q): Query<ListQuery>) -> WebResult<Response> {
    require(&viewer, Perm::ViewPeople)?;
    let page = q.page.unwrap_or(1).max(1);
    let (rows, total) = people::search(&app.db, &viewer.access, &q.filter, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
    let mut layout = Layout::new(&app, &viewer, "Personnes", "/personnes");
    layout.flash = match q.msg.as_str() {
        "efface" => Some("La personne a été effacée ; son adresse ne pourra plus être réimportée."),
        "etiquette" => Some("Étiquette ajoutée aux personnes cochées."),
        _ => None,
    };
    render(ListPage {
        layout,
        query: filter_query(&q.filter),
        filter: q.filter,
        people: rows,
        total: format_int(total),
        page,
        pages: ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1),
        can_manage: viewer.access.allows_somewhere(Perm::ManagePeople),
        national: viewer.access.is_national(),
    })
}

// ---------------------------------------------------------------------------------------------------
// Person page

pub struct ConsentLine {
    pub purpose: &'static str,
    pub label: &'static str,
    pub state: &'static str,
    pub detail: String,
}

pub struct EventLine {
    pub when: String,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "people/show.html")]
struct ShowPage {
    layout: Layout,
    person: people::Person,
    others: people::contacts::Others,
    federation: Federation,
    tags: Vec<String>,
    skills: Vec<String>,
    causes: Vec<String>,
    consents: Vec<ConsentLine>,
    events: Vec<EventLine>,
    can_manage: bool,
    details: bool,
}

async fn show(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<super::pages::MsgQuery>,
) -> WebResult<Response> {
    let a = &viewer.access;
    let person = people::get(&app.db, a, Perm::ViewPeople, id).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("person_viewed").target("person", person.id).federation(Some(person.federation_id)),
    )
    .await?;
    let federation = org::get_federation(&app.db, a, Perm::ViewOrg, person.federation_id).await?;
    let consents = consent::current(&consent::ledger(&app.db, &person).await?)
        .into_iter()
        .map(|s| ConsentLine {
            purpose: s.purpose,
            label: s.label,
            state: match s.granted {
                Some(true) => "accepté",
                Some(false) => "refusé",
                None => "jamais demandé",
            },
            detail: s
                .at
                .map(|t| format!("{} — {}", format_time(t), consent::source_label(&s.source)))
                .unwrap_or_default(),
        })
        .collect();
    let events = people::timeline(&app.db, &person)
        .await?
        .into_iter()
        .map(|e| EventLine { when: format_time(e.at), summary: e.summary })
        .collect();
    let mut layout = Layout::new(&app, &viewer, &person.display_name(), "/personnes");
    layout.flash = match q.msg.as_str() {
        "cree" => Some("Fiche créée."),
        "modifie" => Some("Fiche enregistrée."),
        "consentement" => Some("Décision enregistrée dans le registre des consentements."),
        "fusion" => Some("Les deux fiches sont fusionnées."),
        _ => None,
    };
    render(ShowPage {
        layout,
        others: people::others(&app.db, a, &person).await?,
        tags: people::tags(&app.db, &person).await?,
        skills: people::person_curated(&app.db, &person, "skill").await?,
        causes: people::person_curated(&app.db, &person, "cause").await?,
        consents,
        events,
        can_manage: a.allows(Perm::ManagePeople, person.scope()),
        details: a.allows(Perm::ContactDetails, person.scope()),
        federation,
        person,
    })
}

// ---------------------------------------------------------------------------------------------------
// Create and edit

#[derive(Template)]
#[template(path = "people/form.html")]
struct FormPage {
    layout: Layout,
    action: String,
    input: PersonInput,
    federations: Vec<Federation>,
    federation_id: i64,
    editing: bool,
    error: Option<String>,
    skills: Vec<String>,
    legal_bases: Vec<(&'static str, &'static str)>,
}

#[derive(Deserialize)]
struct CreateForm {
    #[serde(default)]
    federation_id: String,
    #[serde(flatten)]
    input: PersonInput,
}

async fn skill_names(app: &App) -> WebResult<Vec<String>> {
    Ok(people::skill_list(&app.db).await?.into_iter().map(|(_, n)| n).collect())
}

/// The person form: new (`person` is None) or editing, with the input and, after a refusal, its reason.
async fn person_form(
    app: &App,
    viewer: &Viewer,
    person: Option<&people::Person>,
    input: PersonInput,
    federation_id: Option<i64>,
    error: Option<String>,
) -> WebResult<Response> {
    let (title, action, federations, federation_id) = match person {
        Some(p) => ("Modifier la fiche", format!("/personnes/{}", p.id), Vec::new(), p.federation_id),
        None => {
            let federations = federations_for(app, viewer, Perm::ManagePeople).await?;
            let fid = federation_id.or(federations.first().map(|f| f.id)).unwrap_or(0);
            ("Nouvelle personne", "/personnes/nouvelle".to_string(), federations, fid)
        }
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render_status(
        status,
        FormPage {
            layout: Layout::new(app, viewer, title, "/personnes"),
            action,
            input,
            federations,
            federation_id,
            editing: person.is_some(),
            error,
            skills: skill_names(app).await?,
            legal_bases: people::LEGAL_BASES.to_vec(),
        },
    )
}

async fn new_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer, Perm::ManagePeople)?;
    let input = PersonInput { category: "sympathiser".into(), ..PersonInput::default() };
    person_form(&app, &viewer, None, input, None, None).await
}

async fn create(State(app): State<App>, viewer: Viewer, Form(form): Form<CreateForm>) -> WebResult<Response> {
    require(&viewer, Perm::ManagePeople)?;
    let fid: i64 =
        form.federation_id.trim().parse().map_err(|_| Error::Invalid("Choisissez une fédération.".into()))?;
    let federation = org::get_federation(&app.db, &viewer.access, Perm::ViewOrg, fid).await?;
    match people::create(&app.db, &viewer.access, &federation, &form.input).await {
        Ok(p) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("person_created").target("person", p.id).federation(Some(p.federation_id)),
            )
            .await?;
            Ok(Redirect::to(&format!("/personnes/{}?msg=cree", p.id)).into_response())
        }
        Err(Error::Invalid(m) | Error::Conflict(m)) => {
            person_form(&app, &viewer, None, form.input, Some(fid), Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn edit_form(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let tags = people::tags(&app.db, &person).await?;
    let skills = people::skills(&app.db, &person).await?;
    let others = people::others(&app.db, &viewer.access, &person).await?;
    let input = PersonInput::from_person(&person, &others, &tags, &skills);
    person_form(&app, &viewer, Some(&person), input, None, None).await
}

async fn update(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(input): Form<PersonInput>,
) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    match people::update(&app.db, &viewer.access, &person, &input).await {
        Ok(p) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("person_updated").target("person", p.id).federation(Some(p.federation_id)),
            )
            .await?;
            Ok(Redirect::to(&format!("/personnes/{}?msg=modifie", p.id)).into_response())
        }
        Err(Error::Invalid(m) | Error::Conflict(m)) => {
            person_form(&app, &viewer, Some(&person), input, None, Some(m)).await
        }
        Err(e) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------------------------------
// Consents, access export, erasure

#[derive(Deserialize)]
struct ConsentForm {
    purpose: String,
    decision: String,
}

async fn record_consent(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ConsentForm>,
) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let granted = match form.decision.as_str() {
        "accepte" => true,
        "refuse" => false,
        _ => return Err(Error::Invalid("Choisissez « accepté » ou « refusé ».".into()).into()),
    };
    let mut tx = app.db.pool.begin().await?;
    consent::record(&mut *tx, person.id, &form.purpose, granted, "staff", "", Some(viewer.user_id)).await?;
    let summary = format!(
        "Consentement {} : {}",
        if granted { "donné" } else { "retiré" },
        consent::purpose_label(&form.purpose)
    );
    people::add_event(&mut *tx, person.id, "consent", &summary, Some(viewer.user_id)).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/personnes/{}?msg=consentement", person.id)).into_response())
}

async fn personal_data(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let data = people::personal_data(&app.db, &viewer.access, &person).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("person_exported").target("person", person.id).federation(Some(person.federation_id)),
    )
    .await?;
    Ok(super::json_attachment(&format!("personne-{}.json", person.id), &data)?)
}

async fn personal_data_csv(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let data = people::personal_data(&app.db, &viewer.access, &person).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("person_exported").target("person", person.id).federation(Some(person.federation_id)),
    )
    .await?;
    Ok(super::csv_attachment(&format!("personne-{}.csv", person.id), people::personal_data_csv(&data)))
}

#[derive(Deserialize)]
struct EraseForm {
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    reason: String,
}

async fn erase(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<EraseForm>,
) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    if form.confirm != "oui" {
        return Err(Error::Invalid("Cochez la case de confirmation pour effacer la personne.".into()).into());
    }
    people::erase(&app.db, &viewer.access, &person, &form.reason).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("person_erased").target("person", person.id).federation(Some(person.federation_id)),
    )
    .await?;
    Ok(Redirect::to("/personnes?msg=efface").into_response())
}

// ---------------------------------------------------------------------------------------------------
// Export

async fn export(State(app): State<App>, viewer: Viewer, Query(filter): Query<Filter>) -> WebResult<Response> {
    require(&viewer, Perm::ManagePeople)?;
    let (csv, n) = people::export_csv(&app.db, &viewer.access, &filter).await?;
    let fed = filter.federation.trim().parse::<i64>().ok();
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("people_exported").federation(fed).details(serde_json::json!({
            "rows": n, "category": filter.category, "tag": filter.tag, "search": !filter.q.is_empty()
        })),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"personnes.csv\"".to_string()),
        ],
        csv,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------------
// Import

#[derive(Template)]
#[template(path = "people/import_form.html")]
struct ImportFormPage {
    layout: Layout,
    federations: Vec<Federation>,
    error: Option<String>,
}

async fn import_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    let federations = federations_for(&app, &viewer, Perm::ManagePeople).await?;
    if federations.is_empty() {
        return Err(Error::Forbidden.into());
    }
    render(ImportFormPage {
        layout: Layout::new(&app, &viewer, "Importer des personnes", "/personnes"),
        federations,
        error: None,
    })
}

async fn upload(State(app): State<App>, viewer: Viewer, mut multipart: Multipart) -> WebResult<Response> {
    let federations = federations_for(&app, &viewer, Perm::ManagePeople).await?;
    if federations.is_empty() {
        return Err(Error::Forbidden.into());
    }
    let mut federation_id: Option<i64> = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| Error::Invalid(format!("Envoi incomplet : {e}")))?
    {
        match field.name() {
            Some("federation_id") => {
                federation_id = field.text().await.map_err(|e| Error::Invalid(e.to_string()))?.trim().parse().ok();
            }
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let bytes = field.bytes().await.map_err(|e| Error::Invalid(format!("Fichier illisible : {e}")))?;
                file = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let error = |m: String| async {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            ImportFormPage {
                layout: Layout::new(&app, &viewer, "Importer des personnes", "/personnes"),
                federations: federations.clone(),
                error: Some(m),
            },
        )
    };
    // A browser sends an empty part without a name when no file was chosen; an empty file keeps its name.
    let Some((name, bytes)) = file.filter(|(n, b)| !(n.is_empty() && b.is_empty())) else {
        return error("Choisissez un fichier CSV.".into()).await;
    };
    let Some(federation) = federations
        .iter()
        .find(|f| Some(f.id) == federation_id)
        .or(federations.first().filter(|_| federations.len() == 1))
    else {
        return error("Choisissez la fédération où importer.".into()).await;
    };
    match import::stage(&app.db, &viewer.access, federation, &name, &bytes).await {
        Ok((id, _)) => Ok(Redirect::to(&format!("/personnes/import/{id}")).into_response()),
        Err(Error::Invalid(m)) => error(m).await,
        Err(e) => Err(e.into()),
    }
}

pub struct MappingLine {
    pub index: usize,
    pub header: String,
    pub selected: &'static str,
    pub sample: String,
}

#[derive(Template)]
#[template(path = "people/import.html")]
struct ImportPage {
    layout: Layout,
    import: import::ImportRow,
    federation: Federation,
    preview: Option<import::Preview>,
    lines: Vec<MappingLine>,
    fields: Vec<(&'static str, &'static str)>,
    legal_bases: Vec<(&'static str, &'static str)>,
    percent: i64,
    error: Option<String>,
    /// The first rejected rows: (line, reasons).
    rejects: Vec<(String, String)>,
}

/// Line numbers and reasons of the first rejected rows, read back from the stored rejects file.
fn first_rejects(csv_text: &str, n: usize) -> Vec<(String, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    reader
        .records()
        .filter_map(|r| r.ok())
        .take(n)
        .filter_map(|r| {
            let len = r.len();
            (len >= 2).then(|| (r[len - 2].to_string(), r[len - 1].to_string()))
        })
        .collect()
}

async fn import_page_render(app: &App, viewer: &Viewer, id: i64, error: Option<String>) -> WebResult<Response> {
    let row = import::get(&app.db, &viewer.access, id).await?;
    let federation = org::get_federation(&app.db, &viewer.access, Perm::ViewOrg, row.federation_id).await?;
    let preview = if row.state == "pending" { import::staged_preview(&app.db, &row).await? } else { None };
    let lines = preview
        .as_ref()
        .map(|p| {
            p.headers
                .iter()
                .enumerate()
                .map(|(i, h)| MappingLine {
                    index: i,
                    header: h.clone(),
                    selected: p.mapping.get(i).copied().unwrap_or(Field::Ignore).as_str(),
                    sample: p
                        .sample
                        .iter()
                        .filter_map(|r| r.get(i))
                        .filter(|v| !v.is_empty())
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" · "),
                })
                .collect()
        })
        .unwrap_or_default();
    let percent = if row.total_rows > 0 { row.processed * 100 / row.total_rows } else { 0 };
    let rejects = if row.state == "done" && row.rejected > 0 {
        first_rejects(&import::rejected_csv(&app.db, &row).await?, 20)
    } else {
        Vec::new()
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let mut layout = Layout::new(app, viewer, "Import de personnes", "/personnes");
    layout.refresh = row.state == "running";
    render_status(
        status,
        ImportPage {
            layout,
            import: row,
            federation,
            preview,
            lines,
            fields: Field::ALL.iter().map(|f| (f.as_str(), f.label())).collect(),
            legal_bases: people::LEGAL_BASES.to_vec(),
            percent,
            error,
            rejects,
        },
    )
}

async fn import_page(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    import_page_render(&app, &viewer, id, None).await
}

async fn confirm_import(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    let row = import::get(&app.db, &viewer.access, id).await?;
    let Some(preview) = import::staged_preview(&app.db, &row).await? else {
        return Err(Error::Conflict("Cet import a déjà été lancé.".into()).into());
    };
    let value = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("");
    let mut mapping = Vec::with_capacity(preview.headers.len());
    for i in 0..preview.headers.len() {
        let f = Field::parse(value(&format!("col{i}")))
            .ok_or_else(|| Error::Invalid("Correspondance de colonne inconnue.".into()))?;
        // Several columns may feed a list, the e-mail addresses or the phones; other fields take one column.
        let multi = matches!(
            f,
            Field::Ignore | Field::Tags | Field::Skills | Field::Email | Field::Phone | Field::Notes | Field::Address
        );
        if !multi && mapping.contains(&f) {
            return import_page_render(
                &app,
                &viewer,
                id,
                Some(format!("Le champ « {} » est associé à deux colonnes.", f.label())),
            )
            .await;
        }
        mapping.push(f);
    }
    let category =
        Category::parse_loose(value("category")).ok_or_else(|| Error::Invalid("Catégorie inconnue.".into()))?;
    match import::confirm(&app.db, &row, &mapping, category, value("legal_basis")).await {
        Ok(()) => Ok(Redirect::to(&format!("/personnes/import/{id}")).into_response()),
        Err(Error::Invalid(m)) => import_page_render(&app, &viewer, id, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

async fn rejected(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let row = import::get(&app.db, &viewer.access, id).await?;
    let csv = import::rejected_csv(&app.db, &row).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("import_rejects_downloaded").target("import", row.id).federation(Some(row.federation_id)),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"rejets-import-{}.csv\"", row.id)),
        ],
        csv,
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------------
// Register of processing

#[derive(Template)]
#[template(path = "people/register.html")]
struct RegisterPage {
    layout: Layout,
    declarations: &'static [register::Declaration],
}

async fn register_page(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer, Perm::ViewPeople)?;
    render(RegisterPage {
        layout: Layout::new(&app, &viewer, "Registre des traitements", "/personnes"),
        declarations: register::DECLARATIONS,
    })
}

// ---------------------------------------------------------------------------------------------------
// Retention preview

pub struct ExpiringLine {
    pub id: i64,
    pub name: String,
    pub category: &'static str,
    pub last: String,
}

#[derive(Template)]
#[template(path = "people/retention.html")]
struct RetentionPage {
    layout: Layout,
    years: i64,
    count: String,
    lines: Vec<ExpiringLine>,
}

async fn retention_page(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer, Perm::ManagePeople)?;
    let years = app.config.retention_years;
    let (n, rows) = retention::preview(&app.db, &viewer.access, crate::db::now(), years, 100).await?;
    render(RetentionPage {
        layout: Layout::new(&app, &viewer, "Durée de conservation", "/personnes"),
        years,
        count: format_int(n),
        lines: rows
            .into_iter()
            .map(|r| ExpiringLine {
                id: r.id,
                name: people::display_name(&r.first_name, &r.last_name, r.email.as_deref()),
                category: people::category_label(&r.category),
                last: format_time(r.last_activity_at),
            })
            .collect(),
    })
}

// ---------------------------------------------------------------------------------------------------
// Merge and bulk tag

#[derive(Template)]
#[template(path = "people/merge.html")]
struct MergePage {
    layout: Layout,
    person: people::Person,
    candidates: Vec<people::PersonRow>,
    error: Option<String>,
}

async fn merge_render(app: &App, viewer: &Viewer, id: i64, error: Option<String>) -> WebResult<Response> {
    let person = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let candidates = people::duplicates_of(&app.db, &viewer.access, &person).await?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render_status(
        status,
        MergePage {
            layout: Layout::new(app, viewer, "Fusionner des doublons", "/personnes"),
            person,
            candidates,
            error,
        },
    )
}

async fn merge_page(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    merge_render(&app, &viewer, id, None).await
}

#[derive(Deserialize)]
struct MergeForm {
    #[serde(default)]
    other: String,
}

async fn merge(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<MergeForm>,
) -> WebResult<Response> {
    let kept = people::get(&app.db, &viewer.access, Perm::ManagePeople, id).await?;
    let Ok(other_id) = form.other.trim().trim_start_matches('#').parse::<i64>() else {
        return merge_render(&app, &viewer, id, Some("Indiquez le numéro de l'autre fiche.".into())).await;
    };
    let other = match people::get(&app.db, &viewer.access, Perm::ManagePeople, other_id).await {
        Ok(o) => o,
        Err(Error::NotFound) => {
            return merge_render(&app, &viewer, id, Some("Fiche introuvable dans votre périmètre.".into())).await;
        }
        Err(e) => return Err(e.into()),
    };
    match people::merge(&app.db, &viewer.access, &kept, &other).await {
        Ok(()) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer
                    .audit("people_merged")
                    .target("person", kept.id)
                    .federation(Some(kept.federation_id))
                    .details(serde_json::json!({ "merged": other.id })),
            )
            .await?;
            Ok(Redirect::to(&format!("/personnes/{}?msg=fusion", kept.id)).into_response())
        }
        Err(Error::Invalid(m)) => merge_render(&app, &viewer, id, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

async fn bulk_tag(
    State(app): State<App>,
    viewer: Viewer,
    Form(form): Form<Vec<(String, String)>>,
) -> WebResult<Response> {
    require(&viewer, Perm::ManagePeople)?;
    let ids: Vec<i64> = form.iter().filter(|(k, _)| k == "ids").filter_map(|(_, v)| v.parse().ok()).collect();
    let tag = form.iter().find(|(k, _)| k == "tag").map(|(_, v)| v.as_str()).unwrap_or("");
    if ids.is_empty() {
        return Err(Error::Invalid("Cochez au moins une personne.".into()).into());
    }
    let n = people::bulk_tag(&app.db, &viewer.access, &ids, tag).await?;
    audit::record(&app.db, &viewer.meta, viewer.audit("people_tagged").details(serde_json::json!({ "people": n })))
        .await?;
    Ok(Redirect::to(&format!("/personnes?msg=etiquette&n={n}")).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Skills curated by HQ

#[derive(Template)]
#[template(path = "people/skills.html")]
struct SkillsPage {
    layout: Layout,
    skills: Vec<String>,
    causes: Vec<String>,
    can_edit: bool,
    error: Option<String>,
}

async fn skills_render(app: &App, viewer: &Viewer, error: Option<String>) -> WebResult<Response> {
    require(viewer, Perm::ViewPeople)?;
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render_status(
        status,
        SkillsPage {
            layout: Layout::new(app, viewer, "Compétences et causes", "/personnes"),
            skills: people::curated(&app.db, "skill").await?,
            causes: people::curated(&app.db, "cause").await?,
            can_edit: viewer.access.allows(Perm::ManagePeople, crate::access::Scope::National),
            error,
        },
    )
}

async fn skills_page(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    skills_render(&app, &viewer, None).await
}

#[derive(Deserialize)]
struct SkillForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
}

async fn add_skill(State(app): State<App>, viewer: Viewer, Form(form): Form<SkillForm>) -> WebResult<Response> {
    let kind = if form.kind.is_empty() { "skill" } else { form.kind.as_str() };
    match people::add_skill(&app.db, &viewer.access, &form.name, kind).await {
        Ok(()) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("skill_added").details(serde_json::json!({ "name": form.name.trim(), "kind": kind })),
            )
            .await?;
            Ok(Redirect::to("/competences").into_response())
        }
        Err(Error::Invalid(m) | Error::Conflict(m)) => skills_render(&app, &viewer, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}
