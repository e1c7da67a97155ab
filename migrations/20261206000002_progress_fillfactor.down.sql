ALTER TABLE user_goal_progress RESET (fillfactor);
