-- The audit log by month: retention drops a whole month (AUDIT_RETENTION, the cleanup job),
-- never deleting entries one by one, so the append-only trigger stays without exception for
-- deletes. Dropping a partition is the table owner's DDL, which no trigger sees; the cleanup
-- job records each month it drops as an entry of its own (store/src/postgres/audit.rs).
--
-- Months are UTC calendar months, `audit_log_pYYYYMM`; `audit_log_month(t)` creates the month
-- of `t` when it is missing (the cleanup job creates this month and the next two on every
-- run). An entry of a month nobody created lands in `audit_log_default`, which retention
-- never drops, so an insert never fails for want of a partition.
ALTER TABLE audit_log RENAME TO audit_log_unpartitioned;
ALTER TABLE audit_log_unpartitioned RENAME CONSTRAINT audit_log_pkey TO audit_log_unpartitioned_pkey;
ALTER INDEX audit_log_user_at RENAME TO audit_log_unpartitioned_user_at;
ALTER INDEX audit_log_at RENAME TO audit_log_unpartitioned_at;

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
    -- A partitioned table's unique keys hold its partition key.
    PRIMARY KEY (user_id, id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
CREATE INDEX audit_log_at ON audit_log (at);

-- Row triggers on the partitioned table reach every partition, the statement trigger of
-- TRUNCATE does not: each partition gets its own.
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE audit_log_default PARTITION OF audit_log DEFAULT;
CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON audit_log_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The month (UTC) of `t` as a partition, created when missing. Answers its name, or NULL when
-- it cannot be created because `audit_log_default` already holds entries of that month (they
-- stay there, kept).
CREATE FUNCTION audit_log_month(t TIMESTAMPTZ) RETURNS TEXT LANGUAGE plpgsql AS $$
DECLARE
    first TIMESTAMP := date_trunc('month', t AT TIME ZONE 'UTC');
    name TEXT := 'audit_log_p' || to_char(first, 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name; -- the usual case, without the subtransaction below
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                       name, first AT TIME ZONE 'UTC', (first + interval '1 month') AT TIME ZONE 'UTC');
        EXECUTE format('CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()', name);
    EXCEPTION
        WHEN duplicate_table OR duplicate_object THEN
            NULL; -- another replica created it meanwhile
        WHEN check_violation THEN
            RAISE WARNING 'audit_log: % not created: audit_log_default holds entries of that month', name;
            RETURN NULL;
    END;
    RETURN name;
END $$;

-- The months the log holds entries of, this month and the next two; then the entries move over.
SELECT audit_log_month(month)
FROM (SELECT DISTINCT date_trunc('month', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS month
      FROM audit_log_unpartitioned
      UNION
      SELECT now() + make_interval(months => ahead) FROM generate_series(0, 2) AS ahead) AS months;
INSERT INTO audit_log (user_id, id, at, actor, action, challenge_id, goal_id, reason, detail, seq)
    OVERRIDING SYSTEM VALUE
SELECT user_id, id, at, actor, action, challenge_id, goal_id, reason, detail, seq
FROM audit_log_unpartitioned;
SELECT setval(pg_get_serial_sequence('audit_log', 'seq'),
              coalesce((SELECT max(seq) FROM audit_log), 0) + 1, false);
DROP TABLE audit_log_unpartitioned;
