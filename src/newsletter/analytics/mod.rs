//! Campaign analytics: the figures of one campaign (recipients, deliveries, opens, clicks, unsubscribes…), the
//! per-link clicks, an hourly series, the comparison between federations and the "best time to send" heat map;
//! plus the server-rendered SVG charts and the CSV exports of these figures.
//!
//! Definitions (shown on the pages too):
//! - delivered = sent − bounced;
//! - opens and clicks are counted in total (every recipient, tracked or not); unique openers and clickers are
//!   only known for the people who allowed individual tracking (their events carry `person_id`), so the open
//!   and click rates are computed on them: unique openers (clickers) among the tracked recipients / tracked
//!   recipients delivered;
//! - click-to-open = unique clickers / unique openers (tracked people);
//! - unsubscribe and complaint rates are over every delivered message.
//!
//! SQL is portable (SQLite and PostgreSQL): only counts grouped by campaign, kind or hour (`at / 3600`, integer
//! arithmetic); weekdays and hours in Paris time are computed here from those Unix hours.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde::Serialize;

use super::campaigns::Campaign;
use crate::access::{Access, Perm, Scope};
use crate::db::Db;
use crate::error::Result;
use crate::people::csv_import::write_csv_record;

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

/// Counts for one campaign (or summed over several).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// The frozen audience (rows of the recipient ledger).
    pub recipients: i64,
    /// Not sent yet (pending or being sent).
    pub pending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub uncertain: i64,
    /// Sent to people who allowed individual tracking.
    pub tracked_sent: i64,
    /// Of those, bounced.
    pub tracked_bounced: i64,
    pub bounced: i64,
    pub opens: i64,
    pub unique_opens: i64,
    pub clicks: i64,
    pub unique_clicks: i64,
    pub unsubscribes: i64,
    pub complaints: i64,
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    if d > 0 { Some(n as f64 / d as f64) } else { None }
}

impl Figures {
    pub fn delivered(&self) -> i64 {
        (self.sent - self.bounced).max(0)
    }
    pub fn tracked_delivered(&self) -> i64 {
        (self.tracked_sent - self.tracked_bounced).max(0)
    }
    pub fn open_rate(&self) -> Option<f64> {
        ratio(self.unique_opens, self.tracked_delivered())
    }
    pub fn click_rate(&self) -> Option<f64> {
        ratio(self.unique_clicks, self.tracked_delivered())
    }
    pub fn click_to_open(&self) -> Option<f64> {
        ratio(self.unique_clicks, self.unique_opens)
    }
    pub fn unsubscribe_rate(&self) -> Option<f64> {
        ratio(self.unsubscribes, self.delivered())
    }
    pub fn complaint_rate(&self) -> Option<f64> {
        ratio(self.complaints, self.delivered())
    }
    pub fn bounce_rate(&self) -> Option<f64> {
        ratio(self.bounced, self.sent)
    }

    pub fn add(&mut self, o: &Figures) {
        self.recipients += o.recipients;
        self.pending += o.pending;
        self.sent += o.sent;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.uncertain += o.uncertain;
        self.tracked_sent += o.tracked_sent;
        self.tracked_bounced += o.tracked_bounced;
        self.bounced += o.bounced;
        self.opens += o.opens;
        self.unique_opens += o.unique_opens;
        self.clicks += o.clicks;
        self.unique_clicks += o.unique_clicks;
        self.unsubscribes += o.unsubscribes;
        self.complaints += o.complaints;
    }
}

/// The figures of the given campaigns (ids come from the database, never from the request).
pub async fn figures(db: &Db, ids: &[i64]) -> Result<HashMap<i64, Figures>> {
    let mut out: HashMap<i64, Figures> = ids.iter().map(|&id| (id, Figures::default())).collect();
    for chunk in ids.chunks(500) {
        let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let events: Vec<(i64, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT campaign_id, kind, COUNT(*), COUNT(DISTINCT person_id) FROM campaign_events \
             WHERE campaign_id IN ({list}) GROUP BY campaign_id, kind"
        ))
        .fetch_all(&db.pool)
        .await?;
        for (id, kind, total, unique) in events {
            let Some(f) = out.get_mut(&id) else { continue };
            match kind.as_str() {
                "open" => (f.opens, f.unique_opens) = (total, unique),
                "click" => (f.clicks, f.unique_clicks) = (total, unique),
                "unsubscribe" => f.unsubscribes = total,
                "bounce" => f.bounced = total,
                "complaint" => f.complaints = total,
                _ => {}
            }
        }
        let recipients: Vec<(i64, String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT campaign_id, state, track, COUNT(*) FROM campaign_recipients \
             WHERE campaign_id IN ({list}) GROUP BY campaign_id, state, track \
             UNION ALL SELECT campaign_id, 'pending', track, CAST(SUM(n) AS BIGINT) FROM campaign_audience \
             WHERE campaign_id IN ({list}) GROUP BY campaign_id, track"
        ))
        .fetch_all(&db.pool)
        .await?;
        for (id, state, track, n) in recipients {
            let Some(f) = out.get_mut(&id) else { continue };
            f.recipients += n;
            match state.as_str() {
                "pending" | "sending" => f.pending += n,
                "sent" => {
                    f.sent += n;
                    if track == 1 {
                        f.tracked_sent += n;
                    }
                }
                "failed" => f.failed += n,
                "skipped" => f.skipped += n,
                "uncertain" => f.uncertain += n,
                _ => {}
            }
        }
        let tracked_bounces: Vec<(i64, i64)> = sqlx::query_as(&format!(
            "SELECT e.campaign_id, COUNT(DISTINCT e.person_id) FROM campaign_events e \
             JOIN campaign_recipients r ON r.campaign_id = e.campaign_id AND r.person_id = e.person_id \
             WHERE e.kind = 'bounce' AND r.track = 1 AND e.campaign_id IN ({list}) GROUP BY e.campaign_id"
        ))
        .fetch_all(&db.pool)
        .await?;
        for (id, n) in tracked_bounces {
            if let Some(f) = out.get_mut(&id) {
                f.tracked_bounced = n;
            }
        }
    }
    Ok(out)
}

/// The figures of one campaign.
pub async fn campaign_figures(db: &Db, campaign: &Campaign) -> Result<Figures> {
    Ok(figures(db, &[campaign.id]).await?.remove(&campaign.id).unwrap_or_default())
}

/// Clicks per link of a campaign (the links stored when it was sent).
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct LinkClicks {
    pub idx: i64,
    pub url: String,
    pub clicks: i64,
}

pub async fn link_clicks(db: &Db, campaign_id: i64) -> Result<Vec<LinkClicks>> {
    Ok(sqlx::query_as(
        "SELECT l.idx, l.url, COUNT(e.id) AS clicks FROM campaign_links l \
         LEFT JOIN campaign_events e ON e.campaign_id = l.campaign_id AND e.link_idx = l.idx AND e.kind = 'click' \
         WHERE l.campaign_id = $1 GROUP BY l.idx, l.url ORDER BY l.idx",
    )
    .bind(campaign_id)
    .fetch_all(&db.pool)
    .await?)
}

/// Longest hourly series shown (14 days).
pub const MAX_HOURS: usize = 14 * 24;

/// Opens and clicks per hour since the start of a campaign.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hourly {
    /// Unix time of the first hour.
    pub start: i64,
    pub opens: Vec<i64>,
    pub clicks: Vec<i64>,
    /// Events after [`MAX_HOURS`] are left out.
    pub truncated: bool,
}

/// Builds the series from `(unix hour, kind, count)` rows; `started_at` is the campaign's start if known.
pub fn hourly_series(rows: &[(i64, String, i64)], started_at: Option<i64>) -> Hourly {
    let first = started_at.map(|s| s.div_euclid(3600)).or_else(|| rows.iter().map(|r| r.0).min());
    let Some(first) = first else { return Hourly::default() };
    let last = rows.iter().map(|r| r.0).max().unwrap_or(first).max(first);
    let len = ((last - first + 1) as usize).min(MAX_HOURS);
    let mut h = Hourly { start: first * 3600, opens: vec![0; len], clicks: vec![0; len], truncated: false };
    for (hour, kind, n) in rows {
        let i = (hour - first).max(0) as usize;
        if i >= len {
            h.truncated = true;
            continue;
        }
        match kind.as_str() {
            "open" => h.opens[i] += n,
            "click" => h.clicks[i] += n,
            _ => {}
        }
    }
    h
}

pub async fn hourly(db: &Db, campaign: &Campaign) -> Result<Hourly> {
    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
        "SELECT at / 3600, kind, COUNT(*) FROM campaign_events WHERE campaign_id = $1 AND kind IN ('open', 'click') \
         GROUP BY at / 3600, kind",
    )
    .bind(campaign.id)
    .fetch_all(&db.pool)
    .await?;
    Ok(hourly_series(&rows, campaign.started_at))
}

// ---------------------------------------------------------------------------------------------
// Across campaigns
// ---------------------------------------------------------------------------------------------

/// The campaigns the caller may read the analytics of, as a condition over `campaigns c`: federation campaigns
/// in the caller's scope, national campaigns only for a national scope. Ids come from the caller's grants.
pub fn scope_condition(access: &Access) -> String {
    let national = access.allows(Perm::SendNewsletters, Scope::National);
    let federations = access.filter(Perm::SendNewsletters, "c.federation_id", None);
    if national { "(1=1)".into() } else { format!("(c.federation_id IS NOT NULL AND {federations})") }
}

/// A campaign that started sending, with its figures.
#[derive(Clone, Debug)]
pub struct SentCampaign {
    pub id: i64,
    pub federation_id: Option<i64>,
    /// "Rhône (69)", or None for a national campaign.
    pub federation: Option<String>,
    pub name: String,
    pub started_at: i64,
    pub figures: Figures,
}

/// The caller's campaigns that started sending, newest first (500 at most).
pub async fn sent_campaigns(db: &Db, access: &Access) -> Result<Vec<SentCampaign>> {
    type Row = (i64, Option<i64>, Option<String>, Option<String>, String, i64);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT c.id, c.federation_id, f.name, f.code, c.name, c.started_at FROM campaigns c \
         LEFT JOIN federations f ON f.id = c.federation_id \
         WHERE c.started_at IS NOT NULL AND {} ORDER BY c.started_at DESC, c.id DESC LIMIT 500",
        scope_condition(access)
    ))
    .fetch_all(&db.pool)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut figs = figures(db, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|(id, federation_id, fname, code, name, started_at)| SentCampaign {
            id,
            federation_id,
            federation: fname.map(|n| match code {
                Some(c) => format!("{n} ({c})"),
                None => n,
            }),
            name,
            started_at,
            figures: figs.remove(&id).unwrap_or_default(),
        })
        .collect())
}

/// One line of the comparison: a federation's campaigns (or the national ones), figures summed, so its rates
/// are weighted by the number of recipients.
#[derive(Clone, Debug)]
pub struct Group {
    pub federation_id: Option<i64>,
    pub label: String,
    pub campaigns: i64,
    pub figures: Figures,
}

/// Groups campaigns by federation: the national campaigns first, then the federations by name.
pub fn compare(campaigns: &[SentCampaign]) -> Vec<Group> {
    let mut groups: BTreeMap<(bool, String), Group> = BTreeMap::new();
    for c in campaigns {
        let label = c.federation.clone().unwrap_or_else(|| "Lettres nationales".to_string());
        let g = groups.entry((c.federation_id.is_some(), label.clone())).or_insert_with(|| Group {
            federation_id: c.federation_id,
            label,
            campaigns: 0,
            figures: Figures::default(),
        });
        g.campaigns += 1;
        g.figures.add(&c.figures);
    }
    groups.into_values().collect()
}

/// Opens and clicks of the caller's campaigns by weekday (Monday first) and hour, Paris time.
pub async fn heat_map(db: &Db, access: &Access) -> Result<[[i64; 24]; 7]> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT e.at / 3600, COUNT(*) FROM campaign_events e JOIN campaigns c ON c.id = e.campaign_id \
         WHERE e.kind IN ('open', 'click') AND {} GROUP BY e.at / 3600",
        scope_condition(access)
    ))
    .fetch_all(&db.pool)
    .await?;
    Ok(heat_grid(&rows))
}

/// Folds `(unix hour, count)` rows into a weekday × hour grid in Paris time (the offset is a whole number of
/// hours, so an hour bucket never straddles two local hours).
pub fn heat_grid(rows: &[(i64, i64)]) -> [[i64; 24]; 7] {
    let mut grid = [[0i64; 24]; 7];
    for &(hour, n) in rows {
        let (d, h) = paris_weekday_hour(hour * 3600);
        grid[d][h] += n;
    }
    grid
}

/// The busiest cell: (weekday, hour, count), None when the grid is empty.
pub fn best_slot(grid: &[[i64; 24]; 7]) -> Option<(usize, usize, i64)> {
    let mut best: Option<(usize, usize, i64)> = None;
    for (d, row) in grid.iter().enumerate() {
        for (h, &n) in row.iter().enumerate() {
            if n > 0 && best.is_none_or(|b| n > b.2) {
                best = Some((d, h, n));
            }
        }
    }
    best
}

pub const WEEKDAYS: [&str; 7] = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"];
const WEEKDAYS_SHORT: [&str; 7] = ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."];

// ---------------------------------------------------------------------------------------------
// Paris time
// ---------------------------------------------------------------------------------------------

pub use crate::paris::offset as paris_offset;

/// Weekday (0 = Monday) and hour of a Unix time in Paris.
pub fn paris_weekday_hour(unix: i64) -> (usize, usize) {
    let local = unix + paris_offset(unix);
    let days = local.div_euclid(86_400);
    // 1970-01-01 was a Thursday.
    ((days + 3).rem_euclid(7) as usize, (local.rem_euclid(86_400) / 3600) as usize)
}

/// The Unix time of a Paris wall-clock time. A time repeated when clocks go back is the first one (summer
/// time); a time skipped when they go forward is read as winter time (02:30 → 03:30 summer time).
pub fn paris_to_unix(date: time::Date, at: time::Time) -> i64 {
    let local = time::PrimitiveDateTime::new(date, at).assume_utc().unix_timestamp();
    for offset in [7200, 3600] {
        if paris_offset(local - offset) == offset {
            return local - offset;
        }
    }
    local - 3600
}

/// "2026-05-12" and "18:30" (HTML date and time inputs) in Paris time → Unix time.
pub fn parse_paris(date: &str, at: &str) -> Option<i64> {
    let d = time::Date::parse(date.trim(), time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    let at = at.trim();
    let t = time::Time::parse(at, time::macros::format_description!("[hour]:[minute]"))
        .or_else(|_| time::Time::parse(at, time::macros::format_description!("[hour]:[minute]:[second]")))
        .ok()?;
    Some(paris_to_unix(d, t))
}

/// "15/01 13 h" for chart labels.
fn short_hour(unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix + paris_offset(unix)) else { return String::new() };
    format!("{:02}/{:02} {} h", t.day(), t.month() as u8, t.hour())
}

/// "15/01/2026" in Paris time.
pub fn short_date(unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix + paris_offset(unix)) else { return String::new() };
    format!("{:02}/{:02}/{}", t.day(), t.month() as u8, t.year())
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/// 0.6667 → "66,7 %"; None → "—".
pub fn percent(r: Option<f64>) -> String {
    match r {
        Some(r) => format!("{}\u{202f}%", decimal(r * 100.0)),
        None => "—".into(),
    }
}

/// One decimal, French comma: 66.666 → "66,7".
pub fn decimal(v: f64) -> String {
    format!("{v:.1}").replace('.', ",")
}

// ---------------------------------------------------------------------------------------------
// SVG (server-rendered charts: presentation attributes only, no inline style, no script)
// ---------------------------------------------------------------------------------------------

/// Escapes text and attribute values for XML.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A round maximum for a count axis with four intervals.
fn nice_max(v: i64) -> i64 {
    let step = (v.max(1) + 3) / 4;
    let mut pow = 1;
    while pow * 10 <= step {
        pow *= 10;
    }
    // 1, 2, 2.5 (from 25 up), 5 times a power of ten.
    let nice = [10, 20, 25, 50, 100]
        .into_iter()
        .filter(|m| *m != 25 || pow >= 10)
        .map(|m| m * pow / 10)
        .find(|s| *s >= step)
        .unwrap_or(10 * pow);
    nice * 4
}

fn svg_open(s: &mut String, id: &str, width: u32, height: u32, title: &str, desc: &str) {
    let id = xml_escape(id);
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-labelledby=\"{id}-title {id}-desc\" font-family=\"sans-serif\" font-size=\"14\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        xml_escape(title),
        xml_escape(desc)
    );
}

/// A line of a [`line_chart`].
pub struct Line<'a> {
    pub name: &'a str,
    pub color: &'a str,
    /// `stroke-dasharray`, so lines differ by more than their colour.
    pub dash: Option<&'a str>,
    pub values: &'a [i64],
}

const GRID: &str = "#d8d4ca";
const AXIS: &str = "#4a4a4a";
const INK: &str = "#1f2933";

/// A line chart of counts over time (one point per hour).
pub fn line_chart(id: &str, title: &str, desc: &str, start: i64, step_seconds: i64, lines: &[Line<'_>]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 290.0, 56.0, 624.0, 16.0, 220.0);
    let n = lines.iter().map(|l| l.values.len()).max().unwrap_or(0);
    let max = nice_max(lines.iter().flat_map(|l| l.values.iter().copied()).max().unwrap_or(0));
    let x = |i: usize| if n <= 1 { (left + right) / 2.0 } else { left + (right - left) * i as f64 / (n - 1) as f64 };
    let y = |v: i64| bottom - (bottom - top) * v as f64 / max as f64;
    let mut s = String::new();
    svg_open(&mut s, id, w as u32, h as u32, title, desc);
    for k in 0..=4 {
        let v = max * k / 4;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\" fill=\"{INK}\">{v}</text>",
            y = y(v),
            tx = left - 6.0,
            ty = y(v) + 4.0
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"{AXIS}\" stroke-width=\"1\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{bottom}\" stroke=\"{AXIS}\" stroke-width=\"1\"/>"
    );
    if n > 0 {
        let every = n.div_ceil(5).max(1);
        for i in (0..n).step_by(every) {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{INK}\">{}</text>",
                x(i),
                bottom + 18.0,
                xml_escape(&short_hour(start + i as i64 * step_seconds))
            );
        }
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{INK}\">Heure de Paris</text>",
        (left + right) / 2.0,
        bottom + 36.0
    );
    for l in lines {
        if l.values.is_empty() {
            continue;
        }
        let points: Vec<String> =
            l.values.iter().enumerate().map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v))).collect();
        let dash = l.dash.map(|d| format!(" stroke-dasharray=\"{}\"", xml_escape(d))).unwrap_or_default();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            xml_escape(l.color),
            points.join(" ")
        );
        if l.values.len() == 1 {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"/>",
                x(0),
                y(l.values[0]),
                xml_escape(l.color)
            );
        }
    }
    for (k, l) in lines.iter().enumerate() {
        let lx = left + 160.0 * k as f64;
        let ly = h - 14.0;
        let dash = l.dash.map(|d| format!(" stroke-dasharray=\"{}\"", xml_escape(d))).unwrap_or_default();
        let _ = write!(
            s,
            "<line x1=\"{lx}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{}\" stroke-width=\"3\"{dash}/>\
             <text x=\"{}\" y=\"{}\" fill=\"{INK}\">{}</text>",
            lx + 28.0,
            xml_escape(l.color),
            lx + 34.0,
            ly + 4.0,
            xml_escape(l.name)
        );
    }
    s.push_str("</svg>");
    s
}

/// One bar of a [`bar_chart`]: short label under the bar, long label in its tooltip, value in 0..=1.
pub struct Bar {
    pub label: String,
    pub tooltip: String,
    pub value: Option<f64>,
}

/// A bar chart of rates (0 – 100 %).
pub fn bar_chart(id: &str, title: &str, desc: &str, bars: &[Bar]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 270.0, 56.0, 624.0, 16.0, 220.0);
    let y = |v: f64| bottom - (bottom - top) * v.clamp(0.0, 1.0);
    let mut s = String::new();
    svg_open(&mut s, id, w as u32, h as u32, title, desc);
    for k in 0..=4 {
        let v = k as f64 / 4.0;
        let _ = write!(
            s,
            "<line x1=\"{left}\" y1=\"{yy:.1}\" x2=\"{right}\" y2=\"{yy:.1}\" stroke=\"{GRID}\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\">{} %</text>",
            left - 6.0,
            y(v) + 4.0,
            k * 25,
            yy = y(v)
        );
    }
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"{AXIS}\" stroke-width=\"1\"/>"
    );
    let n = bars.len().max(1);
    let band = (right - left) / n as f64;
    let every = bars.len().div_ceil(10).max(1);
    for (i, b) in bars.iter().enumerate() {
        let cx = left + band * (i as f64 + 0.5);
        let bw = band * 0.7;
        match b.value {
            Some(v) => {
                let _ = write!(
                    s,
                    "<rect class=\"chart-bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"#1b3a6b\">\
                     <title>{} : {}</title></rect>",
                    cx - bw / 2.0,
                    y(v),
                    bottom - y(v),
                    xml_escape(&b.tooltip),
                    xml_escape(&percent(Some(v)))
                );
                if bars.len() <= 12 {
                    let _ = write!(
                        s,
                        "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"13\">{}</text>",
                        y(v) - 4.0,
                        xml_escape(&percent(Some(v)))
                    );
                }
            }
            None => {
                let _ = write!(
                    s,
                    "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{INK}\">—<title>{} : inconnu</title></text>",
                    bottom - 4.0,
                    xml_escape(&b.tooltip)
                );
            }
        }
        if i % every == 0 {
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"13\">{}</text>",
                bottom + 18.0,
                xml_escape(&b.label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// Colours of the heat map, from "none" to "most".
pub const HEAT_COLORS: [&str; 5] = ["#f2f2f0", "#c6d4ea", "#8fa9d4", "#5079b8", "#1b3a6b"];

/// Level 0 (nothing) to 4 (the busiest quarter).
pub fn heat_level(v: i64, max: i64) -> usize {
    if v <= 0 || max <= 0 { 0 } else { ((v * 4 + max - 1) / max).clamp(1, 4) as usize }
}

/// The weekday × hour grid: one `<rect class="heat-cell">` per cell with its figure in a `<title>`, and a legend.
pub fn heat_map_svg(id: &str, title: &str, desc: &str, grid: &[[i64; 24]; 7], what: &str) -> String {
    let (cell, left, top) = (22.0, 48.0, 20.0);
    let w = left + cell * 24.0 + 8.0;
    let h = top + cell * 7.0 + 44.0;
    let max = grid.iter().flatten().copied().max().unwrap_or(0);
    let mut s = String::new();
    svg_open(&mut s, id, w as u32, h as u32, title, desc);
    for hour in (0..24).step_by(3) {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\" fill=\"{INK}\" font-size=\"13\">{hour} h</text>",
            left + cell * hour as f64 + cell / 2.0,
            top - 6.0
        );
    }
    for (d, row) in grid.iter().enumerate() {
        let cy = top + cell * d as f64;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"{INK}\" font-size=\"13\">{}</text>",
            left - 6.0,
            cy + cell / 2.0 + 4.0,
            WEEKDAYS_SHORT[d]
        );
        for (hour, &v) in row.iter().enumerate() {
            let _ = write!(
                s,
                "<rect class=\"heat-cell\" x=\"{:.1}\" y=\"{cy:.1}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#ffffff\" \
                 stroke-width=\"1\"><title>{} {hour} h – {} h : {v} {}</title></rect>",
                left + cell * hour as f64,
                cell,
                cell,
                HEAT_COLORS[heat_level(v, max)],
                WEEKDAYS[d],
                hour + 1,
                xml_escape(what)
            );
        }
    }
    let ly = top + cell * 7.0 + 14.0;
    let _ = write!(s, "<text x=\"{left}\" y=\"{:.1}\" fill=\"{INK}\" font-size=\"13\">Moins</text>", ly + 12.0);
    for (k, color) in HEAT_COLORS.iter().enumerate() {
        let _ = write!(
            s,
            "<rect class=\"heat-swatch\" x=\"{:.1}\" y=\"{ly:.1}\" width=\"16\" height=\"16\" fill=\"{color}\" stroke=\"{AXIS}\" \
             stroke-width=\"0.5\"/>",
            left + 40.0 + 20.0 * k as f64
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{INK}\" font-size=\"13\">Plus (maximum : {max})</text>",
        left + 40.0 + 20.0 * 5.0 + 4.0,
        ly + 12.0
    );
    s.push_str("</svg>");
    s
}

// ---------------------------------------------------------------------------------------------
// CSV (French Excel: UTF-8 with BOM, `;`, CRLF, formulas neutralised)
// ---------------------------------------------------------------------------------------------

fn csv_record(out: &mut String, cells: &[&str]) {
    write_csv_record(out, cells.iter().copied());
}

/// The rate as a number for spreadsheets ("66,7"), empty when unknown.
fn csv_rate(r: Option<f64>) -> String {
    r.map(|r| decimal(r * 100.0)).unwrap_or_default()
}

/// The labelled figures of a campaign, in the order of the statistics page.
pub fn figure_rows(f: &Figures) -> Vec<(&'static str, String)> {
    vec![
        ("Destinataires", f.recipients.to_string()),
        ("Envoyés", f.sent.to_string()),
        ("En attente", f.pending.to_string()),
        ("Échecs", f.failed.to_string()),
        ("Ignorés", f.skipped.to_string()),
        ("Incertains", f.uncertain.to_string()),
        ("Délivrés", f.delivered().to_string()),
        ("Rebonds", f.bounced.to_string()),
        ("Ouvertures (total)", f.opens.to_string()),
        ("Ouvertures uniques (personnes suivies)", f.unique_opens.to_string()),
        ("Personnes suivies délivrées", f.tracked_delivered().to_string()),
        ("Taux d'ouverture (%)", csv_rate(f.open_rate())),
        ("Clics (total)", f.clicks.to_string()),
        ("Clics uniques (personnes suivies)", f.unique_clicks.to_string()),
        ("Taux de clic (%)", csv_rate(f.click_rate())),
        ("Clics par ouverture (%)", csv_rate(f.click_to_open())),
        ("Désinscriptions", f.unsubscribes.to_string()),
        ("Taux de désinscription (%)", csv_rate(f.unsubscribe_rate())),
        ("Plaintes", f.complaints.to_string()),
    ]
}

/// The statistics of one campaign: figures, clicks per link, hourly series.
pub fn campaign_csv(name: &str, f: &Figures, links: &[LinkClicks], series: &Hourly) -> String {
    let mut out = String::from("\u{feff}");
    csv_record(&mut out, &["Lettre", name]);
    csv_record(&mut out, &["indicateur", "valeur"]);
    for (label, value) in figure_rows(f) {
        csv_record(&mut out, &[label, &value]);
    }
    out.push_str("\r\n");
    csv_record(&mut out, &["lien", "adresse", "clics"]);
    for l in links {
        csv_record(&mut out, &[&(l.idx + 1).to_string(), &l.url, &l.clicks.to_string()]);
    }
    out.push_str("\r\n");
    csv_record(&mut out, &["heure (Paris)", "ouvertures", "clics"]);
    for (i, (o, c)) in series.opens.iter().zip(&series.clicks).enumerate() {
        let t = series.start + i as i64 * 3600;
        let label = format!("{} {:02}:00", short_date(t), paris_weekday_hour(t).1);
        csv_record(&mut out, &[&label, &o.to_string(), &c.to_string()]);
    }
    out
}

/// The comparison between federations, then every campaign.
pub fn comparison_csv(groups: &[Group], campaigns: &[SentCampaign]) -> String {
    let mut out = String::from("\u{feff}");
    let head = [
        "fédération",
        "lettres",
        "destinataires",
        "délivrés",
        "taux d'ouverture (%)",
        "taux de clic (%)",
        "clics par ouverture (%)",
        "taux de désinscription (%)",
        "plaintes",
    ];
    csv_record(&mut out, &head);
    for g in groups {
        let f = &g.figures;
        csv_record(
            &mut out,
            &[
                &g.label,
                &g.campaigns.to_string(),
                &f.recipients.to_string(),
                &f.delivered().to_string(),
                &csv_rate(f.open_rate()),
                &csv_rate(f.click_rate()),
                &csv_rate(f.click_to_open()),
                &csv_rate(f.unsubscribe_rate()),
                &f.complaints.to_string(),
            ],
        );
    }
    out.push_str("\r\n");
    csv_record(
        &mut out,
        &[
            "date",
            "lettre",
            "fédération",
            "destinataires",
            "taux d'ouverture (%)",
            "taux de clic (%)",
            "taux de désinscription (%)",
        ],
    );
    for c in campaigns {
        let f = &c.figures;
        csv_record(
            &mut out,
            &[
                &short_date(c.started_at),
                &c.name,
                c.federation.as_deref().unwrap_or("National"),
                &f.recipients.to_string(),
                &csv_rate(f.open_rate()),
                &csv_rate(f.click_rate()),
                &csv_rate(f.unsubscribe_rate()),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests;
