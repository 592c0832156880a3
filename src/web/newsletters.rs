//! Newsletter pages: campaigns list, block composer (a plain form, no JavaScript) with previews in frames,
//! test send, audience and sending, pause/resume/cancel, and analytics (per campaign and across campaigns).
//! Everything needs `Perm::SendNewsletters`; campaigns are read through `campaigns::get`/`list`, which keep
//! the caller to their scope (404 otherwise).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::auth::Viewer;
use super::error::WebResult;
use super::pages::{Layout, MsgQuery, format_int, format_time, render_status};
use super::segments::Choice;
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::jobs::{self, Job};
use crate::newsletter::analytics::{self, Figures};
use crate::newsletter::campaigns::{self, Campaign, Draft};
use crate::newsletter::render::{self, Block, CardKind, Document, HintLevel, SocialLink};
use crate::newsletter::{self as nl};
use crate::people::segments;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/lettres", get(index).post(create))
        .route("/lettres/statistiques", get(overview))
        .route("/lettres/statistiques.csv", get(overview_csv))
        .route("/lettres/{id}", get(composer).post(save))
        .route("/lettres/{id}/apercu", get(preview))
        .route("/lettres/{id}/apercu.txt", get(preview_text))
        .route("/lettres/{id}/test", post(test_send))
        .route(
            "/lettres/{id}/image/{block}",
            post(upload_image).layer(axum::extract::DefaultBodyLimit::max(nl::media::MAX_BYTES + 64 * 1024)),
        )
        .route("/lettres/{id}/envoyer", post(send))
        .route("/lettres/{id}/pause", post(pause))
        .route("/lettres/{id}/reprendre", post(resume))
        .route("/lettres/{id}/annuler", post(cancel))
        .route("/lettres/{id}/statistiques", get(stats))
        .route("/lettres/{id}/statistiques.csv", get(stats_csv))
}

type Pairs = Vec<(String, String)>;

/// An audit entry about a campaign, by the viewer.
async fn audit_campaign(app: &App, viewer: &Viewer, action: &'static str, c: &Campaign) -> WebResult<()> {
    audit::record(&app.db, &viewer.meta, viewer.audit(action).target("campaign", c.id).federation(c.federation_id))
        .await?;
    Ok(())
}

fn require(viewer: &Viewer) -> Result<(), Error> {
    if viewer.access.allows_somewhere(Perm::SendNewsletters) { Ok(()) } else { Err(Error::Forbidden) }
}

/// A campaign the viewer may send (404 when out of scope).
async fn campaign(app: &App, viewer: &Viewer, id: i64) -> Result<Campaign, Error> {
    require(viewer)?;
    campaigns::get(&app.db, &viewer.access, id).await
}

fn list_name(lists: &[campaigns::MailingList], id: i64) -> String {
    lists.iter().find(|l| l.id == id).map(|l| l.name.clone()).unwrap_or_else(|| "—".into())
}

// ---------------------------------------------------------------------------------------------------
// Campaigns list and creation

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

async fn index(State(app): State<App>, viewer: Viewer, Query(q): Query<MsgQuery>) -> WebResult<Response> {
    index_page(&app, &viewer, &q.msg, &Vec::new(), None).await
}

async fn create(State(app): State<App>, viewer: Viewer, Form(pairs): Form<Pairs>) -> WebResult<Response> {
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

// ---------------------------------------------------------------------------------------------------
// Composer

/// Block types, in the order of the "add" buttons: (form value, French name).
const KINDS: [(&str, &str); 8] = [
    ("title", "Titre"),
    ("text", "Texte"),
    ("image", "Image"),
    ("button", "Bouton"),
    ("quote", "Citation"),
    ("card", "Carte (événement ou mission)"),
    ("social", "Réseaux sociaux"),
    ("separator", "Séparateur"),
];

fn kind_of(b: &Block) -> &'static str {
    match b {
        Block::Title { .. } => "title",
        Block::Text { .. } => "text",
        Block::Image { .. } => "image",
        Block::Button { .. } => "button",
        Block::Quote { .. } => "quote",
        Block::Card { .. } => "card",
        Block::Social { .. } => "social",
        Block::Separator => "separator",
    }
}

fn kind_label(kind: &str) -> &'static str {
    KINDS.iter().find(|(k, _)| *k == kind).map(|(_, l)| *l).unwrap_or("Bloc")
}

/// An empty block of a kind (the author fills it in).
fn new_block(kind: &str) -> Option<Block> {
    Some(match kind {
        "title" => Block::Title { text: String::new() },
        "text" => Block::Text { markdown: String::new() },
        "image" => Block::Image { src: String::new(), alt: String::new(), href: None },
        "button" => Block::Button { label: String::new(), href: String::new() },
        "quote" => Block::Quote { text: String::new(), author: None },
        "card" => Block::Card {
            kind: CardKind::Event,
            title: String::new(),
            when: String::new(),
            place: String::new(),
            href: String::new(),
        },
        "social" => Block::Social { links: Vec::new() },
        "separator" => Block::Separator,
        _ => return None,
    })
}

/// What a composer button asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Save,
    Add(&'static str),
    Up(usize),
    Down(usize),
    Delete(usize),
}

fn parse_action(v: &str) -> Result<Action, Error> {
    let bad = || Error::Invalid("Action inconnue.".into());
    let (verb, arg) = v.split_once(':').unwrap_or((v, ""));
    let index = || arg.parse::<usize>().map_err(|_| bad());
    Ok(match verb {
        "" | "save" => Action::Save,
        "add" => Action::Add(KINDS.iter().find(|(k, _)| *k == arg).map(|(k, _)| *k).ok_or_else(bad)?),
        "up" => Action::Up(index()?),
        "down" => Action::Down(index()?),
        "delete" => Action::Delete(index()?),
        _ => return Err(bad()),
    })
}

/// Applies a block action; returns the (0-based) position of the block to show after it.
fn apply(doc: &mut Document, action: Action) -> Option<usize> {
    let n = doc.blocks.len();
    match action {
        Action::Save => None,
        Action::Add(kind) => {
            doc.blocks.push(new_block(kind)?);
            Some(n)
        }
        Action::Up(i) if i > 0 && i < n => {
            doc.blocks.swap(i, i - 1);
            Some(i - 1)
        }
        Action::Down(i) if i + 1 < n => {
            doc.blocks.swap(i, i + 1);
            Some(i + 1)
        }
        Action::Delete(i) if i < n => {
            doc.blocks.remove(i);
            None
        }
        _ => None,
    }
}

fn field<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or("")
}

fn one_line(s: &str) -> String {
    s.trim().to_string()
}

fn optional(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// "Mastodon https://…" lines → social links.
fn parse_social(s: &str) -> Vec<SocialLink> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.rsplit_once(char::is_whitespace) {
            Some((network, url)) => SocialLink { network: network.trim().to_string(), url: url.trim().to_string() },
            None if l.contains("://") => SocialLink { network: String::new(), url: l.to_string() },
            None => SocialLink { network: l.to_string(), url: String::new() },
        })
        .collect()
}

fn social_text(links: &[SocialLink]) -> String {
    links.iter().map(|l| format!("{} {}", l.network, l.url).trim().to_string()).collect::<Vec<_>>().join("\n")
}

/// Reads the composer form: the draft and the button pressed. Blocks are the `b{i}.*` fields, in order of `i`.
fn draft_from(pairs: &Pairs) -> Result<(Draft, Action), Error> {
    let mut indices: Vec<usize> =
        pairs.iter().filter_map(|(k, _)| k.strip_prefix('b')?.strip_suffix(".type")?.parse::<usize>().ok()).collect();
    indices.sort_unstable();
    indices.dedup();
    if indices.len() > 200 {
        return Err(Error::Invalid("Trop de blocs.".into()));
    }
    let mut blocks = Vec::new();
    for i in &indices {
        let f = |name: &str| field(pairs, &format!("b{i}.{name}"));
        let block = match f("type") {
            "title" => Block::Title { text: one_line(f("text")) },
            "text" => Block::Text { markdown: f("markdown").replace("\r\n", "\n").trim_end().to_string() },
            "image" => Block::Image { src: one_line(f("src")), alt: one_line(f("alt")), href: optional(f("href")) },
            "button" => Block::Button { label: one_line(f("label")), href: one_line(f("href")) },
            "quote" => Block::Quote { text: one_line(f("text")), author: optional(f("author")) },
            "card" => Block::Card {
                kind: if f("kind") == "mission" { CardKind::Mission } else { CardKind::Event },
                title: one_line(f("title")),
                when: one_line(f("when")),
                place: one_line(f("place")),
                href: one_line(f("href")),
            },
            "social" => Block::Social { links: parse_social(f("links")) },
            "separator" => Block::Separator,
            _ => return Err(Error::Invalid("Type de bloc inconnu.".into())),
        };
        blocks.push(block);
    }
    // Buttons name blocks by their `i`; map that to a position.
    let position = |i: usize| indices.iter().position(|x| *x == i).unwrap_or(usize::MAX);
    let action = match parse_action(field(pairs, "action"))? {
        Action::Up(i) => Action::Up(position(i)),
        Action::Down(i) => Action::Down(position(i)),
        Action::Delete(i) => Action::Delete(position(i)),
        a => a,
    };
    let segment_id = match field(pairs, "segment").trim() {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| Error::Invalid("Segment invalide.".into()))?),
    };
    Ok((
        Draft {
            name: field(pairs, "name").to_string(),
            template: field(pairs, "template").to_string(),
            document: Document {
                subject: one_line(field(pairs, "subject")),
                preheader: one_line(field(pairs, "preheader")),
                blocks,
            },
            segment_id,
            tracking: field(pairs, "tracking") == "1",
        },
        action,
    ))
}

fn draft_of(c: &Campaign) -> Draft {
    Draft {
        name: c.name.clone(),
        template: c.template.clone(),
        document: c.document(),
        segment_id: c.segment_id,
        tracking: c.tracking == 1,
    }
}

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
const NOT_SENT: &str = "La lettre n'est pas partie :";

/// Renders the composer with `draft` (the saved campaign or the author's input) and what went wrong.
async fn composer_page(
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

async fn composer(
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

async fn save(
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

// ---------------------------------------------------------------------------------------------------
// Preview and test send

/// The sample recipient of previews and tests.
fn sample() -> render::Recipient<'static> {
    render::Recipient {
        first_name: "Camille",
        last_name: "Martin",
        commune: "Lyon",
        unsubscribe_url: "#",
        tracking: None,
        open_pixel_url: None,
    }
}

async fn compiled(app: &App, c: &Campaign) -> Result<render::Compiled, Error> {
    let sender = nl::sender_identity(&app.db, &app.config, c).await?;
    let template = render::template(&c.template).ok_or_else(|| Error::Invalid("Modèle inconnu.".into()))?;
    render::compile(&c.document(), template, &sender).map_err(|e| Error::Invalid(e.to_string()))
}

async fn preview(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let mut html = String::new();
    compiled(&app, &c).await?.render_html(&sample(), &mut html);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

async fn preview_text(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let mut text = String::new();
    compiled(&app, &c).await?.render_text(&sample(), &mut text);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Uploads an image into an image block of a saved draft (the block's address becomes the image's public URL).
async fn upload_image(
    State(app): State<App>,
    viewer: Viewer,
    Path((id, block)): Path<(i64, usize)>,
    mut multipart: axum::extract::Multipart,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    if !c.editable() {
        return Err(Error::Conflict("Cette lettre est déjà partie : elle ne peut plus être modifiée.".into()).into());
    }
    let mut doc = c.document();
    if !matches!(doc.blocks.get(block), Some(render::Block::Image { .. })) {
        return Err(Error::Invalid(
            "Ajoutez et enregistrez d'abord un bloc « Image », puis téléversez-y l'image.".into(),
        )
        .into());
    }
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) =
        multipart.next_field().await.map_err(|e| Error::Invalid(format!("Envoi incomplet : {e}")))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("").to_string();
            let bytes = field.bytes().await.map_err(|e| Error::Invalid(format!("Fichier illisible : {e}")))?;
            file = Some((name, bytes.to_vec()));
        }
    }
    let (name, bytes) = file.unwrap_or_default();
    let key = nl::media::store(&app.db, c.federation_id, viewer.user_id, &name, &bytes).await?;
    if let Some(render::Block::Image { src, .. }) = doc.blocks.get_mut(block) {
        *src = format!("{}/media/{key}", app.config.base_url());
    }
    sqlx::query("UPDATE campaigns SET document = $1, updated_at = $2 WHERE id = $3 AND state = 'draft'")
        .bind(serde_json::to_string(&doc).map_err(anyhow::Error::from).map_err(Error::from)?)
        .bind(crate::db::now())
        .bind(c.id)
        .execute(&app.db.pool)
        .await
        .map_err(Error::from)?;
    audit_campaign(&app, &viewer, "campaign_image_uploaded", &c).await?;
    Ok(Redirect::to(&format!("/lettres/{id}?msg=image")).into_response())
}

async fn test_send(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    // Checks the document renders before queueing (the sender renders it again, exactly as for recipients).
    compiled(&app, &c).await?;
    let first_name = viewer.display_name.split_whitespace().next().unwrap_or("").to_string();
    jobs::enqueue(&app.db, &Job::SendCampaignTest { campaign_id: c.id, to: viewer.email.clone(), first_name }).await?;
    audit_campaign(&app, &viewer, "campaign_test_sent", &c).await?;
    Ok(Redirect::to(&format!("/lettres/{id}?msg=test")).into_response())
}

// ---------------------------------------------------------------------------------------------------
// Sending and control

async fn send(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(pairs): Form<Pairs>,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let at = match field(&pairs, "when") {
        "later" => match analytics::parse_paris(field(&pairs, "date"), field(&pairs, "time")) {
            Some(t) => Some(t),
            None => {
                let errors = vec!["Indiquez une date et une heure d'envoi valides (heure de Paris).".to_string()];
                return composer_page(&app, &viewer, &c, &draft_of(&c), (NOT_SENT, errors), None, "").await;
            }
        },
        _ => None,
    };
    let sender = nl::sender_identity(&app.db, &app.config, &c).await?;
    match campaigns::launch(&app.db, &viewer.access, &c, &sender, app.config.newsletter.shards, at).await {
        Ok(n) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer
                    .audit("campaign_send")
                    .target("campaign", c.id)
                    .federation(c.federation_id)
                    .details(serde_json::json!({ "count": n, "scheduled_at": at })),
            )
            .await?;
            let msg = if at.is_some() { "programmee" } else { "envoyee" };
            Ok(Redirect::to(&format!("/lettres/{id}/statistiques?msg={msg}")).into_response())
        }
        Err(Error::Invalid(m)) if c.editable() => {
            composer_page(
                &app,
                &viewer,
                &c,
                &draft_of(&c),
                (NOT_SENT, m.lines().map(str::to_string).collect()),
                None,
                "",
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

async fn control(app: &App, viewer: &Viewer, id: i64, action: &str, audit_action: &'static str) -> WebResult<Response> {
    let c = campaign(app, viewer, id).await?;
    campaigns::control(&app.db, &viewer.access, &c, action, app.config.newsletter.shards).await?;
    audit_campaign(app, viewer, audit_action, &c).await?;
    let target = match action {
        "cancel" if c.editable() => "/lettres?msg=annulee".to_string(),
        "cancel" => format!("/lettres/{id}/statistiques?msg=annulee"),
        "pause" => format!("/lettres/{id}/statistiques?msg=pause"),
        _ => format!("/lettres/{id}/statistiques?msg=reprise"),
    };
    Ok(Redirect::to(&target).into_response())
}

async fn pause(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "pause", "campaign_pause").await
}

async fn resume(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "resume", "campaign_resume").await
}

async fn cancel(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    control(&app, &viewer, id, "cancel", "campaign_cancel").await
}

// ---------------------------------------------------------------------------------------------------
// Statistics of one campaign

pub struct Figure {
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
    pub detail: String,
}

pub struct LinkRow {
    pub n: i64,
    pub url: String,
    pub clicks: String,
}

#[derive(Template)]
#[template(path = "newsletters/stats.html")]
struct StatsPage {
    layout: Layout,
    id: i64,
    name: String,
    state: &'static str,
    list: String,
    dates: Vec<(&'static str, String)>,
    delivery: Vec<Figure>,
    engagement: Vec<Figure>,
    links: Vec<LinkRow>,
    chart: Option<String>,
    truncated: bool,
    pause_reason: Option<String>,
    can_pause: bool,
    can_resume: bool,
    can_cancel: bool,
    tracking: bool,
    tracked: String,
}

fn fig(key: &'static str, label: &'static str, value: String, detail: impl Into<String>) -> Figure {
    Figure { key, label, value, detail: detail.into() }
}

async fn stats(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(q): Query<MsgQuery>,
) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let p = campaigns::progress(&app.db, c.id).await?;
    let f = analytics::campaign_figures(&app.db, &c).await?;
    let links = analytics::link_clicks(&app.db, c.id).await?;
    let series = analytics::hourly(&app.db, &c).await?;
    let lists = campaigns::lists(&app.db, &viewer.access).await?;
    let n = format_int;
    let pct = analytics::percent;
    let tracked = n(f.tracked_delivered());
    let delivery = vec![
        fig("recipients", "Destinataires", n(if c.editable() { 0 } else { c.audience }), "audience figée au départ"),
        fig("sent", "Envoyés", n(p.sent), ""),
        fig("pending", "En attente", n(p.pending + p.sending), ""),
        fig("failed", "Échecs", n(p.failed), "refusés par le serveur d'envoi"),
        fig("skipped", "Ignorés", n(p.skipped), "adresse bloquée, consentement retiré ou lettre annulée"),
        fig("uncertain", "Incertains", n(p.uncertain), "envoi interrompu : jamais renvoyés"),
        fig("delivered", "Délivrés", n(f.delivered()), "envoyés − rebonds"),
        fig("bounced", "Rebonds", n(f.bounced), pct(f.bounce_rate())),
    ];
    let engagement = vec![
        fig("opens", "Ouvertures", n(f.opens), "total, toutes personnes confondues"),
        fig(
            "unique_opens",
            "Ouvertures uniques",
            n(f.unique_opens),
            format!("personnes distinctes, parmi les {tracked} personnes suivies individuellement"),
        ),
        fig("open_rate", "Taux d'ouverture", pct(f.open_rate()), "ouvertures uniques / personnes suivies délivrées"),
        fig("clicks", "Clics", n(f.clicks), "total"),
        fig("unique_clicks", "Clics uniques", n(f.unique_clicks), "personnes suivies distinctes"),
        fig("click_rate", "Taux de clic", pct(f.click_rate()), "clics uniques / personnes suivies délivrées"),
        fig("click_to_open", "Clics par ouverture", pct(f.click_to_open()), "clics uniques / ouvertures uniques"),
        fig("unsubscribes", "Désinscriptions", n(f.unsubscribes), ""),
        fig("unsubscribe_rate", "Taux de désinscription", pct(f.unsubscribe_rate()), "désinscriptions / délivrés"),
        fig("complaints", "Plaintes pour spam", n(f.complaints), pct(f.complaint_rate())),
    ];
    let chart = (f.opens + f.clicks > 0).then(|| {
        analytics::line_chart(
            "courbe",
            "Ouvertures et clics par heure",
            &format!(
                "Ouvertures (trait plein) et clics (pointillés) par heure depuis le début de l'envoi : {} ouvertures \
                 et {} clics au total.",
                f.opens, f.clicks
            ),
            series.start,
            3600,
            &[
                analytics::Line { name: "Ouvertures", color: "#1b3a6b", dash: None, values: &series.opens },
                analytics::Line { name: "Clics", color: "#d62839", dash: Some("6 4"), values: &series.clicks },
            ],
        )
    });
    let mut dates = vec![("Créée le", format_time(c.created_at))];
    if let Some(t) = c.scheduled_at {
        dates.push(("Programmée pour le", format_time(t)));
    }
    if let Some(t) = c.started_at {
        dates.push(("Envoi commencé le", format_time(t)));
    }
    if let Some(t) = c.finished_at {
        dates.push(("Terminée le", format_time(t)));
    }
    let mut layout = Layout::new(&app, &viewer, &format!("Statistiques — {}", c.name), "/lettres");
    layout.refresh = c.state == "sending";
    layout.flash = match q.msg.as_str() {
        "envoyee" => Some("Envoi lancé."),
        "programmee" => Some("Envoi programmé."),
        "pause" => Some("Envoi mis en pause."),
        "reprise" => Some("Envoi repris."),
        "annulee" => Some("Lettre annulée : les messages pas encore partis ne partiront pas."),
        _ => None,
    };
    render_status(
        StatusCode::OK,
        StatsPage {
            layout,
            id: c.id,
            state: c.state_label(),
            list: list_name(&lists, c.list_id),
            dates,
            delivery,
            engagement,
            links: links
                .into_iter()
                .map(|l| LinkRow { n: l.idx + 1, url: l.url, clicks: format_int(l.clicks) })
                .collect(),
            chart,
            truncated: series.truncated,
            pause_reason: Some(c.pause_reason.clone()).filter(|r| !r.trim().is_empty()),
            can_pause: matches!(c.state.as_str(), "sending" | "scheduled"),
            can_resume: c.state == "paused",
            can_cancel: matches!(c.state.as_str(), "sending" | "scheduled" | "paused"),
            tracking: c.tracking == 1,
            tracked,
            name: c.name,
        },
    )
}

async fn stats_csv(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let f = analytics::campaign_figures(&app.db, &c).await?;
    let links = analytics::link_clicks(&app.db, c.id).await?;
    let series = analytics::hourly(&app.db, &c).await?;
    Ok(super::csv_attachment(
        &format!("lettre-{}-statistiques.csv", c.id),
        analytics::campaign_csv(&c.name, &f, &links, &series),
    ))
}

// ---------------------------------------------------------------------------------------------------
// Across campaigns: per federation and nationally

pub struct OverviewRow {
    pub href: String,
    pub date: String,
    pub name: String,
    pub federation: String,
    pub audience: String,
    pub open: String,
    pub click: String,
    pub unsubscribe: String,
}

pub struct GroupRow {
    pub label: String,
    pub campaigns: String,
    pub recipients: String,
    pub open: String,
    pub click: String,
    pub click_to_open: String,
    pub unsubscribe: String,
    pub complaints: String,
}

fn group_row(label: String, campaigns: i64, f: &Figures) -> GroupRow {
    GroupRow {
        label,
        campaigns: format_int(campaigns),
        recipients: format_int(f.recipients),
        open: analytics::percent(f.open_rate()),
        click: analytics::percent(f.click_rate()),
        click_to_open: analytics::percent(f.click_to_open()),
        unsubscribe: analytics::percent(f.unsubscribe_rate()),
        complaints: format_int(f.complaints),
    }
}

#[derive(Template)]
#[template(path = "newsletters/overview.html")]
struct OverviewPage {
    layout: Layout,
    rows: Vec<OverviewRow>,
    show_federation: bool,
    trend: Option<String>,
    groups: Vec<GroupRow>,
    total: Option<GroupRow>,
    heat: String,
    heat_rows: Vec<(&'static str, Vec<i64>)>,
    best: Option<String>,
}

async fn overview(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer)?;
    let a = &viewer.access;
    let sent = analytics::sent_campaigns(&app.db, a).await?;
    let groups = analytics::compare(&sent);
    let grid = analytics::heat_map(&app.db, a).await?;
    let show_federation = groups.len() > 1 || a.is_national();
    let recent: Vec<&analytics::SentCampaign> = sent.iter().take(20).rev().collect();
    let trend = (!recent.is_empty()).then(|| {
        let bars: Vec<analytics::Bar> = recent
            .iter()
            .map(|c| analytics::Bar {
                label: analytics::short_date(c.started_at).chars().take(5).collect(),
                tooltip: format!("{} ({})", c.name, analytics::short_date(c.started_at)),
                value: c.figures.open_rate(),
            })
            .collect();
        analytics::bar_chart(
            "tendance",
            "Taux d'ouverture des dernières lettres",
            &format!(
                "Taux d'ouverture des {} dernières lettres envoyées, de la plus ancienne à la plus récente (détail dans \
                 le tableau ci-dessous).",
                bars.len()
            ),
            &bars,
        )
    });
    let mut total = Figures::default();
    for g in &groups {
        total.add(&g.figures);
    }
    let best = analytics::best_slot(&grid)
        .map(|(d, h, n)| format!("{} entre {h} h et {} h ({n} ouvertures et clics)", analytics::WEEKDAYS[d], h + 1));
    let heat = analytics::heat_map_svg(
        "moment",
        "Ouvertures et clics par jour et par heure (heure de Paris)",
        &match &best {
            Some(b) => format!("Grille jour de la semaine × heure. Créneau le plus actif : {b}."),
            None => "Grille jour de la semaine × heure : aucune ouverture ni aucun clic pour l'instant.".into(),
        },
        &grid,
        "ouvertures et clics",
    );
    render_status(
        StatusCode::OK,
        OverviewPage {
            layout: Layout::new(&app, &viewer, "Statistiques des lettres", "/lettres"),
            rows: sent
                .iter()
                .map(|c| OverviewRow {
                    href: format!("/lettres/{}/statistiques", c.id),
                    date: analytics::short_date(c.started_at),
                    name: c.name.clone(),
                    federation: c.federation.clone().unwrap_or_else(|| "National".into()),
                    audience: format_int(c.figures.recipients),
                    open: analytics::percent(c.figures.open_rate()),
                    click: analytics::percent(c.figures.click_rate()),
                    unsubscribe: analytics::percent(c.figures.unsubscribe_rate()),
                })
                .collect(),
            show_federation,
            trend,
            total: (groups.len() > 1).then(|| group_row("Ensemble".into(), sent.len() as i64, &total)),
            groups: groups.iter().map(|g| group_row(g.label.clone(), g.campaigns, &g.figures)).collect(),
            heat,
            heat_rows: analytics::WEEKDAYS.iter().zip(grid.iter()).map(|(d, row)| (*d, row.to_vec())).collect(),
            best,
        },
    )
}

async fn overview_csv(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer)?;
    let sent = analytics::sent_campaigns(&app.db, &viewer.access).await?;
    let groups = analytics::compare(&sent);
    Ok(super::csv_attachment("lettres-comparaison.csv", analytics::comparison_csv(&groups, &sent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Pairs {
        v.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_form_reads_blocks_in_order_and_the_action() {
        let p = pairs(&[
            ("name", "Lettre"),
            ("template", "sobre"),
            ("segment", ""),
            ("tracking", "1"),
            ("subject", " Objet "),
            ("preheader", ""),
            ("b1.type", "text"),
            ("b1.markdown", "Bonjour\r\n\r\n**vous**\r\n"),
            ("b0.type", "title"),
            ("b0.text", " Titre "),
            ("b2.type", "social"),
            ("b2.links", "Mastodon https://m.example/@a\r\nhttps://x.example\r\n\r\nPeertube"),
            ("b3.type", "image"),
            ("b3.src", "https://a.fr/i.png"),
            ("b3.alt", ""),
            ("b3.href", " "),
            ("action", "down:1"),
        ]);
        let (d, action) = draft_from(&p).unwrap();
        assert_eq!(action, Action::Down(1));
        assert!(d.tracking);
        assert_eq!(d.document.subject, "Objet");
        assert_eq!(d.document.blocks[0], Block::Title { text: "Titre".into() });
        assert_eq!(d.document.blocks[1], Block::Text { markdown: "Bonjour\n\n**vous**".into() });
        let Block::Social { links } = &d.document.blocks[2] else { panic!() };
        assert_eq!(links[0], SocialLink { network: "Mastodon".into(), url: "https://m.example/@a".into() });
        assert_eq!(links[1].network, "");
        assert_eq!(links[2].url, "");
        assert_eq!(d.document.blocks[3], Block::Image { src: "https://a.fr/i.png".into(), alt: "".into(), href: None });
        assert!(draft_from(&pairs(&[("b0.type", "video")])).is_err());
        assert!(draft_from(&pairs(&[("action", "add:video")])).is_err());
        assert!(draft_from(&pairs(&[("segment", "x")])).is_err());
    }

    #[test]
    fn block_actions_move_add_and_delete() {
        let mut doc = Document {
            blocks: vec![Block::Title { text: "a".into() }, Block::Separator, Block::Text { markdown: "b".into() }],
            ..Document::default()
        };
        assert_eq!(apply(&mut doc, Action::Up(2)), Some(1));
        assert_eq!(doc.blocks[1], Block::Text { markdown: "b".into() });
        assert_eq!(apply(&mut doc, Action::Up(0)), None);
        assert_eq!(apply(&mut doc, Action::Down(2)), None);
        assert_eq!(apply(&mut doc, Action::Delete(0)), None);
        assert_eq!(doc.blocks.len(), 2);
        assert_eq!(apply(&mut doc, Action::Add("quote")), Some(2));
        assert_eq!(doc.blocks[2], Block::Quote { text: String::new(), author: None });
        assert_eq!(apply(&mut doc, Action::Delete(9)), None);
        assert_eq!(doc.blocks.len(), 3);
    }

    #[test]
    fn social_links_round_trip() {
        let links = parse_social("Mastodon https://m.example/@a\nFacebook https://f.example/x");
        assert_eq!(social_text(&links), "Mastodon https://m.example/@a\nFacebook https://f.example/x");
    }
}
