-- Reward claims become an explicit state machine (pending → sending → granted | refused |
-- unknown), leased by the reconciler so replicas never work one intent twice, with a ledger
-- that outlives a player's data deletion.

ALTER TABLE reward_grants DROP CONSTRAINT reward_grants_state_check;
-- A definite failure is now called `refused` (the goal is claimable again).
UPDATE reward_grants SET state = 'refused' WHERE state = 'failed';
-- The old code called Platform right after recording `pending`: such an intent may have
-- reached it, which is what `sending` says.
UPDATE reward_grants SET state = 'sending' WHERE state = 'pending';
ALTER TABLE reward_grants ADD CONSTRAINT reward_grants_state_check
    CHECK (state IN ('pending', 'sending', 'granted', 'refused', 'unknown'));

ALTER TABLE reward_grants
    ADD COLUMN namespace       VARCHAR(128) NOT NULL DEFAULT '',
    -- What Platform sees; derived from (namespace, user, goal, period), the same on every retry.
    ADD COLUMN transaction_id  VARCHAR(64)  NOT NULL DEFAULT '',
    -- fulfillment (idempotent: may be re-sent), direct (never re-sent once it may have
    -- arrived) or none (a goal without reward). Intents of the old code were direct.
    ADD COLUMN delivery        VARCHAR(20)  NOT NULL DEFAULT 'direct'
        CHECK (delivery IN ('fulfillment', 'direct', 'none')),
    -- The period's end (the progress row's expires_at); NULL for goals that never rotate.
    ADD COLUMN period_end      TIMESTAMPTZ  NULL,
    -- Worked on (by the claim that recorded it, or one reconciler) until then.
    ADD COLUMN lease_until     TIMESTAMPTZ  NULL,
    -- The reconciler's next try is not before then (backoff).
    ADD COLUMN next_attempt_at TIMESTAMPTZ  NULL;

-- The reconciler leases open intents that are due, oldest first.
DROP INDEX reward_grants_pending;
CREATE INDEX reward_grants_open ON reward_grants (next_attempt_at)
    WHERE state IN ('pending', 'sending');
-- Operators list intents whose outcome is unknown.
CREATE INDEX reward_grants_unknown ON reward_grants (updated_at) WHERE state = 'unknown';

-- What stays of a deleted player's rewards: a keyed hash of (namespace, user, goal, period),
-- so the same reward is never granted twice, with no user id in clear.
CREATE TABLE reward_ledger (
    key         CHAR(64)    NOT NULL PRIMARY KEY,
    state       VARCHAR(20) NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL
);

-- The ledger's HMAC secret, generated once by the service (one row).
CREATE TABLE reward_ledger_secret (
    id     SMALLINT    NOT NULL PRIMARY KEY CHECK (id = 1),
    secret VARCHAR(64) NOT NULL
);
