-- Per-player goal progress. Column names are the reference implementation's: its clients and
-- scripts read them. One row per (user, goal).
CREATE TABLE user_goal_progress (
    user_id          VARCHAR(128) NOT NULL CHECK (length(user_id) >= 1),
    goal_id          VARCHAR(100) NOT NULL,
    challenge_id     VARCHAR(100) NOT NULL,
    namespace        VARCHAR(128) NOT NULL,
    progress         INT          NOT NULL DEFAULT 0 CHECK (progress >= 0),
    status           VARCHAR(20)  NOT NULL DEFAULT 'not_started'
                     CHECK (status IN ('not_started', 'in_progress', 'completed', 'claimed')),
    completed_at     TIMESTAMPTZ  NULL,
    claimed_at       TIMESTAMPTZ  NULL,
    created_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ  NOT NULL DEFAULT now(),
    is_active        BOOLEAN      NOT NULL DEFAULT true,
    assigned_at      TIMESTAMPTZ  NULL,
    expires_at       TIMESTAMPTZ  NULL,
    baseline_value   INT          NULL,
    -- Ours: the last UTC day a `count: days` goal counted.
    last_counted_day DATE         NULL,
    PRIMARY KEY (user_id, goal_id),
    -- A claimed goal was completed first.
    CONSTRAINT claimed_implies_completed
        CHECK (status <> 'claimed' OR (completed_at IS NOT NULL AND claimed_at IS NOT NULL))
);

-- Listing one challenge of one player (GET /v1/challenges/{c}, batch/random select): the
-- primary key serves "all rows of a user"; this serves "rows of a user in a challenge".
CREATE INDEX user_goal_progress_user_challenge ON user_goal_progress (user_id, challenge_id);

-- The expired-row cleanup job scans rows of rotated goals by expiry, oldest first.
CREATE INDEX user_goal_progress_expires_at ON user_goal_progress (expires_at)
    WHERE expires_at IS NOT NULL;

-- Event ids already applied: a redelivered event (Extend delivers at least once) changes
-- nothing the second time. Written in the same transaction as the progress it caused.
CREATE TABLE processed_events (
    event_id     VARCHAR(256) NOT NULL PRIMARY KEY,
    user_id      VARCHAR(128) NOT NULL,
    processed_at TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- Pruning the dedup window deletes by age.
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Reward claims: the durable intent recorded before AGS Platform is called, so a reward is
-- granted at most once per (user, goal, period) across crashes and retries.
CREATE TABLE reward_grants (
    user_id      VARCHAR(128) NOT NULL,
    goal_id      VARCHAR(100) NOT NULL,
    period_start TIMESTAMPTZ  NOT NULL,
    state        VARCHAR(20)  NOT NULL CHECK (state IN ('pending', 'granted', 'failed')),
    reward       TEXT         NOT NULL,
    attempts     INT          NOT NULL DEFAULT 0,
    last_error   TEXT         NULL,
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, goal_id, period_start)
);

-- The reconciler finds intents left pending by a crash.
CREATE INDEX reward_grants_pending ON reward_grants (updated_at) WHERE state = 'pending';
