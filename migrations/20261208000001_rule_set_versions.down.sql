DROP VIEW event_archive;
CREATE VIEW event_archive AS
SELECT b.id * 65536 + e.place AS id, e.event_id, e.kind, e.user_id, e.namespace, e.occurred_at,
       e.stat_code, e.value, e.inc, e.payload, b.archived_at
FROM event_archive_batch b
CROSS JOIN LATERAL unnest(b.event_id, b.kind, b.user_id, b.namespace, b.occurred_at, b.stat_code,
                          b.value, b.inc, b.payload)
    WITH ORDINALITY AS e(event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc,
                         payload, place);
ALTER TABLE event_archive_batch DROP COLUMN rule_set;
DROP TABLE rule_sets;
