-- The audit trail (内部审计): an append-only, hash-chained log. PostgreSQL has the twin table.
-- seq is assigned by the writer as last + 1 inside the writing transaction (never by rowid
-- allocation), so the chain has no gaps; hash = SHA-256(prev_hash || canonical content), see
-- fincrm_domain::audit for the canonical form. Every column is hashed except hash itself.
CREATE TABLE audit_log (
    seq          INTEGER NOT NULL CONSTRAINT audit_log_pkey PRIMARY KEY
                 CONSTRAINT audit_log_seq_check CHECK (seq > 0),
    recorded_at  TEXT NOT NULL,   -- UTC instant, microseconds
    actor        TEXT NOT NULL,   -- user id
    action       TEXT NOT NULL,   -- <entity>.<verb>, e.g. customer.update
    customer_id  TEXT,
    client_addr  TEXT,
    target_table TEXT NOT NULL,
    target_key   TEXT NOT NULL,
    before_json  TEXT,            -- JSON text, hashed byte for byte
    after_json   TEXT,
    reason       TEXT,            -- stated purpose; required for reveals and exports
    prev_hash    TEXT NOT NULL CONSTRAINT audit_log_prev_hash_check CHECK (length(prev_hash) = 64),
    hash         TEXT NOT NULL CONSTRAINT audit_log_hash_check CHECK (length(hash) = 64)
) STRICT;
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, seq) WHERE customer_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);

-- Append-only, enforced by the database: whoever writes through SQL cannot change or remove a
-- record without first dropping these triggers (which the chain and the checkpoints then show).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;
