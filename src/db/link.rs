//! Where a bulk job's statements go: a connection of the pool, through sqlx (both backends), or, for a big load
//! into a SQLite file, a connection of the job's own that talks to SQLite's C API directly (rusqlite, on the
//! `libsqlite3-sys` that sqlx builds).
//!
//! The statements are the same text either way. What the direct connection saves is sqlx's work around each
//! statement: a multi-row insert of 32,000 arguments is built as a fresh 1 MB buffer, copied again (every string)
//! for sqlx's SQLite thread, and, for each batch's last, shorter statement, prepared anew (a statement of thousands
//! of rows). Directly, a statement of a few dozen rows is prepared once per call and bound and stepped again and
//! again, its texts bound where they are (see [`Borrowing`]).

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
                let mut write = |stmt: &mut Borrowing<'_>, rows: &'a [T]| -> rusqlite::Result<u64> {
                    args.clear();
                    for row in rows {
                        bind(row, &mut args);
                    }
                    stmt.run(&args)
                };
                let mut changed = 0;
                let mut chunks = rows.chunks_exact(DIRECT_ROWS);
                if rows.len() >= DIRECT_ROWS {
                    let sql = format!("{head} VALUES {}{tail}", super::values_list(backend, tuple, DIRECT_ROWS));
                    let mut stmt = Borrowing::prepare(conn, &sql)?;
                    for chunk in &mut chunks {
                        changed += write(&mut stmt, chunk)?;
                    }
                }
                if !chunks.remainder().is_empty() {
                    let mut stmt = Borrowing::prepare(conn, &format!("{head} VALUES {tuple}{tail}"))?;
                    for row in chunks.remainder() {
                        changed += write(&mut stmt, std::slice::from_ref(row))?;
                    }
                }
                Ok(changed)
            }),
        }
    }
}

/// A statement of the direct connection that binds texts where they are, without the copy rusqlite makes of each
/// (`SQLITE_TRANSIENT`): copying a million people's texts into SQLite, each into a fresh allocation, was 4 % of an
/// import's instructions (callgrind, 100,000 rows: 8.31 billion with the copies, 7.94 without). The texts are bound
/// as `SQLITE_STATIC`, which only holds while SQLite may read them: `run` binds, steps and unbinds, so no pointer
/// outlives its arguments.
struct Borrowing<'c> {
    conn: &'c rusqlite::Connection,
    stmt: std::ptr::NonNull<rusqlite::ffi::sqlite3_stmt>,
}

impl<'c> Borrowing<'c> {
    fn prepare(conn: &'c rusqlite::Connection, sql: &str) -> rusqlite::Result<Self> {
        use rusqlite::ffi;
        let len = std::ffi::c_int::try_from(sql.len()).map_err(|_| too_big("statement"))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the connection's handle is valid while `conn` is borrowed; SQLite reads `len` bytes of `sql`.
        let code = unsafe {
            ffi::sqlite3_prepare_v2(conn.handle(), sql.as_ptr().cast(), len, &mut stmt, std::ptr::null_mut())
        };
        if code != ffi::SQLITE_OK {
            return Err(failure(conn, code));
        }
        let stmt = std::ptr::NonNull::new(stmt).ok_or_else(|| {
            rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_MISUSE), Some(format!("empty statement: {sql}")))
        })?;
        Ok(Borrowing { conn, stmt })
    }

    /// Binds `args` to `?1`, `?2`, … in order, runs the statement to its end and resets it; the rows it changed.
    fn run(&mut self, args: &[Arg<'_>]) -> rusqlite::Result<u64> {
        use rusqlite::ffi;
        let (conn, stmt) = (self.conn, self.stmt.as_ptr());
        let result = (|| {
            for (i, arg) in args.iter().enumerate() {
                let index = i as std::ffi::c_int + 1;
                // SAFETY: `stmt` is a live statement; a text is bound as static, and unbound below, whatever
                // happens, before `args` (which it points into) can go.
                let code = unsafe {
                    match *arg {
                        Arg::Int(Some(v)) => ffi::sqlite3_bind_int64(stmt, index, v),
                        Arg::Text(Some(v)) => {
                            let len = std::ffi::c_int::try_from(v.len()).map_err(|_| too_big("text"))?;
                            ffi::sqlite3_bind_text(stmt, index, v.as_ptr().cast(), len, ffi::SQLITE_STATIC())
                        }
                        Arg::Int(None) | Arg::Text(None) => ffi::sqlite3_bind_null(stmt, index),
                    }
                };
                if code != ffi::SQLITE_OK {
                    return Err(failure(conn, code));
                }
            }
            loop {
                // SAFETY: `stmt` is a live statement with its parameters bound.
                match unsafe { ffi::sqlite3_step(stmt) } {
                    ffi::SQLITE_ROW => continue,
                    // SAFETY: the connection is valid while `conn` is borrowed.
                    ffi::SQLITE_DONE => return Ok(unsafe { ffi::sqlite3_changes64(conn.handle()) } as u64),
                    code => return Err(failure(conn, code)),
                }
            }
        })();
        // SAFETY: `stmt` is a live statement; afterwards it holds no pointer into `args`.
        unsafe {
            ffi::sqlite3_reset(stmt);
            ffi::sqlite3_clear_bindings(stmt);
        }
        result
    }
}

impl Drop for Borrowing<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was prepared by `prepare` and is finalized once.
        unsafe { rusqlite::ffi::sqlite3_finalize(self.stmt.as_ptr()) };
    }
}

/// The error SQLite reported for `code` on `conn`, with its message.
fn failure(conn: &rusqlite::Connection, code: std::ffi::c_int) -> rusqlite::Error {
    use rusqlite::ffi;
    // SAFETY: the connection is valid while borrowed; the message is a NUL-terminated string SQLite owns, copied
    // at once.
    let (code, message) = unsafe {
        let db = conn.handle();
        let extended = ffi::sqlite3_extended_errcode(db);
        let code = if extended & 0xff == code & 0xff { extended } else { code };
        (code, std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db)).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message))
}

/// A text or statement longer than SQLite's C API takes (2 GB).
fn too_big(what: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_TOOBIG),
        Some(format!("{what} too long for SQLite")),
    )
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
        // A failing row fails its statement with SQLite's message; the rows before it stay, and the link goes on.
        let rows = [(20_001, Some("é")), (20_002, None), (20_001, Some("dup"))];
        fn bind<'r>((id, a): &'r (i64, Option<&str>), args: &mut Vec<Arg<'r>>) {
            args.extend([Arg::from(*id), Arg::from(*a)]);
        }
        let err = direct.insert_all(Backend::Sqlite, ("INSERT INTO t (id, a, b)", "(?, ?, 7)", ""), &rows, bind).await;
        let err = err.unwrap_err().to_string();
        assert!(err.contains("UNIQUE constraint failed: t.id"), "{err}");
        assert_eq!(direct.text("SELECT group_concat(a) FROM t WHERE id > 20000", &[]).await.unwrap(), "é");
        let n =
            direct.insert_all(Backend::Sqlite, ("INSERT INTO t (id, a, b)", "(?, ?, 7)", ""), &[(20_003, None)], bind);
        assert_eq!(n.await.unwrap(), 1);
        direct.execute("DELETE FROM t WHERE id > 20000", &[]).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t WHERE b = 7 AND (a = 'x' OR a IS NULL)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(n, 9998);
    }
}
