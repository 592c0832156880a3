//! Previews of a campaign (HTML and text), image upload into a block, and the test send.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::{audit_campaign, campaign};
use crate::app::App;
use crate::error::Error;
use crate::jobs::{self, Job};
use crate::newsletter::campaigns::Campaign;
use crate::newsletter::render;
use crate::newsletter::{self as nl};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;

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

pub(super) async fn preview(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let mut html = String::new();
    compiled(&app, &c).await?.render_html(&sample(), &mut html);
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
}

pub(super) async fn preview_text(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let mut text = String::new();
    compiled(&app, &c).await?.render_text(&sample(), &mut text);
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Uploads an image into an image block of a saved draft (the block's address becomes the image's public URL).
pub(super) async fn upload_image(
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

pub(super) async fn test_send(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    // Checks the document renders before queueing (the sender renders it again, exactly as for recipients).
    compiled(&app, &c).await?;
    let first_name = viewer.display_name.split_whitespace().next().unwrap_or("").to_string();
    jobs::enqueue(&app.db, &Job::SendCampaignTest { campaign_id: c.id, to: viewer.email.clone(), first_name }).await?;
    audit_campaign(&app, &viewer, "campaign_test_sent", &c).await?;
    Ok(Redirect::to(&format!("/lettres/{id}?msg=test")).into_response())
}
