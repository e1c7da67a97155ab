-- Reward claims become an explicit state machine (see the PostgreSQL twin for the why of each
-- column). SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE reward_grants_v2 (
    user_id         TEXT    NOT NULL,
    goal_id         TEXT    NOT NULL,
    period_start    TEXT    NOT NULL,
    state           TEXT    NOT NULL
        CHECK (state IN ('pending', 'sending', 'granted', 'refused', 'unknown')),
    reward          TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NULL,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    namespace       TEXT    NOT NULL DEFAULT '',
    transaction_id  TEXT    NOT NULL DEFAULT '',
    delivery        TEXT    NOT NULL DEFAULT 'direct'
        CHECK (delivery IN ('fulfillment', 'direct', 'none')),
    period_end      TEXT    NULL,
    lease_until     TEXT    NULL,
    next_attempt_at TEXT    NULL,
    PRIMARY KEY (user_id, goal_id, period_start)
) WITHOUT ROWID;
INSERT INTO reward_grants_v2 (user_id, goal_id, period_start, state, reward, attempts,
                              last_error, created_at, updated_at)
SELECT user_id, goal_id, period_start,
       CASE state WHEN 'failed' THEN 'refused' WHEN 'pending' THEN 'sending' ELSE state END,
       reward, attempts, last_error, created_at, updated_at
FROM reward_grants;
DROP TABLE reward_grants;
ALTER TABLE reward_grants_v2 RENAME TO reward_grants;
CREATE INDEX reward_grants_open ON reward_grants (next_attempt_at)
    WHERE state IN ('pending', 'sending');
CREATE INDEX reward_grants_unknown ON reward_grants (updated_at) WHERE state = 'unknown';

CREATE TABLE reward_ledger (
    key         TEXT NOT NULL PRIMARY KEY,
    state       TEXT NOT NULL,
    recorded_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE reward_ledger_secret (
    id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    secret TEXT    NOT NULL
);
