//! SQLite's hooks of the `EventArchive` role written once in `archive.rs`: one row per event.
//! Written by `batch.rs`, pruned by the cleanup job.
use chrono::{DateTime, Utc};

use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::StoreError;
use crate::archive::{ArchiveWindow, Events};

crate::archive::event_archive!(SqliteStore, SqliteRow, player_events: PLAYER_EVENTS);

/// An event's columns, in the order `decode_event` reads them.
const EVENT_COLUMNS: &str =
    "id, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, rule_set";

const PLAYER_EVENTS: &str = "SELECT id, event_id, kind, user_id, namespace, occurred_at, \
     stat_code, value, inc, payload, rule_set FROM event_archive WHERE user_id = $1 \
     ORDER BY id DESC LIMIT $2";

// Times are stored in one text format, so comparing them as text compares them as times.
const IN_WINDOW: &str = "($1 IS NULL OR occurred_at >= $1) AND ($2 IS NULL OR occurred_at < $2)";

impl SqliteStore {
    async fn archive_page(&self, window: &ArchiveWindow, after: i64, limit: i64) -> Events {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM event_archive WHERE {IN_WINDOW} AND id > $3 \
             ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(window.from)
            .bind(window.to)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode_event).collect::<Result<_, _>>()?)
    }

    async fn archive_count(&self, window: &ArchiveWindow) -> Result<i64, StoreError> {
        let sql = format!("SELECT count(*) FROM event_archive WHERE {IN_WINDOW}");
        let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        Ok(query
            .bind(window.from)
            .bind(window.to)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Ids grow with the archive time: the oldest rows are the lowest ids, so the head of the
    /// primary key is all a run looks at (no index on `archived_at` to keep up).
    async fn archive_prune(&self, before: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let prune = sqlx::query(
            "DELETE FROM event_archive WHERE id IN ( \
               SELECT id FROM (SELECT id, archived_at FROM event_archive ORDER BY id LIMIT $2) head \
               WHERE archived_at < $1)",
        );
        let done = prune.bind(before).bind(limit).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }
}
