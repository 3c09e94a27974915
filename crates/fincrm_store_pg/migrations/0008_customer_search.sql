-- The customer name search index (fincrm_store::search): one row per distinct term of a
-- customer's name (characters, character pairs, pinyin, Latin words), kept by every customer
-- write in the same transaction. Existing customers are indexed by `migrate` when this table
-- is empty.
CREATE TABLE customer_search (
    term        TEXT NOT NULL,
    customer_id TEXT NOT NULL CONSTRAINT customer_search_customer_fkey REFERENCES customer (customer_id),
    CONSTRAINT customer_search_pkey PRIMARY KEY (term, customer_id)
);
CREATE INDEX customer_search_customer_idx ON customer_search (customer_id);
