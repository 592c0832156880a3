-- Causes of interest (services publics, école, climat…): curated by HQ in the same list as skills and
-- professional domains, told apart by their kind, and attached to people the same way (person_skills).
ALTER TABLE skills ADD COLUMN kind TEXT NOT NULL DEFAULT 'skill' CHECK (kind IN ('skill', 'cause'));
INSERT INTO skills (name, kind) VALUES ('Services publics', 'cause'), ('Santé et hôpital', 'cause'),
    ('École et université', 'cause'), ('Transports du quotidien', 'cause'), ('Droit au logement', 'cause'),
    ('Pouvoir d''achat', 'cause'), ('Climat et écologie', 'cause'), ('Égalité femmes-hommes', 'cause'),
    ('Lutte contre les discriminations', 'cause'), ('Travail et salaires', 'cause'), ('Retraites', 'cause'),
    ('Agriculture et alimentation', 'cause'), ('Culture pour tous', 'cause'), ('Paix et international', 'cause'),
    ('Démocratie et institutions', 'cause'), ('Quartiers populaires', 'cause'), ('Ruralité', 'cause');
