-- Address book: people, their consents (append-only ledger), timeline, suppression list, imports.
-- People data reveals political opinions (GDPR art. 9): every person has a federation (scope), a legal basis
-- and a data origin, enforced by NOT NULL / CHECK constraints.

-- Installation-wide values generated once (e.g. the pepper of the suppression hashes).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Skills and professional domains curated by HQ (santé, éducation, La Poste…).
CREATE TABLE skills (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE people (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT NOT NULL REFERENCES federations(id),
    section_id BIGINT REFERENCES sections(id) ON DELETE SET NULL,
    commune_code TEXT REFERENCES communes(code),
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    -- Normalised (lower case); unique per federation.
    email TEXT,
    -- E.164.
    phone TEXT,
    address TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    category TEXT NOT NULL CHECK (category IN ('member', 'sympathiser', 'curious')),
    -- membership / regular_contact: art. 9(2)(d); consent: art. 9(2)(a).
    legal_basis TEXT NOT NULL CHECK (legal_basis IN ('membership', 'regular_contact', 'consent')),
    -- Where the data comes from, as shown to the person (CNIL: messages must state the origin).
    origin TEXT NOT NULL CHECK (origin <> ''),
    origin_channel TEXT NOT NULL CHECK (origin_channel IN ('import', 'manual', 'signup', 'field')),
    collected_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    notes TEXT NOT NULL DEFAULT '',
    availability TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- Last interaction the person started (resets the retention clock).
    last_activity_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX people_email ON people(federation_id, email) WHERE email IS NOT NULL;
CREATE INDEX people_phone ON people(federation_id, phone);
CREATE INDEX people_federation ON people(federation_id, last_name, first_name);
CREATE INDEX people_section ON people(section_id);

CREATE TABLE person_tags (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (person_id, tag)
);
CREATE INDEX person_tags_tag ON person_tags(tag);

CREATE TABLE person_skills (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    skill_id BIGINT NOT NULL REFERENCES skills(id),
    PRIMARY KEY (person_id, skill_id)
);

-- Consent ledger: one row per decision, never updated. The current state of a purpose is its latest row.
-- Rows go only with the person (erasure).
CREATE TABLE consent_events (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('newsletter_national', 'newsletter_federation', 'sms', 'phone', 'alerts')),
    granted BIGINT NOT NULL CHECK (granted IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('form', 'import', 'field', 'self_service', 'staff')),
    wording_version TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    recorded_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at BIGINT NOT NULL
);
CREATE INDEX consent_events_person ON consent_events(person_id, purpose, id);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
WHEN EXISTS (SELECT 1 FROM people WHERE id = OLD.person_id)
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;

-- Timeline: every event that touched a person (import, consent change, later e-mails, missions, reports).
CREATE TABLE person_events (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    actor_user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at BIGINT NOT NULL
);
CREATE INDEX person_events_person ON person_events(person_id, at);

-- People who were erased or objected: never re-created by an import. Only keyed hashes are stored.
CREATE TABLE suppressions (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    reason TEXT NOT NULL CHECK (reason IN ('erased', 'objected')),
    at BIGINT NOT NULL
);

-- Imports from the web: the file waits here until the job has processed it; progress is read from the row.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT NOT NULL REFERENCES federations(id),
    user_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    filename TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    mapping TEXT NOT NULL,
    category TEXT NOT NULL,
    legal_basis TEXT NOT NULL,
    total_rows BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    inserted BIGINT NOT NULL DEFAULT 0,
    updated BIGINT NOT NULL DEFAULT 0,
    unchanged BIGINT NOT NULL DEFAULT 0,
    suppressed BIGINT NOT NULL DEFAULT 0,
    rejected BIGINT NOT NULL DEFAULT 0,
    rejected_csv TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

-- An uploaded file between its preview and its import (deleted once imported). Kept apart from `imports`, whose
-- progress counters change often, so that those updates never rewrite a 50 MB row.
CREATE TABLE import_files (
    import_id BIGINT PRIMARY KEY REFERENCES imports(id) ON DELETE CASCADE,
    content TEXT NOT NULL
);

-- Which legislative circonscription(s) a commune lies in (approximate overlay of contours: `rang` principale,
-- secondaire (≥ 10 % of its area) or plus_proche). Reference data, loaded with the communes.
CREATE TABLE commune_circonscriptions (
    commune_code TEXT NOT NULL REFERENCES communes(code),
    circonscription TEXT NOT NULL,
    rang TEXT NOT NULL,
    PRIMARY KEY (commune_code, circonscription)
);
CREATE INDEX commune_circonscriptions_circ ON commune_circonscriptions(circonscription);

-- Public sign-ups waiting for the e-mailed confirmation (double opt-in); purged after 7 days.
CREATE TABLE signups (
    token_hash TEXT PRIMARY KEY,
    federation_id BIGINT NOT NULL REFERENCES federations(id),
    email TEXT NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    postcode TEXT NOT NULL DEFAULT '',
    -- Comma-separated consent purposes ticked on the form.
    purposes TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Self-service links (access, rectification, objection, erasure) sent to an address; valid one hour.
CREATE TABLE person_links (
    token_hash TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- Saved audiences: a JSON definition compiled to SQL at use (people::segments). NULL federation: national.
CREATE TABLE segments (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT REFERENCES federations(id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX segments_name ON segments(COALESCE(federation_id, 0), name);

INSERT INTO skills (name) VALUES ('Santé'), ('Éducation'), ('La Poste'), ('Transports'), ('Énergie'), ('Logement'),
    ('Agriculture'), ('Industrie'), ('Commerce'), ('Culture'), ('Justice et droit'), ('Fonction publique'),
    ('Collectivités locales'), ('Syndicalisme'), ('Associatif'), ('Numérique'), ('Communication'), ('Graphisme'),
    ('Vidéo'), ('Photographie'), ('Rédaction'), ('Réseaux sociaux'), ('Langues étrangères'), ('Logistique');
