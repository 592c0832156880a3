//! Public pages, without an account: a federation's sign-up form (double opt-in) and the self-service page
//! where people see, correct, export or erase their data and manage their consents.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::Meta;
use super::error::{WebError, WebResult};
use super::pages::{Layout, format_time, render, render_status};
use crate::app::App;
use crate::auth::throttle;
use crate::error::Error;
use crate::jobs::{self, Job};
use crate::mail::OutgoingEmail;
use crate::people::selfservice::{self, Rectification, SignupForm, SignupOutcome, VerifiedEmail};
use crate::people::{self, consent};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/inscription/{code}", get(signup_form).post(signup))
        .route("/inscription/confirmer/{token}", get(confirm_page).post(confirm))
        .route("/mes-donnees", get(link_form).post(request_link))
        .route("/mes-donnees/{token}", get(my_data))
        .route("/mes-donnees/{token}/donnees.json", get(my_data_json))
        .route("/mes-donnees/{token}/donnees.csv", get(my_data_csv))
        .route("/mes-donnees/{token}/corriger/{id}", post(rectify))
        .route("/mes-donnees/{token}/consentement/{id}", post(set_consent))
        .route("/mes-donnees/{token}/effacer", post(erase))
}

/// Public form submissions that may come from a federation's own website (the form can be embedded as plain
/// HTML there), hence exempt from the same-origin check: they need no session and only start a double opt-in.
pub fn is_public_cross_site_form(path: &str) -> bool {
    path.starts_with("/inscription/") && !path.starts_with("/inscription/confirmer/")
}

fn layout(app: &App, title: &str) -> Layout {
    let mut l = Layout::bare(title);
    l.party = app.config.charter.party_name.clone();
    l
}

async fn federation_by_code(app: &App, code: &str) -> WebResult<(i64, String)> {
    sqlx::query_as("SELECT id, name FROM federations WHERE code = $1")
        .bind(code)
        .fetch_optional(&app.db.pool)
        .await?
        .ok_or(WebError::App(Error::NotFound))
}

// ---------------------------------------------------------------------------------------------------
// Sign-up

#[derive(Template)]
#[template(path = "public/signup.html")]
struct SignupPage {
    layout: Layout,
    code: String,
    federation: String,
    form: SignupForm,
    error: Option<String>,
    sent: bool,
}

async fn signup_form(State(app): State<App>, Path(code): Path<String>) -> WebResult<Response> {
    let (_, name) = federation_by_code(&app, &code).await?;
    render(SignupPage {
        layout: layout(&app, &format!("Rejoindre la fédération {name}")),
        code,
        federation: name,
        form: SignupForm { newsletter_federation: "1".into(), ..SignupForm::default() },
        error: None,
        sent: false,
    })
}

async fn signup(
    State(app): State<App>,
    Meta(meta): Meta,
    Path(code): Path<String>,
    Form(form): Form<SignupForm>,
) -> WebResult<Response> {
    let (fid, name) = federation_by_code(&app, &code).await?;
    let ip = meta.ip.parse().map(throttle::ip_key).unwrap_or(meta.ip.clone());
    if !throttle::public_form_allowed(&app.db, &ip).await? {
        return Err(WebError::Throttled);
    }
    throttle::record_public_form(&app.db, &ip).await?;
    let page = |form: SignupForm, error: Option<String>, sent: bool| SignupPage {
        layout: layout(&app, &format!("Rejoindre la fédération {name}")),
        code: code.clone(),
        federation: name.clone(),
        form,
        error,
        sent,
    };
    match selfservice::signup_start(&app.db, fid, &form, &meta.ip).await {
        Ok(SignupOutcome::Confirm { token, email }) => {
            let text = format!(
                "Bonjour,\n\nVous venez de demander à recevoir des nouvelles de la fédération {name} ({party}).\n\n\
                 Pour confirmer, ouvrez ce lien (valable 7 jours) :\n{base}/inscription/confirmer/{token}\n\n\
                 Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne sera enregistré.\n",
                party = app.config.charter.party_name,
                base = app.config.base_url()
            );
            jobs::enqueue(
                &app.db,
                &Job::SendEmail(OutgoingEmail { to: email, subject: "Confirmez votre inscription".into(), text }),
            )
            .await?;
            render(page(SignupForm::default(), None, true))
        }
        Ok(SignupOutcome::Silent) => render(page(SignupForm::default(), None, true)),
        Err(Error::Invalid(m)) => render_status(StatusCode::UNPROCESSABLE_ENTITY, page(form, Some(m), false)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "public/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    token: String,
    state: &'static str,
}

async fn confirm_page(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    let pending = selfservice::signup_pending(&app.db, &token).await?;
    let page = ConfirmPage {
        layout: layout(&app, "Confirmer l'inscription"),
        token,
        state: if pending { "pending" } else { "invalid" },
    };
    render_status(if pending { StatusCode::OK } else { StatusCode::GONE }, page)
}

async fn confirm(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    let done = selfservice::signup_confirm(&app.db, &token).await?;
    let page = ConfirmPage {
        layout: layout(&app, "Confirmer l'inscription"),
        token: String::new(),
        state: if done.is_some() { "done" } else { "invalid" },
    };
    render_status(if done.is_some() { StatusCode::OK } else { StatusCode::GONE }, page)
}

// ---------------------------------------------------------------------------------------------------
// Self-service

#[derive(Template)]
#[template(path = "public/link.html")]
struct LinkPage {
    layout: Layout,
    sent: bool,
    error: Option<String>,
}

async fn link_form(State(app): State<App>) -> WebResult<Response> {
    render(LinkPage { layout: layout(&app, "Vos données"), sent: false, error: None })
}

#[derive(Deserialize)]
struct LinkForm {
    #[serde(default)]
    email: String,
}

async fn request_link(State(app): State<App>, Meta(meta): Meta, Form(form): Form<LinkForm>) -> WebResult<Response> {
    let ip = meta.ip.parse().map(throttle::ip_key).unwrap_or(meta.ip.clone());
    let account = throttle::account_key("self_service", &form.email);
    if !throttle::public_form_allowed(&app.db, &ip).await? || !throttle::reset_allowed(&app.db, &account).await? {
        return Err(WebError::Throttled);
    }
    throttle::record_public_form(&app.db, &ip).await?;
    throttle::record(&app.db, &ip, &account, true).await?;
    match selfservice::link_request(&app.db, &form.email).await {
        Ok(Some(token)) => {
            let email = crate::people::csv_import::normalise_email(&form.email).unwrap_or_default();
            let text = format!(
                "Bonjour,\n\nVoici le lien pour consulter, corriger, exporter ou effacer les données que {party} détient sur vous, \
                 et choisir ce que vous recevez (valable une heure) :\n{base}/mes-donnees/{token}\n\n\
                 Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n",
                party = app.config.charter.party_name,
                base = app.config.base_url()
            );
            jobs::enqueue(&app.db, &Job::SendEmail(OutgoingEmail { to: email, subject: "Vos données".into(), text }))
                .await?;
            render(LinkPage { layout: layout(&app, "Vos données"), sent: true, error: None })
        }
        // Same answer whether or not the address is known.
        Ok(None) => render(LinkPage { layout: layout(&app, "Vos données"), sent: true, error: None }),
        Err(Error::Invalid(m)) => render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            LinkPage { layout: layout(&app, "Vos données"), sent: false, error: Some(m) },
        ),
        Err(e) => Err(e.into()),
    }
}

async fn verified(app: &App, token: &str) -> WebResult<VerifiedEmail> {
    selfservice::verify_link(&app.db, token).await?.ok_or(WebError::App(Error::NotFound))
}

pub struct Record {
    pub id: i64,
    pub federation: String,
    pub person: people::Person,
    pub consents: Vec<(&'static str, &'static str, &'static str, String)>,
}

#[derive(Template)]
#[template(path = "public/my_data.html")]
struct MyDataPage {
    layout: Layout,
    token: String,
    email: String,
    records: Vec<Record>,
    msg: &'static str,
}

#[derive(Deserialize, Default)]
struct MsgQuery {
    #[serde(default)]
    msg: String,
}

async fn my_data(
    State(app): State<App>,
    Path(token): Path<String>,
    axum::extract::Query(q): axum::extract::Query<MsgQuery>,
) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    let mut records = Vec::new();
    for p in selfservice::records(&app.db, &email).await? {
        let federation: String = sqlx::query_scalar("SELECT name FROM federations WHERE id = $1")
            .bind(p.federation_id)
            .fetch_one(&app.db.pool)
            .await?;
        let consents = consent::current(&consent::ledger(&app.db, &p).await?)
            .into_iter()
            .map(|s| {
                let state = match s.granted {
                    Some(true) => "accepté",
                    Some(false) => "refusé",
                    None => "jamais demandé",
                };
                (s.purpose, s.label, state, s.at.map(format_time).unwrap_or_default())
            })
            .collect();
        records.push(Record { id: p.id, federation, person: p, consents });
    }
    let msg = match q.msg.as_str() {
        "corrige" => "Vos données ont été corrigées.",
        "consentement" => "Votre choix est enregistré et s'applique immédiatement.",
        _ => "",
    };
    render(MyDataPage { layout: layout(&app, "Vos données"), token, email: email.as_str().to_string(), records, msg })
}

async fn my_data_json(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    let data = selfservice::export(&app.db, &email).await?;
    Ok(super::json_attachment("mes-donnees.json", &data)?)
}

async fn rectify(
    State(app): State<App>,
    Path((token, id)): Path<(String, i64)>,
    Form(form): Form<Rectification>,
) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    selfservice::rectify(&app.db, &email, id, &form).await?;
    Ok(Redirect::to(&format!("/mes-donnees/{token}?msg=corrige")).into_response())
}

async fn my_data_csv(State(app): State<App>, Path(token): Path<String>) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    let data = selfservice::export(&app.db, &email).await?;
    Ok(super::csv_attachment("mes-donnees.csv", people::personal_data_csv(&data)))
}

#[derive(Deserialize)]
struct ConsentForm {
    purpose: String,
    decision: String,
}

async fn set_consent(
    State(app): State<App>,
    Meta(meta): Meta,
    Path((token, id)): Path<(String, i64)>,
    Form(form): Form<ConsentForm>,
) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    selfservice::set_consent(&app.db, &email, id, &form.purpose, form.decision == "accepte", &meta.ip).await?;
    Ok(Redirect::to(&format!("/mes-donnees/{token}?msg=consentement")).into_response())
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
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<EraseForm>,
) -> WebResult<Response> {
    let email = verified(&app, &token).await?;
    if form.confirm != "oui" {
        return Err(Error::Invalid("Cochez la case de confirmation.".into()).into());
    }
    let n = selfservice::erase_all(&app.db, &email, form.reason == "objected").await?;
    crate::audit::record(
        &app.db,
        &meta,
        crate::audit::Entry::new(None, "person_self_erased")
            .details(serde_json::json!({ "records": n, "objection": form.reason == "objected" })),
    )
    .await?;
    #[derive(Template)]
    #[template(path = "message.html")]
    struct Done {
        layout: Layout,
        heading: String,
        message: String,
        link: Option<(String, String)>,
    }
    render(Done {
        layout: layout(&app, "Données effacées"),
        heading: "Vos données ont été effacées".into(),
        message: "Nous ne vous contacterons plus, et votre adresse ne pourra plus être réenregistrée par un import."
            .into(),
        link: None,
    })
}
