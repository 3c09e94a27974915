-- PostgreSQL's 0010 adds row-level security on `customer` as a second wall behind the scoped
-- queries. SQLite has no row-level security (and no other database users: the file is the
-- application's alone), so here the scoped queries are the only wall. Kept so both engines
-- number their migrations alike.
SELECT 1;
