-- PostgreSQL only (campaign_recipients' foreign keys become deletion triggers there, see its migration): SQLite
-- checks foreign keys inside the insert itself, at little cost.
SELECT 1;
