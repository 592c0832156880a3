-- (Superseded: migration 6 had already done this; migration 14 removes the duplicate triggers created here.)
-- Freezing an audience inserts a row per recipient into campaign_recipients; PostgreSQL checks each foreign key
-- with a trigger per row, which took most of the time (1M recipients: 19 s with both keys, 6 s without, on the
-- bench machine). The two keys become triggers on the deletions they cascaded (people and campaigns are deleted
-- rarely, recipients inserted by the million). A person deleted while an audience is being frozen can leave a row
-- without a person: the sender marks such rows skipped ("personne supprimée").
ALTER TABLE campaign_recipients DROP CONSTRAINT IF EXISTS campaign_recipients_person_id_fkey;
ALTER TABLE campaign_recipients DROP CONSTRAINT IF EXISTS campaign_recipients_campaign_id_fkey;

CREATE FUNCTION campaign_recipients_of_person_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_recipients WHERE person_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER people_deleted_recipients AFTER DELETE ON people
    FOR EACH ROW EXECUTE FUNCTION campaign_recipients_of_person_deleted();

CREATE FUNCTION campaign_recipients_of_campaign_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_recipients WHERE campaign_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER campaigns_deleted_recipients AFTER DELETE ON campaigns
    FOR EACH ROW EXECUTE FUNCTION campaign_recipients_of_campaign_deleted();
