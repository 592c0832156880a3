//! Where a bulk job's statements go: a connection of the pool, through sqlx (both backends), or, for a big load
//! into a SQLite file, a connection of the job's own that talks to SQLite's C API directly (rusqlite, on the
//! `libsqlite3-sys` that sqlx builds).
//!
//! The statements are the same text either way. What the direct connection saves is sqlx's work around each
//! statement: a multi-row insert of 32,000 arguments is built as a fresh 1 MB buffer, copied again (every string)
//! for sqlx's SQLite thread, and, for each batch's last, shorter statement, prepared anew (a statement of thousands
//! of rows). Directly, a statement of a few dozen rows is prepared once per table and bound and stepped again and
//! again.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::pool::PoolConnection;
use sqlx::{Any, Row};

use super::{AnyQuery, Backend, Db};

/// An argument of a statement: an integer or a text, either possibly NULL.
#[derive(Clone, Copy, Debug)]
pub enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}

impl<'a> Arg<'a> {
    fn bind_to(self, q: AnyQuery<'a>) -> AnyQuery<'a> {
        match self {
            Arg::Int(v) => q.bind(v),
            Arg::Text(v) => q.bind(v),
        }
    }
}

/// A connection for a bulk job, see the module's documentation.
pub enum Link {
    Pool(PoolConnection<Any>),
    Sqlite(rusqlite::Connection),
}

impl Link {
    /// A connection of the pool (closed afterwards rather than handed to anyone else: after an error, closing it
    /// rolls back what the job left open).
    pub async fn pooled(db: &Db) -> sqlx::Result<Link> {
        let mut conn = db.pool.acquire().await?;
        conn.close_on_drop();
        Ok(Link::Pool(conn))
    }

    /// A direct connection to the SQLite file of `db`, set up as the pool's connections are; `None` for
    /// PostgreSQL or a database that is not a file.
    pub fn direct(db: &Db) -> anyhow::Result<Option<Link>> {
        let Some(path) = sqlite_file(db) else { return Ok(None) };
        use rusqlite::OpenFlags;
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As `Db::connect` sets up the pool's connections (WAL is a property of the file, already set).
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
             PRAGMA secure_delete = ON;",
        )?;
        Ok(Some(Link::Sqlite(conn)))
    }

    /// Runs a statement; the rows it changed.
    pub async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<u64> {
        match self {
            Link::Pool(conn) => Ok(bind(sqlx::query(sql), args).execute(&mut **conn).await?.rows_affected()),
            Link::Sqlite(conn) => blocking(|| {
                let mut stmt = conn.prepare_cached(sql)?;
                bind_direct(&mut stmt, sql, args)?;
                if stmt.column_count() == 0 {
                    return Ok(stmt.raw_execute()? as u64);
                }
                // A statement that answers with rows (some pragmas do): run it to the end.
                let mut rows = stmt.raw_query();
                while rows.next()?.is_some() {}
                Ok(0)
            }),
        }
    }

    /// The text in the first column of the one row a query gives.
    pub async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<String> {
        self.one(sql, args).await
    }

    /// The integer (or NULL) in the first column of the one row a query gives.
    pub async fn int(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<Option<i64>> {
        self.one(sql, args).await
    }

    async fn one<T>(&mut self, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<T>
    where
        T: rusqlite::types::FromSql + for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
    {
        match self {
            Link::Pool(conn) => Ok(bind(sqlx::query(sql), args).fetch_one(&mut **conn).await?.try_get(0)?),
            Link::Sqlite(conn) => blocking(|| {
                let mut stmt = conn.prepare_cached(sql)?;
                bind_direct(&mut stmt, sql, args)?;
                let mut rows = stmt.raw_query();
                let row = rows.next()?.ok_or_else(|| anyhow::anyhow!("no row: {sql}"))?;
                Ok(row.get(0)?)
            }),
        }
    }

    /// Writes `rows` as [`super::insert_all`] does (`tuple` is one row with a `?` per argument, `bind` gives a
    /// row's arguments in order); the rows changed.
    pub async fn insert_all<'a, T>(
        &mut self,
        backend: Backend,
        (head, tuple, tail): (&str, &str, &str),
        rows: &'a [T],
        bind: impl for<'r> Fn(&'r T, &mut Vec<Arg<'r>>),
    ) -> anyhow::Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self {
            Link::Pool(conn) => {
                let width = tuple.matches('?').count();
                Ok(super::insert_all(conn, backend, head, tuple, tail, rows, |q, row| {
                    let mut args = Vec::with_capacity(width);
                    bind(row, &mut args);
                    args.into_iter().fold(q, |q, arg| arg.bind_to(q))
                })
                .await?)
            }
            Link::Sqlite(conn) => blocking(|| {
                let mut args = Vec::new();
                // Binds the rows' arguments in order and runs the statement once.
                let mut write = |stmt: &mut rusqlite::CachedStatement<'_>, rows: &'a [T]| -> anyhow::Result<u64> {
                    args.clear();
                    for row in rows {
                        bind(row, &mut args);
                    }
                    for (i, arg) in args.iter().enumerate() {
                        bind_one(stmt, i + 1, *arg)?;
                    }
                    Ok(stmt.raw_execute()? as u64)
                };
                let mut changed = 0;
                let mut chunks = rows.chunks_exact(DIRECT_ROWS);
                if rows.len() >= DIRECT_ROWS {
                    let sql = format!("{head} VALUES {}{tail}", super::values_list(backend, tuple, DIRECT_ROWS));
                    let mut stmt = conn.prepare_cached(&sql)?;
                    for chunk in &mut chunks {
                        changed += write(&mut stmt, chunk)?;
                    }
                }
                let mut stmt = conn.prepare_cached(&format!("{head} VALUES {tuple}{tail}"))?;
                for row in chunks.remainder() {
                    changed += write(&mut stmt, std::slice::from_ref(row))?;
                }
                Ok(changed)
            }),
        }
    }
}

/// Rows per statement of a direct insert. Inside a transaction, SQLite saves each page a statement changes that
/// existed before it (so that a failing statement can be undone alone): one row per statement copied the table's
/// last page for every row. A few dozen rows per statement make that negligible and keep the statement small.
const DIRECT_ROWS: usize = 64;

/// The file of a SQLite database, if it is one (not in memory).
fn sqlite_file(db: &Db) -> Option<PathBuf> {
    if db.backend != Backend::Sqlite {
        return None;
    }
    let options = db.pool.connect_options();
    let sqlite = sqlx::sqlite::SqliteConnectOptions::from_str(options.database_url.as_str()).ok()?;
    let path = sqlite.get_filename();
    (path.as_os_str() != ":memory:" && path.exists()).then(|| path.to_path_buf())
}

fn bind<'q>(q: AnyQuery<'q>, args: &[Arg<'q>]) -> AnyQuery<'q> {
    args.iter().fold(q, |q, arg| arg.bind_to(q))
}

/// Binds `$1`, `$2`, … by name (a statement may use them out of order), or `?` in order.
fn bind_direct(stmt: &mut rusqlite::CachedStatement<'_>, sql: &str, args: &[Arg<'_>]) -> anyhow::Result<()> {
    for (i, arg) in args.iter().enumerate() {
        let index = if sql.contains('$') { stmt.parameter_index(&format!("${}", i + 1))? } else { None };
        bind_one(stmt, index.unwrap_or(i + 1), *arg)?;
    }
    Ok(())
}

fn bind_one(stmt: &mut rusqlite::CachedStatement<'_>, index: usize, arg: Arg<'_>) -> rusqlite::Result<()> {
    match arg {
        Arg::Int(v) => stmt.raw_bind_parameter(index, v),
        Arg::Text(v) => stmt.raw_bind_parameter(index, v),
    }
}

/// Runs SQLite's work where the runtime allows blocking: on a worker of the multi-threaded runtime, its other tasks
/// move to another thread meanwhile (the command line's import runs on the main thread, where this is free).
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_links_run_the_same_statements() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url).await.unwrap();
        let mut pooled = Link::pooled(&db).await.unwrap();
        pooled.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BIGINT)", &[]).await.unwrap();
        assert!(Link::direct(&Db::connect("sqlite::memory:").await.unwrap()).unwrap().is_none());
        let mut direct = Link::direct(&db).unwrap().expect("a file");
        let rows: Vec<(i64, Option<&str>)> = (1..=5000).map(|i| (i, (i % 2 == 0).then_some("x"))).collect();
        for (link, offset) in [(&mut pooled, 0), (&mut direct, 10_000)] {
            let shifted: Vec<(i64, Option<&str>)> = rows.iter().map(|(i, a)| (i + offset, *a)).collect();
            let n = link
                .insert_all(
                    Backend::Sqlite,
                    ("INSERT INTO t (id, a, b)", "(?, ?, 7)", " ON CONFLICT DO NOTHING"),
                    &shifted,
                    |(id, a), args| args.extend([Arg::from(*id), Arg::from(*a)]),
                )
                .await
                .unwrap();
            assert_eq!(n, 5000);
            // Named parameters bound by name, out of order.
            let sql =
                "SELECT json_group_array(a) FROM (SELECT $2 || a AS a FROM t WHERE id > $1 AND id <= $3 ORDER BY id)";
            let text =
                link.text(sql, &[Arg::from(offset + 4996), Arg::from("y"), Arg::from(offset + 5000)]).await.unwrap();
            assert_eq!(text, r#"[null,"yx",null,"yx"]"#);
            let max = link.int("SELECT MAX(id) FROM t WHERE id <= $1", &[Arg::from(offset + 9999)]).await.unwrap();
            assert_eq!(max, Some(offset + 5000));
            assert_eq!(link.int("SELECT MAX(id) FROM t WHERE id < 0", &[]).await.unwrap(), None);
            assert_eq!(link.execute("UPDATE t SET b = 8 WHERE id = $1", &[Arg::from(offset + 1)]).await.unwrap(), 1);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE b = 7 AND (a = 'x' OR a IS NULL)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(n, 9998);
    }
}
