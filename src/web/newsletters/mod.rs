//! Newsletter pages: campaigns list, block composer (a plain form, no JavaScript) with previews in frames,
//! test send, audience and sending, pause/resume/cancel, and analytics (per campaign and across campaigns).
//! Everything needs `Perm::SendNewsletters`; campaigns are read through `campaigns::get`/`list`, which keep
//! the caller to their scope (404 otherwise).

mod blocks;
mod composer;
mod list;
mod overview;
mod preview;
mod sending;
mod stats;
#[cfg(test)]
mod tests;

use axum::Router;
use axum::routing::{get, post};

use composer::{composer, save};
use list::{create, index};
use overview::{overview, overview_csv};
use preview::{preview, preview_text, test_send, upload_image};
use sending::{cancel, pause, resume, send};
use stats::{stats, stats_csv};

use super::auth::Viewer;
use super::error::WebResult;
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::newsletter::campaigns::{self, Campaign};
use crate::newsletter::{self as nl};

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
