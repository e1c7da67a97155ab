DROP TRIGGER challenge_progress_truncated ON user_goal_progress;
DROP TRIGGER challenge_progress_updated ON user_goal_progress;
DROP TRIGGER challenge_progress_deleted ON user_goal_progress;
DROP TRIGGER challenge_progress_inserted ON user_goal_progress;
DROP FUNCTION challenge_progress_truncated();
DROP FUNCTION challenge_progress_updated();
DROP FUNCTION challenge_progress_inserted_or_deleted();
DROP FUNCTION challenge_progress_notify(text[]);
