//! One storage code base for SQLite and PostgreSQL.
//!
//! Queries are written once in portable SQL with `$1`-style placeholders (both drivers accept them) and run
//! through sqlx's `Any` driver. Conventions that keep them portable: ids and timestamps are `BIGINT`
//! (Unix seconds), booleans are 0/1 integers, JSON is stored as `TEXT`. Where SQL really differs (claiming
//! queue rows, advisory locks) the code branches on [`Backend`].

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// Seconds since the Unix epoch: the one clock of the application's rows.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Embedded migrations, one list per backend. A unit test keeps both lists in step.
pub const SQLITE_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/sqlite/0001_foundation.sql") },
    Migration { version: 2, name: "people", sql: include_str!("../migrations/sqlite/0002_people.sql") },
    Migration { version: 3, name: "search_keys", sql: include_str!("../migrations/sqlite/0003_search_keys.sql") },
    Migration { version: 4, name: "newsletters", sql: include_str!("../migrations/sqlite/0004_newsletters.sql") },
    Migration { version: 5, name: "territory", sql: include_str!("../migrations/sqlite/0005_territory.sql") },
    Migration { version: 6, name: "causes", sql: include_str!("../migrations/sqlite/0006_causes.sql") },
    Migration { version: 7, name: "media", sql: include_str!("../migrations/sqlite/0007_media.sql") },
    Migration { version: 8, name: "field", sql: include_str!("../migrations/sqlite/0008_field.sql") },
    Migration {
        version: 9,
        name: "zone_explanations",
        sql: include_str!("../migrations/sqlite/0009_zone_explanations.sql"),
    },
];

pub const POSTGRES_MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "foundation", sql: include_str!("../migrations/postgres/0001_foundation.sql") },
    Migration { version: 2, name: "people", sql: include_str!("../migrations/postgres/0002_people.sql") },
    Migration { version: 3, name: "search_keys", sql: include_str!("../migrations/postgres/0003_search_keys.sql") },
    Migration { version: 4, name: "newsletters", sql: include_str!("../migrations/postgres/0004_newsletters.sql") },
    Migration { version: 5, name: "territory", sql: include_str!("../migrations/postgres/0005_territory.sql") },
    Migration { version: 6, name: "causes", sql: include_str!("../migrations/postgres/0006_causes.sql") },
    Migration { version: 7, name: "media", sql: include_str!("../migrations/postgres/0007_media.sql") },
    Migration { version: 8, name: "field", sql: include_str!("../migrations/postgres/0008_field.sql") },
    Migration {
        version: 9,
        name: "zone_explanations",
        sql: include_str!("../migrations/postgres/0009_zone_explanations.sql"),
    },
];

impl Db {
    /// Connects to the database the URL names: `sqlite://PATH` (file created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        // One direct connection first: a wrong host or password fails at once with the driver's reason,
        // instead of the pool retrying until its timeout.
        {
            use sqlx::Connection;
            let probe = if url.starts_with("sqlite:") && !url.contains('?') {
                format!("{url}?mode=rwc")
            } else {
                url.to_string()
            };
            let conn = tokio::time::timeout(Duration::from_secs(15), sqlx::AnyConnection::connect(&probe))
                .await
                .map_err(|_| anyhow::anyhow!("the database did not answer within 15 s"))?
                .context("cannot connect to the database")?;
            conn.close().await?;
        }
        let backend = if url.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let pool = match backend {
            Backend::Sqlite => {
                let url = if url.contains('?') { url.to_string() } else { format!("{url}?mode=rwc") };
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(30))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the single writer; FULL makes each commit durable
                            // (consent, send state and audit rows must survive a power cut); secure_delete
                            // overwrites erased people's data instead of leaving it in free pages.
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                                 PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                                 PRAGMA secure_delete = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new().max_connections(16).acquire_timeout(Duration::from_secs(30)).connect(url).await
            }
        }
        .with_context(|| format!("cannot open the {} database", backend.name()))?;
        Ok(Db { pool, backend })
    }

    pub fn migrations(&self) -> &'static [Migration] {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATIONS,
            Backend::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// Applies the embedded migrations not yet applied; returns the versions applied now.
    /// Safe to run from several processes at once on PostgreSQL (advisory lock).
    pub async fn migrate(&self) -> anyhow::Result<Vec<i64>> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_lock(7302201)").await?;
        }
        let result = async {
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, \
                 name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            )
            .await?;
            let done: Vec<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations").fetch_all(&mut *conn).await?;
            let mut applied = Vec::new();
            for m in self.migrations() {
                if done.contains(&m.version) {
                    continue;
                }
                let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                sqlx::raw_sql(m.sql)
                    .execute(&mut *tx)
                    .await
                    .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                applied.push(m.version);
            }
            anyhow::Ok(applied)
        }
        .await;
        if self.backend == Backend::Postgres {
            conn.execute("SELECT pg_advisory_unlock(7302201)").await?;
        }
        result
    }

    /// Versions recorded as applied, in order.
    pub async fn applied_versions(&self) -> anyhow::Result<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version").fetch_all(&self.pool).await?)
    }

    /// True when the database answers and every embedded migration is applied.
    pub async fn ready(&self) -> bool {
        match self.applied_versions().await {
            Ok(v) => self.migrations().iter().all(|m| v.contains(&m.version)),
            Err(_) => false,
        }
    }

    /// Writes a consistent copy of a SQLite database with `VACUUM INTO` (safe while other connections write,
    /// unlike copying the file), then checks the copy with `PRAGMA integrity_check`. Returns its size.
    pub async fn backup(&self, to: &std::path::Path) -> anyhow::Result<u64> {
        if self.backend != Backend::Sqlite {
            anyhow::bail!("on PostgreSQL, back up with pg_dump (for example: pg_dump -Fc DATABASE > terrain.dump)");
        }
        if to.exists() {
            anyhow::bail!("{} already exists: choose a new file", to.display());
        }
        let target = to.to_str().ok_or_else(|| anyhow::anyhow!("the backup path must be valid UTF-8"))?;
        sqlx::query("VACUUM INTO $1").bind(target).execute(&self.pool).await.context("backup failed")?;
        let mut copy =
            <sqlx::AnyConnection as sqlx::Connection>::connect(&format!("sqlite://{target}?mode=ro")).await?;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut copy).await?;
        sqlx::Connection::close(copy).await?;
        if check != "ok" {
            anyhow::bail!("the backup failed its integrity check: {check}");
        }
        Ok(std::fs::metadata(to)?.len())
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(sql: &str) -> Vec<String> {
        let mut t: Vec<String> = sql
            .lines()
            .filter_map(|l| l.strip_prefix("CREATE TABLE "))
            .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
            // SQLite rebuilds a table to change a constraint; PostgreSQL alters it in place.
            .filter(|t| !t.ends_with("_new"))
            .collect();
        t.sort();
        t
    }

    #[test]
    fn both_backends_list_the_same_migrations_and_tables() {
        assert_eq!(SQLITE_MIGRATIONS.len(), POSTGRES_MIGRATIONS.len());
        for (s, p) in SQLITE_MIGRATIONS.iter().zip(POSTGRES_MIGRATIONS) {
            assert_eq!((s.version, s.name), (p.version, p.name));
            assert_eq!(tables(s.sql), tables(p.sql), "migration {} creates different tables", s.version);
        }
        let versions: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|m| m.version).collect();
        let mut sorted = versions.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(versions, sorted, "versions must be increasing and unique");
    }

    #[test]
    fn migration_files_on_disk_are_all_embedded() {
        for (dir, list) in [("migrations/sqlite", SQLITE_MIGRATIONS), ("migrations/postgres", POSTGRES_MIGRATIONS)] {
            let on_disk = std::fs::read_dir(dir).unwrap().count();
            assert_eq!(on_disk, list.len(), "{dir} has files that are not embedded in db.rs");
        }
    }
}
