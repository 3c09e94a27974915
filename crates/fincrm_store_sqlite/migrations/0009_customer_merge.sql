-- Reversible merges of duplicate customers (issue #3). A merge moves no rows: the merged
-- record points at the survivor (`customer.merged_into`), the survivor's views read the
-- holdings, transactions, interactions and consents of every record merged into it, and an
-- undo clears the pointer and restores the status. `customer_merge` is the lineage: who merged
-- what into what, when and why, and who undid it.
ALTER TABLE customer ADD COLUMN merged_into TEXT;
CREATE INDEX customer_merged_into_idx ON customer (merged_into) WHERE merged_into IS NOT NULL;

CREATE TABLE customer_merge (
    merge_id     TEXT NOT NULL CONSTRAINT customer_merge_pkey PRIMARY KEY,
    survivor_id  TEXT NOT NULL CONSTRAINT customer_merge_survivor_fkey REFERENCES customer (customer_id),
    merged_id    TEXT NOT NULL CONSTRAINT customer_merge_merged_fkey REFERENCES customer (customer_id),
    merged_at    TEXT NOT NULL,
    merged_by    TEXT NOT NULL,
    reason       TEXT NOT NULL,
    prior_status TEXT NOT NULL,
    undone_at    TEXT,
    undone_by    TEXT
) STRICT;
CREATE INDEX customer_merge_survivor_idx ON customer_merge (survivor_id);
CREATE INDEX customer_merge_merged_idx ON customer_merge (merged_id);
