-- PostgreSQL's twin replaces the NOTIFY change feed of the services' progress caches with a
-- change log. The embedded database has no feed, and its services read without a cache: nothing
-- to do here. Kept so both stores count the same migrations.
SELECT 1;
