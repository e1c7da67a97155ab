-- no-transaction
DROP INDEX CONCURRENTLY IF EXISTS user_goal_progress_goal;
