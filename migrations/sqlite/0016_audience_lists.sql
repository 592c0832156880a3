-- The audience of a campaign is frozen at launch as lists of person ids, one row per range of 8,192 ids (and per
-- individual tracking allowed or not), instead of a recipient row per person: on PostgreSQL, inserting 1M rows
-- into campaign_recipients and its primary key took 3-5 s of the freeze, above the 3 s the launch may take.
-- Senders turn one list at a time into pending recipient rows (in the transaction that deletes the list), then
-- send them as before: a person is in a list or has a row, never both, and never two rows (primary key).
-- `first_id` and `last_id` bound the list, so that a deletion finds the lists that may hold the person.
CREATE TABLE campaign_audience (
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    bucket BIGINT NOT NULL,
    track BIGINT NOT NULL CHECK (track = 0 OR track = 1),
    first_id BIGINT NOT NULL,
    last_id BIGINT NOT NULL,
    n BIGINT NOT NULL,
    -- JSON array of person ids.
    person_ids TEXT NOT NULL,
    PRIMARY KEY (campaign_id, bucket, track)
);

-- A deleted person (erasure, retention, merge) leaves the lists at once: SQLite may give their id to the next
-- person created, who was not in the audience.
CREATE TRIGGER people_deleted_audience AFTER DELETE ON people
BEGIN
    UPDATE campaign_audience
    SET person_ids = (SELECT json_group_array(value) FROM json_each(campaign_audience.person_ids) WHERE value <> OLD.id),
        n = n - 1
    WHERE OLD.id BETWEEN first_id AND last_id
      AND OLD.id IN (SELECT value FROM json_each(campaign_audience.person_ids));
END;
