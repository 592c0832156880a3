-- Newsletters: lists, campaigns, the frozen audience (per-recipient ledger), tracking events, bounces.
-- Consents gain a purpose (individual tracking of opens and clicks) and two sources (unsubscribe link, complaint).

-- SQLite cannot alter a CHECK constraint: the ledger is rebuilt with its triggers (rows and ids kept).
CREATE TABLE consent_events_new (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('newsletter_national', 'newsletter_federation', 'sms', 'phone', 'alerts',
        'tracking')),
    granted BIGINT NOT NULL CHECK (granted IN (0, 1)),
    source TEXT NOT NULL CHECK (source IN ('form', 'import', 'field', 'self_service', 'staff', 'unsubscribe',
        'complaint')),
    wording_version TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    recorded_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at BIGINT NOT NULL
);
INSERT INTO consent_events_new SELECT id, person_id, purpose, granted, source, wording_version, ip, recorded_by, at
FROM consent_events;
DROP TABLE consent_events;
ALTER TABLE consent_events_new RENAME TO consent_events;
CREATE INDEX consent_events_person ON consent_events(person_id, purpose, id);
CREATE TRIGGER consent_events_no_update BEFORE UPDATE ON consent_events
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;
CREATE TRIGGER consent_events_no_delete BEFORE DELETE ON consent_events
WHEN EXISTS (SELECT 1 FROM people WHERE id = OLD.person_id)
BEGIN SELECT RAISE(ABORT, 'consent_events is append-only'); END;

-- Mailing lists are data: each is tied to the consent purpose its recipients must have granted.
-- NULL federation: a national list (HQ).
CREATE TABLE mailing_lists (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT REFERENCES federations(id),
    name TEXT NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('newsletter_national', 'newsletter_federation', 'alerts')),
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX mailing_lists_name ON mailing_lists(COALESCE(federation_id, 0), name);

-- A newsletter: a block document (JSON, see newsletter::render) in one of HQ's templates, sent to a list
-- (intersected with a saved segment when one is chosen). NULL federation: national.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT REFERENCES federations(id),
    list_id BIGINT NOT NULL REFERENCES mailing_lists(id),
    segment_id BIGINT REFERENCES segments(id) ON DELETE SET NULL,
    name TEXT NOT NULL,
    template TEXT NOT NULL,
    document TEXT NOT NULL,
    tracking BIGINT NOT NULL DEFAULT 1 CHECK (tracking IN (0, 1)),
    state TEXT NOT NULL CHECK (state IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
    scheduled_at BIGINT,
    -- Recipients frozen at send time.
    audience BIGINT NOT NULL DEFAULT 0,
    pause_reason TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX campaigns_federation ON campaigns(federation_id, created_at);

-- The links of a campaign, stored when it is sent: the click redirect resolves only to these (no open redirect).
CREATE TABLE campaign_links (
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (campaign_id, idx)
);

-- The audience frozen at send time: one row per campaign and person, never two, so nobody gets two copies.
-- pending -> sending (claimed by a worker, lease) -> sent / failed / skipped; `uncertain` when a worker died in
-- the middle of a transaction and its journal was lost (reported, never silently resent).
CREATE TABLE campaign_recipients (
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'uncertain')),
    -- The person allowed individual tracking when the audience was frozen.
    track BIGINT NOT NULL DEFAULT 0 CHECK (track IN (0, 1)),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL DEFAULT 0,
    worker TEXT,
    lease_until BIGINT,
    detail TEXT NOT NULL DEFAULT '',
    sent_at BIGINT,
    PRIMARY KEY (campaign_id, person_id)
);
CREATE INDEX campaign_recipients_state ON campaign_recipients(campaign_id, state, person_id);
CREATE INDEX campaign_recipients_person ON campaign_recipients(person_id);

-- Opens, clicks, unsubscribes, bounces, complaints. `person_id` only for people who allowed individual tracking
-- (and for unsubscribes, bounces and complaints, which act on the person); erasure keeps the anonymous counts.
CREATE TABLE campaign_events (
    id INTEGER PRIMARY KEY,
    campaign_id BIGINT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    person_id BIGINT REFERENCES people(id) ON DELETE SET NULL,
    kind TEXT NOT NULL CHECK (kind IN ('open', 'click', 'unsubscribe', 'bounce', 'complaint')),
    link_idx BIGINT,
    at BIGINT NOT NULL
);
CREATE INDEX campaign_events_campaign ON campaign_events(campaign_id, kind, at);
CREATE INDEX campaign_events_person ON campaign_events(person_id);

-- Addresses that must not be mailed: hard bounce, repeated soft bounces, complaint.
CREATE TABLE email_blocks (
    person_id BIGINT PRIMARY KEY REFERENCES people(id) ON DELETE CASCADE,
    reason TEXT NOT NULL CHECK (reason IN ('hard_bounce', 'soft_bounces', 'complaint')),
    detail TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);

-- Soft bounces, counted in a window before they block an address.
CREATE TABLE soft_bounces (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    campaign_id BIGINT REFERENCES campaigns(id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX soft_bounces_person ON soft_bounces(person_id, at);

-- The current state of each consent, derived from the ledger by a trigger in the same transaction.
CREATE TABLE consent_state (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    granted BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (person_id, purpose)
);
CREATE INDEX consent_state_purpose ON consent_state(purpose, granted, person_id);
CREATE TRIGGER consent_state_sync AFTER INSERT ON consent_events
BEGIN
    INSERT INTO consent_state (person_id, purpose, granted, at) VALUES (NEW.person_id, NEW.purpose, NEW.granted, NEW.at)
    ON CONFLICT (person_id, purpose) DO UPDATE SET granted = excluded.granted, at = excluded.at;
END;
INSERT INTO consent_state (person_id, purpose, granted, at)
SELECT e.person_id, e.purpose, e.granted, e.at FROM consent_events e
WHERE e.id = (SELECT MAX(e2.id) FROM consent_events e2 WHERE e2.person_id = e.person_id AND e2.purpose = e.purpose);
