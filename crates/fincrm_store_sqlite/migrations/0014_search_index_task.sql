-- The name index is now built by a resumable store task (src/tasks.rs). A build cut short
-- before that left some customers without terms, and `migrate` only rebuilt an index that was
-- wholly empty, so such a database stayed unsearchable for them: schedule a rebuild once.
INSERT OR IGNORE INTO store_task (name, cursor)
SELECT 'customer_search', ''
 WHERE EXISTS (SELECT 1 FROM customer c
                WHERE NOT EXISTS (SELECT 1 FROM customer_search s
                                   WHERE s.customer_id = c.customer_id));
