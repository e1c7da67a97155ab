-- Back to one row per event (migration 4's table, with migrations 5 and 6 applied).
CREATE TABLE event_archive_rows (
    id          BIGSERIAL PRIMARY KEY,
    event_id    VARCHAR(256) NOT NULL,
    kind        VARCHAR(16) NOT NULL,
    user_id     VARCHAR(128) NOT NULL,
    namespace   VARCHAR(128) NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    stat_code   VARCHAR(256),
    value       BIGINT NOT NULL,
    inc         BIGINT NOT NULL,
    payload     JSON NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL
);
INSERT INTO event_archive_rows
    (event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, archived_at)
SELECT event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, archived_at
FROM event_archive
ORDER BY id;
DROP VIEW event_archive;
DROP TABLE event_archive_batch;
ALTER TABLE event_archive_rows RENAME TO event_archive;
ALTER SEQUENCE event_archive_rows_id_seq RENAME TO event_archive_id_seq;
ALTER INDEX event_archive_rows_pkey RENAME TO event_archive_pkey;
CREATE INDEX event_archive_user ON event_archive USING hash (user_id);
