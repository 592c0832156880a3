-- SQLite only (its tag and skill tables are rebuilt WITHOUT ROWID): PostgreSQL's tables have no rowid, nothing
-- to do.
SELECT 1;
