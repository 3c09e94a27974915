-- Scores keyed by run first (issue #4). Keyed by customer first, every run's million rows went
-- into the key between the rows of every earlier run, so each nightly run rewrote the whole
-- key (it grows by a run's rows every night) and the run's write slowed as history grew. Keyed
-- by run, a run's rows are appended; a customer's history is read run by run from the newest
-- completed run (fincrm_store::analytics::score_history_sql). WITHOUT ROWID: the rows live in
-- the key's tree, with no second tree beside it.
CREATE TABLE customer_score_by_run (
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
    segment        TEXT,                  -- 0007
    CONSTRAINT customer_score_pkey PRIMARY KEY (run_id, customer_id)
) STRICT, WITHOUT ROWID;

INSERT INTO customer_score_by_run
SELECT customer_id, run_id, as_of, model_version, frequency, recency_weeks, age_weeks,
       monetary_minor, rfm_r, rfm_f, rfm_m, rfm_segment, p_alive, expected_purchases_90d,
       clv_minor, aum_minor, tier, tier_since, tier_below_since, stage, segment
  FROM customer_score
 ORDER BY run_id, customer_id;

DROP TABLE customer_score;
ALTER TABLE customer_score_by_run RENAME TO customer_score;

-- The completed runs newest first, for the history walk.
CREATE INDEX analytics_run_completed_idx ON analytics_run (as_of, run_id)
    WHERE status = 'completed';
