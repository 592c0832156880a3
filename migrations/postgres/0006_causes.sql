-- Causes of interest (services publics, école, climat…): curated by HQ in the same list as skills and
-- professional domains, told apart by their kind, and attached to people the same way (person_skills).
ALTER TABLE skills ADD COLUMN kind TEXT NOT NULL DEFAULT 'skill' CHECK (kind IN ('skill', 'cause'));
INSERT INTO skills (name, kind) VALUES ('Services publics', 'cause'), ('Santé et hôpital', 'cause'),
    ('École et université', 'cause'), ('Transports du quotidien', 'cause'), ('Droit au logement', 'cause'),
    ('Pouvoir d''achat', 'cause'), ('Climat et écologie', 'cause'), ('Égalité femmes-hommes', 'cause'),
    ('Lutte contre les discriminations', 'cause'), ('Travail et salaires', 'cause'), ('Retraites', 'cause'),
    ('Agriculture et alimentation', 'cause'), ('Culture pour tous', 'cause'), ('Paix et international', 'cause'),
    ('Démocratie et institutions', 'cause'), ('Quartiers populaires', 'cause'), ('Ruralité', 'cause');

-- Freezing a big audience inserted one foreign-key check per recipient row (25 s of 30 s for 1M recipients on
-- PostgreSQL). The cascades they gave are kept by triggers instead: deleting a person or a campaign still removes
-- its recipient rows. (SQLite checks keys in-process at no comparable cost and keeps them.)
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_person_id_fkey;
ALTER TABLE campaign_recipients DROP CONSTRAINT campaign_recipients_campaign_id_fkey;
CREATE FUNCTION campaign_recipients_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'people' THEN
        DELETE FROM campaign_recipients WHERE person_id = OLD.id;
    ELSE
        DELETE FROM campaign_recipients WHERE campaign_id = OLD.id;
    END IF;
    RETURN OLD;
END;
$$;
CREATE TRIGGER people_campaign_recipients AFTER DELETE ON people
FOR EACH ROW EXECUTE FUNCTION campaign_recipients_cascade();
CREATE TRIGGER campaigns_campaign_recipients AFTER DELETE ON campaigns
FOR EACH ROW EXECUTE FUNCTION campaign_recipients_cascade();
