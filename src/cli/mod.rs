//! The `terrain` command line: each subcommand is a small function over the library.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::App;
use crate::config::{Config, LogFormat, Overrides};

use accounts::user_command;
use data::{bench_territory, classify_command, import_command};

mod accounts;
mod data;

#[derive(Parser, Debug)]
#[command(name = "terrain", version, about = "Terrain — QG numérique de campagne (self-hosted campaign headquarters)")]
pub struct Cli {
    /// Configuration file (TOML). Environment variables TERRAIN_* override it; flags override both.
    #[arg(long, global = true, env = "TERRAIN_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Address to listen on [env: TERRAIN_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// sqlite://PATH (default: sqlite://data/terrain.db) or postgres://USER:PASSWORD@HOST/DB [env: TERRAIN_DATABASE_URL]
    #[arg(long, global = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web application and run background workers in one process.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Number of worker tasks in this process (0: web only) [env: TERRAIN_WORKERS]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Run background workers only (for scaling out beside `serve --workers 0`).
    Worker {
        #[command(flatten)]
        common: Common,
        /// Number of worker tasks [env: TERRAIN_WORKERS]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Apply database migrations and load reference data, then exit.
    Migrate {
        #[command(flatten)]
        common: Common,
        /// Reload régions, départements and communes from newer official files in this directory
        /// (regions.csv, departements.csv, communes.csv, plain or .gz, Etalab decoupage-administratif layout).
        #[arg(long)]
        reference_dir: Option<PathBuf>,
    },
    /// Create or refresh demo data (sections, one account per role) and serve it, with the outbox on.
    Demo {
        #[command(flatten)]
        common: Common,
        /// Only prepare the data, do not serve.
        #[arg(long)]
        no_serve: bool,
    },
    /// Manage accounts: create, reset a password, grant a role, disable.
    User {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: UserAction,
    },
    /// Import data from files.
    Import {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Write a consistent copy of the SQLite database while Terrain runs (VACUUM INTO), then verify it.
    /// On PostgreSQL, use pg_dump.
    Backup {
        #[command(flatten)]
        common: Common,
        /// Where to write the copy (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Newsletters from the command line (operations, benchmarks).
    Newsletter {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        action: NewsletterAction,
    },
    /// Classify zones (bureaux, communes, circonscriptions) from two imported elections, with HQ's thresholds:
    /// classes, changes, priority and explanations replace the previous classification.
    Classify {
        #[command(flatten)]
        common: Common,
        /// Key of the reference election (the one the classes describe), e.g. euro2019.
        #[arg(long)]
        reference: String,
        /// Key of the previous election (changes are measured against it), e.g. pres2017t1.
        #[arg(long)]
        previous: String,
    },
    /// Territory benchmark (scripts/bench territory): imports the five national files from DIR into the
    /// configured (empty) database, classifies, renders a département map; prints `BENCH` lines.
    #[command(hide = true)]
    BenchTerritory {
        #[command(flatten)]
        common: Common,
        /// Folder of the national files (data/elections/national).
        #[arg(long)]
        data: PathBuf,
        /// Runs of the classification and of the map rendering (medians are printed).
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Verify the configuration, the database and SMTP reachability.
    Check {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportWhat {
    /// Import people from a CSV file (UTF-8 or Windows-1252, `,` `;` or tab; French, English or NationBuilder
    /// headers) into one federation, deduplicating on e-mail and phone. Rejected rows are written next to the file.
    Contacts {
        /// The CSV file.
        file: PathBuf,
        /// Federation code (département code, 99 for abroad).
        #[arg(long)]
        federation: String,
        /// Category of rows without a category column: member, sympathiser or curious.
        #[arg(long, default_value = "sympathiser")]
        category: String,
        /// Legal basis (membership, regular_contact, consent); default: the category's usual one.
        #[arg(long)]
        legal_basis: Option<String>,
        /// Commit batch by batch, letting other writers in between. By default a file of 100,000 rows or more is
        /// loaded in one transaction with the people table's indexes rebuilt at the end (SQLite): faster, but the
        /// application's other writes wait until it is done.
        #[arg(long, conflicts_with = "exclusive")]
        batched: bool,
        /// Load in one transaction with the indexes rebuilt at the end whatever the file's size (SQLite).
        #[arg(long)]
        exclusive: bool,
    },
    /// Import the results of one election round by bureau de vote (national aktiur files, official data.gouv.fr
    /// layouts up to 2017 and from 2024; plain or gzip, UTF-8 or Latin-1). All or nothing: a file with a bad row is
    /// refused with its line numbers. Re-importing a key replaces that election.
    Results {
        /// The results file.
        file: PathBuf,
        /// Stable name of the election: lower-case letters, digits, - and _ (e.g. pres2017t1).
        #[arg(long)]
        key: String,
        /// Label shown on pages (e.g. "Présidentielle 2017, 1er tour").
        #[arg(long)]
        label: String,
        /// presidentielle, legislatives, europeennes, municipales, regionales, departementales, referendum, autre.
        #[arg(long)]
        kind: String,
        /// Round (1 or 2).
        #[arg(long, default_value_t = 1)]
        round: u32,
        #[arg(long)]
        year: u32,
    },
    /// Import socio-economic indicators by commune (INSEE Filosofi layout: CODGEO and one column per indicator;
    /// the statistical secret `s` is stored as empty). All or nothing.
    Socio {
        /// The indicators file (plain or gzip).
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum NewsletterAction {
    /// Freeze the audience of a federation's newsletter (the starter document) and queue it for the workers,
    /// acting as the given account (its scope applies). Prints the campaign id and the number of recipients.
    Launch {
        /// Federation code.
        #[arg(long)]
        federation: String,
        /// Name of the campaign.
        #[arg(long)]
        name: String,
        /// The account that sends it.
        #[arg(long = "as")]
        as_email: String,
        /// Turn open and click tracking off.
        #[arg(long)]
        no_tracking: bool,
    },
    /// Print a campaign's state and recipient counts.
    Status { campaign: i64 },
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Create an account. The password is read from standard input (or generated and printed).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Grant this role as well (national_admin, national_staff, federation_coordinator, federation_staff, section_secretary, activist)
        #[arg(long)]
        role: Option<String>,
        /// Federation code (département code, 99 for abroad) for federation or section roles
        #[arg(long)]
        federation: Option<String>,
        /// Section name within the federation, for section roles
        #[arg(long)]
        section: Option<String>,
    },
    /// Set a new password (read from standard input, or generated and printed).
    ResetPassword {
        #[arg(long)]
        email: String,
    },
    /// Grant a role with its scope.
    Grant {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        federation: Option<String>,
        #[arg(long)]
        section: Option<String>,
    },
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        email: String,
    },
}

fn load_config(cli_config: &Option<PathBuf>, common: &Common) -> Result<Config, crate::config::ConfigError> {
    let overrides = Overrides { listen: common.listen.clone(), database_url: common.database_url.clone() };
    Config::load(cli_config.as_deref(), &overrides)
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TERRAIN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Entry point of the binary. Errors are printed as one line by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { common, workers } => {
            let mut config = load_config(&cli.config, &common)?;
            if let Some(n) = workers {
                config.workers = n;
            }
            serve(config).await
        }
        Command::Worker { common, workers } => {
            let mut config = load_config(&cli.config, &common)?;
            if let Some(n) = workers {
                config.workers = n.max(1);
            }
            init_tracing(config.log_format);
            let app = App::init(config.clone()).await?;
            let (tx, rx) = tokio::sync::watch::channel(false);
            let handles = app.spawn_workers(config.workers.max(1), rx);
            tracing::info!(workers = handles.len(), "workers running");
            crate::app::shutdown_signal().await;
            let _ = tx.send(true);
            for h in handles {
                let _ = h.await;
            }
            Ok(())
        }
        Command::Migrate { common, reference_dir } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            println!("migrations: {:?} applied ({})", app.db.applied_versions().await?, app.db.backend.name());
            if let Some(dir) = reference_dir {
                let r = crate::seed::load(&app.db, Some(&dir)).await?;
                println!(
                    "reference data: {} régions, {} départements, {} federations, {} communes",
                    r.regions, r.departements, r.federations, r.communes
                );
            }
            Ok(())
        }
        Command::Demo { common, no_serve } => {
            let overrides = Overrides { listen: common.listen.clone(), database_url: common.database_url.clone() };
            // The demo always keeps an outbox so that invitations and reset links can be read on a page.
            let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("TERRAIN_")).collect();
            env.push(("TERRAIN_OUTBOX".into(), "true".into()));
            let config = Config::load_from(cli.config.as_deref(), &env, &overrides)?;
            init_tracing(config.log_format);
            let app = App::init(config.clone()).await?;
            let password = std::env::var("TERRAIN_DEMO_PASSWORD")
                .unwrap_or_else(|_| crate::auth::random_token()[..16].to_string());
            let accounts = crate::demo::prepare(&app, &password).await?;
            crate::demo::field(&app).await?;
            println!("\nTerrain — données de démonstration prêtes ({})", app.db.backend.name());
            println!("Adresse : {}/connexion", config.base_url());
            println!("Mot de passe de tous les comptes : {password}\n");
            for a in &accounts {
                print!("  {:<40} {:<28} {}", a.email, a.role.label(), a.place);
                if let Some(secret) = &a.totp_secret {
                    let code = crate::auth::totp::code_at(secret, crate::db::now()).unwrap_or_default();
                    print!("\n      double authentification (TOTP) — secret : {secret} (code actuel : {code})");
                }
                println!();
            }
            println!("\nLes e-mails envoyés s'affichent sur {}/boite-d-envoi\n", config.base_url());
            let _ = std::io::stdout().flush();
            if no_serve {
                return Ok(());
            }
            serve_app(app).await
        }
        Command::User { common, action } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            user_command(&app, action).await
        }
        Command::Import { common, what } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            import_command(&app, what).await
        }
        Command::Backup { common, to } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let db = crate::db::Db::connect(config.database_url.expose()).await?;
            let bytes = db.backup(&to).await?;
            println!("backup written to {} ({bytes} bytes, integrity ok)", to.display());
            Ok(())
        }
        Command::Newsletter { common, action } => {
            let config = load_config(&cli.config, &common)?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            newsletter_command(&app, action).await
        }
        Command::Classify { common, reference, previous } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            classify_command(&app, &reference, &previous).await
        }
        Command::BenchTerritory { common, data, runs } => {
            let config = load_config(&cli.config, &common).or_else(|e| relax_for_admin(&cli.config, &common, e))?;
            init_tracing(config.log_format);
            let app = App::init(config).await?;
            bench_territory(&app, &data, runs.max(1)).await
        }
        Command::Check { common } => check(&cli.config, &common).await,
    }
}

async fn newsletter_command(app: &App, action: NewsletterAction) -> anyhow::Result<()> {
    use crate::newsletter::campaigns;
    match action {
        NewsletterAction::Launch { federation, name, as_email, no_tracking } => {
            let user: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(as_email.trim().to_lowercase())
                .fetch_optional(&app.db.pool)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account {as_email}"))?;
            let access = crate::users::access_for(&app.db, user).await?;
            let list: i64 = sqlx::query_scalar(
                "SELECT l.id FROM mailing_lists l JOIN federations f ON f.id = l.federation_id WHERE f.code = $1",
            )
            .bind(&federation)
            .fetch_optional(&app.db.pool)
            .await?
            .ok_or_else(|| anyhow::anyhow!("no federation {federation}"))?;
            let mut campaign = campaigns::create(&app.db, &access, list, &name).await?;
            if no_tracking {
                let draft = campaigns::Draft {
                    name: campaign.name.clone(),
                    template: campaign.template.clone(),
                    document: campaign.document(),
                    segment_id: None,
                    tracking: false,
                };
                campaign = campaigns::save(&app.db, &access, &campaign, &draft).await?;
            }
            let sender = crate::newsletter::sender_identity(&app.db, &app.config, &campaign).await?;
            let started = std::time::Instant::now();
            let n = campaigns::launch(&app.db, &access, &campaign, &sender, app.config.newsletter.shards, None).await?;
            println!(
                "campaign {} queued for {n} recipients (audience frozen in {:.3} s)",
                campaign.id,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        NewsletterAction::Status { campaign } => {
            let c = campaigns::load(&app.db, campaign).await?;
            let p = campaigns::progress(&app.db, campaign).await?;
            println!(
                "campaign {} {}: {} pending, {} sending, {} sent, {} failed, {} skipped, {} uncertain",
                c.id, c.state, p.pending, p.sending, p.sent, p.failed, p.skipped, p.uncertain
            );
            Ok(())
        }
    }
}

/// Admin commands (migrate, user) do not send mail: a missing SMTP setting should not stop them.
fn relax_for_admin(
    file: &Option<PathBuf>,
    common: &Common,
    original: crate::config::ConfigError,
) -> anyhow::Result<Config> {
    if original.key != "smtp.host" {
        return Err(original.into());
    }
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("TERRAIN_")).collect();
    env.push(("TERRAIN_OUTBOX".into(), "true".into()));
    let overrides = Overrides { listen: common.listen.clone(), database_url: common.database_url.clone() };
    Ok(Config::load_from(file.as_deref(), &env, &overrides)?)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    init_tracing(config.log_format);
    let app = App::init(config).await?;
    serve_app(app).await
}

async fn serve_app(app: App) -> anyhow::Result<()> {
    let addr = app.config.listen_addr()?;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(
        %addr,
        database = %app.config.database_url_redacted(),
        workers = app.config.workers,
        "Terrain is serving on {}",
        app.config.base_url()
    );
    app.serve(listener, crate::app::shutdown_signal()).await
}

async fn check(file: &Option<PathBuf>, common: &Common) -> anyhow::Result<()> {
    let config = load_config(file, common)?;
    println!("configuration: ok");
    println!("  listen       {}", config.listen);
    println!("  database     {}", config.database_url_redacted());
    println!("  public url   {}", config.base_url());
    let app = App::init(config.clone()).await?;
    println!("database: ok ({}, migrations {:?})", app.db.backend.name(), app.db.applied_versions().await?);
    println!("jobs: {:?}", crate::jobs::counts(&app.db).await?);
    match app.mailer.test_connection().await {
        Ok(true) => println!("smtp: ok ({}:{})", config.smtp.host, config.smtp.port),
        Ok(false) => println!("smtp: not configured (outbox only)"),
        Err(e) => bail!("smtp: {}:{} unreachable: {e}", config.smtp.host, config.smtp.port),
    }
    Ok(())
}
