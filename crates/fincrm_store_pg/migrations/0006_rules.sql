-- Rule sets an administrator edits (value tiers, lifecycle thresholds): every change is a new
-- version, never an update, and is recorded in the audit trail in the same transaction.
CREATE TABLE rule_set (
    kind        TEXT NOT NULL,            -- 'tiers', 'lifecycle'
    version     BIGINT NOT NULL CONSTRAINT rule_set_version_check CHECK (version > 0),
    body        TEXT NOT NULL,            -- JSON
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  TEXT NOT NULL,
    CONSTRAINT rule_set_pkey PRIMARY KEY (kind, version)
);
