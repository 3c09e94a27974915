-- Analytics runs and the scores they compute (issue #4). One score row per customer and run, so
-- tier, stage, RFM, P(alive) and CLV keep their history; the latest completed run is current.

CREATE TABLE analytics_run (
    run_id        TEXT NOT NULL CONSTRAINT analytics_run_pkey PRIMARY KEY,
    as_of         DATE NOT NULL,          -- the day the scores describe
    model_version TEXT NOT NULL,
    params        TEXT NOT NULL,          -- JSON: fitted parameters and settings
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        TEXT NOT NULL CONSTRAINT analytics_run_status_check
                  CHECK (status IN ('running', 'completed', 'failed')),
    customers     BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE customer_score (
    customer_id    TEXT NOT NULL,
    run_id         TEXT NOT NULL CONSTRAINT customer_score_run_fkey REFERENCES analytics_run (run_id),
    as_of          DATE NOT NULL,
    model_version  TEXT NOT NULL,
    frequency      BIGINT,
    recency_weeks  DOUBLE PRECISION,
    age_weeks      DOUBLE PRECISION,
    monetary_minor DOUBLE PRECISION,
    rfm_r          BIGINT,
    rfm_f          BIGINT,
    rfm_m          BIGINT,
    rfm_segment    TEXT,
    p_alive        DOUBLE PRECISION,
    expected_purchases_90d DOUBLE PRECISION,
    clv_minor      BIGINT,
    aum_minor      BIGINT NOT NULL,      -- C2: balances
    tier           TEXT NOT NULL,
    tier_since     DATE NOT NULL,
    tier_below_since DATE,
    stage          TEXT NOT NULL,
    CONSTRAINT customer_score_pkey PRIMARY KEY (customer_id, run_id)
);
CREATE INDEX customer_score_run_idx ON customer_score (run_id);
