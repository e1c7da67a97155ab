-- PostgreSQL's twin adds the change feed of the services' progress caches (NOTIFY on every write
-- of user_goal_progress). The embedded database has no such feed, and its services read without
-- a cache: nothing to do here. Kept so both stores count the same migrations.
SELECT 1;
