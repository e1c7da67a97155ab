//! PostgreSQL's reads of the event archive (replay, explain). Written by `batch.rs` one row of
//! `event_archive_batch` per batch transaction; pruned and deleted by `cleanup.rs`.
//!
//! An event's `seq` is `batch id * 65536 + its place in the batch` (from 1), as the
//! `event_archive` view numbers it.
use chrono::{DateTime, Utc};

use std::sync::LazyLock;

use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::StoreError;
use crate::archive::{ArchiveWindow, ArchivedEvent, Events};

crate::archive::event_archive!(PgStore, PgRow, player_events: PLAYER_EVENTS.as_str());

/// Each of the player's batches holds at least one of their events, so their last `limit`
/// events are in their last `limit` batches.
static PLAYER_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EVENT_COLUMNS} FROM ( \
           SELECT * FROM event_archive_batch WHERE players @> ARRAY[$1]::varchar[] \
           ORDER BY id DESC LIMIT $2) b {BATCH_EVENTS} \
         WHERE e.user_id = $1 ORDER BY 1 DESC LIMIT $2"
    )
});

/// A batch's events, one row each, in the order `decode` reads them.
pub(super) const BATCH_EVENTS: &str = "CROSS JOIN LATERAL unnest(b.event_id, b.kind, b.user_id, \
     b.namespace, b.occurred_at, b.stat_code, b.value, b.inc, b.payload) \
     WITH ORDINALITY AS e(event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, place)";
const EVENT_COLUMNS: &str = "b.id * 65536 + e.place, e.event_id, e.kind, e.user_id, e.namespace, \
     e.occurred_at, e.stat_code, e.value, e.inc, e.payload::text, b.rule_set";
const PLACES: i64 = 65_536;

/// The advisory lock (by `hashtext`) a replica holds while its statement prunes the archive.
const ARCHIVE_PRUNE_TURN: &str = "challenge.event_archive.prune";

/// The first `$2` batches (by id) that `condition` keeps, each with `before`: the events of the
/// batches ahead of it. `before < $2` picks the fewest that hold `$2` events (their counts are a
/// column: nothing is decompressed to choose them). Replay pages and the retention prune read
/// the archive this way.
pub(super) fn head_batches(condition: &str) -> String {
    format!(
        "SELECT id, archived_at, sum(events) OVER (ORDER BY id) - events AS before \
         FROM (SELECT id, archived_at, events FROM event_archive_batch {condition} ORDER BY id LIMIT $2) h"
    )
}

fn in_window(window: &ArchiveWindow, event: &ArchivedEvent) -> bool {
    window.from.is_none_or(|from| event.occurred_at >= from)
        && window.to.is_none_or(|to| event.occurred_at < to)
}

impl PgStore {
    /// The fewest batches from the one holding `after` on that hold `limit` events, then their
    /// events in order; batches with none in the window are skipped.
    async fn archive_page(&self, window: &ArchiveWindow, after: i64, limit: i64) -> Events {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {EVENT_COLUMNS} FROM event_archive_batch b {BATCH_EVENTS} \
                 WHERE b.id >= $1 AND b.id <= (SELECT max(id) FROM ({}) c WHERE before < $2) \
                 ORDER BY b.id, e.place",
                head_batches("WHERE id >= $1")
            )
        });
        let mut from_batch = after.max(0) / PLACES;
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(SQL.as_str()))
                .bind(from_batch)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else {
                return Ok(Vec::new());
            };
            let last_batch = last.try_get::<i64, _>(0)? / PLACES;
            let mut events = Vec::with_capacity(rows.len());
            for row in &rows {
                let event = decode_event(row)?;
                if event.seq > after && in_window(window, &event) {
                    events.push(event);
                }
            }
            if !events.is_empty() {
                events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                return Ok(events);
            }
            // None of these batches' events is in the window: on to the next ones.
            from_batch = last_batch + 1;
        }
    }

    /// The batches' counts when the window is open; else every event's time is looked at.
    async fn archive_count(&self, window: &ArchiveWindow) -> Result<i64, StoreError> {
        let count = if window.from.is_none() && window.to.is_none() {
            sqlx::query_scalar("SELECT coalesce(sum(events), 0)::bigint FROM event_archive_batch")
                .fetch_one(&self.pool)
                .await?
        } else {
            sqlx::query_scalar(
                "SELECT count(*) FROM event_archive_batch b \
                 CROSS JOIN LATERAL unnest(b.occurred_at) o \
                 WHERE ($1::timestamptz IS NULL OR o >= $1) AND ($2::timestamptz IS NULL OR o < $2)",
            )
            .bind(window.from)
            .bind(window.to)
            .fetch_one(&self.pool)
            .await?
        };
        Ok(count)
    }

    /// Ids grow with the archive time: the oldest batches are the lowest ids, so the head of the
    /// primary key is all a run looks at. Whole batches go, the fewest that hold `limit` events;
    /// so fewer than `limit` pruned means nothing older is left. One replica prunes at a time
    /// (the head's window sums cannot be `SKIP LOCKED`): another one's statement, finding the
    /// turn taken, deletes nothing and its run moves on.
    async fn archive_prune(&self, before: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH turn AS (SELECT pg_try_advisory_xact_lock(hashtext('{ARCHIVE_PRUNE_TURN}')) AS mine), \
                 head AS ({}), \
                 gone AS ( \
                   DELETE FROM event_archive_batch WHERE (SELECT mine FROM turn) AND id IN ( \
                     SELECT id FROM head WHERE archived_at < $1 AND before < $2) \
                   RETURNING events) \
                 SELECT coalesce(sum(events), 0)::bigint FROM gone",
                head_batches("")
            )
        });
        let pruned: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(SQL.as_str()))
            .bind(before)
            .bind(limit)
            .fetch_one(&self.pool)
            .await?;
        Ok(pruned.max(0) as u64)
    }
}
