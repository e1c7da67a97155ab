-- The event archive, one row per batch transaction instead of one per event. An event archived
-- as its own row cost ~370 bytes of WAL (heap tuple, primary key, hash index by player); a batch
-- of them as one row of columns, compressed, costs about a quarter of that, and the statement
-- inserts one tuple instead of hundreds (docs/benchmarks.md, "Event archive cost").
--
-- Events keep their order: batch `id`, then their place in the batch. `event_archive`, the view
-- below, shows them one row per event, numbered `id * 65536 + place`, for SQL by hand.
CREATE TABLE event_archive_batch (
    id          BIGSERIAL PRIMARY KEY,
    archived_at TIMESTAMPTZ NOT NULL,
    events      INTEGER NOT NULL CHECK (events BETWEEN 1 AND 65535),
    players     VARCHAR(128)[] NOT NULL, -- the distinct players of `user_id`, for the GIN index
    event_id    VARCHAR(256)[] NOT NULL,
    kind        VARCHAR(16)[] NOT NULL,
    user_id     VARCHAR(128)[] NOT NULL,
    namespace   VARCHAR(128)[] NOT NULL,
    occurred_at TIMESTAMPTZ[] NOT NULL,
    stat_code   VARCHAR(256)[] NOT NULL, -- NULL elements: events without a stat code
    value       BIGINT[] NOT NULL,
    inc         BIGINT[] NOT NULL,
    payload     JSON[] NOT NULL
);
-- A player's batches: explain's recent events and the GDPR deletion. One entry per player per
-- batch, appended to GIN's pending list.
CREATE INDEX event_archive_batch_players ON event_archive_batch USING gin (players);

-- LZ4 compresses the arrays at a fraction of pglz's CPU. A server built without it keeps pglz.
DO $$
BEGIN
    ALTER TABLE event_archive_batch
        ALTER COLUMN players SET COMPRESSION lz4, ALTER COLUMN event_id SET COMPRESSION lz4,
        ALTER COLUMN kind SET COMPRESSION lz4, ALTER COLUMN user_id SET COMPRESSION lz4,
        ALTER COLUMN namespace SET COMPRESSION lz4, ALTER COLUMN occurred_at SET COMPRESSION lz4,
        ALTER COLUMN stat_code SET COMPRESSION lz4, ALTER COLUMN value SET COMPRESSION lz4,
        ALTER COLUMN inc SET COMPRESSION lz4, ALTER COLUMN payload SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: the archive batches are compressed with pglz';
END $$;

-- What was archived row by row moves over, 256 events to a batch, in order.
INSERT INTO event_archive_batch
    (archived_at, events, players, event_id, kind, user_id, namespace, occurred_at, stat_code,
     value, inc, payload)
SELECT max(archived_at), count(*), array_agg(DISTINCT user_id),
       array_agg(event_id ORDER BY id), array_agg(kind ORDER BY id), array_agg(user_id ORDER BY id),
       array_agg(namespace ORDER BY id), array_agg(occurred_at ORDER BY id),
       array_agg(stat_code ORDER BY id), array_agg(value ORDER BY id), array_agg(inc ORDER BY id),
       array_agg(payload ORDER BY id)
FROM event_archive
GROUP BY id / 256
ORDER BY id / 256;
DROP TABLE event_archive;

CREATE VIEW event_archive AS
SELECT b.id * 65536 + e.place AS id, e.event_id, e.kind, e.user_id, e.namespace, e.occurred_at,
       e.stat_code, e.value, e.inc, e.payload, b.archived_at
FROM event_archive_batch b
CROSS JOIN LATERAL unnest(b.event_id, b.kind, b.user_id, b.namespace, b.occurred_at, b.stat_code,
                          b.value, b.inc, b.payload)
    WITH ORDINALITY AS e(event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc,
                         payload, place);
