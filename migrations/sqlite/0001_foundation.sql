-- Foundation schema: organisation tree, accounts, sessions, audit log, job queue.
-- Portable conventions (shared with migrations/postgres): ids and timestamps are 64-bit integers
-- (timestamps in Unix seconds), booleans are 0/1 integers, structured data is JSON in TEXT.

CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- A federation is the party's unit for one département (or for the French abroad).
CREATE TABLE federations (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE departements (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    region_code TEXT,
    zone TEXT NOT NULL,
    population BIGINT,
    federation_id BIGINT REFERENCES federations(id)
);
CREATE INDEX departements_federation ON departements(federation_id);

-- Only current communes and municipal arrondissements (Paris, Lyon, Marseille); INSEE codes.
CREATE TABLE communes (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    departement_code TEXT NOT NULL REFERENCES departements(code),
    population BIGINT,
    postcodes TEXT NOT NULL DEFAULT '',
    parent_code TEXT,
    federation_id BIGINT REFERENCES federations(id)
);
CREATE INDEX communes_federation ON communes(federation_id);
CREATE INDEX communes_departement ON communes(departement_code);

CREATE TABLE sections (
    id INTEGER PRIMARY KEY,
    federation_id BIGINT NOT NULL REFERENCES federations(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (federation_id, name)
);
CREATE INDEX sections_federation ON sections(federation_id);

CREATE TABLE section_communes (
    section_id BIGINT NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    commune_code TEXT NOT NULL REFERENCES communes(code),
    PRIMARY KEY (section_id, commune_code)
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- NULL until the invitation is accepted.
    password_hash TEXT,
    -- Base32 TOTP secret; totp_enabled = 1 once confirmed with a valid code.
    totp_secret TEXT,
    totp_enabled BIGINT NOT NULL DEFAULT 0 CHECK (totp_enabled IN (0, 1)),
    -- Time step of the last accepted code: a code is accepted once (no replay within its window).
    totp_last_step BIGINT,
    disabled BIGINT NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

-- A role always comes with its scope: national (no ids), federation, or section (both ids).
CREATE TABLE role_grants (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('national_admin', 'national_staff', 'federation_coordinator',
                                       'federation_staff', 'section_secretary', 'activist')),
    federation_id BIGINT REFERENCES federations(id),
    section_id BIGINT REFERENCES sections(id) ON DELETE CASCADE,
    granted_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    CHECK ((federation_id IS NULL AND section_id IS NULL) OR federation_id IS NOT NULL)
);
CREATE UNIQUE INDEX role_grants_unique
    ON role_grants(user_id, role, COALESCE(federation_id, 0), COALESCE(section_id, 0));
CREATE INDEX role_grants_federation ON role_grants(federation_id);

-- Session ids are never stored: only their SHA-256.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- 1 while the second factor is still owed.
    pending_totp BIGINT NOT NULL DEFAULT 0 CHECK (pending_totp IN (0, 1)),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Login throttling lives in the database so that every web process sees the same counts.
-- The account key is a hash of the e-mail address, never the address itself.
CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY,
    ip_key TEXT NOT NULL,
    account_key TEXT NOT NULL,
    succeeded BIGINT NOT NULL CHECK (succeeded IN (0, 1)),
    at BIGINT NOT NULL
);
CREATE INDEX login_attempts_ip ON login_attempts(ip_key, at);
CREATE INDEX login_attempts_account ON login_attempts(account_key, at);

-- Single-use links sent by e-mail: invitations and password resets (hash of the token only).
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('invitation', 'password_reset')),
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX user_tokens_user ON user_tokens(user_id);

-- Bearer tokens for the JSON API, acting as their user.
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

-- Append-only: triggers below refuse UPDATE and DELETE. No personal data in `details`.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL,
    actor_user_id BIGINT,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id TEXT NOT NULL DEFAULT '',
    federation_id BIGINT,
    ip TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT '',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- Durable job queue. A job is claimed by setting state = 'running' with a lease (locked_until);
-- a worker that dies leaves a lease that expires, and the job is claimed again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 5,
    run_after BIGINT NOT NULL,
    locked_by TEXT,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_ready ON jobs(state, run_after);

-- Copy of every e-mail handed to SMTP, kept only when the outbox is enabled (demo mode).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    to_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
