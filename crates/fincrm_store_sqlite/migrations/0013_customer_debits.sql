-- Each customer's debit transactions as one value (fincrm_store::debits), kept by every write
-- of transactions in the same transaction: an analytics run reads one row a customer instead
-- of every transaction (issue #4). No foreign key, as for bank_transaction (0001).
CREATE TABLE customer_debits (
    customer_id TEXT NOT NULL CONSTRAINT customer_debits_pkey PRIMARY KEY,
    debits      BLOB NOT NULL  -- instants and amounts, encoded by fincrm_store::debits::encode
) STRICT;

-- Work the store finishes after migrating, in Rust, resumable from `cursor` (the last key
-- done). Here: filling customer_debits from the transactions stored before it existed. While
-- the row is present, analytics runs read the transactions instead.
CREATE TABLE store_task (
    name   TEXT NOT NULL CONSTRAINT store_task_pkey PRIMARY KEY,
    cursor TEXT NOT NULL
) STRICT;
INSERT INTO store_task (name, cursor) VALUES ('customer_debits', '');
