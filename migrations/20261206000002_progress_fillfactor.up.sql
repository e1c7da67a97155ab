-- Room on every page of progress rows for the next version of each row. An event's update
-- changes progress, status and times, none of them indexed, so with room on the page it is a
-- HOT update: no index entry is written, and after a checkpoint only the heap page is logged
-- whole. Packed full (the default, 100), updates at 1,000,000 players went to other pages:
-- 22 % HOT, 2.74 full-page images per event, PostgreSQL's CPU per event 2.3× that at 20,000
-- players (docs/benchmarks.md, "Per-event cost as a game grows"). Pages written from now on
-- keep the room; existing ones get it when rewritten (VACUUM FULL or pg_repack; see
-- docs/operations.md).
ALTER TABLE user_goal_progress SET (fillfactor = 80);
