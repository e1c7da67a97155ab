-- The cleanup job walks expired rows in (expires_at, user_id, goal_id) order with a cursor, so
-- the rows it must keep (claimed for good, a player's selection) are passed once per run rather
-- than once per delete statement, and rows sharing one expiry instant (every row of a daily goal)
-- are still walked in index order.
DROP INDEX IF EXISTS user_goal_progress_expires_at;
CREATE INDEX user_goal_progress_expiry ON user_goal_progress (expires_at, user_id, goal_id)
    WHERE expires_at IS NOT NULL;
