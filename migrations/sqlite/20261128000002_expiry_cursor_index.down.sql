DROP INDEX IF EXISTS user_goal_progress_expiry;
CREATE INDEX user_goal_progress_expires_at ON user_goal_progress (expires_at)
    WHERE expires_at IS NOT NULL;
