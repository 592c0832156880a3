-- SQLite only (CHECK … IN lists rewritten as comparisons, see the SQLite migration); PostgreSQL checks IN lists
-- cheaply.
SELECT 1;
