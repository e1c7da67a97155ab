-- A bundle delivered directly (entitlement grants and wallet credits, one call per reward) is
-- sent part by part, in order: how many of its parts Platform granted, so a part that went is
-- never sent again, by a retry, a reconciler, or a claim started again after a refusal.
ALTER TABLE reward_grants ADD COLUMN parts_granted INTEGER NOT NULL DEFAULT 0;
