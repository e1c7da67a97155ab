-- The services' read caches follow a change log instead of NOTIFY. PostgreSQL serializes the
-- commits of every transaction that notifies (a database-wide lock held from before the commit
-- record to after its flush), so with the NOTIFY triggers of 20261201000007 every write of
-- progress (each batch of events, each claim, each initialize) queued behind the others' disk
-- flushes: measured, it cut single-row progress updates from 6,100 to 1,700 per second.
--
-- Now every statement that writes `user_goal_progress` adds one row here in its own
-- transaction: its transaction id and the players it touched (NULL: everyone, after a TRUNCATE).
-- Readers poll with `xid >= ` the oldest transaction still running at their previous read
-- (`pg_snapshot_xmin`), so a transaction that commits late is never skipped; see
-- store/src/cache.rs. Unlogged: after a crash the table is empty, and every reader, whose
-- connection dropped with the server, empties its cache anyway.
CREATE UNLOGGED TABLE progress_changes (
    xid         xid8        NOT NULL,
    users       text[]      NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
-- The readers' `xid >= horizon`, and the readers' pruning `xid < mark`.
CREATE INDEX progress_changes_xid ON progress_changes (xid);

DROP TRIGGER challenge_progress_truncated ON user_goal_progress;
DROP TRIGGER challenge_progress_updated ON user_goal_progress;
DROP TRIGGER challenge_progress_deleted ON user_goal_progress;
DROP TRIGGER challenge_progress_inserted ON user_goal_progress;
DROP FUNCTION challenge_progress_truncated();
DROP FUNCTION challenge_progress_updated();
DROP FUNCTION challenge_progress_inserted_or_deleted();
DROP FUNCTION challenge_progress_notify(text[]);

CREATE FUNCTION challenge_progress_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO progress_changes (xid, users)
    SELECT pg_current_xact_id(), array_agg(DISTINCT user_id) FROM changed HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION challenge_progress_updated_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO progress_changes (xid, users)
    SELECT pg_current_xact_id(), array_agg(user_id)
    FROM (SELECT user_id FROM before_update UNION SELECT user_id FROM after_update) AS touched
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION challenge_progress_truncated_logged() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO progress_changes (xid, users) VALUES (pg_current_xact_id(), NULL);
    RETURN NULL;
END $$;

CREATE TRIGGER challenge_progress_inserted AFTER INSERT ON user_goal_progress
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_logged();
CREATE TRIGGER challenge_progress_deleted AFTER DELETE ON user_goal_progress
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_logged();
CREATE TRIGGER challenge_progress_updated AFTER UPDATE ON user_goal_progress
    REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_updated_logged();
CREATE TRIGGER challenge_progress_truncated AFTER TRUNCATE ON user_goal_progress
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_truncated_logged();
