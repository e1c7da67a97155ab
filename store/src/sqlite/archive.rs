//! SQLite's reads of the event archive (replay). Written by `batch.rs`, pruned by `cleanup.rs`.
use chrono::{DateTime, Utc};

use engine::UserId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::StoreError;
use crate::archive::{ArchiveWindow, ArchivedEvent};

// Times are stored in one text format, so comparing them as text compares them as times.
const IN_WINDOW: &str = "(?1 IS NULL OR occurred_at >= ?1) AND (?2 IS NULL OR occurred_at < ?2)";

fn decode(row: &SqliteRow) -> Result<ArchivedEvent, sqlx::Error> {
    Ok(ArchivedEvent {
        seq: row.try_get(0)?,
        event_id: row.try_get(1)?,
        kind: row.try_get(2)?,
        user_id: row.try_get(3)?,
        namespace: row.try_get(4)?,
        occurred_at: row.try_get(5)?,
        stat_code: row.try_get(6)?,
        value: row.try_get(7)?,
        inc: row.try_get(8)?,
        payload: row.try_get(9)?,
    })
}

#[async_trait::async_trait]
impl crate::EventArchive for SqliteStore {
    async fn read_archive(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        let work = async move {
            let sql = format!(
                "SELECT id, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, \
               payload FROM event_archive WHERE {IN_WINDOW} AND id > ?3 ORDER BY id LIMIT ?4"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(window.from)
                .bind(window.to)
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
        };
        self.probe.timed("read_archive", work).await
    }

    async fn player_archive(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        self.probe
            .timed("player_archive", async move {
                let rows = sqlx::query(
            "SELECT id, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, \
               payload FROM event_archive WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user_id.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
                let mut events: Vec<ArchivedEvent> =
                    rows.iter().map(decode).collect::<Result<_, _>>()?;
                events.reverse();
                Ok(events)
            })
            .await
    }

    async fn count_archive(&self, window: &ArchiveWindow) -> Result<u64, StoreError> {
        self.probe
            .timed("count_archive", async move {
                let sql = format!("SELECT count(*) FROM event_archive WHERE {IN_WINDOW}");
                let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(window.from)
                    .bind(window.to)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(count.max(0) as u64)
            })
            .await
    }

    async fn prune_event_archive(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let work = async move {
            Ok(sqlx::query(
            // Ids grow with the archive time: the oldest rows are the lowest ids, so the head of
            // the primary key is all a run looks at (no index on `archived_at` to keep up).
            "DELETE FROM event_archive WHERE id IN ( \
               SELECT id FROM (SELECT id, archived_at FROM event_archive ORDER BY id LIMIT ?2) head \
               WHERE archived_at < ?1)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected())
        };
        self.probe.timed("prune_event_archive", work).await
    }
}
