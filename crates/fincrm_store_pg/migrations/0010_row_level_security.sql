-- Row-level security on `customer`: the second wall behind the scoped queries (SECURITY.md
-- §0.1, issue #3). A scoped read sets, for its own transaction only (set_config(…, true)):
--   fincrm.scope      'all' | 'branches' | 'book'
--   fincrm.scope_key  the root branch ('branches') or the user ('book')
-- and the policy then hides every customer outside that scope, whatever the query's own WHERE
-- clause says. Unset (the batch jobs: import, analytics, key rotation) reads as 'all'.
-- FORCE binds the table's owner too (the application usually owns its tables); only
-- superusers and BYPASSRLS roles pass, and the application's role must be neither.
ALTER TABLE customer ENABLE ROW LEVEL SECURITY;
ALTER TABLE customer FORCE ROW LEVEL SECURITY;
CREATE POLICY customer_scope ON customer
    USING (
        coalesce(current_setting('fincrm.scope', true), '') IN ('', 'all')
        OR (current_setting('fincrm.scope', true) = 'book'
            AND (primary_rm_id = current_setting('fincrm.scope_key', true)
                 OR EXISTS (SELECT 1 FROM coverage cv
                            WHERE cv.customer_id = customer.customer_id
                              AND cv.user_id = current_setting('fincrm.scope_key', true))))
        OR (current_setting('fincrm.scope', true) = 'branches'
            AND branch_id IN (
                WITH RECURSIVE subtree(branch_id) AS (
                    SELECT current_setting('fincrm.scope_key', true)
                    UNION SELECT b.branch_id FROM branch b
                        JOIN subtree s ON b.parent_id = s.branch_id)
                SELECT branch_id FROM subtree))
    );
