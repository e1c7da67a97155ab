ALTER TABLE reward_grants DROP COLUMN challenge_id;
DROP TABLE notification_outbox;
