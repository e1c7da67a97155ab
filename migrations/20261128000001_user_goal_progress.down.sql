DROP TABLE IF EXISTS reward_grants;
DROP TABLE IF EXISTS processed_events;
DROP TABLE IF EXISTS user_goal_progress;
