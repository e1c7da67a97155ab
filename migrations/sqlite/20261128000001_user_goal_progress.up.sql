-- SQLite twin of the PostgreSQL migration (see ../). Times are RFC 3339 UTC text, which sorts
-- chronologically; days are YYYY-MM-DD text.
CREATE TABLE user_goal_progress (
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

CREATE INDEX user_goal_progress_user_challenge ON user_goal_progress (user_id, challenge_id);
CREATE INDEX user_goal_progress_expires_at ON user_goal_progress (expires_at)
    WHERE expires_at IS NOT NULL;

CREATE TABLE processed_events (
    event_id     TEXT NOT NULL PRIMARY KEY CHECK (length(event_id) <= 256),
    user_id      TEXT NOT NULL,
    processed_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

CREATE TABLE reward_grants (
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
CREATE INDEX reward_grants_pending ON reward_grants (updated_at) WHERE state = 'pending';
