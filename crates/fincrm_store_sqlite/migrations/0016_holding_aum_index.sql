-- Each customer's AUM (the sum of open non-credit balances, issue #4) read from an index alone:
-- the analytics run sums it for every customer, and through holding_customer_idx each holding
-- was a lookup in the table (1M customers, 3.2M holdings: about 1.8 s of a read of every
-- customer's facts, against about 0.7 s from this index, timed from Python). The WHERE is the
-- analytics customers statement's own (activity::ANALYTICS_CUSTOMERS_SQL), which a partial
-- index needs to be chosen; SQLite then does not check those terms again, so the table row is
-- never read.
CREATE INDEX holding_aum_idx ON holding (customer_id, balance_minor)
    WHERE status <> 'closed' AND product_type NOT IN ('loan', 'credit_card');
