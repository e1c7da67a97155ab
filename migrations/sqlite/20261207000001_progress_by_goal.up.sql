-- Which goals players hold rows for, read from this index instead of the whole table: asked at
-- every start-up and before a hot reload removes a goal (see the PostgreSQL migration).
CREATE INDEX user_goal_progress_goal ON user_goal_progress (goal_id);
