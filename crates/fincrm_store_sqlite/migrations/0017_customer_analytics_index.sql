-- The analytics run's read of every customer (issue #4, activity::ANALYTICS_CUSTOMERS_SQL:
-- customer_id, kind, opened_on in key order) from an index alone. Through the primary key each
-- customer was a lookup of its whole row in the table: 243 MiB of rows at 1M customers for
-- three short columns, against about 40 MiB here, and a seek per customer. Timed from Python on
-- a 1M demo bank, warm: 0.79-0.96 s a walk of every page, against 0.58-0.63 s. Kept on write
-- like any index: an insert or a change of these columns updates it.
CREATE INDEX customer_analytics_idx ON customer (customer_id, kind, opened_on);
