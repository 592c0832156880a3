//! The `terrain` command line: each subcommand is a small function over the library.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::access::{Role, Scope};
use crate::app::App;
use crate::audit::{self, Entry, RequestMeta};
use crate::config::{Config, LogFormat, Overrides};
use crate::users;

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

fn read_or_generate_password() -> anyhow::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if !p.is_empty() {
            return Ok((p, false));
        }
    }
    Ok((crate::auth::random_token()[..20].to_string(), true))
}

async fn scope_from_args(
    app: &App,
    role: Role,
    federation: Option<&str>,
    section: Option<&str>,
) -> anyhow::Result<Scope> {
    let scope = match (federation, section) {
        (None, None) => Scope::National,
        (Some(code), sec) => {
            let fid: i64 = sqlx::query_scalar("SELECT id FROM federations WHERE code = $1")
                .bind(code)
                .fetch_optional(&app.db.pool)
                .await?
                .with_context(|| format!("no federation with code {code}"))?;
            match sec {
                None => Scope::Federation { federation_id: fid },
                Some(name) => {
                    let sid: i64 = sqlx::query_scalar("SELECT id FROM sections WHERE federation_id = $1 AND name = $2")
                        .bind(fid)
                        .bind(name)
                        .fetch_optional(&app.db.pool)
                        .await?
                        .with_context(|| format!("no section '{name}' in federation {code}"))?;
                    Scope::Section { federation_id: fid, section_id: sid }
                }
            }
        }
        (None, Some(_)) => bail!("--section needs --federation"),
    };
    if !role.scope_kinds().contains(&scope.kind()) {
        bail!("role {} cannot be granted at this level ({:?})", role.as_str(), scope.kind());
    }
    Ok(scope)
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| {
        format!("unknown role '{s}' (one of: {})", crate::access::ALL_ROLES.map(Role::as_str).join(", "))
    })
}

async fn user_id_by_email(app: &App, email: &str) -> anyhow::Result<i64> {
    let email = crate::auth::normalise_email(email).with_context(|| format!("'{email}' is not an e-mail address"))?;
    Ok(users::credentials_by_email(&app.db, &email).await?.with_context(|| format!("no account for {email}"))?.id)
}

async fn user_command(app: &App, action: UserAction) -> anyhow::Result<()> {
    let meta = RequestMeta::cli();
    match action {
        UserAction::Create { email, name, role, federation, section } => {
            let email =
                crate::auth::normalise_email(&email).with_context(|| format!("'{email}' is not an e-mail address"))?;
            let grant = match &role {
                Some(r) => {
                    let role = parse_role(r)?;
                    Some((role, scope_from_args(app, role, federation.as_deref(), section.as_deref()).await?))
                }
                None => None,
            };
            let (password, generated) = read_or_generate_password()?;
            if let Err(why) = crate::auth::password::check_policy(&password, &email) {
                bail!("{why}");
            }
            let shown = password.clone();
            let hash = tokio::task::spawn_blocking(move || crate::auth::password::hash(&password)).await?;
            let id = users::create(&app.db, &email, name.trim(), Some(&hash)).await?;
            audit::record(&app.db, &meta, Entry::new(None, "user_created").target("user", id)).await?;
            if let Some((role, scope)) = grant {
                users::grant(&app.db, id, role, scope, None).await?;
                audit::record(
                    &app.db,
                    &meta,
                    Entry::new(None, "role_granted")
                        .target("user", id)
                        .federation(scope.federation_id())
                        .details(serde_json::json!({"role": role.as_str()})),
                )
                .await?;
            }
            println!("account {id} created for {email}");
            if generated {
                println!("generated password (shown once): {shown}");
            }
            Ok(())
        }
        UserAction::ResetPassword { email } => {
            let id = user_id_by_email(app, &email).await?;
            let (password, generated) = read_or_generate_password()?;
            if let Err(why) = crate::auth::password::check_policy(&password, &email) {
                bail!("{why}");
            }
            let shown = password.clone();
            let hash = tokio::task::spawn_blocking(move || crate::auth::password::hash(&password)).await?;
            users::set_password_hash(&app.db, id, &hash).await?;
            crate::auth::session::delete_for_user(&app.db, id).await?;
            audit::record(&app.db, &meta, Entry::new(None, "password_changed").target("user", id)).await?;
            if generated {
                println!("new password for {email}: {shown}");
            } else {
                println!("password changed for {email}");
            }
            Ok(())
        }
        UserAction::Grant { email, role, federation, section } => {
            let id = user_id_by_email(app, &email).await?;
            let role = parse_role(&role)?;
            let scope = scope_from_args(app, role, federation.as_deref(), section.as_deref()).await?;
            users::grant(&app.db, id, role, scope, None).await?;
            audit::record(
                &app.db,
                &meta,
                Entry::new(None, "role_granted")
                    .target("user", id)
                    .federation(scope.federation_id())
                    .details(serde_json::json!({"role": role.as_str()})),
            )
            .await?;
            println!("granted {} to {email}", role.as_str());
            Ok(())
        }
        UserAction::Disable { email } => {
            let id = user_id_by_email(app, &email).await?;
            users::set_disabled(&app.db, id, true).await?;
            audit::record(&app.db, &meta, Entry::new(None, "user_disabled").target("user", id)).await?;
            println!("disabled {email}");
            Ok(())
        }
    }
}

async fn import_command(app: &App, what: ImportWhat) -> anyhow::Result<()> {
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

async fn classify_command(app: &App, reference: &str, previous: &str) -> anyhow::Result<()> {
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
async fn bench_territory(app: &App, data: &std::path::Path, runs: usize) -> anyhow::Result<()> {
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
