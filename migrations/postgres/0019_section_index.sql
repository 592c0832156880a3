-- People without a section are left out of the section index: every query by section names one (`= $1`,
-- `IN (…)`, the foreign key's `ON DELETE SET NULL`), and the index no longer holds an entry for each person of a
-- federation whose communes have no section yet. Building it for a 1M-contact import, 13 % of whom have a
-- section: 0.77 s → 0.24 s.
DROP INDEX people_section;
CREATE INDEX people_section ON people(section_id) WHERE section_id IS NOT NULL;
