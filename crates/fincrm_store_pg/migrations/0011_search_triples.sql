-- The name index gains character triples (a three-character name becomes one term; see
-- fincrm_store::search::name_terms). Emptied here so that `migrate` rebuilds it for every
-- customer with the new terms, in pages of 5,000, right after this migration (about a minute
-- per million customers).
TRUNCATE customer_search;
