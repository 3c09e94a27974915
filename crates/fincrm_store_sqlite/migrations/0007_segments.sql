-- Behavioural segment (k-means over recency, frequency, spend and AUM) of each scored customer.
ALTER TABLE customer_score ADD COLUMN segment TEXT;
