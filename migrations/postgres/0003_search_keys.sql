-- Search by index range scans: accent- and case-folded copies of the names, written by the application
-- (`people::search::name_key`); rows written before this migration are filled at start-up (`backfill_keys`).
-- The C collation makes `key >= 'mar' AND key < 'mas'` exactly a prefix match, as on SQLite.
ALTER TABLE people ADD COLUMN first_key TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN last_key TEXT COLLATE "C" NOT NULL DEFAULT '';
DROP INDEX people_federation;
-- The list's order (last name, first name) within a federation, and the second search tier (first names).
CREATE INDEX people_federation ON people(federation_id, last_key, first_key, id);
CREATE INDEX people_first_key ON people(federation_id, first_key, last_key, id);
-- Segments by skill read people from the skill side.
CREATE INDEX person_skills_skill ON person_skills(skill_id, person_id);
