-- Stats past 2^31 (lifetime damage, currency earned) were clamped: progress and the relative
-- baseline become 64-bit. Rewrites the table (an ACCESS EXCLUSIVE lock for its duration): run
-- it in a quiet hour on large tables.
ALTER TABLE user_goal_progress
    ALTER COLUMN progress TYPE BIGINT,
    ALTER COLUMN baseline_value TYPE BIGINT;
