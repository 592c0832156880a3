-- Senders claim pending recipients by walking the primary key (campaign_id, person_id) from where their previous
-- claim ended, and read back the rows they claimed by id: the (campaign_id, state, person_id) index no longer needs
-- pending rows. Filling it with the whole audience was about a third of the audience freeze on PostgreSQL (1M
-- recipients: 12.2 s with it, 8.0 s without). It now holds the other states only, which the campaign's progress
-- and the recovery of interrupted senders count and read (pending = all rows - the others).
DROP INDEX campaign_recipients_state;
CREATE INDEX campaign_recipients_state ON campaign_recipients(campaign_id, state, person_id) WHERE state <> 'pending';
