//! SQLite's player data deletion (GDPR) and the cleanup job's statements.
use super::MIGRATOR;
use crate::PoolStats;
use engine::GoalId;

use super::SqliteStore;
use crate::row::expired_batch;
use crate::{ExpiredBatch, ExpiryCursor, ExpiryPolicy, StoreError};
use chrono::{DateTime, Utc};
use engine::UserId;

#[async_trait::async_trait]
impl crate::Maintenance for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        let migrated: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')")
            .fetch_one(&self.pool)
            .await?;
        if !migrated {
            return Ok(0);
        }
        let applied: Vec<i64> = sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        // `undo` reverts every migration newer than the target version.
        let target = applied.get(steps).copied().unwrap_or(0);
        MIGRATOR.undo(&self.pool, target).await?;
        Ok(steps.min(applied.len()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_connections(&self) -> PoolStats {
        PoolStats {
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn delete_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.probe
            .wrote("delete_user", user_id, async move {
                let secret = self.ledger_secret().await?;
                // Writers are serialized (IMMEDIATE): no batch runs between the deletion and its tombstone.
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                // Times are stored in one text format, so max() orders them as times.
                sqlx::query(
                    "INSERT INTO deleted_users (user_id, deleted_at) VALUES (?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET deleted_at = max(deleted_at, excluded.deleted_at)",
                )
                .bind(user_id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query("DELETE FROM user_goal_progress WHERE user_id = ?")
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                self.move_intents_to_ledger(&mut tx, user_id, &secret, now)
                    .await?;
                sqlx::query("DELETE FROM event_archive WHERE user_id = ?")
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM processed_events WHERE user_id = ?")
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM applied_events WHERE user_id = ?")
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(rows)
            })
            .await
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        let work = async move {
            let policies = serde_json::Value::Array(
                policies
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
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            .bind(before)
            .bind(after.map(|c| c.expires_at))
            .bind(after.map(|c| c.expires_at))
            .bind(after.map(|c| c.user_id.as_str()))
            .bind(after.map(|c| c.goal_id.as_str()))
            .bind(limit)
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
                limit,
                last.as_ref().map(|row| row.0),
                last.as_ref().map(|row| row.1.clone()),
                last.map(|row| row.2),
            ))
        };
        self.probe.wrote_anyone("delete_expired", work).await
    }

    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        let work = async move {
            let events = sqlx::query(
                "DELETE FROM processed_events WHERE event_id IN ( \
                   SELECT event_id FROM processed_events WHERE processed_at < ? ORDER BY processed_at LIMIT ?)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?
            .rows_affected();
            let applied = sqlx::query(
            "DELETE FROM applied_events WHERE (user_id, event_id, event_time) IN ( \
               SELECT user_id, event_id, event_time FROM applied_events WHERE processed_at < ? ORDER BY processed_at LIMIT ?)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected();
            self.legacy_dedup
                .recheck(|| sqlx::query_scalar(crate::dedup::HAS_ROWS).fetch_one(&self.pool))
                .await?;
            // Tombstones live as long as event ids: a redelivery older than both is not expected.
            sqlx::query(
                "DELETE FROM deleted_users WHERE user_id IN ( \
               SELECT user_id FROM deleted_users WHERE deleted_at < ? ORDER BY deleted_at LIMIT ?)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?;
            Ok(events + applied)
        };
        self.probe.timed("prune_processed_events", work).await
    }

    async fn goals_in_use(&self, goals: &[GoalId]) -> Result<Vec<GoalId>, StoreError> {
        self.probe
            .timed("goals_in_use", async move {
                if goals.is_empty() {
                    let held: Vec<String> =
                        sqlx::query_scalar("SELECT DISTINCT goal_id FROM user_goal_progress")
                            .fetch_all(&self.pool)
                            .await?;
                    return Ok(held.into_iter().map(GoalId::new).collect());
                }
                let json =
                    serde_json::to_string(&goals.iter().map(GoalId::as_str).collect::<Vec<_>>())
                        .unwrap_or_default();
                let held: Vec<String> = sqlx::query_scalar(
                    "SELECT j.value FROM json_each(?) AS j \
             WHERE EXISTS (SELECT 1 FROM user_goal_progress p WHERE p.goal_id = j.value)",
                )
                .bind(json)
                .fetch_all(&self.pool)
                .await?;
                Ok(held.into_iter().map(GoalId::new).collect())
            })
            .await
    }
}
