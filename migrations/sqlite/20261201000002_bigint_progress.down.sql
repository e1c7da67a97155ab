-- Back to the 32-bit cap: larger values are clamped, as the old code did.
CREATE TABLE user_goal_progress_new (
    user_id          TEXT    NOT NULL CHECK (length(user_id) BETWEEN 1 AND 128),
    goal_id          TEXT    NOT NULL CHECK (length(goal_id) <= 100),
    challenge_id     TEXT    NOT NULL CHECK (length(challenge_id) <= 100),
    namespace        TEXT    NOT NULL CHECK (length(namespace) <= 128),
    progress         INTEGER NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 2147483647),
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
INSERT INTO user_goal_progress_new
SELECT user_id, goal_id, challenge_id, namespace, min(progress, 2147483647), status, completed_at,
       claimed_at, created_at, updated_at, is_active, assigned_at, expires_at,
       max(min(baseline_value, 2147483647), -2147483648), last_counted_day
FROM user_goal_progress;
DROP TABLE user_goal_progress;
ALTER TABLE user_goal_progress_new RENAME TO user_goal_progress;
CREATE INDEX user_goal_progress_user_challenge ON user_goal_progress (user_id, challenge_id);
CREATE INDEX user_goal_progress_expiry ON user_goal_progress (expires_at, user_id, goal_id)
    WHERE expires_at IS NOT NULL;
