-- Further e-mail addresses and phone numbers of a person. The first ones stay in people.email and people.phone
-- (newsletters are sent there, calls go there); these are the others (a work address, a landline next to a
-- mobile, the email2 to email4 columns of a NationBuilder export). An e-mail address belongs to one person of a
-- federation, in either place: the unique index covers this table, the application checks both.
CREATE TABLE person_contacts (
    person_id BIGINT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    federation_id BIGINT NOT NULL REFERENCES federations(id),
    kind TEXT NOT NULL CHECK (kind = 'email' OR kind = 'phone'),
    -- Normalised like people.email (lower case) and people.phone (E.164).
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (person_id, kind, value)
);
-- By value first: self-service looks an address up in every federation, search reads prefixes. An e-mail address
-- is unique per federation.
CREATE UNIQUE INDEX person_contacts_email ON person_contacts(value, federation_id) WHERE kind = 'email';
CREATE INDEX person_contacts_phone ON person_contacts(value, federation_id) WHERE kind = 'phone';
