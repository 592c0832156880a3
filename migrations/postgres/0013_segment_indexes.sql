-- Segments select people by tag: with the person in the tag index, the people with a tag are read from the index
-- alone (a million-row table: 178 ms → 140 ms for a three-filter count on SQLite).
DROP INDEX person_tags_tag;
CREATE INDEX person_tags_tag ON person_tags(tag, person_id);
