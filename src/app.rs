//! The seam between `main` and everything else: build an [`App`] from a [`Config`], then serve it on a
//! listener the caller bound (tests bind port 0) and/or run workers.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::db::Db;
use crate::jobs::Runner;
use crate::mail::Mailer;

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub config: Arc<Config>,
    pub mailer: Mailer,
    /// Buffered writer of newsletter opens and clicks.
    pub tracker: crate::newsletter::tracking::Recorder,
}

impl App {
    /// Connects, applies migrations and loads the reference data on first start.
    pub async fn init(config: Config) -> anyhow::Result<App> {
        if let Some(dir) = config.sqlite_dir() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| anyhow::anyhow!("cannot create the data directory {}: {e}", dir.display()))?;
        }
        let db = Db::connect(config.database_url.expose()).await?;
        let applied = db.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(?applied, backend = db.backend.name(), "migrations applied");
        }
        if applied.contains(&3) {
            let n = crate::people::search::backfill_keys(&db).await?;
            tracing::info!(people = n, "search keys filled");
        }
        if let Some(report) = crate::seed::ensure_seeded(&db).await? {
            tracing::info!(?report, "reference data loaded");
        }
        crate::newsletter::campaigns::ensure_lists(&db).await?;
        let mailer = Mailer::new(&config)?;
        let tracker = crate::newsletter::tracking::Recorder::start(db.clone());
        Ok(App { db, config: Arc::new(config), mailer, tracker })
    }

    /// What a worker needs to run jobs for this application.
    pub fn runner(&self) -> Runner {
        Runner {
            db: self.db.clone(),
            mailer: self.mailer.clone(),
            config: self.config.clone(),
            retention_years: self.config.retention_years,
        }
    }

    /// Starts `n` worker tasks in this process.
    pub fn spawn_workers(&self, n: usize, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let host = crate::jobs::host_name();
        (0..n)
            .map(|i| {
                let runner = self.runner();
                let name = format!("{host}:{}:{i}", std::process::id());
                tokio::spawn(runner.run(name, shutdown.clone()))
            })
            .collect()
    }

    /// Serves HTTP on `listener` (and runs the configured workers) until `shutdown` resolves; in-flight
    /// requests and jobs finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (tx, rx) = watch::channel(false);
        let workers = self.spawn_workers(self.config.workers, rx);
        let router = crate::web::router(self.clone());
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await?;
        // Opens and clicks still buffered are written before the process exits.
        self.tracker.flush().await;
        let _ = tx.send(true);
        for w in workers {
            let _ = w.await;
        }
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
