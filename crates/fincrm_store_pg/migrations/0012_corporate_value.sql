-- A corporate customer's value to the bank as its management accounting reports it (imported,
-- kind `corporate_values`): the figures the corporate tier rules (客户分级) read. One row a
-- customer, the latest figures; the tier history is kept in customer_score.
CREATE TABLE corporate_value (
    customer_id                   TEXT NOT NULL CONSTRAINT corporate_value_pkey PRIMARY KEY
                                  CONSTRAINT corporate_value_customer_fkey REFERENCES customer (customer_id),
    avg_yearly_contribution_minor BIGINT NOT NULL,            -- CNY fen
    contribution_growth_bp        BIGINT NOT NULL,  -- forecast, basis points: 1500 = 15 %
    departments_used              BIGINT NOT NULL CONSTRAINT corporate_value_departments_check CHECK (departments_used >= 0),
    special_background            BIGINT NOT NULL CONSTRAINT corporate_value_background_check CHECK (special_background IN (0, 1))
);
