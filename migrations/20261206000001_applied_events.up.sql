-- Event ids are a producer's, not unique across players: two game servers may both send
-- `match-42`. Applied events are therefore remembered per (user, event id, the producer's own
-- timestamp): every redelivery carries the same three, so it lands on the same key, and the
-- time makes the table partitionable by it later (PostgreSQL enforces uniqueness only within a
-- partition). `event_time` is the Unix epoch for an event sent without a timestamp.
--
-- Safe on a live database: a new, empty table (no lock on `processed_events`, no rewrite). The
-- release that adds it writes only here and also reads `processed_events` (matching its rows by
-- user and id) until the cleanup job has pruned it empty, one dedup window after the deploy;
-- a later release drops it (docs/operations.md, "Migrations in production").
SET LOCAL lock_timeout = '5s';

CREATE TABLE applied_events (
    user_id      VARCHAR(128) NOT NULL,
    event_id     VARCHAR(256) NOT NULL,
    event_time   TIMESTAMPTZ  NOT NULL,
    processed_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, event_id, event_time)
);

-- Pruning the dedup window deletes by age.
CREATE INDEX applied_events_processed_at ON applied_events (processed_at);
