-- The change feed of the services' progress caches: every statement that inserts, updates,
-- deletes or truncates `user_goal_progress` notifies `challenge_progress` at its commit with the
-- players it touched, whoever runs it (the handler, another replica, the cleanup job, an
-- operator's SQL). A notification carries a JSON array of user ids (chunks kept under the
-- 8,000-byte payload limit: a chunk's elements add up to under 7,000 bytes with their ", "
-- separators, plus at most one id, escaped, of under 800) or `*` for "everyone". Nothing is sent
-- for a rolled-back write.
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
