-- Back to the NOTIFY triggers of 20261201000007 (services of that release LISTEN).
DROP TRIGGER challenge_progress_truncated ON user_goal_progress;
DROP TRIGGER challenge_progress_updated ON user_goal_progress;
DROP TRIGGER challenge_progress_deleted ON user_goal_progress;
DROP TRIGGER challenge_progress_inserted ON user_goal_progress;
DROP FUNCTION challenge_progress_truncated_logged();
DROP FUNCTION challenge_progress_updated_logged();
DROP FUNCTION challenge_progress_logged();
DROP TABLE progress_changes;

CREATE FUNCTION challenge_progress_notify(users text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    chunk text;
BEGIN
    FOR chunk IN
        SELECT json_agg(u)::text
        FROM (SELECT u, sum(octet_length(to_json(u)::text) + 2) OVER (ORDER BY u) / 7000 AS part
              FROM unnest(users) AS t(u)) AS numbered
        GROUP BY part
    LOOP
        PERFORM pg_notify('challenge_progress', chunk);
    END LOOP;
END $$;

CREATE FUNCTION challenge_progress_inserted_or_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM challenge_progress_notify(ARRAY(SELECT DISTINCT user_id FROM changed));
    RETURN NULL;
END $$;

CREATE FUNCTION challenge_progress_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM challenge_progress_notify(
        ARRAY(SELECT user_id FROM before_update UNION SELECT user_id FROM after_update));
    RETURN NULL;
END $$;

CREATE FUNCTION challenge_progress_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('challenge_progress', '*');
    RETURN NULL;
END $$;

CREATE TRIGGER challenge_progress_inserted AFTER INSERT ON user_goal_progress
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_inserted_or_deleted();
CREATE TRIGGER challenge_progress_deleted AFTER DELETE ON user_goal_progress
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_inserted_or_deleted();
CREATE TRIGGER challenge_progress_updated AFTER UPDATE ON user_goal_progress
    REFERENCING OLD TABLE AS before_update NEW TABLE AS after_update
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_updated();
CREATE TRIGGER challenge_progress_truncated AFTER TRUNCATE ON user_goal_progress
    FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_truncated();
