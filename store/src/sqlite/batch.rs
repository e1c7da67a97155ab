//! SQLite's batch transaction: the group-commit writer's events, folded into the rows they touch.
//! Each step is a few multi-row statements (`grouped.rs`), not one statement per event or row.

use std::collections::HashSet;

use super::grouped::{chunks, values};
use super::{SqliteStore, decode, insert_rows};
use crate::PendingEvent;
use crate::archive::ArchiveColumns;
use crate::fold::{
    ApplyBatch, Outcomes, Tombstones, auto_rows, batch_users, deduplicated, first_occurrences,
    fold, forget_deleted, fresh_events, touched_keys,
};
use crate::players::{COLUMNS, KEEP};
use crate::row::ProgressRow;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

/// What a changed row overwrites: everything the fold decides, never the key nor `created_at`.
const OVERWRITE: &str = "ON CONFLICT (user_id, goal_id) DO UPDATE SET progress = excluded.progress, \
     status = excluded.status, completed_at = excluded.completed_at, claimed_at = excluded.claimed_at, \
     updated_at = excluded.updated_at, is_active = excluded.is_active, assigned_at = excluded.assigned_at, \
     expires_at = excluded.expires_at, baseline_value = excluded.baseline_value, \
     last_counted_day = excluded.last_counted_day";

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
        let mut candidates = Vec::new();
        for (place, pending) in batch.iter().enumerate() {
            if !fresh[place] || !deduplicated(pending) {
                continue;
            }
            if legacy && applied_before(&mut tx, pending).await? {
                fresh[place] = false;
            } else {
                candidates.push(place);
            }
        }
        let applied = remember(&mut tx, batch, &candidates, now).await?;
        for place in candidates {
            let (user, id, sent) = crate::dedup::key(batch[place]);
            fresh[place] = applied.contains(&(user.to_string(), id.to_string(), sent));
        }
        let assigned = auto_rows(fresh_events(batch, &fresh), now);
        write_rows(&mut tx, &assigned, KEEP).await?;
        let rows = read_rows(&mut tx, &touched_keys(fresh_events(batch, &fresh))).await?;
        let folded = fold(batch, &fresh, &forgotten, rows, now);
        write_rows(&mut tx, &folded.changed, OVERWRITE).await?;
        for notice in &folded.completions {
            super::outbox::insert_notice(&mut tx, notice).await?;
        }
        archive(&mut tx, &ArchiveColumns::of(batch, &fresh), now).await?;
        let missing = self.common.rule_sets.missing(batch);
        for rules in &missing {
            sqlx::query(crate::archive::RECORD_RULE_SET_SQLITE)
                .bind(&rules.info.content_hash)
                .bind(rules.info.loaded_at)
                .bind(now)
                .bind(crate::archive::files_json(rules))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.common.rule_sets.mark(&missing);
        Ok(folded.outcomes)
    }
}

/// Whether the legacy dedup table (keyed by user and id) holds `pending`.
async fn applied_before(
    conn: &mut SqliteConnection,
    pending: &PendingEvent,
) -> Result<bool, sqlx::Error> {
    let (user, id, _) = crate::dedup::key(pending);
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM processed_events WHERE event_id = ? AND user_id = ?)",
    )
    .bind(id)
    .bind(user)
    .fetch_one(conn)
    .await
}

/// Records the dedup keys of `batch[place]` for each place of `candidates`; answers the keys
/// that were new (the others were applied before).
async fn remember(
    conn: &mut SqliteConnection,
    batch: &[&PendingEvent],
    candidates: &[usize],
    now: DateTime<Utc>,
) -> Result<HashSet<(String, String, DateTime<Utc>)>, sqlx::Error> {
    let mut applied = HashSet::with_capacity(candidates.len());
    for range in chunks(candidates.len()) {
        let sql = format!(
            "INSERT INTO applied_events (user_id, event_id, event_time, processed_at) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING user_id, event_id, event_time",
            values(range.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for place in &candidates[range] {
            let (user, id, sent) = crate::dedup::key(batch[*place]);
            query = query.bind(user).bind(id).bind(sent).bind(now);
        }
        for row in query.fetch_all(&mut *conn).await? {
            applied.insert((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
    }
    Ok(applied)
}

/// The stored rows of `keys` (those that exist).
async fn read_rows(
    conn: &mut SqliteConnection,
    keys: &[(engine::UserId, engine::GoalId)],
) -> Result<Vec<ProgressRow>, crate::StoreError> {
    let mut rows = Vec::with_capacity(keys.len());
    for range in chunks(keys.len()) {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE (user_id, goal_id) IN (VALUES {})",
            values(range.len(), 2)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (user, goal) in &keys[range] {
            query = query.bind(user.as_str()).bind(goal.as_str());
        }
        for row in query.fetch_all(&mut *conn).await? {
            rows.push(decode(&row)?);
        }
    }
    Ok(rows)
}

/// Writes `rows`, `on` deciding what happens to one that exists.
async fn write_rows(
    conn: &mut SqliteConnection,
    rows: &[ProgressRow],
    on: &str,
) -> Result<(), sqlx::Error> {
    for range in chunks(rows.len()) {
        insert_rows(&rows[range], on).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Appends a batch's archived events.
async fn archive(
    conn: &mut SqliteConnection,
    archived: &ArchiveColumns<'_>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for range in chunks(archived.len()) {
        let sql = format!(
            "INSERT INTO event_archive (event_id, kind, user_id, namespace, occurred_at, stat_code, \
               value, inc, payload, archived_at, rule_set) VALUES {}",
            values(range.len(), 11)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in range {
            query = query
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
                .bind(archived.rule_set[i]);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
