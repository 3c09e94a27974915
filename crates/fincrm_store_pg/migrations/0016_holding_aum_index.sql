-- Each customer's AUM (the sum of open non-credit balances, issue #4) read from an index alone
-- (an index-only scan where the visibility map allows): the analytics run sums it for every
-- customer. The WHERE is the analytics customers statement's own, which a partial index needs
-- to be chosen.
CREATE INDEX holding_aum_idx ON holding (customer_id) INCLUDE (balance_minor)
    WHERE status <> 'closed' AND product_type NOT IN ('loan', 'credit_card');
