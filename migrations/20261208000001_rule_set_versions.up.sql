-- Rule-set versions: every rule set a process applied events under, recorded once (by the
-- writer, in the first batch transaction that uses it), with its files' names and text, so an
-- archived event's `rule_set` says which rules it was applied under, and the console can show
-- "applied under the rules of <time>" and what those rules did.
CREATE TABLE rule_sets (
    content_hash VARCHAR(64) PRIMARY KEY,
    loaded_at    TIMESTAMPTZ NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL,
    files        JSON NOT NULL -- [{"name": "...", "text": "..."}]
);

-- The content hash of the rules a batch's archived events were applied under (NULL: archived
-- before this migration). A batch applied across a reload archives one row per rule set.
ALTER TABLE event_archive_batch ADD COLUMN rule_set VARCHAR(64) NULL;

CREATE OR REPLACE VIEW event_archive AS
SELECT b.id * 65536 + e.place AS id, e.event_id, e.kind, e.user_id, e.namespace, e.occurred_at,
       e.stat_code, e.value, e.inc, e.payload, b.archived_at, b.rule_set
FROM event_archive_batch b
CROSS JOIN LATERAL unnest(b.event_id, b.kind, b.user_id, b.namespace, b.occurred_at, b.stat_code,
                          b.value, b.inc, b.payload)
    WITH ORDINALITY AS e(event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc,
                         payload, place);
