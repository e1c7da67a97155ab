-- Stats past 2^31 were clamped: SQLite's INTEGER holds 64 bits, but the progress CHECK capped
-- it at 2^31 - 1. SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE user_goal_progress_new (
    user_id          TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    goal_id          TEXT    NOT NULL CHECK (length(goal_id) <= 100),
    challenge_id     TEXT    NOT NULL CHECK (length(challenge_id) <= 100),
    namespace        TEXT    NOT NULL CHECK (length(namespace) <= 128),
    progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress >= 0),
    status           TEXT    NOT NULL DEFAULT 'not_started'
                     CHECK (status IN ('not_started', 'in_progress', 'completed', 'claimed')),
    completed_at     TEXT    NULL,
    claimed_at       TEXT    NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    is_active        INTEGER NOT NULL DEFAULT 1,
    assigned_at      TEXT    NULL,
    expires_at       TEXT    NULL,
    baseline_value   INTEGER NULL,
    last_counted_day TEXT    NULL,
    PRIMARY KEY (user_id, goal_id),
    CONSTRAINT claimed_implies_completed
        CHECK (status <> 'claimed' OR (completed_at IS NOT NULL AND claimed_at IS NOT NULL))
) WITHOUT ROWID;
INSERT INTO user_goal_progress_new SELECT * FROM user_goal_progress;
DROP TABLE user_goal_progress;
ALTER TABLE user_goal_progress_new RENAME TO user_goal_progress;
CREATE INDEX user_goal_progress_user_challenge ON user_goal_progress (user_id, challenge_id);
CREATE INDEX user_goal_progress_expiry ON user_goal_progress (expires_at, user_id, goal_id)
    WHERE expires_at IS NOT NULL;
