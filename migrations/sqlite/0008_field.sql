-- Field work (seed 002): missions published by HQ and federations, activists' sign-ups, their profile for matching,
-- fiches d'observation (field reports) filed after each action, local issues HQ writes on a zone, and the versioned
-- fiches militantes (briefing sheets) generated from all of it.
--
-- Zones are named as in zone_classes: level ('bureau', 'commune', 'circonscription') and code ("69123-0101",
-- "69123", "69-02"). A turf is a set of zones written as a sorted, comma-separated list of level:code
-- ("commune:69259" or "bureau:69259-0101,bureau:69259-0102"): missions have one, reports and fiches name one.
-- Missions and reports hold no address-book person: activists are accounts (users), and new sympathisers met on
-- the field become people (with their consent in the ledger) linked only through person_events.

-- Where an activist lives and what they know, for the "for you" ranking of missions. Their own data, edited by them.
CREATE TABLE user_profiles (
    user_id BIGINT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    commune_code TEXT REFERENCES communes(code),
    -- How far they are ready to travel, in km (0: no preference).
    max_distance_km BIGINT NOT NULL DEFAULT 0 CHECK (max_distance_km >= 0),
    updated_at BIGINT NOT NULL
);

-- Skills, professional domains and causes of an activist (the HQ-curated list of `skills`).
CREATE TABLE user_skills (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    skill_id BIGINT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, skill_id)
);

CREATE TABLE missions (
    id INTEGER PRIMARY KEY,
    -- NULL: a national mission published by HQ.
    federation_id BIGINT REFERENCES federations(id),
    section_id BIGINT REFERENCES sections(id) ON DELETE SET NULL,
    title TEXT NOT NULL CHECK (title <> ''),
    method TEXT NOT NULL CHECK (method IN ('porte_a_porte', 'marche', 'tractage', 'debat', 'evenement_culturel',
                                           'fete', 'phoning', 'reunion', 'collage', 'autre')),
    -- "Privatisation de La Poste", "Défendre l'hôpital".
    theme TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- Unix seconds.
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    places BIGINT NOT NULL CHECK (places >= 1),
    meeting_point TEXT NOT NULL DEFAULT '',
    -- Where it happens (for distances): the commune of the turf or of the meeting point.
    commune_code TEXT REFERENCES communes(code),
    -- The zones canvassed (see the header); '' when the mission has no turf (a debate, a phoning session).
    turf TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'published' CHECK (state IN ('published', 'closed', 'cancelled')),
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    closed_at BIGINT,
    CHECK (ends_at >= starts_at)
);
CREATE INDEX missions_starts ON missions(state, starts_at);
CREATE INDEX missions_federation ON missions(federation_id, starts_at);

-- Skills, professional domains and causes a mission wants (postal workers for a La Poste campaign).
CREATE TABLE mission_skills (
    mission_id BIGINT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    skill_id BIGINT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    PRIMARY KEY (mission_id, skill_id)
);

-- One row per activist and mission. Cancelling keeps the row (state 'cancelled'); signing up again revives it.
CREATE TABLE mission_signups (
    mission_id BIGINT NOT NULL REFERENCES missions(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('signed', 'cancelled', 'attended', 'absent')),
    -- Carpooling: seats offered in their car, or a seat needed.
    seats_offered BIGINT NOT NULL DEFAULT 0 CHECK (seats_offered BETWEEN 0 AND 8),
    needs_seat BIGINT NOT NULL DEFAULT 0 CHECK (needs_seat IN (0, 1)),
    signed_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- When the "fill in your fiche d'observation" reminder was sent (once).
    reminded_at BIGINT,
    PRIMARY KEY (mission_id, user_id)
);
CREATE INDEX mission_signups_user ON mission_signups(user_id, state);

-- Concerns expressed by the population, curated by HQ (plus free text in each report).
CREATE TABLE concerns (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
INSERT INTO concerns (name) VALUES ('Services publics'), ('Santé'), ('École'), ('Transports'), ('Logement'),
    ('Sécurité'), ('Pouvoir d''achat'), ('Emploi'), ('Environnement'), ('Retraites'), ('La Poste'),
    ('Commerces de proximité'), ('Énergie'), ('Immigration'), ('Démocratie');

-- A fiche d'observation: what happened during one action on one turf.
CREATE TABLE field_reports (
    id INTEGER PRIMARY KEY,
    mission_id BIGINT REFERENCES missions(id) ON DELETE SET NULL,
    -- Scope of the report (the federation of the turf); NULL for a national action.
    federation_id BIGINT REFERENCES federations(id),
    turf TEXT NOT NULL CHECK (turf <> ''),
    -- The class of the turf's main zone when the report was filed (acquis_gauche…; '' when unclassified):
    -- "what works where" groups reports by it.
    zone_class TEXT NOT NULL DEFAULT '',
    -- Day of the action, "2026-11-21".
    action_date TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('porte_a_porte', 'marche', 'tractage', 'debat', 'evenement_culturel',
                                           'fete', 'phoning', 'reunion', 'collage', 'autre')),
    activists BIGINT NOT NULL CHECK (activists >= 0),
    sympathisers BIGINT NOT NULL DEFAULT 0 CHECK (sympathisers >= 0),
    doors BIGINT NOT NULL DEFAULT 0 CHECK (doors >= 0),
    reached BIGINT NOT NULL DEFAULT 0 CHECK (reached >= 0),
    conversations BIGINT NOT NULL DEFAULT 0 CHECK (conversations >= 0),
    -- 1 (hostile) … 5 (very warm).
    reaction BIGINT NOT NULL CHECK (reaction BETWEEN 1 AND 5),
    -- Other concerns in the volunteers' words.
    concerns_text TEXT NOT NULL DEFAULT '',
    -- Did the method work (1) or not (0), and why.
    method_worked BIGINT NOT NULL CHECK (method_worked IN (0, 1)),
    worked TEXT NOT NULL DEFAULT '',
    not_worked TEXT NOT NULL DEFAULT '',
    -- Sanity checks: 'ok' counts at once; 'flagged' (implausible figures, reasons in `flags`) counts only once a
    -- coordinator accepts it; 'rejected' never counts.
    review TEXT NOT NULL CHECK (review IN ('ok', 'flagged', 'accepted', 'rejected')),
    flags TEXT NOT NULL DEFAULT '',
    filed_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    filed_at BIGINT NOT NULL
);
CREATE INDEX field_reports_turf ON field_reports(turf);
CREATE INDEX field_reports_federation ON field_reports(federation_id, filed_at);
CREATE INDEX field_reports_mission ON field_reports(mission_id);

-- The zones a report covers, one row per zone (a report on a turf of three bureaux has three rows), plus the
-- commune and circonscription containing each zone, so that a commune's fiche sees its bureaux' reports.
CREATE TABLE report_zones (
    report_id BIGINT NOT NULL REFERENCES field_reports(id) ON DELETE CASCADE,
    level TEXT NOT NULL CHECK (level IN ('bureau', 'commune', 'circonscription')),
    zone TEXT NOT NULL,
    PRIMARY KEY (report_id, level, zone)
);
CREATE INDEX report_zones_zone ON report_zones(level, zone);

CREATE TABLE report_concerns (
    report_id BIGINT NOT NULL REFERENCES field_reports(id) ON DELETE CASCADE,
    concern_id BIGINT NOT NULL REFERENCES concerns(id),
    PRIMARY KEY (report_id, concern_id)
);

-- Local issues HQ or the federation writes on a zone ("fermeture du bureau de poste", "urgences saturées").
CREATE TABLE zone_issues (
    id INTEGER PRIMARY KEY,
    level TEXT NOT NULL CHECK (level IN ('bureau', 'commune', 'circonscription')),
    zone TEXT NOT NULL,
    title TEXT NOT NULL CHECK (title <> ''),
    detail TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX zone_issues_zone ON zone_issues(level, zone);

-- Versions of the fiche militante of a turf. A version is the sheet's content (JSON, without personal data: the
-- people to re-mobilise are added for each reader at display time) and a fingerprint of its inputs
-- (classification, indicators, reports, issues): when the fingerprint changes, the next view writes version n+1.
CREATE TABLE fiches (
    turf TEXT NOT NULL,
    version BIGINT NOT NULL CHECK (version >= 1),
    fingerprint TEXT NOT NULL,
    content TEXT NOT NULL,
    -- Why this version was made, in French ("3 nouvelles fiches d'observation").
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (turf, version)
);
