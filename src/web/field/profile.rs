//! The activist's profile (commune, distance, skills and causes) that the "for you" ranking reads.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};

use super::forms::{Choice, Pairs, first, ids, number, values};
use super::mission_form::curated_choices;
use crate::app::App;
use crate::error::Error;
use crate::field::matching;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render_status};

#[derive(Template)]
#[template(path = "field/profile.html")]
struct ProfilePage {
    layout: Layout,
    commune: String,
    commune_name: String,
    distance: i64,
    skills: Vec<Choice>,
    causes: Vec<Choice>,
    error: Option<String>,
}

async fn profile_page(app: &App, viewer: &Viewer, error: Option<String>, pairs: Option<&Pairs>) -> WebResult<Response> {
    let p = matching::profile(&app.db, viewer.user_id).await?;
    let mine: Vec<String> = match pairs {
        Some(pairs) => values(pairs, "competence").map(str::to_string).collect(),
        None => p.skills.iter().map(|s| s.0.to_string()).collect(),
    };
    let commune = match pairs {
        Some(pairs) => first(pairs, "commune").to_string(),
        None => p.commune_code.clone().unwrap_or_default(),
    };
    let commune_name: String = sqlx::query_scalar("SELECT name FROM communes WHERE code = $1")
        .bind(&commune)
        .fetch_optional(&app.db.pool)
        .await?
        .unwrap_or_default();
    let (skills, causes) = curated_choices(app, &mine).await?;
    let status =
        if error.is_some() { axum::http::StatusCode::UNPROCESSABLE_ENTITY } else { axum::http::StatusCode::OK };
    render_status(
        status,
        ProfilePage {
            layout: Layout::new(app, viewer, "Mon profil militant", "/missions"),
            commune,
            commune_name,
            distance: p.max_distance_km,
            skills,
            causes,
            error,
        },
    )
}

pub(super) async fn profile_form(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    profile_page(&app, &viewer, None, None).await
}

/// Accepts an INSEE code or "Name (code)" as typed in the commune field.
pub(super) fn commune_code(text: &str) -> String {
    let t = text.trim();
    match (t.rfind('('), t.ends_with(')')) {
        (Some(i), true) => t[i + 1..t.len() - 1].trim().to_string(),
        _ => t.to_string(),
    }
}

pub(super) async fn save_profile(
    State(app): State<App>,
    viewer: Viewer,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let result = async {
        let skills = ids(&pairs, "competence")?;
        let distance = number(&pairs, "distance", "Distance")?;
        let code = commune_code(first(&pairs, "commune"));
        let code = if code.is_empty() || code.chars().all(|c| c.is_ascii_alphanumeric()) {
            code
        } else {
            // A name: the commune of that exact name, when there is only one.
            let found: Vec<String> =
                sqlx::query_scalar("SELECT code FROM communes WHERE LOWER(name) = LOWER($1) LIMIT 2")
                    .bind(&code)
                    .fetch_all(&app.db.pool)
                    .await?;
            match found.as_slice() {
                [one] => one.clone(),
                [] => return Err(Error::Invalid(format!("Commune « {code} » introuvable : indiquez son code Insee."))),
                _ => return Err(Error::Invalid(format!("Plusieurs communes « {code} » : indiquez le code Insee."))),
            }
        };
        matching::save_profile(&app.db, viewer.user_id, Some(&code), distance, &skills).await
    }
    .await;
    match result {
        Ok(()) => Ok(Redirect::to("/missions?msg=profil").into_response()),
        Err(Error::Invalid(m)) => profile_page(&app, &viewer, Some(m), Some(&pairs)).await,
        Err(e) => Err(e.into()),
    }
}
