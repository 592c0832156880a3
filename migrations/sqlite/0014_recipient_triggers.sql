-- PostgreSQL only (duplicate deletion triggers of migration 11 removed there).
SELECT 1;
