DROP TABLE IF EXISTS reward_ledger_secret;
DROP TABLE IF EXISTS reward_ledger;
CREATE TABLE reward_grants_v1 (
    user_id      TEXT    NOT NULL,
    goal_id      TEXT    NOT NULL,
    period_start TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'granted', 'failed')),
    reward       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NULL,
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    PRIMARY KEY (user_id, goal_id, period_start)
) WITHOUT ROWID;
-- Revert only after resolving unknown intents: the old reconciler would re-send them.
INSERT INTO reward_grants_v1
SELECT user_id, goal_id, period_start,
       CASE state WHEN 'refused' THEN 'failed' WHEN 'granted' THEN 'granted' ELSE 'pending' END,
       reward, attempts, last_error, created_at, updated_at
FROM reward_grants;
DROP TABLE reward_grants;
ALTER TABLE reward_grants_v1 RENAME TO reward_grants;
CREATE INDEX reward_grants_pending ON reward_grants (updated_at) WHERE state = 'pending';
