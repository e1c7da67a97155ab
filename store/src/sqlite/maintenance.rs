//! SQLite's hooks of the `Maintenance` role written once in `maintenance.rs`.
use super::MIGRATOR;
use super::SqliteStore;
use crate::maintenance::ExpiryScan;
use crate::row::expired_batch;
use crate::{ExpiredBatch, StoreError};
use chrono::{DateTime, Utc};
use engine::UserId;

type Tx<'c> = sqlx::Transaction<'c, sqlx::Sqlite>;

crate::maintenance::maintenance!(
    SqliteStore,
    sqlx::Sqlite,
    migrated: "SELECT EXISTS (SELECT 1 FROM sqlite_master \
               WHERE type = 'table' AND name = '_sqlx_migrations')",
    newest: "max",
    applied_key: ("(user_id, event_id, event_time)", "user_id, event_id, event_time"),
    elements: "json_each($1)",
    skip_locked: ""
);

/// The player's rows of the archive.
async fn delete_archived_events(tx: &mut Tx<'_>, user_id: &UserId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM event_archive WHERE user_id = $1")
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl SqliteStore {
    /// SQLite keeps no change log (no read cache follows it).
    async fn forget_change_log(
        &self,
        _before: DateTime<Utc>,
        _limit: i64,
    ) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Nothing to take: `begin_write`'s `BEGIN IMMEDIATE` holds the one write lock.
    async fn lock_user(&self, _tx: &mut Tx<'_>, _user_id: &UserId) -> Result<(), StoreError> {
        Ok(())
    }

    /// One step of the expiry walk: the rows it looks at, then those it may delete.
    async fn expire(&self, scan: &ExpiryScan<'_>) -> Result<ExpiredBatch, StoreError> {
        let policies = serde_json::Value::Array(
            scan.policies
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "goal": p.goal_id.as_str(),
                        "active": p.active,
                        "claimed": p.claimed_too,
                    })
                })
                .collect(),
        );
        // The write lock is held from the walk to the delete, so nothing changes in between.
        let mut tx = self.begin_write().await?;
        let scanned: Vec<(DateTime<Utc>, String, String, bool)> = sqlx::query_as(
            "SELECT e.expires_at, e.user_id, e.goal_id, \
                        COALESCE(g.value IS NOT NULL \
                          AND e.is_active = json_extract(g.value, '$.active') \
                          AND (e.status <> ? OR json_extract(g.value, '$.claimed')) \
                          AND NOT EXISTS (SELECT 1 FROM reward_grants r \
                            WHERE r.user_id = e.user_id AND r.goal_id = e.goal_id \
                              AND r.state IN ('pending', 'sending', 'unknown')), 0) \
                 FROM user_goal_progress e \
                 LEFT JOIN json_each(?) g ON json_extract(g.value, '$.goal') = e.goal_id \
                 WHERE e.expires_at IS NOT NULL AND e.expires_at < ? \
                   AND (? IS NULL OR (e.expires_at, e.user_id, e.goal_id) > (?, ?, ?)) \
                 ORDER BY e.expires_at, e.user_id, e.goal_id LIMIT ?",
        )
        .bind(engine::Status::Claimed.as_str())
        .bind(policies.to_string())
        .bind(scan.before)
        .bind(scan.after.map(|c| c.expires_at))
        .bind(scan.after.map(|c| c.expires_at))
        .bind(scan.after.map(|c| c.user_id.as_str()))
        .bind(scan.after.map(|c| c.goal_id.as_str()))
        .bind(scan.limit)
        .fetch_all(&mut *tx)
        .await?;
        let doomed = serde_json::Value::Array(
            scanned
                .iter()
                .filter(|row| row.3)
                .map(|(_, user, goal, _)| serde_json::json!([user, goal]))
                .collect(),
        );
        let deleted = sqlx::query(
                "DELETE FROM user_goal_progress WHERE (user_id, goal_id) IN ( \
                   SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
            )
            .bind(doomed.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        let count = i64::try_from(scanned.len()).unwrap_or(i64::MAX);
        let last = scanned.into_iter().next_back();
        Ok(expired_batch(
            i64::try_from(deleted).unwrap_or(i64::MAX),
            count,
            scan.limit,
            last.as_ref().map(|row| row.0),
            last.as_ref().map(|row| row.1.clone()),
            last.map(|row| row.2),
        ))
    }
}
