-- Support's actions on players (see the PostgreSQL migration). The embedded file has one
-- writer, this process: the log is append-only by what the store writes (docs/operations.md).
CREATE TABLE audit_log (
    user_id      TEXT NOT NULL,
    id           TEXT NOT NULL,
    at           TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    challenge_id TEXT NULL,
    goal_id      TEXT NULL,
    reason       TEXT NOT NULL CHECK (length(trim(reason)) >= 1),
    detail       TEXT NOT NULL,
    -- The order entries were written in (the row's rowid), for "newest first" among entries
    -- of one instant.
    seq          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, id)
);
CREATE TRIGGER audit_log_seq AFTER INSERT ON audit_log
BEGIN
    UPDATE audit_log SET seq = NEW.rowid WHERE rowid = NEW.rowid;
END;
CREATE INDEX audit_log_user_at ON audit_log (user_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
