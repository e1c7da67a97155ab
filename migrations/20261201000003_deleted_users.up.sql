-- Tombstones of players whose data was deleted (GDPR, self-service). An event from before the
-- deletion, still queued or redelivered after it, is forgotten instead of bringing the
-- player's progress back. Kept at least as long as the dedup window; cleanup prunes them.
CREATE TABLE deleted_users (
    user_id    VARCHAR(128) PRIMARY KEY,
    deleted_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX deleted_users_deleted_at ON deleted_users (deleted_at);
