-- Back to one table: the entries of every month move over, in the order they were written.
CREATE TABLE audit_log_single (
    user_id      VARCHAR(128)  NOT NULL,
    id           VARCHAR(36)   NOT NULL,
    at           TIMESTAMPTZ   NOT NULL,
    actor        VARCHAR(256)  NOT NULL,
    action       VARCHAR(32)   NOT NULL,
    challenge_id VARCHAR(100)  NULL,
    goal_id      VARCHAR(100)  NULL,
    reason       TEXT          NOT NULL CHECK (length(btrim(reason)) >= 1),
    detail       TEXT          NOT NULL,
    seq          BIGINT        GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (user_id, id)
);
INSERT INTO audit_log_single (user_id, id, at, actor, action, challenge_id, goal_id, reason, detail, seq)
    OVERRIDING SYSTEM VALUE
SELECT user_id, id, at, actor, action, challenge_id, goal_id, reason, detail, seq
FROM audit_log ORDER BY seq;
SELECT setval(pg_get_serial_sequence('audit_log_single', 'seq'),
              coalesce((SELECT max(seq) FROM audit_log_single), 0) + 1, false);
DROP TABLE audit_log;
DROP FUNCTION audit_log_month(TIMESTAMPTZ);
ALTER TABLE audit_log_single RENAME TO audit_log;
ALTER TABLE audit_log RENAME CONSTRAINT audit_log_single_pkey TO audit_log_pkey;
ALTER TABLE audit_log RENAME CONSTRAINT audit_log_single_reason_check TO audit_log_reason_check;
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
