//! Newsletters: lists, campaigns composed from blocks, a sender that never sends twice, tracking, unsubscribes,
//! bounces and analytics.

pub mod analytics;
pub mod bounce;
pub mod bounces;
pub mod campaigns;
pub mod dkim;
pub mod media;
pub mod mime;
pub mod render;
pub mod sender;
pub mod smtp;
pub mod tracking;
pub mod unsubscribe;
use crate::config::Config;
use crate::db::Db;
use crate::error::Result;
use campaigns::Campaign;

/// Who sends a campaign and why the person receives it: the locked footer (French law, GDPR art. 13).
pub async fn sender_identity(db: &Db, config: &Config, campaign: &Campaign) -> Result<render::Sender> {
    let list: (String, Option<String>) = sqlx::query_as(
        "SELECT l.name, f.name FROM mailing_lists l LEFT JOIN federations f ON f.id = l.federation_id WHERE l.id = $1",
    )
    .bind(campaign.list_id)
    .fetch_one(&db.pool)
    .await?;
    let party = &config.charter.party_name;
    let (organisation, reason) = match &list.1 {
        Some(federation) => (
            format!("{party} — fédération {federation}"),
            format!(
                "Vous recevez cette lettre car vous avez accepté de recevoir « {} » de la fédération {federation}.",
                list.0
            ),
        ),
        None => (party.clone(), format!("Vous recevez cette lettre car vous avez accepté de recevoir « {} ».", list.0)),
    };
    Ok(render::Sender {
        organisation,
        postal_address: config.newsletter.postal_address.clone(),
        reason,
        logo_url: format!("{}/static/logo.svg", config.base_url()),
    })
}
