DROP INDEX IF EXISTS user_goal_progress_goal;
