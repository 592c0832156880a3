//! The campaigns list and the creation of a campaign.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Pairs, audit_campaign, list_name, require};
use crate::app::App;
use crate::error::Error;
use crate::newsletter::campaigns;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, MsgQuery, format_int, format_time, render_status};
use crate::web::segments::Choice;

pub struct CampaignRow {
    pub href: String,
    pub name: String,
    pub list: String,
    pub state: &'static str,
    pub audience: String,
    pub date: String,
    pub stats: Option<String>,
}

#[derive(Template)]
#[template(path = "newsletters/index.html")]
struct IndexPage {
    layout: Layout,
    rows: Vec<CampaignRow>,
    lists: Vec<Choice>,
    name: String,
    error: Option<String>,
}

async fn index_page(
    app: &App,
    viewer: &Viewer,
    msg: &str,
    pairs: &Pairs,
    error: Option<String>,
) -> WebResult<Response> {
    require(viewer)?;
    let a = &viewer.access;
    let lists = campaigns::lists(&app.db, a).await?;
    let rows = campaigns::list(&app.db, a)
        .await?
        .into_iter()
        .map(|c| CampaignRow {
            href: if c.editable() { format!("/lettres/{}", c.id) } else { format!("/lettres/{}/statistiques", c.id) },
            list: list_name(&lists, c.list_id),
            state: c.state_label(),
            audience: if c.editable() { "—".into() } else { format_int(c.audience) },
            date: match (c.started_at, c.scheduled_at) {
                (Some(t), _) => format_time(t),
                (None, Some(t)) => format!("prévue le {}", format_time(t)),
                _ => "—".into(),
            },
            stats: (!c.editable()).then(|| format!("/lettres/{}/statistiques", c.id)),
            name: c.name,
        })
        .collect();
    let chosen = pairs.iter().find(|(k, _)| k == "list_id").map(|(_, v)| v.as_str()).unwrap_or("");
    let lists = lists
        .into_iter()
        .map(|l| Choice { selected: chosen == l.id.to_string(), value: l.id.to_string(), label: l.name })
        .collect();
    let mut layout = Layout::new(app, viewer, "Lettres d'information", "/lettres");
    layout.flash = match msg {
        "annulee" => Some("Le brouillon est abandonné."),
        _ => None,
    };
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    render_status(
        status,
        IndexPage {
            layout,
            rows,
            lists,
            name: pairs.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default(),
            error,
        },
    )
}

pub(super) async fn index(State(app): State<App>, viewer: Viewer, Query(q): Query<MsgQuery>) -> WebResult<Response> {
    index_page(&app, &viewer, &q.msg, &Vec::new(), None).await
}

pub(super) async fn create(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
    require(&viewer)?;
    let field = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim()).unwrap_or("");
    let Ok(list_id) = field("list_id").parse::<i64>() else {
        return index_page(&app, &viewer, "", &pairs, Some("Choisissez une liste de diffusion.".into())).await;
    };
    match campaigns::create(&app.db, &viewer.access, list_id, field("name")).await {
        Ok(c) => {
            audit_campaign(&app, &viewer, "campaign_created", &c).await?;
            Ok(Redirect::to(&format!("/lettres/{}?msg=creee", c.id)).into_response())
        }
        Err(Error::Invalid(m)) => index_page(&app, &viewer, "", &pairs, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}
