-- The transactional outbox of notifications (see the PostgreSQL migration).
-- `rowid` is the order records were written in (a new row's is above every row there).
CREATE TABLE notification_outbox (
    user_id         TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    created_at      TEXT    NOT NULL,
    delivered_to    TEXT    NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    dead            BOOLEAN NOT NULL DEFAULT FALSE,
    last_error      TEXT    NULL,
    next_attempt_at TEXT    NOT NULL,
    lease_until     TEXT    NULL,
    PRIMARY KEY (user_id, id)
);
-- Every index entry ends with the rowid: this one orders a player's records.
CREATE INDEX notification_outbox_by_player ON notification_outbox (user_id) WHERE NOT dead;
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE NOT dead;

ALTER TABLE reward_grants ADD COLUMN challenge_id TEXT NOT NULL DEFAULT '';
