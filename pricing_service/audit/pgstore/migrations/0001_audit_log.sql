-- The audit log in PostgreSQL: one global log for every replica (one sequence, one tree,
-- one signing key), sequenced in one transaction per group-commit batch against the single
-- row of audit_log (trillian-tessera's MySQL design: the tree state and the current
-- checkpoint as single rows).

CREATE TABLE audit_log (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    origin        text   NOT NULL,
    vkey          text   NOT NULL,          -- the signer's public key (note format), for auditors
    size          bigint NOT NULL,          -- records sequenced and signed
    compact_range bytea  NOT NULL,          -- the tree's right edge at `size`: 32-byte hashes
    checkpoint    text                      -- the signed note of `size` (NULL while empty)
);

CREATE TABLE audit_records (
    seq            bigint PRIMARY KEY,
    record         bytea  NOT NULL,         -- the canonical record, the RFC 6962 leaf data
    leaf_hash      bytea  NOT NULL,
    kind           text   NOT NULL,
    quote_id       text,
    request_id     text,
    request_prints bytea                    -- the request's fingerprints (retries match them)
);

-- Idempotency across replicas, enforced by the database: one binding quote per request id.
CREATE UNIQUE INDEX audit_records_request_id ON audit_records (request_id)
    WHERE kind = 'quote' AND request_id IS NOT NULL;
CREATE INDEX audit_records_quote_id ON audit_records (quote_id) WHERE quote_id IS NOT NULL;

-- Kept checkpoints (one per checkpoint interval), what consistency proofs are between.
CREATE TABLE audit_checkpoints (
    size bigint PRIMARY KEY,
    note text NOT NULL
);

-- Every policy version a record was priced under, canonical form, by SHA-256.
CREATE TABLE audit_policies (
    digest    text  PRIMARY KEY,
    canonical bytea NOT NULL
);
