//! One storage code base for SQLite and PostgreSQL.
//!
//! Queries are written once in portable SQL with `$1`-style placeholders (both drivers accept them) and run
//! through sqlx's `Any` driver. Conventions that keep them portable: ids and timestamps are `BIGINT`
//! (Unix seconds), booleans are 0/1 integers, JSON is stored as `TEXT`. Where SQL really differs (claiming
//! queue rows, advisory locks) the code branches on [`Backend`].

pub mod link;

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

/// Rewrites the schema's `CHECK (x IN (…))` constraints as `CHECK (x = … OR x = …)` (migration 10), by the
/// procedure SQLite documents for changing constraints that do not touch stored rows (ALTER TABLE, "Making other
/// kinds of table schema changes"): edit the table's definition in `sqlite_schema`, bump the schema version so
/// that every connection reads it again, check the database, all in the migration's transaction.
async fn sqlite_in_checks_as_comparisons(conn: &mut sqlx::AnyConnection) -> anyhow::Result<()> {
    let tables: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND sql LIKE '%CHECK%'")
            .fetch_all(&mut *conn)
            .await?;
    let changed: Vec<(String, String)> = tables
        .into_iter()
        .filter_map(|(name, sql)| {
            let new = in_checks_as_comparisons(&sql);
            (new != sql).then_some((name, new))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let version: i64 = sqlx::query_scalar("PRAGMA schema_version").fetch_one(&mut *conn).await?;
    sqlx::query("PRAGMA writable_schema = ON").execute(&mut *conn).await?;
    for (name, sql) in &changed {
        sqlx::query("UPDATE sqlite_schema SET sql = $1 WHERE type = 'table' AND name = $2")
            .bind(sql)
            .bind(name)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(&format!("PRAGMA schema_version = {}", version + 1)).execute(&mut *conn).await?;
    sqlx::query("PRAGMA writable_schema = OFF").execute(&mut *conn).await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut *conn).await?;
    anyhow::ensure!(check == "ok", "integrity check after rewriting CHECK constraints: {check}");
    Ok(())
}

/// `CHECK (x IN ('a', 'b'))` → `CHECK (x = 'a' OR x = 'b')` in a table definition; anything else is left as is.
fn in_checks_as_comparisons(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 256);
    let mut rest = sql;
    while let Some(at) = rest.find("CHECK (") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let body = &from["CHECK (".len()..];
        match rewrite_in_list(body) {
            Some((check, used)) => {
                out.push_str(&check);
                rest = &body[used..];
            }
            None => {
                out.push_str("CHECK (");
                rest = body;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Reads `x IN (v, …))` at the start of `body` (what follows "CHECK ("); gives the rewritten constraint and the
/// length read; `None` unless every value is an integer or a plain quoted string.
fn rewrite_in_list(body: &str) -> Option<(String, usize)> {
    let column_end = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    let column = &body[..column_end];
    let after = body[column_end..].strip_prefix(" IN (")?;
    let list_end = after.find(')')?;
    let list = &after[..list_end];
    let tail = &after[list_end + 1..];
    let closing = tail.len() - tail.trim_start().len();
    if column.is_empty() || !tail[closing..].starts_with(')') || list.contains('(') {
        return None;
    }
    let values: Vec<&str> = list.split(',').map(str::trim).collect();
    let literal = |v: &&str| {
        v.parse::<i64>().is_ok()
            || (v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') && !v[1..v.len() - 1].contains('\''))
    };
    if !values.iter().all(literal) {
        return None;
    }
    let comparisons: Vec<String> = values.iter().map(|v| format!("{column} = {v}")).collect();
    let used = column_end + " IN (".len() + list_end + 1 + closing + 1;
    Some((format!("CHECK ({})", comparisons.join(" OR ")), used))
}

/// A subquery giving the ids of the JSON array bound as parameter `n` (`$n`), one row each.
pub fn json_ids(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("SELECT CAST(value AS BIGINT) FROM json_each(${n})"),
        Backend::Postgres => format!("SELECT CAST(jsonb_array_elements_text(${n}::jsonb) AS BIGINT)"),
    }
}

/// The `VALUES` list of a multi-row insert of `rows` rows: `tuple` is one row, e.g. `(?, ?, 'import', 42)`, where
/// each `?` is a parameter, bound row after row; the rest is copied as is (constants go in as literals, never
/// containing `?`). SQLite
/// gets anonymous `?` (sqlx finds a named parameter such as `$7` by a linear scan of the statement's parameter
/// names, which makes binding thousands of them quadratic); PostgreSQL gets `$1`, `$2`, …
pub fn values_list(backend: Backend, tuple: &str, rows: usize) -> String {
    let width = tuple.matches('?').count();
    let mut sql = String::with_capacity(rows * (tuple.len() + width * 6 + 2));
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        match backend {
            Backend::Sqlite => sql.push_str(tuple),
            Backend::Postgres => {
                for (i, part) in tuple.split('?').enumerate() {
                    if i > 0 {
                        n += 1;
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    }
                    sql.push_str(part);
                }
            }
        }
    }
    sql
}

/// Rows per multi-row statement of `width` parameters each, within both backends' limits (SQLite: 32,766
/// parameters, PostgreSQL: 65,535).
pub fn rows_per_statement(width: usize) -> usize {
    (32_000 / width.max(1)).max(1)
}

/// A query on the Any driver, as `sqlx::query` makes it.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Writes `rows` with multi-row statements `{head} VALUES (…), (…){tail}`, as many rows per statement as both
/// backends allow: `head` is e.g. `INSERT INTO t (a, b)`, `tail` e.g. ` ON CONFLICT DO NOTHING` or empty, `tuple`
/// one row as [`values_list`] takes it, and `bind` binds one row's `?` in order. Returns the rows affected.
/// Each statement's arguments are built while the database runs the one before: on SQLite (statements run on
/// sqlx's own thread), building and running used to take turns, each waiting for the other, in a big import.
pub async fn insert_all<T>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    head: &str,
    tuple: &str,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &'q T) -> AnyQuery<'q>,
) -> sqlx::Result<u64> {
    let width = tuple.matches('?').count();
    let per = rows_per_statement(width);
    let statement = |n| format!("{head} VALUES {}{tail}", values_list(backend, tuple, n));
    // The statement of a full chunk (only if there is one) and that of the last, shorter one.
    let full_sql = if rows.len() >= per { statement(per) } else { String::new() };
    let last_sql = statement(rows.len() % per);
    let mut queries = rows.chunks(per).map(|chunk| {
        // Room for every argument at once: grown one by one, a chunk's 32,000 were copied a dozen times.
        let mut arguments = sqlx::any::AnyArguments::default();
        sqlx::Arguments::reserve(&mut arguments, chunk.len() * width, 0);
        let mut q = sqlx::query_with(if chunk.len() == per { &full_sql } else { &last_sql }, arguments);
        for row in chunk {
            q = bind(q, row);
        }
        q
    });
    let mut affected = 0;
    let mut next = queries.next();
    while let Some(q) = next.take() {
        let mut running = std::pin::pin!(q.execute(&mut *conn));
        // Polled once, the statement is on its way (or already done, if it was quick).
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(running.as_mut().poll(cx))).await;
        next = queries.next();
        let done = match first {
            std::task::Poll::Ready(done) => done,
            std::task::Poll::Pending => running.await,
        };
        affected += done?.rows_affected();
    }
    Ok(affected)
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
    Migration {
        version: 10,
        name: "check_constraints",
        sql: include_str!("../migrations/sqlite/0010_check_constraints.sql"),
    },
    Migration {
        version: 11,
        name: "recipient_keys",
        sql: include_str!("../migrations/sqlite/0011_recipient_keys.sql"),
    },
    Migration {
        version: 12,
        name: "person_contacts",
        sql: include_str!("../migrations/sqlite/0012_person_contacts.sql"),
    },
    Migration {
        version: 13,
        name: "segment_indexes",
        sql: include_str!("../migrations/sqlite/0013_segment_indexes.sql"),
    },
    Migration {
        version: 14,
        name: "recipient_triggers",
        sql: include_str!("../migrations/sqlite/0014_recipient_triggers.sql"),
    },
    Migration {
        version: 15,
        name: "recipient_claims",
        sql: include_str!("../migrations/sqlite/0015_recipient_claims.sql"),
    },
    Migration {
        version: 16,
        name: "audience_lists",
        sql: include_str!("../migrations/sqlite/0016_audience_lists.sql"),
    },
    Migration {
        version: 17,
        name: "tag_tables_without_rowid",
        sql: include_str!("../migrations/sqlite/0017_tag_tables_without_rowid.sql"),
    },
    Migration {
        version: 18,
        name: "contact_indexes",
        sql: include_str!("../migrations/sqlite/0018_contact_indexes.sql"),
    },
    Migration { version: 19, name: "section_index", sql: include_str!("../migrations/sqlite/0019_section_index.sql") },
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
    Migration {
        version: 10,
        name: "check_constraints",
        sql: include_str!("../migrations/postgres/0010_check_constraints.sql"),
    },
    Migration {
        version: 11,
        name: "recipient_keys",
        sql: include_str!("../migrations/postgres/0011_recipient_keys.sql"),
    },
    Migration {
        version: 12,
        name: "person_contacts",
        sql: include_str!("../migrations/postgres/0012_person_contacts.sql"),
    },
    Migration {
        version: 13,
        name: "segment_indexes",
        sql: include_str!("../migrations/postgres/0013_segment_indexes.sql"),
    },
    Migration {
        version: 14,
        name: "recipient_triggers",
        sql: include_str!("../migrations/postgres/0014_recipient_triggers.sql"),
    },
    Migration {
        version: 15,
        name: "recipient_claims",
        sql: include_str!("../migrations/postgres/0015_recipient_claims.sql"),
    },
    Migration {
        version: 16,
        name: "audience_lists",
        sql: include_str!("../migrations/postgres/0016_audience_lists.sql"),
    },
    Migration {
        version: 17,
        name: "tag_tables_without_rowid",
        sql: include_str!("../migrations/postgres/0017_tag_tables_without_rowid.sql"),
    },
    Migration {
        version: 18,
        name: "contact_indexes",
        sql: include_str!("../migrations/postgres/0018_contact_indexes.sql"),
    },
    Migration {
        version: 19,
        name: "section_index",
        sql: include_str!("../migrations/postgres/0019_section_index.sql"),
    },
];

/// Configures SQLite's process-wide settings, before it initialises (the first connection): later calls are refused
/// by SQLite and change nothing.
/// - No statistics of its memory use: SQLite keeps them by default, behind a global mutex taken at every allocation;
///   with several connections busy (a big import, searches, senders) that lock and its bookkeeping were ~8 % of
///   SQLite's thread in a 1M import. Terrain never reads them.
/// - Its memory from mimalloc, the allocator of the rest of the process (`main.rs`), instead of the C library's: in
///   a 1M import, glibc's malloc and free were about 7 % of SQLite's thread.
fn sqlite_process_settings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use libsqlite3_sys::{SQLITE_CONFIG_MALLOC, SQLITE_CONFIG_MEMSTATUS, SQLITE_OK, sqlite3_config};
        // SAFETY: sqlite3_config is called before any connection is opened by this process (SQLite answers
        // SQLITE_MISUSE, harmlessly, if it was already initialised). SQLite copies the methods' table.
        let rc = unsafe { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int) };
        if rc != SQLITE_OK {
            tracing::debug!(rc, "SQLite memory statistics left on (SQLite already initialised)");
        }
        let methods = sqlite_mimalloc::methods();
        // SAFETY: as above; the table holds functions valid for the life of the process.
        let rc =
            unsafe { sqlite3_config(SQLITE_CONFIG_MALLOC, &methods as *const libsqlite3_sys::sqlite3_mem_methods) };
        if rc != SQLITE_OK {
            tracing::debug!(rc, "SQLite left on the C library's allocator (SQLite already initialised)");
        }
    });
}

/// SQLite's memory methods over mimalloc (sizes are `int`s in SQLite's interface; it never asks for a negative one).
mod sqlite_mimalloc {
    use libmimalloc_sys::{mi_free, mi_malloc, mi_realloc, mi_usable_size};
    use std::os::raw::{c_int, c_void};

    unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
        // SAFETY: plain allocation; a null result is SQLite's out-of-memory case.
        unsafe { mi_malloc(n.max(0) as usize) }
    }
    unsafe extern "C" fn free(p: *mut c_void) {
        // SAFETY: SQLite frees only what these methods allocated.
        unsafe { mi_free(p) }
    }
    unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
        // SAFETY: as for free.
        unsafe { mi_realloc(p, n.max(0) as usize) }
    }
    unsafe extern "C" fn size(p: *mut c_void) -> c_int {
        // SAFETY: as for free; SQLite's allocations are far below 2 GiB.
        unsafe { mi_usable_size(p) as c_int }
    }
    unsafe extern "C" fn roundup(n: c_int) -> c_int {
        (n + 7) & !7
    }
    unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }
    unsafe extern "C" fn shutdown(_: *mut c_void) {}

    pub(super) fn methods() -> libsqlite3_sys::sqlite3_mem_methods {
        libsqlite3_sys::sqlite3_mem_methods {
            xMalloc: Some(malloc),
            xFree: Some(free),
            xRealloc: Some(realloc),
            xSize: Some(size),
            xRoundup: Some(roundup),
            xInit: Some(init),
            xShutdown: Some(shutdown),
            pAppData: std::ptr::null_mut(),
        }
    }
}

impl Db {
    /// Connects to the database the URL names: `sqlite://PATH` (file created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        install_default_drivers();
        if url.starts_with("sqlite:") {
            sqlite_process_settings();
        }
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
                            // 8 KB pages for a new file (set before anything is written; a no-op on an existing
                            // one): a million-contact import took 12.8 s on average instead of 14.0 s in alternating
                            // runs (fewer pages to split, log and copy back), for the same instructions. WAL lets
                            // readers run beside the single writer; FULL makes each commit durable (consent, send
                            // state and audit rows must survive a power cut); secure_delete overwrites erased
                            // people's data instead of leaving it in free pages.
                            conn.execute(
                                "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
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
                if self.backend == Backend::Sqlite && m.name == "check_constraints" {
                    sqlite_in_checks_as_comparisons(&mut tx)
                        .await
                        .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
                }
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
    #[test]
    fn in_list_checks_become_comparisons() {
        let sql = "CREATE TABLE t (a TEXT NOT NULL CHECK (a IN ('x', 'y',\n 'z')), b BIGINT CHECK (b IN (0, 1)), \
                   c TEXT CHECK (c <> ''), d TEXT CHECK (d IN (SELECT 1)))";
        assert_eq!(
            in_checks_as_comparisons(sql),
            "CREATE TABLE t (a TEXT NOT NULL CHECK (a = 'x' OR a = 'y' OR a = 'z'), b BIGINT CHECK (b = 0 OR b = 1), \
             c TEXT CHECK (c <> ''), d TEXT CHECK (d IN (SELECT 1)))"
        );
        assert_eq!(in_checks_as_comparisons("CHECK (a IN ('x'"), "CHECK (a IN ('x'");
    }

    #[test]
    fn values_lists_number_postgres_parameters_and_leave_sqlite_ones_anonymous() {
        assert_eq!(values_list(Backend::Sqlite, "(?, 'x', ?)", 2), "(?, 'x', ?), (?, 'x', ?)");
        assert_eq!(values_list(Backend::Postgres, "(?, 7, ?)", 2), "($1, 7, $2), ($3, 7, $4)");
        assert_eq!(rows_per_statement(16), 2000);
    }

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

    #[tokio::test]
    async fn a_new_sqlite_file_gets_8_kb_pages_and_an_old_one_keeps_its_own() {
        let dir = std::env::temp_dir().join(format!("terrain-pages-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page_size = |db: Db| async move {
            let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&db.pool).await.unwrap();
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&db.pool).await.unwrap();
            db.pool.close().await;
            (size, mode)
        };
        let new = dir.join("new.db");
        let db = Db::connect(&format!("sqlite://{}", new.display())).await.unwrap();
        db.migrate().await.unwrap();
        assert_eq!(page_size(db).await, (8192, "wal".to_string()));
        // Reopened, still 8 KB.
        let db = Db::connect(&format!("sqlite://{}", new.display())).await.unwrap();
        assert_eq!(page_size(db).await, (8192, "wal".to_string()));
        // A file made with 4 KB pages before this default keeps them, and works.
        let old = dir.join("old.db");
        {
            let conn = rusqlite::Connection::open(&old).unwrap();
            conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (a);").unwrap();
        }
        let db = Db::connect(&format!("sqlite://{}", old.display())).await.unwrap();
        db.migrate().await.unwrap();
        assert_eq!(page_size(db).await, (4096, "wal".to_string()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn migration_files_on_disk_are_all_embedded() {
        for (dir, list) in [("migrations/sqlite", SQLITE_MIGRATIONS), ("migrations/postgres", POSTGRES_MIGRATIONS)] {
            let on_disk = std::fs::read_dir(dir).unwrap().count();
            assert_eq!(on_disk, list.len(), "{dir} has files that are not embedded in db.rs");
        }
    }
}
