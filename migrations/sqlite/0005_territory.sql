-- Territory: official election results by bureau de vote, socio-economic indicators by commune, and the
-- classification of zones (bureaux, communes, circonscriptions) that HQ uses to choose where to campaign.
--
-- Everything here is public data (Ministère de l'Intérieur, Insee) or derived from it: no personal data.
-- Results are written by `terrain import results` (src/territory/import.rs): one election at a time, in one
-- transaction, replaced wholesale when re-imported. Classifications are recomputed wholesale by
-- src/territory/classify.rs. Tables of small rows are WITHOUT ROWID in SQLite (clustered on their primary key: rows
-- are written in key order and read by election, with no second copy of the key in a separate index); PostgreSQL has
-- the same tables, with DOUBLE PRECISION for REAL.

-- One election round. `key` is chosen by whoever imports it ("pres2017t1", "leg2024t1", "euro2019") and is how
-- imports and classifications name it; totals are the sums of its bureau_results, kept here for listings.
CREATE TABLE elections (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    -- "Présidentielle 2017, 1er tour".
    label TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('presidentielle', 'legislatives', 'europeennes', 'municipales', 'regionales',
                                       'departementales', 'referendum', 'autre')),
    round BIGINT NOT NULL CHECK (round >= 1),
    year BIGINT NOT NULL,
    -- Name of the imported file and the layout the parser recognised (NationalWide, Official2017, Official2024).
    source_file TEXT NOT NULL DEFAULT '',
    layout TEXT NOT NULL DEFAULT '',
    imported_at BIGINT NOT NULL,
    bureaux BIGINT NOT NULL DEFAULT 0,
    inscrits BIGINT NOT NULL DEFAULT 0,
    votants BIGINT NOT NULL DEFAULT 0,
    blancs BIGINT NOT NULL DEFAULT 0,
    nuls BIGINT NOT NULL DEFAULT 0,
    exprimes BIGINT NOT NULL DEFAULT 0,
    -- The bloc of each choice, in idx order and comma-separated ("gauche,centre,autre,…"), that the bloc sums of
    -- bureau_results were computed with: when HQ has changed a bloc since, the classification recomputes them first.
    blocs TEXT NOT NULL DEFAULT ''
);

-- Candidates, lists or nuances of an election, numbered from 0 in the order of the file (`idx` is what
-- bureau_votes.choice_idx points at). `bloc` groups them for the classification: set by default from the nuance or
-- the name at import (see territory::import::default_bloc), editable by HQ, kept when the election is re-imported.
CREATE TABLE election_choices (
    election_id BIGINT NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    idx BIGINT NOT NULL,
    -- Candidate "NOM Prénom", list name or nuance code, as in the file.
    label TEXT NOT NULL,
    -- Ministry nuance ("FI", "SOC", "REM", "UG", "RN"…) when the file gives one.
    nuance TEXT,
    bloc TEXT NOT NULL CHECK (bloc IN ('gauche', 'centre', 'droite', 'extreme_droite', 'autre')),
    -- Total votes of the choice over every bureau.
    voix BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (election_id, idx)
) WITHOUT ROWID;

-- Every bureau de vote ever imported. Bureau numbers change between elections (2 to 4 % of keys): a bureau is one
-- key of one election, and comparisons across elections match keys (communes and circonscriptions always match).
CREATE TABLE bureaux (
    -- commune_code || '-' || bureau: "69123-0101".
    key TEXT PRIMARY KEY,
    -- INSEE code. Not a foreign key: results also name pseudo-communes (consulates abroad "ZZ001", Wallis-et-Futuna
    -- "98601") and communes merged since the election.
    commune_code TEXT NOT NULL,
    -- "69", "2A", "971", "ZZ" (French people abroad).
    departement TEXT NOT NULL,
    -- 4 characters, zero-padded: "0001", "01.1".
    bureau TEXT NOT NULL,
    -- "DD-NN" ("69-08", "99-09" abroad), from the last imported file that gives it (European files do not).
    circonscription TEXT
) WITHOUT ROWID;
CREATE INDEX bureaux_commune ON bureaux(commune_code);
CREATE INDEX bureaux_circonscription ON bureaux(circonscription);

-- Turnout of one bureau in one election. abstentions = inscrits - votants; votants = blancs + nuls + exprimes
-- (blancs and nuls are NULL when the file gives neither). The votes by bloc (gauche … autre, summing to exprimes) are
-- derived from bureau_votes and the choices' blocs (as listed in elections.blocs): the classification reads these
-- 70,000 rows instead of a million vote counts.
CREATE TABLE bureau_results (
    election_id BIGINT NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    bureau_key TEXT NOT NULL REFERENCES bureaux(key),
    inscrits BIGINT NOT NULL,
    votants BIGINT NOT NULL,
    blancs BIGINT,
    nuls BIGINT,
    exprimes BIGINT NOT NULL,
    gauche BIGINT NOT NULL DEFAULT 0,
    centre BIGINT NOT NULL DEFAULT 0,
    droite BIGINT NOT NULL DEFAULT 0,
    extreme_droite BIGINT NOT NULL DEFAULT 0,
    autre BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (election_id, bureau_key)
) WITHOUT ROWID;

-- Votes of each choice in each bureau. Only non-zero counts are stored (a choice absent from a bureau got 0 votes):
-- half of the cells of the national files are zeros (legislative nuances that had no candidate in the
-- circonscription). The sum over a bureau equals its exprimes (checked at import).
CREATE TABLE bureau_votes (
    election_id BIGINT NOT NULL REFERENCES elections(id) ON DELETE CASCADE,
    bureau_key TEXT NOT NULL,
    choice_idx BIGINT NOT NULL,
    voix BIGINT NOT NULL CHECK (voix > 0),
    PRIMARY KEY (election_id, bureau_key, choice_idx)
) WITHOUT ROWID;

-- Socio-economic indicators by commune (Insee Filosofi: MED21 median disposable income, TP6021 poverty rate…),
-- one row per commune and indicator code as the file names it. value is NULL under statistical secret ("s") or
-- when missing. Re-importing a file overwrites the values it gives.
CREATE TABLE commune_indicators (
    commune_code TEXT NOT NULL,
    indicator TEXT NOT NULL,
    value REAL,
    -- "Insee, Filosofi 2021".
    source TEXT NOT NULL,
    imported_at BIGINT NOT NULL,
    PRIMARY KEY (commune_code, indicator)
) WITHOUT ROWID;

-- The current classification of zones, for one pair of elections: `reference` (the recent one the classes
-- describe) and `previous` (the one changes are measured against); every row names the pair. Derived data, replaced
-- wholesale: territory::classify::classify_all empties the table and writes every zone again in one transaction
-- (≈105,000 rows for France: 69,000 bureaux, 35,000 communes, 577 circonscriptions; emptying a whole table is
-- instant where deleting a pair's rows one by one is not), and re-importing either election empties it.
-- Shares are fractions (0.583 = 58.3 %) of exprimés; abstention is 1 - votants / inscrits. "droite" (right_share)
-- counts droite + extrême droite; extreme_droite_share is the part of it that is extrême droite. Deltas are
-- reference minus previous, NULL when the zone is absent from the previous election.
CREATE TABLE zone_classes (
    -- elections(id); not foreign keys, so that SQLite can empty the table at once (a foreign key makes it delete row
    -- by row). Re-importing an election empties the table; code that deletes an election must empty it too.
    reference_election_id BIGINT NOT NULL,
    previous_election_id BIGINT NOT NULL,
    level TEXT NOT NULL CHECK (level IN ('bureau', 'commune', 'circonscription')),
    -- Bureau key ("69123-0101"), INSEE commune code ("69123") or circonscription ("69-02").
    zone TEXT NOT NULL,
    departement TEXT NOT NULL,
    -- Reference election figures, summed over the zone's bureaux.
    inscrits BIGINT NOT NULL,
    votants BIGINT NOT NULL,
    exprimes BIGINT NOT NULL,
    left_share REAL NOT NULL,
    right_share REAL NOT NULL,
    extreme_droite_share REAL NOT NULL,
    abstention REAL NOT NULL,
    delta_left REAL,
    delta_right REAL,
    delta_abstention REAL,
    class TEXT NOT NULL CHECK (class IN ('acquis_gauche', 'acquis_droite', 'hesitant', 'abstention')),
    -- Voters the party can hope to win in the zone (formula in src/territory/classify.rs); higher first.
    priority REAL NOT NULL,
    -- Plain French, for activists: "Abstention 41,2 % (département 27,0 %), gauche 58,3 % des exprimés…".
    explanation TEXT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (level, zone)
);
-- Maps and lists by département.
CREATE INDEX zone_classes_departement ON zone_classes(level, departement);
