-- Each customer's debit transactions as one row (fincrm_store::debits), kept by the statement
-- that inserts transactions: an analytics run reads one row a customer instead of every
-- transaction (issue #4). Two arrays, appended in SQL, so concurrent writers cannot lose each
-- other's debits; readers sort them. No foreign key, as for bank_transaction (0001).
CREATE TABLE customer_debits (
    customer_id  TEXT NOT NULL CONSTRAINT customer_debits_pkey PRIMARY KEY,
    posted_at    BIGINT[] NOT NULL,  -- Unix seconds, fractions dropped
    amount_minor BIGINT[] NOT NULL   -- the same debits' amounts, in the same order
);

INSERT INTO customer_debits (customer_id, posted_at, amount_minor)
SELECT customer_id,
       array_agg(floor(extract(epoch FROM posted_at))::bigint ORDER BY posted_at, amount_minor),
       array_agg(amount_minor ORDER BY posted_at, amount_minor)
  FROM bank_transaction
 WHERE direction = 'debit'
 GROUP BY customer_id;
