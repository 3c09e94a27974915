-- fincrm foundation schema (SQLite). The PostgreSQL schema in fincrm_store_pg mirrors it column
-- for column; the conformance suite checks both store the same values.
-- Keys are the bank's own identifiers (customer number, account number, serial number) so that
-- re-importing an extract finds the same rows. Money is integer minor units (fen) + ISO currency.
-- Every customer-owned table carries customer_id, so sharding by customer stays possible.

CREATE TABLE branch (
    branch_id   TEXT NOT NULL CONSTRAINT branch_pkey PRIMARY KEY,
    name        TEXT NOT NULL,
    parent_id   TEXT,           -- no foreign key: extracts list branches in any order
    level       TEXT NOT NULL CONSTRAINT branch_level_check
                CHECK (level IN ('head_office', 'branch', 'sub_branch'))
) STRICT;

-- Staff (named so because "user" is reserved in PostgreSQL). Credentials come with the security core.
CREATE TABLE staff (
    user_id     TEXT NOT NULL CONSTRAINT staff_pkey PRIMARY KEY,
    name        TEXT NOT NULL,
    branch_id   TEXT NOT NULL,
    role        TEXT NOT NULL
) STRICT;

CREATE TABLE product (
    product_code TEXT NOT NULL CONSTRAINT product_pkey PRIMARY KEY,
    name         TEXT NOT NULL,
    product_type TEXT NOT NULL,
    risk_level   INTEGER NOT NULL CONSTRAINT product_risk_level_check CHECK (risk_level BETWEEN 1 AND 5)
) STRICT;

-- Individuals and corporates share one table: search, scope and the 360 view read one row.
-- branch_id / primary_rm_id carry no foreign key: core extracts name branches and RMs before the
-- organisation tree is loaded, and a customer must not be rejected for that.
CREATE TABLE customer (
    customer_id   TEXT NOT NULL CONSTRAINT customer_pkey PRIMARY KEY,
    kind          TEXT NOT NULL CONSTRAINT customer_kind_check CHECK (kind IN ('individual', 'corporate')),
    name          TEXT NOT NULL,
    name_latin    TEXT,
    id_type       TEXT,           -- resident_id | passport | uscc      (PI, C2)
    id_number     TEXT,           --                                     (PI, C2)
    phone         TEXT,           -- 11-digit mobile                     (PI, C2)
    email         TEXT,           --                                     (PI, C2)
    address       TEXT,           --                                     (PI, C2)
    branch_id     TEXT,
    primary_rm_id TEXT,
    risk_tolerance INTEGER CONSTRAINT customer_risk_tolerance_check CHECK (risk_tolerance BETWEEN 1 AND 5),
    opened_on     TEXT,           -- YYYY-MM-DD
    status        TEXT NOT NULL,
    gender        TEXT,
    birth_date    TEXT,
    occupation    TEXT,
    ownership     TEXT,
    industry_code TEXT,
    registered_capital_minor    INTEGER,
    registered_capital_currency TEXT,
    founded_on    TEXT,
    group_parent_id TEXT,
    tags          TEXT            -- JSON array
) STRICT;
CREATE INDEX customer_id_number_idx ON customer (id_number) WHERE id_number IS NOT NULL;
CREATE INDEX customer_phone_idx ON customer (phone) WHERE phone IS NOT NULL;
CREATE INDEX customer_branch_idx ON customer (branch_id);
CREATE INDEX customer_primary_rm_idx ON customer (primary_rm_id);

CREATE TABLE coverage (
    customer_id TEXT NOT NULL CONSTRAINT coverage_customer_fkey REFERENCES customer (customer_id),
    user_id     TEXT NOT NULL,
    role        TEXT NOT NULL,
    CONSTRAINT coverage_pkey PRIMARY KEY (customer_id, user_id, role)
) STRICT;
CREATE INDEX coverage_user_idx ON coverage (user_id);

CREATE TABLE holding (
    holding_id    TEXT NOT NULL CONSTRAINT holding_pkey PRIMARY KEY,
    customer_id   TEXT NOT NULL CONSTRAINT holding_customer_fkey REFERENCES customer (customer_id),
    product_code  TEXT NOT NULL,
    product_type  TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    limit_minor   INTEGER,
    opened_on     TEXT,
    matures_on    TEXT,
    status        TEXT NOT NULL
) STRICT;
CREATE INDEX holding_customer_idx ON holding (customer_id);

-- "transaction" is an SQL keyword; bank_transaction says what it is.
-- The fact table (tens of millions of rows) carries no foreign keys: the importer rejects
-- records whose account or customer is unknown before writing, PostgreSQL's per-row RI triggers
-- would double the cost of a bulk load, and a key to holding (holding_id) would stand in the way
-- of sharding every customer-owned table by customer_id.
CREATE TABLE bank_transaction (
    transaction_id TEXT NOT NULL CONSTRAINT bank_transaction_pkey PRIMARY KEY,
    customer_id    TEXT NOT NULL,
    holding_id     TEXT NOT NULL,
    posted_at      TEXT NOT NULL,  -- UTC instant
    amount_minor   INTEGER NOT NULL CONSTRAINT bank_transaction_amount_check CHECK (amount_minor >= 0),
    currency       TEXT NOT NULL,
    direction      TEXT NOT NULL CONSTRAINT bank_transaction_direction_check CHECK (direction IN ('debit', 'credit')),
    channel        TEXT,
    counterparty   TEXT,
    kind           TEXT,
    memo           TEXT
) STRICT;
CREATE INDEX bank_transaction_customer_time_idx ON bank_transaction (customer_id, posted_at);
CREATE INDEX bank_transaction_holding_idx ON bank_transaction (holding_id);

CREATE TABLE interaction (
    interaction_id TEXT NOT NULL CONSTRAINT interaction_pkey PRIMARY KEY,
    customer_id    TEXT NOT NULL CONSTRAINT interaction_customer_fkey REFERENCES customer (customer_id),
    occurred_at    TEXT NOT NULL,
    channel        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    user_id        TEXT,
    content        TEXT
) STRICT;
CREATE INDEX interaction_customer_time_idx ON interaction (customer_id, occurred_at);

CREATE TABLE relationship (
    from_customer_id TEXT NOT NULL CONSTRAINT relationship_from_fkey REFERENCES customer (customer_id),
    to_customer_id   TEXT NOT NULL CONSTRAINT relationship_to_fkey REFERENCES customer (customer_id),
    kind             TEXT NOT NULL,
    role             TEXT,
    CONSTRAINT relationship_pkey PRIMARY KEY (from_customer_id, to_customer_id, kind)
) STRICT;
CREATE INDEX relationship_to_idx ON relationship (to_customer_id);

-- Append-only: the latest record per (customer, purpose, channel) is in force.
CREATE TABLE consent (
    customer_id TEXT NOT NULL CONSTRAINT consent_customer_fkey REFERENCES customer (customer_id),
    purpose     TEXT NOT NULL,
    channel     TEXT NOT NULL,   -- 'all' when the consent covers every channel
    recorded_at TEXT NOT NULL,
    granted     INTEGER NOT NULL CONSTRAINT consent_granted_check CHECK (granted IN (0, 1)),
    CONSTRAINT consent_pkey PRIMARY KEY (customer_id, purpose, channel, recorded_at)
) STRICT;

-- One row per committed import batch, written in the same transaction as the batch's rows.
CREATE TABLE import_batch (
    source       TEXT NOT NULL,
    batch_no     INTEGER NOT NULL,
    records      INTEGER NOT NULL,
    loaded       INTEGER NOT NULL,
    committed_at TEXT NOT NULL,
    CONSTRAINT import_batch_pkey PRIMARY KEY (source, batch_no)
) STRICT;

CREATE TABLE import_run (
    import_run_id INTEGER PRIMARY KEY,
    source        TEXT NOT NULL,
    file_name     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT NOT NULL,
    records       INTEGER NOT NULL,
    loaded        INTEGER NOT NULL,
    rejected      INTEGER NOT NULL,
    status        TEXT NOT NULL
) STRICT;

-- Pairs of customers that may be one party, for review; merge comes with the API.
CREATE TABLE duplicate_candidate (
    customer_a  TEXT NOT NULL,
    customer_b  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detected_at TEXT NOT NULL,
    CONSTRAINT duplicate_candidate_pkey PRIMARY KEY (customer_a, customer_b, reason),
    CONSTRAINT duplicate_candidate_order_check CHECK (customer_a < customer_b)
) STRICT;
