-- PostgreSQL's twin stores the archive one row per batch to cut its write-ahead log per event.
-- The embedded database keeps one row per event: its writes are not the limit there, and its
-- readers find a player's events by index. Kept so both stores count the same migrations.
SELECT 1;
