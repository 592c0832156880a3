//! `terrain import …`, `terrain classify` and `terrain bench-territory`: loading contacts and public data.

use std::path::PathBuf;

use anyhow::{Context, bail};

use super::ImportWhat;
use crate::access::{Role, Scope};
use crate::app::App;
use crate::audit::{self, Entry, RequestMeta};

pub(super) async fn import_command(app: &App, what: ImportWhat) -> anyhow::Result<()> {
    use crate::people::csv_import::Category;
    use crate::people::import;
    let (file, federation, category, legal_basis, batched, exclusive) = match what {
        ImportWhat::Contacts { file, federation, category, legal_basis, batched, exclusive } => {
            (file, federation, category, legal_basis, batched, exclusive)
        }
        ImportWhat::Results { file, key, label, kind, round, year } => {
            return import_results_command(app, file, key, label, kind, round, year).await;
        }
        ImportWhat::Socio { file } => return import_socio_command(app, file).await,
    };
    let category = Category::parse_loose(&category)
        .with_context(|| format!("unknown category '{category}' (member, sympathiser, curious)"))?;
    if let Some(b) = &legal_basis
        && !crate::people::LEGAL_BASES.iter().any(|(c, _)| c == b)
    {
        bail!("unknown legal basis '{b}' (membership, regular_contact, consent)");
    }
    // The command line acts with national rights, like an administrator on the server.
    let access = crate::access::Access {
        user_id: 0,
        grants: vec![crate::access::Grant { id: 0, role: Role::NationalAdmin, scope: Scope::National }],
    };
    let fid: i64 = sqlx::query_scalar("SELECT id FROM federations WHERE code = $1")
        .bind(&federation)
        .fetch_optional(&app.db.pool)
        .await?
        .with_context(|| format!("no federation with code {federation}"))?;
    let fed = crate::org::get_federation(&app.db, &access, crate::access::Perm::ViewOrg, fid).await?;
    let started = std::time::Instant::now();
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let read = started.elapsed().as_secs_f64();
    let (table, preview) = import::read(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let parsed = started.elapsed().as_secs_f64();
    tracing::debug!(target: "terrain::people::import", read, parsed, "import: file read and parsed");
    eprintln!("{}: {} rows, {}, delimiter {}", file.display(), preview.rows, preview.encoding, preview.delimiter);
    for (h, f) in preview.headers.iter().zip(&preview.mapping) {
        eprintln!("  {h:<30} → {}", f.label());
    }
    let name = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let options = import::Options {
        mapping: preview.mapping.clone(),
        category,
        legal_basis,
        origin: import::origin_label(&name),
        actor: None,
        exclusive: exclusive || (!batched && table.rows.len() >= 100_000),
    };
    let bar = indicatif::ProgressBar::new(table.rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} lignes ({per_sec}, reste {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let table = std::sync::Arc::new(table);
    let report = import::run(&app.db, &access, &fed, table.clone(), &options, |n| bar.set_position(n as u64)).await?;
    bar.finish_and_clear();
    println!(
        "{} rows: {} inserted, {} updated, {} unchanged, {} suppressed (erased before), {} rejected",
        report.total,
        report.inserted,
        report.updated,
        report.unchanged,
        report.suppressed,
        report.rejected.len()
    );
    if !report.rejected.is_empty() {
        let out = file.with_extension("rejets.csv");
        std::fs::write(&out, crate::people::csv_import::rejected_rows_csv(&table.headers, &report.rejected))?;
        println!("rejected rows and their reasons: {}", out.display());
    }
    audit::record(
        &app.db,
        &RequestMeta::cli(),
        Entry::new(None, "people_imported").federation(Some(fid)).details(serde_json::json!({
            "inserted": report.inserted, "updated": report.updated, "rejected": report.rejected.len()
        })),
    )
    .await?;
    // The command ends here: the process's exit frees the file's rows faster than dropping them one by one
    // (half a second for a million).
    std::mem::forget(table);
    std::mem::forget(report);
    Ok(())
}

/// Prints the rows a refused territory import failed on (the first 50) and fails with the count.
fn refused(e: crate::territory::import::ImportError) -> anyhow::Error {
    use crate::territory::import::ImportError;
    match e {
        ImportError::Rows(errors) => {
            for err in errors.iter().take(50) {
                eprintln!("  {}", err.message);
            }
            if errors.len() > 50 {
                eprintln!("  … et {} autres lignes", errors.len() - 50);
            }
            anyhow::anyhow!("{} ligne(s) en erreur : rien n'a été importé", errors.len())
        }
        other => anyhow::anyhow!("{other}"),
    }
}

async fn import_results_command(
    app: &App,
    file: PathBuf,
    key: String,
    label: String,
    kind: String,
    round: u32,
    year: u32,
) -> anyhow::Result<()> {
    use crate::territory::import::{self, ElectionInfo, ElectionKind};
    let kind = ElectionKind::parse(&kind).with_context(|| {
        format!("unknown kind '{kind}' (one of: {})", ElectionKind::ALL.map(ElectionKind::as_str).join(", "))
    })?;
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let source_file = file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let info = ElectionInfo { key, label, kind, round, year, source_file };
    let started = std::time::Instant::now();
    // Rows are read and checked, then written: the bar counts both passes.
    let rows = import::count_lines(&bytes).saturating_sub(1).max(1);
    let bar = indicatif::ProgressBar::new(2 * rows);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {percent:>3} % (lecture puis écriture, reste {eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let result = import::import_results(&app.db, &bytes, &info, |n| bar.set_position(n.min(2 * rows))).await;
    bar.finish_and_clear();
    let report = result.map_err(refused)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} ({}, {:?}, {:?}): {} rows (one per bureau), {} choices, {} vote counts, {} inscrits, {} votants, \
         {} exprimés{}",
        info.key,
        info.label,
        report.layout,
        report.encoding,
        report.bureaux,
        report.choices,
        report.votes,
        report.inscrits,
        report.votants,
        report.exprimes,
        if report.replaced { " (replaced the previous import)" } else { "" }
    );
    if report.unmatched_communes > 0 {
        println!(
            "{} commune codes not in the reference communes (imported anyway), e.g. {}",
            report.unmatched_communes,
            report.unmatched_examples.join(", ")
        );
    }
    println!("done in {seconds:.2} s");
    audit::record(
        &app.db,
        &RequestMeta::cli(),
        Entry::new(None, "election_imported").target("election", report.election_id).details(serde_json::json!({
            "key": info.key, "bureaux": report.bureaux, "replaced": report.replaced
        })),
    )
    .await?;
    Ok(())
}

async fn import_socio_command(app: &App, file: PathBuf) -> anyhow::Result<()> {
    let bytes = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let started = std::time::Instant::now();
    let report = crate::territory::import::import_filosofi(&app.db, &bytes).await.map_err(refused)?;
    println!(
        "{}: {} communes, {} indicators, {} values ({} secret or missing), source « {} »",
        file.display(),
        report.communes,
        report.indicators,
        report.values,
        report.secret,
        report.source
    );
    if report.unmatched_communes > 0 {
        println!(
            "{} commune codes not in the reference communes, e.g. {}",
            report.unmatched_communes,
            report.unmatched_examples.join(", ")
        );
    }
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    Ok(())
}

pub(super) async fn classify_command(app: &App, reference: &str, previous: &str) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let s = crate::territory::classify::classify_all(&app.db, reference, previous).await?;
    let classes = |c: &crate::territory::classify::ClassCounts| {
        format!(
            "{} acquis à gauche, {} acquis à droite, {} hésitants, {} abstention mobilisable",
            c.acquis_gauche, c.acquis_droite, c.hesitant, c.abstention
        )
    };
    println!(
        "{} vs {}: {} bureaux ({} matched, {} in the reference only), {} communes, {} circonscriptions",
        s.reference, s.previous, s.bureaux, s.matched_bureaux, s.reference_only_bureaux, s.communes, s.circonscriptions
    );
    println!("bureaux: {}", classes(&s.bureau_classes));
    println!("communes: {}", classes(&s.commune_classes));
    println!("done in {:.2} s", started.elapsed().as_secs_f64());
    audit::record(
        &app.db,
        &RequestMeta::cli(),
        Entry::new(None, "territory_classified").details(serde_json::json!({
            "reference": s.reference, "previous": s.previous, "bureaux": s.bureaux
        })),
    )
    .await?;
    Ok(())
}

/// `terrain bench-territory`: the figures of `scripts/bench territory` (see docs in scripts/bench).
pub(super) async fn bench_territory(app: &App, data: &std::path::Path, runs: usize) -> anyhow::Result<()> {
    use crate::territory::import::{self, ElectionInfo, ElectionKind};
    use crate::territory::{atlas, classify};
    fn median(mut v: Vec<f64>) -> f64 {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
    let files = [
        ("2017-presidentielle-1", "pres2017t1", "Présidentielle 2017, 1er tour", ElectionKind::Presidentielle, 1),
        ("2017-presidentielle-2", "pres2017t2", "Présidentielle 2017, 2d tour", ElectionKind::Presidentielle, 2),
        ("2017-legislatives-1", "leg2017t1", "Législatives 2017, 1er tour", ElectionKind::Legislatives, 1),
        ("2017-legislatives-2", "leg2017t2", "Législatives 2017, 2d tour", ElectionKind::Legislatives, 2),
        ("2019-europeennes", "euro2019", "Européennes 2019", ElectionKind::Europeennes, 1),
    ];
    let mut contents = Vec::new();
    for (name, ..) in &files {
        let path = data.join(format!("{name}_par_bureau_large.csv.gz"));
        contents.push(std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?);
    }
    // Import: the five files one after the other, as an operator would (files already read into memory).
    let started = std::time::Instant::now();
    let mut rows = 0;
    for ((name, key, label, kind, round), bytes) in files.iter().zip(&contents) {
        let year = if name.starts_with("2019") { 2019 } else { 2017 };
        let info = ElectionInfo {
            key: key.to_string(),
            label: label.to_string(),
            kind: *kind,
            round: *round,
            year,
            source_file: format!("{name}_par_bureau_large.csv.gz"),
        };
        let report = import::import_results(&app.db, bytes, &info, |_| {}).await.map_err(refused)?;
        rows += report.bureaux;
    }
    let import_seconds = started.elapsed().as_secs_f64();
    eprintln!("import: {rows} bureau results in {import_seconds:.2} s");
    println!("BENCH territory.import_national {import_seconds:.2} s");

    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = std::time::Instant::now();
        let summary = classify::classify_all(&app.db, "euro2019", "pres2017t1").await?;
        times.push(started.elapsed().as_secs_f64());
        eprintln!(
            "classify: {} bureaux, {} communes in {:.3} s",
            summary.bureaux,
            summary.communes,
            times[times.len() - 1]
        );
    }
    println!("BENCH territory.classify_all {:.3} s", median(times));

    // The Rhône's 265 communes coloured by class, as the département page draws them (values read from the
    // database, contours parsed once per process: the first rendering, which parses them, is reported apart).
    let style = atlas::Style { width: 720, standalone: true };
    let mut times = Vec::with_capacity(runs * 3);
    for run in 0..runs * 3 + 1 {
        let started = std::time::Instant::now();
        let map = atlas::departement_map(&app.db, "69", "Rhône", atlas::Metric::Class, style).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let map = map.context("no map of the Rhône")?;
        if run == 0 {
            eprintln!(
                "map: first rendering (contours parsed) {ms:.1} ms, {} zones, {} bytes",
                map.zones,
                map.svg.len()
            );
        } else {
            times.push(ms);
        }
    }
    println!("BENCH territory.map_svg {:.1} ms", median(times));

    // The fiche militante of a Rhône commune as `/fiches/fiche.pdf` makes it: the sheet's content from the
    // classification, indicators and reports (a new version the first time), the map of the turf among its
    // neighbours, and the PDF.
    let turf = crate::field::Turf::parse("commune:69259")?;
    let mut times = Vec::with_capacity(runs * 3);
    let mut size = 0;
    for run in 0..runs * 3 + 1 {
        let started = std::time::Instant::now();
        let fiche = crate::field::fiche::current(&app.db, &turf, "Terrain").await?;
        let map = crate::field::fiche::map_svg(&app.db, &turf).await?;
        let pdf = crate::field::fiche::pdf(&fiche, "", map.as_deref(), &[], "01/01/2027 10:00")?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        size = pdf.len();
        if run > 0 {
            times.push(ms);
        }
    }
    eprintln!("fiche: Vénissieux, {size} bytes");
    println!("BENCH territory.fiche_pdf {:.1} ms", median(times));
    Ok(())
}
