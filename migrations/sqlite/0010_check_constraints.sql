-- CHECK (x IN ('a', 'b', 'c')) costs SQLite a temporary b-tree of the list for every row written (about 5 µs a
-- row for each such constraint: a third of the cost of importing a person). The migration code (db.rs,
-- `sqlite_in_checks_as_comparisons`) rewrites every such constraint of the schema as x = 'a' OR x = 'b' OR …,
-- which accepts exactly the same values (NULL included) and is checked with plain comparisons.
SELECT 1;
