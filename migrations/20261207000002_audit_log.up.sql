-- Support's actions on players, append-only: who (`actor`: a user token's `sub`, a server
-- token's `client_id`), what (`action`, `detail`: the goal before and after), on whom, and why
-- (`reason`, required). Keyed by player first, like every per-player table (docs/scaling.md).
CREATE TABLE audit_log (
    user_id      VARCHAR(128)  NOT NULL,
    id           VARCHAR(36)   NOT NULL,
    at           TIMESTAMPTZ   NOT NULL,
    actor        VARCHAR(256)  NOT NULL,
    action       VARCHAR(32)   NOT NULL,
    challenge_id VARCHAR(100)  NULL,
    goal_id      VARCHAR(100)  NULL,
    reason       TEXT          NOT NULL CHECK (length(btrim(reason)) >= 1),
    detail       TEXT          NOT NULL,
    -- The order entries were written in, for "newest first" among entries of one instant.
    seq          BIGINT        GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (user_id, id)
);
-- A player's entries newest first (the primary key finds the player's), and everyone's.
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- The database itself refuses updates, deletes and truncation. The one exception: a player's
-- deletion replaces the player's id with a pseudonym (store/src/audit.rs), in a transaction
-- that says so (`challenge.audit_pseudonymize`), changing nothing else of an entry.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF coalesce(current_setting('challenge.audit_pseudonymize', true), '') = 'on'
           AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor = OLD.actor
           AND NEW.action = OLD.action AND NEW.reason = OLD.reason AND NEW.detail = OLD.detail
           AND NEW.challenge_id IS NOT DISTINCT FROM OLD.challenge_id
           AND NEW.goal_id IS NOT DISTINCT FROM OLD.goal_id THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
