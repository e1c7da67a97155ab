DROP TABLE IF EXISTS reward_ledger_secret;
DROP TABLE IF EXISTS reward_ledger;
DROP INDEX IF EXISTS reward_grants_unknown;
DROP INDEX IF EXISTS reward_grants_open;
ALTER TABLE reward_grants
    DROP COLUMN next_attempt_at,
    DROP COLUMN lease_until,
    DROP COLUMN period_end,
    DROP COLUMN delivery,
    DROP COLUMN transaction_id,
    DROP COLUMN namespace;
ALTER TABLE reward_grants DROP CONSTRAINT reward_grants_state_check;
-- The old code knew pending, granted and failed: what may still be sent or decided is pending
-- (its reconciler re-sends it), a refusal is failed; an unknown outcome stays pending, which
-- the old reconciler would re-send: revert only after resolving unknown intents.
UPDATE reward_grants SET state = 'failed' WHERE state = 'refused';
UPDATE reward_grants SET state = 'pending' WHERE state IN ('sending', 'unknown');
ALTER TABLE reward_grants ADD CONSTRAINT reward_grants_state_check
    CHECK (state IN ('pending', 'granted', 'failed'));
CREATE INDEX reward_grants_pending ON reward_grants (updated_at) WHERE state = 'pending';
