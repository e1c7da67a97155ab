ALTER TABLE reward_grants DROP COLUMN parts_granted;
