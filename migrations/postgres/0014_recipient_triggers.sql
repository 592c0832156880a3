-- Migration 11 recreated, under other names, the deletion triggers that migration 6 had already put in place of
-- campaign_recipients' foreign keys: every deletion of a person or a campaign ran the same DELETE twice. The
-- triggers of migration 6 stay.
DROP TRIGGER people_deleted_recipients ON people;
DROP TRIGGER campaigns_deleted_recipients ON campaigns;
DROP FUNCTION campaign_recipients_of_person_deleted();
DROP FUNCTION campaign_recipients_of_campaign_deleted();
