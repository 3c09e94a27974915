-- Scores keyed by run first (issue #4). Keyed by customer first, every run's million rows went
-- into the key between the rows of every earlier run, so each nightly run touched the whole
-- key (it grows by a run's rows every night) and the run's write slowed as history grew. Keyed
-- by run, a run's keys are appended; the run index is the key's prefix now; a customer's
-- history is read run by run from the newest completed run
-- (fincrm_store::analytics::score_history_sql).
ALTER TABLE customer_score DROP CONSTRAINT customer_score_pkey;
ALTER TABLE customer_score ADD CONSTRAINT customer_score_pkey PRIMARY KEY (run_id, customer_id);
DROP INDEX customer_score_run_idx;

-- The completed runs newest first, for the history walk.
CREATE INDEX analytics_run_completed_idx ON analytics_run (as_of DESC, run_id DESC)
    WHERE status = 'completed';
