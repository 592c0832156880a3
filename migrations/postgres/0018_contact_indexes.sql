-- The address and phone indexes lead with the address or phone instead of the federation: lookups give both
-- anyway, a search by address alone (the self-service page, across federations) can use them, and building them
-- compares the addresses at once instead of first the federation, the same for every row of a federation's import
-- (a 1M-contact import's index builds: 2.3 s → 1.5 s for these two). People without a phone are left out of the
-- phone index, like those without an address from the address one.
DROP INDEX people_email;
CREATE UNIQUE INDEX people_email ON people(email, federation_id) WHERE email IS NOT NULL;
DROP INDEX people_phone;
CREATE INDEX people_phone ON people(phone, federation_id) WHERE phone IS NOT NULL;
