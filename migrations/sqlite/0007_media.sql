-- Images uploaded for newsletters (later: the shared content library). Served publicly at /media/{key} because
-- mail clients fetch them without a session; the key is random so that drafts cannot be enumerated.
CREATE TABLE media (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    federation_id BIGINT REFERENCES federations(id),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/gif', 'image/webp')),
    bytes BLOB NOT NULL,
    size BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
