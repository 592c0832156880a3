-- The plain-French explanation of a zone's class is no longer stored (about 390 bytes for each of the ≈105,000 zones:
-- 40 MB written at every classification): territory::classify::explain_stored writes it when a page reads the
-- zone, from the figures below and those already stored. Rows classified before keep their stored explanation.
ALTER TABLE zone_classes ADD COLUMN departement_abstention REAL NOT NULL DEFAULT 0;
ALTER TABLE zone_classes ADD COLUMN mobilisable REAL NOT NULL DEFAULT 0;
-- 1: volatile (|Δ gauche| at or above the threshold), 2: close (gauche and droite within the threshold).
ALTER TABLE zone_classes ADD COLUMN flags BIGINT NOT NULL DEFAULT 0;
