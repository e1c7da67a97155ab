//! SQLite's reads of the event archive (replay). Written by `batch.rs`, pruned by `cleanup.rs`.

use engine::UserId;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::SqliteStore;
use crate::StoreError;
use crate::archive::{ArchiveWindow, ArchivedEvent};

// Times are stored in one text format, so comparing them as text compares them as times.
const IN_WINDOW: &str = "(?1 IS NULL OR occurred_at >= ?1) AND (?2 IS NULL OR occurred_at < ?2)";

impl SqliteStore {
    pub(super) async fn read_archive_impl(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
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
    }

    pub(super) async fn player_archive_impl(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, \
               payload FROM event_archive WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user_id.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut events: Vec<ArchivedEvent> = rows.iter().map(decode).collect::<Result<_, _>>()?;
        events.reverse();
        Ok(events)
    }

    pub(super) async fn count_archive_impl(
        &self,
        window: &ArchiveWindow,
    ) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM event_archive WHERE {IN_WINDOW}");
        let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(window.from)
            .bind(window.to)
            .fetch_one(&self.pool)
            .await?;
        Ok(count.max(0) as u64)
    }
}

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
