-- The audit trail (内部审计): an append-only, hash-chained log. SQLite has the twin table.
-- seq is assigned by the writer as last + 1 inside the writing transaction, under a
-- transaction-level advisory lock, so the chain never forks and has no gaps;
-- hash = SHA-256(prev_hash || canonical content), see fincrm_domain::audit for the canonical form.
-- The JSON images are TEXT, not JSONB: JSONB re-normalises the text and would break the hash.
CREATE TABLE audit_log (
    seq          BIGINT NOT NULL CONSTRAINT audit_log_pkey PRIMARY KEY
                 CONSTRAINT audit_log_seq_check CHECK (seq > 0),
    recorded_at  TIMESTAMPTZ NOT NULL,   -- UTC instant, microseconds
    actor        TEXT NOT NULL,          -- user id
    action       TEXT NOT NULL,          -- <entity>.<verb>, e.g. customer.update
    customer_id  TEXT,
    client_addr  TEXT,
    target_table TEXT NOT NULL,
    target_key   TEXT NOT NULL,
    before_json  TEXT,                   -- JSON text, hashed byte for byte
    after_json   TEXT,
    reason       TEXT,                   -- stated purpose; required for reveals and exports
    prev_hash    TEXT NOT NULL CONSTRAINT audit_log_prev_hash_check CHECK (length(prev_hash) = 64),
    hash         TEXT NOT NULL CONSTRAINT audit_log_hash_check CHECK (length(hash) = 64)
);
CREATE INDEX audit_log_customer_idx ON audit_log (customer_id, seq) WHERE customer_id IS NOT NULL;
CREATE INDEX audit_log_actor_idx ON audit_log (actor, seq);

-- Append-only, enforced by the database. The trigger stops every role that does not own the
-- table or cannot alter triggers, superusers included until they disable it; the REVOKE is the
-- privilege wall. Production: the application role must NOT own audit_log (an owner can drop
-- the trigger and is not bound by REVOKE); grant it only SELECT and INSERT.
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
