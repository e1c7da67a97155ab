//! PostgreSQL's reads of the event archive (replay). Written by `batch.rs`, pruned by `cleanup.rs`.

use engine::UserId;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::StoreError;
use crate::archive::{ArchiveWindow, ArchivedEvent};

impl PgStore {
    pub(super) async fn read_archive_impl(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        // Keyset pages over the primary key: each page is an index range, however deep.
        let rows = sqlx::query(
            "SELECT id, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, \
               payload::text FROM event_archive \
             WHERE id > $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2) \
               AND ($3::timestamptz IS NULL OR occurred_at < $3) \
             ORDER BY id LIMIT $4",
        )
        .bind(after)
        .bind(window.from)
        .bind(window.to)
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
               payload::text FROM event_archive WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
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
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM event_archive \
             WHERE ($1::timestamptz IS NULL OR occurred_at >= $1) \
               AND ($2::timestamptz IS NULL OR occurred_at < $2)",
        )
        .bind(window.from)
        .bind(window.to)
        .fetch_one(&self.pool)
        .await?;
        Ok(count.max(0) as u64)
    }
}

/// By position: replay reads millions of these.
fn decode(row: &PgRow) -> Result<ArchivedEvent, sqlx::Error> {
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
