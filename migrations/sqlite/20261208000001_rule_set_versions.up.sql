-- Rule-set versions (see the PostgreSQL migration): each rule set events were applied under,
-- and the one each archived event was applied under.
CREATE TABLE rule_sets (
    content_hash TEXT PRIMARY KEY,
    loaded_at    TEXT NOT NULL,
    recorded_at  TEXT NOT NULL,
    files        TEXT NOT NULL
);
ALTER TABLE event_archive ADD COLUMN rule_set TEXT NULL;
