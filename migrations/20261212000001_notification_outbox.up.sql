-- The transactional outbox of notifications (issue 34): a record is written in the transaction
-- that causes it (a goal completing in the writer's batch, a reward intent granted or refused),
-- and the service delivers it to the sinks configured (a webhook, AGS Lobby) at least once, per
-- player in the order written, then deletes it. A record that keeps failing is dead-lettered
-- (`dead`) and stops blocking the player's later records.
CREATE TABLE notification_outbox (
    user_id         VARCHAR(128) NOT NULL,
    -- The order records were written in.
    seq             BIGSERIAL    NOT NULL,
    -- Stable: the same record written twice (a batch retried) is one record, and receivers
    -- deduplicate on it. It hashes the user id, so it is unique per player too.
    id              VARCHAR(64)  NOT NULL,
    kind            VARCHAR(32)  NOT NULL,
    -- The JSON delivered, byte for byte what is signed.
    body            TEXT         NOT NULL,
    created_at      TIMESTAMPTZ  NOT NULL,
    -- The sinks that took it, comma-separated: a retry goes only to the others.
    delivered_to    VARCHAR(64)  NOT NULL DEFAULT '',
    attempts        INTEGER      NOT NULL DEFAULT 0,
    dead            BOOLEAN      NOT NULL DEFAULT FALSE,
    last_error      TEXT         NULL,
    next_attempt_at TIMESTAMPTZ  NOT NULL,
    lease_until     TIMESTAMPTZ  NULL,
    -- Keyed by player, as every per-player table (docs/scaling.md).
    PRIMARY KEY (user_id, seq),
    UNIQUE (user_id, id)
);
-- The primary key orders a player's records (only the oldest live one is due); the due ones:
CREATE INDEX notification_outbox_due ON notification_outbox (next_attempt_at) WHERE NOT dead;

-- A reward record names the goal's challenge: the intent keeps it.
ALTER TABLE reward_grants ADD COLUMN challenge_id VARCHAR(128) NOT NULL DEFAULT '';
