//! The block composer page: showing a draft with its errors and hints, and saving it.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::blocks::{Action, KINDS, apply, draft_from, draft_of, kind_label, kind_of, social_text};
use super::{Pairs, audit_campaign, campaign, list_name};
use crate::app::App;
use crate::error::Error;
use crate::newsletter::campaigns::{self, Campaign, Draft};
use crate::newsletter::render::{self, Block, CardKind, HintLevel};
use crate::newsletter::{self as nl};
use crate::people::segments;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, MsgQuery, format_int, format_time, render_status};
use crate::web::segments::Choice;

/// One block as the form shows it.
pub struct BlockView {
    pub i: usize,
    pub n: usize,
    pub kind: &'static str,
    pub kind_label: &'static str,
    pub text: String,
    pub markdown: String,
    pub src: String,
    pub alt: String,
    pub href: String,
    pub label: String,
    pub author: String,
    pub card_kind: &'static str,
    pub title: String,
    pub when: String,
    pub place: String,
    pub links: String,
    pub errors: Vec<String>,
    pub first: bool,
    pub last: bool,
}

fn block_view(i: usize, total: usize, b: &Block, errors: Vec<String>) -> BlockView {
    let kind = kind_of(b);
    let mut v = BlockView {
        i,
        n: i + 1,
        kind,
        kind_label: kind_label(kind),
        text: String::new(),
        markdown: String::new(),
        src: String::new(),
        alt: String::new(),
        href: String::new(),
        label: String::new(),
        author: String::new(),
        card_kind: "event",
        title: String::new(),
        when: String::new(),
        place: String::new(),
        links: String::new(),
        errors,
        first: i == 0,
        last: i + 1 == total,
    };
    match b {
        Block::Title { text } => v.text = text.clone(),
        Block::Text { markdown } => v.markdown = markdown.clone(),
        Block::Image { src, alt, href } => {
            v.src = src.clone();
            v.alt = alt.clone();
            v.href = href.clone().unwrap_or_default();
        }
        Block::Button { label, href } => {
            v.label = label.clone();
            v.href = href.clone();
        }
        Block::Quote { text, author } => {
            v.text = text.clone();
            v.author = author.clone().unwrap_or_default();
        }
        Block::Card { kind, title, when, place, href } => {
            v.card_kind = if *kind == CardKind::Mission { "mission" } else { "event" };
            v.title = title.clone();
            v.when = when.clone();
            v.place = place.clone();
            v.href = href.clone();
        }
        Block::Social { links } => v.links = social_text(links),
        Block::Separator => {}
    }
    v
}

pub struct HintView {
    pub warning: bool,
    pub message: String,
}

#[derive(Template)]
#[template(path = "newsletters/composer.html")]
struct ComposerPage {
    layout: Layout,
    id: i64,
    list: String,
    name: String,
    templates: Vec<Choice>,
    segments: Vec<Choice>,
    tracking: bool,
    subject: String,
    preheader: String,
    blocks: Vec<BlockView>,
    kinds: Vec<(&'static str, &'static str)>,
    error_title: &'static str,
    errors: Vec<String>,
    notice: Option<String>,
    hints: Vec<HintView>,
    audience: String,
    audience_n: i64,
    version: i64,
    today: String,
}

const NO_ERRORS: (&str, Vec<String>) = ("", Vec::new());
const NOT_SAVED: &str = "La lettre n'est pas enregistrée :";
pub(super) const NOT_SENT: &str = "La lettre n'est pas partie :";

/// Renders the composer with `draft` (the saved campaign or the author's input) and what went wrong.
pub(super) async fn composer_page(
    app: &App,
    viewer: &Viewer,
    c: &Campaign,
    draft: &Draft,
    (error_title, errors): (&'static str, Vec<String>),
    notice: Option<String>,
    msg: &str,
) -> WebResult<Response> {
    let a = &viewer.access;
    let doc = &draft.document;
    let mut block_errors: Vec<Vec<String>> = vec![Vec::new(); doc.blocks.len()];
    let mut hints = Vec::new();
    let sender = nl::sender_identity(&app.db, &app.config, c).await?;
    let template = render::template(&draft.template).or_else(|| render::template("classique"));
    match template.map(|t| render::compile(doc, t, &sender)) {
        Some(Ok(compiled)) => {
            hints = render::spam_hints(doc, &compiled)
                .into_iter()
                .map(|h| HintView { warning: h.level == HintLevel::Warning, message: h.message })
                .collect();
        }
        // After a refused save, each problem is also shown in its block.
        Some(Err(e)) if !errors.is_empty() => {
            for issue in e.issues {
                if let Some(list) = issue.block.and_then(|b| block_errors.get_mut(b)) {
                    list.push(issue.message);
                }
            }
        }
        _ => {}
    }
    let total = doc.blocks.len();
    let blocks = doc
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| block_view(i, total, b, std::mem::take(&mut block_errors[i])))
        .collect();
    let lists = campaigns::lists(&app.db, a).await?;
    let mut segment_choices =
        vec![Choice { value: String::new(), label: "Toute la liste".into(), selected: draft.segment_id.is_none() }];
    segment_choices.extend(segments::list(&app.db, a).await?.into_iter().map(|s| Choice {
        selected: draft.segment_id == Some(s.id),
        value: s.id.to_string(),
        label: s.name,
    }));
    let audience_n = campaigns::count_audience(&app.db, a, c).await?;
    let mut layout = Layout::new(app, viewer, &format!("Lettre « {} »", c.name), "/lettres");
    layout.flash = match msg {
        "creee" => Some("Lettre créée à partir d'un modèle de départ : adaptez-la puis enregistrez."),
        "enregistree" => Some("Lettre enregistrée."),
        "test" => Some("Test envoyé à votre adresse."),
        "image" => Some("Image téléversée : complétez son texte alternatif puis enregistrez."),
        _ => None,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let today = format_time(crate::db::now());
    let today = today.split(' ').next().unwrap_or("").split('/').rev().collect::<Vec<_>>().join("-");
    render_status(
        status,
        ComposerPage {
            layout,
            id: c.id,
            list: list_name(&lists, c.list_id),
            name: draft.name.clone(),
            templates: render::templates()
                .iter()
                .map(|t| Choice { value: t.id.into(), label: t.name.into(), selected: t.id == draft.template })
                .collect(),
            segments: segment_choices,
            tracking: draft.tracking,
            subject: doc.subject.clone(),
            preheader: doc.preheader.clone(),
            blocks,
            kinds: KINDS.to_vec(),
            error_title,
            errors,
            notice,
            hints,
            audience: format_int(audience_n),
            audience_n,
            version: c.updated_at,
            today,
        },
    )
}

pub(super) async fn composer(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    if !c.editable() {
        return Ok(Redirect::to(&format!("/lettres/{id}/statistiques")).into_response());
    }
    composer_page(&app, &viewer, &c, &draft_of(&c), NO_ERRORS, None, &q.msg).await
}

pub(super) async fn save(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    if !c.editable() {
        return Err(Error::Conflict("Cette lettre est déjà partie : elle ne peut plus être modifiée.".into()).into());
    }
    let (mut draft, action) = match draft_from(&pairs) {
        Ok(d) => d,
        Err(Error::Invalid(m)) => {
            return composer_page(&app, &viewer, &c, &draft_of(&c), (NOT_SAVED, vec![m]), None, "").await;
        }
        Err(e) => return Err(e.into()),
    };
    let focus = apply(&mut draft.document, action);
    if let Action::Add(kind) = action {
        // A new block is empty: nothing is saved until the author fills it in.
        let notice = format!(
            "Bloc « {} » ajouté en bas de la lettre (bloc {}). Remplissez-le puis cliquez sur « Enregistrer » : \
             rien n'est enregistré avant.",
            kind_label(kind),
            draft.document.blocks.len()
        );
        return composer_page(&app, &viewer, &c, &draft, NO_ERRORS, Some(notice), "").await;
    }
    match campaigns::save(&app.db, &viewer.access, &c, &draft).await {
        Ok(saved) => {
            audit_campaign(&app, &viewer, "campaign_saved", &saved).await?;
            let anchor = focus.map(|i| format!("#bloc-{}", i + 1)).unwrap_or_default();
            Ok(Redirect::to(&format!("/lettres/{id}?msg=enregistree{anchor}")).into_response())
        }
        Err(Error::Invalid(m)) => {
            let errors = m.lines().map(str::to_string).collect();
            composer_page(&app, &viewer, &c, &draft, (NOT_SAVED, errors), None, "").await
        }
        Err(Error::NotFound) => {
            let errors = vec!["Segment inconnu ou hors de votre périmètre.".into()];
            composer_page(&app, &viewer, &c, &draft, (NOT_SAVED, errors), None, "").await
        }
        Err(e) => Err(e.into()),
    }
}
