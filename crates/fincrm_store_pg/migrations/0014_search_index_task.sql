-- Work the store finishes after migrating, in Rust, resumable from `cursor` (the last key
-- done; src/tasks.rs). The name index is now built by such a task.
CREATE TABLE IF NOT EXISTS store_task (
    name   TEXT NOT NULL CONSTRAINT store_task_pkey PRIMARY KEY,
    cursor TEXT NOT NULL
);

-- A build cut short before builds could resume left some customers without terms, and
-- `migrate` only rebuilt an index that was wholly empty, so such a database stayed
-- unsearchable for them: schedule a rebuild once.
INSERT INTO store_task (name, cursor)
SELECT 'customer_search', ''
 WHERE EXISTS (SELECT 1 FROM customer c
                WHERE NOT EXISTS (SELECT 1 FROM customer_search s
                                   WHERE s.customer_id = c.customer_id))
ON CONFLICT (name) DO NOTHING;
