//! Statistics across campaigns, per federation and nationally: page and CSV.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::require;
use crate::app::App;
use crate::newsletter::analytics::{self, Figures};
use crate::web::auth::Viewer;
use crate::web::error::WebResult;
use crate::web::pages::{Layout, format_int, render_status};

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

pub(super) async fn overview(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
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

pub(super) async fn overview_csv(State(app): State<App>, viewer: Viewer) -> WebResult<Response> {
    require(&viewer)?;
    let sent = analytics::sent_campaigns(&app.db, &viewer.access).await?;
    let groups = analytics::compare(&sent);
    Ok(crate::web::csv_attachment("lettres-comparaison.csv", analytics::comparison_csv(&groups, &sent)))
}
