-- Analytics runs and the scores they compute (issue #4). One score row per customer and run, so
-- tier, stage, RFM, P(alive) and CLV keep their history; the latest completed run is current.

CREATE TABLE analytics_run (
    run_id        TEXT NOT NULL CONSTRAINT analytics_run_pkey PRIMARY KEY,
    as_of         TEXT NOT NULL,          -- the day the scores describe
    model_version TEXT NOT NULL,
    params        TEXT NOT NULL,          -- JSON: fitted parameters and settings
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL CONSTRAINT analytics_run_status_check
                  CHECK (status IN ('running', 'completed', 'failed')),
    customers     INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE customer_score (
    customer_id    TEXT NOT NULL,
    run_id         TEXT NOT NULL CONSTRAINT customer_score_run_fkey REFERENCES analytics_run (run_id),
    as_of          TEXT NOT NULL,
    model_version  TEXT NOT NULL,
    frequency      INTEGER,
    recency_weeks  REAL,
    age_weeks      REAL,
    monetary_minor REAL,
    rfm_r          INTEGER,
    rfm_f          INTEGER,
    rfm_m          INTEGER,
    rfm_segment    TEXT,
    p_alive        REAL,
    expected_purchases_90d REAL,
    clv_minor      INTEGER,
    aum_minor      INTEGER NOT NULL,      -- C2: balances
    tier           TEXT NOT NULL,
    tier_since     TEXT NOT NULL,
    tier_below_since TEXT,
    stage          TEXT NOT NULL,
    CONSTRAINT customer_score_pkey PRIMARY KEY (customer_id, run_id)
) STRICT;
CREATE INDEX customer_score_run_idx ON customer_score (run_id);
