//! Statistics of one campaign: page and CSV.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::{campaign, list_name};
use crate::app::App;
use crate::newsletter::analytics;
use crate::newsletter::campaigns;
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, MsgQuery, format_int, format_time, render_status};

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

pub(super) async fn stats(
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

pub(super) async fn stats_csv(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let c = campaign(&app, &viewer, id).await?;
    let f = analytics::campaign_figures(&app.db, &c).await?;
    let links = analytics::link_clicks(&app.db, c.id).await?;
    let series = analytics::hourly(&app.db, &c).await?;
    Ok(crate::web::csv_attachment(
        &format!("lettre-{}-statistiques.csv", c.id),
        analytics::campaign_csv(&c.name, &f, &links, &series),
    ))
}
