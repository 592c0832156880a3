//! The mission catalogue: the "for you" ranking, the viewer's missions and the filtered list.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;

use super::forms::{Choice, Pairs, first, method_choices, opt_id, when};
use crate::access::Perm;
use crate::app::App;
use crate::field::matching::{self, Score};
use crate::field::missions::{self, Mission};
use crate::field::{Method, ical};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, render};

/// A mission as listed.
pub struct MissionCard {
    pub m: Mission,
    pub when: String,
    pub method: String,
    pub score: Option<Score>,
}

fn card(m: Mission, score: Option<Score>) -> MissionCard {
    MissionCard { when: when(&m), method: m.method().label().to_string(), m, score }
}

#[derive(Template)]
#[template(path = "field/missions.html")]
struct CataloguePage {
    layout: Layout,
    for_you: Vec<MissionCard>,
    mine: Vec<MissionCard>,
    missions: Vec<MissionCard>,
    federations: Vec<Choice>,
    methods: Vec<Choice>,
    skills: Vec<Choice>,
    text: String,
    past: bool,
    can_publish: bool,
    has_profile: bool,
    feed_url: String,
}

pub(super) async fn catalogue(
    State(app): State<App>,
    viewer: Viewer,
    Query(pairs): Query<Pairs>,
) -> WebResult<Response> {
    let filter = missions::Filter {
        federation_id: opt_id(&pairs, "federation", "Fédération")?,
        method: Method::parse(first(&pairs, "methode")),
        text: first(&pairs, "q").to_string(),
        skill_id: opt_id(&pairs, "competence", "Compétence")?,
        past: first(&pairs, "passees") == "1",
    };
    let listed = missions::list(&app.db, &filter, 200).await?;
    let for_you = matching::recommend(&app.db, viewer.user_id, 5).await?;
    let mine = missions::of_user(&app.db, viewer.user_id, false).await?;
    let profile = matching::profile(&app.db, viewer.user_id).await?;
    // Every federation is offered in the filter: missions are open to all.
    let all: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, code, name FROM federations ORDER BY code").fetch_all(&app.db.pool).await?;
    let chosen_fed = filter.federation_id;
    let skills = crate::people::skill_list(&app.db).await?;
    let key = ical::key(&app.db).await?;
    render(CataloguePage {
        layout: Layout::new(&app, &viewer, "Missions", "/missions"),
        for_you: for_you.into_iter().map(|(m, s)| card(m, Some(s))).collect(),
        mine: mine.into_iter().map(|m| card(m, None)).collect(),
        missions: listed.into_iter().map(|m| card(m, None)).collect(),
        federations: all
            .into_iter()
            .map(|(id, code, name)| Choice {
                value: id.to_string(),
                label: format!("{name} ({code})"),
                selected: Some(id) == chosen_fed,
            })
            .collect(),
        methods: method_choices(first(&pairs, "methode")),
        skills: skills
            .into_iter()
            .map(|(id, name)| Choice { selected: Some(id) == filter.skill_id, value: id.to_string(), label: name })
            .collect(),
        text: filter.text.clone(),
        past: filter.past,
        can_publish: viewer.access.allows_somewhere(Perm::ManageMissions),
        has_profile: profile.commune_code.is_some() || !profile.skills.is_empty(),
        feed_url: format!(
            "{}/agenda/{}",
            app.config.public_url.trim_end_matches('/'),
            ical::token(&key, viewer.user_id)
        ),
    })
}
