//! SQLite's batch transaction: the group-commit writer's events, folded into the rows they touch.

use super::{SqliteStore, decode, insert_row};
use crate::PendingEvent;
use crate::archive::ArchiveColumns;
use crate::fold::{
    ApplyBatch, Outcomes, Tombstones, auto_keys, batch_users, deduplicated, first_occurrences,
    fold, forget_deleted, fresh_events, touched_keys,
};
use crate::players::COLUMNS;
use crate::row::ProgressRow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl ApplyBatch for SqliteStore {
    async fn apply_batch(&self, batch: &[&PendingEvent], now: DateTime<Utc>) -> Outcomes {
        let mut fresh = first_occurrences(batch);
        let mut tx = self.begin_write().await?;
        let users = serde_json::to_string(&batch_users(batch)).unwrap_or_default();
        let tombstones: Tombstones = sqlx::query_as(
            "SELECT user_id, deleted_at FROM deleted_users \
             WHERE user_id IN (SELECT value FROM json_each(?))",
        )
        .bind(users)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let forgotten = forget_deleted(batch, &mut fresh, &tombstones);
        let legacy = self
            .common
            .legacy_dedup
            .live(|| sqlx::query_scalar(crate::dedup::HAS_ROWS).fetch_one(&mut *tx))
            .await?;
        for (pending, is_fresh) in batch.iter().zip(fresh.iter_mut()) {
            if !*is_fresh || !deduplicated(pending) {
                continue;
            }
            let (user, id, sent) = crate::dedup::key(pending);
            if legacy {
                let before: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = ? AND user_id = ?)",
                )
                .bind(id)
                .bind(user)
                .fetch_one(&mut *tx)
                .await?;
                if before {
                    *is_fresh = false;
                    continue;
                }
            }
            let inserted = sqlx::query(
                "INSERT INTO applied_events (user_id, event_id, event_time, processed_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(user)
            .bind(id)
            .bind(sent)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            *is_fresh = inserted == 1;
        }
        for (user_id, goal_id, pending) in auto_keys(fresh_events(batch, &fresh)) {
            if let Some(goal) = pending.rules.goal(goal_id.as_str()) {
                let row = ProgressRow::assigned(&user_id, &pending.event.namespace, goal, now);
                insert_row(&mut tx, &row, crate::players::KEEP).await?;
            }
        }
        let mut rows = Vec::new();
        for (user_id, goal_id) in touched_keys(fresh_events(batch, &fresh)) {
            let sql = format!(
                "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = ? AND goal_id = ?"
            );
            if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user_id.as_str())
                .bind(goal_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
            {
                rows.push(decode(&row)?);
            }
        }
        let folded = fold(batch, &fresh, &forgotten, rows, now);
        for row in &folded.changed {
            insert_row(
                &mut tx,
                row,
                "ON CONFLICT (user_id, goal_id) DO UPDATE SET progress = excluded.progress, status = excluded.status, \
                 completed_at = excluded.completed_at, claimed_at = excluded.claimed_at, updated_at = excluded.updated_at, \
                 is_active = excluded.is_active, assigned_at = excluded.assigned_at, expires_at = excluded.expires_at, \
                 baseline_value = excluded.baseline_value, last_counted_day = excluded.last_counted_day",
            )
            .await?;
        }
        let archived = ArchiveColumns::of(batch, &fresh);
        for i in 0..archived.len() {
            sqlx::query(
                "INSERT INTO event_archive (event_id, kind, user_id, namespace, occurred_at, stat_code, \
                   value, inc, payload, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(archived.event_id[i])
            .bind(archived.kind[i])
            .bind(archived.user_id[i])
            .bind(archived.namespace[i])
            .bind(archived.occurred_at[i])
            .bind(archived.stat_code[i])
            .bind(archived.value[i])
            .bind(archived.inc[i])
            .bind(&archived.payload[i])
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(folded.outcomes)
    }
}
