-- Back to 32 bits: larger values are clamped, as the old code did.
ALTER TABLE user_goal_progress
    ALTER COLUMN progress TYPE INT USING least(progress, 2147483647),
    ALTER COLUMN baseline_value TYPE INT
        USING greatest(least(baseline_value, 2147483647), -2147483648);
