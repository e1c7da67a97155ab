//! PostgreSQL's player data deletion (GDPR) and the cleanup job's statements.
use super::MIGRATOR;
use crate::PoolStats;
use engine::GoalId;

use super::PgStore;
use super::archive::BATCH_EVENTS;
use crate::row::expired_batch;
use crate::{ExpiredBatch, ExpiryCursor, ExpiryPolicy, StoreError};
use chrono::{DateTime, Utc};
use engine::UserId;
use sqlx::Row;

/// Takes a player's events out of the archive batches that hold them: a batch of theirs alone
/// goes, the others are rewritten without their events.
async fn delete_archived_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: &UserId,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM event_archive_batch \
         WHERE players @> ARRAY[$1]::varchar[] AND cardinality(players) = 1",
    )
    .bind(user_id.as_str())
    .execute(&mut **tx)
    .await?;
    let sql = format!(
        "UPDATE event_archive_batch t SET events = k.events, \
           players = array_remove(t.players, $1::varchar), event_id = k.event_id, kind = k.kind, \
           user_id = k.user_id, namespace = k.namespace, occurred_at = k.occurred_at, \
           stat_code = k.stat_code, value = k.value, inc = k.inc, payload = k.payload \
         FROM ( \
           SELECT b.id, count(*)::int AS events, array_agg(e.event_id ORDER BY e.place) AS event_id, \
             array_agg(e.kind ORDER BY e.place) AS kind, array_agg(e.user_id ORDER BY e.place) AS user_id, \
             array_agg(e.namespace ORDER BY e.place) AS namespace, \
             array_agg(e.occurred_at ORDER BY e.place) AS occurred_at, \
             array_agg(e.stat_code ORDER BY e.place) AS stat_code, \
             array_agg(e.value ORDER BY e.place) AS value, array_agg(e.inc ORDER BY e.place) AS inc, \
             array_agg(e.payload ORDER BY e.place) AS payload \
           FROM event_archive_batch b {BATCH_EVENTS} \
           WHERE b.players @> ARRAY[$1]::varchar[] AND e.user_id <> $1 \
           GROUP BY b.id) k \
         WHERE t.id = k.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::Maintenance for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        let migrated: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
        let work = async move {
            let secret = self.ledger_secret().await?;
            let mut tx = self.pool.begin().await?;
            // Exclusive against the batches touching this user (they hold it shared), so none can
            // write the user's rows between this deletion and its tombstone becoming visible.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
            "INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET deleted_at = GREATEST(deleted_users.deleted_at, excluded.deleted_at)",
        )
        .bind(user_id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
            let rows = sqlx::query("DELETE FROM user_goal_progress WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            self.move_intents_to_ledger(&mut tx, user_id, &secret, now)
                .await?;
            delete_archived_events(&mut tx, user_id).await?;
            sqlx::query("DELETE FROM processed_events WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM applied_events WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(rows)
        };
        self.probe.wrote("delete_user", user_id, work).await
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        let work = async move {
            let goals: Vec<&str> = policies.iter().map(|p| p.goal_id.as_str()).collect();
            let active: Vec<bool> = policies.iter().map(|p| p.active).collect();
            let claimed: Vec<bool> = policies.iter().map(|p| p.claimed_too).collect();
            // `scanned` walks the expiry index from the cursor, every row counting against the
            // limit (also rows of goals without a policy), so one statement's work is bounded.
            // `doomed` locks the deletable ones, skipping rows an event holds, and checks the
            // conditions again on the locked version.
            // Two statement texts rather than `$6 IS NULL OR …`: a generic plan would keep the OR
            // and could not use the cursor as an index condition.
            let from_cursor = if after.is_some() {
                "AND (e.expires_at, e.user_id, e.goal_id) > ($6, $7, $8)"
            } else {
                "AND $6::timestamptz IS NULL AND $7::varchar IS NULL AND $8::varchar IS NULL"
            };
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "WITH scanned AS ( \
                   SELECT e.user_id, e.goal_id, e.expires_at, g.goal_id IS NOT NULL AS known, \
                          g.active, g.claimed_too \
                   FROM user_goal_progress e \
                   LEFT JOIN UNNEST($1::varchar[], $2::bool[], $3::bool[]) AS g(goal_id, active, claimed_too) \
                     ON g.goal_id = e.goal_id \
                   WHERE e.expires_at < $4 {from_cursor} \
                   ORDER BY e.expires_at, e.user_id, e.goal_id \
                   LIMIT $5), \
                 doomed AS ( \
                   SELECT p.user_id, p.goal_id FROM user_goal_progress p \
                   JOIN scanned s ON s.user_id = p.user_id AND s.goal_id = p.goal_id \
                   WHERE s.known AND p.expires_at < $4 AND p.is_active = s.active \
                     AND (p.status <> $9 OR s.claimed_too) \
                     AND NOT EXISTS (SELECT 1 FROM reward_grants r \
                       WHERE r.user_id = p.user_id AND r.goal_id = p.goal_id \
                         AND r.state IN ('pending', 'sending', 'unknown')) \
                   FOR UPDATE OF p SKIP LOCKED), \
                 deleted AS ( \
                   DELETE FROM user_goal_progress p USING doomed d \
                   WHERE p.user_id = d.user_id AND p.goal_id = d.goal_id RETURNING 1) \
                 SELECT (SELECT count(*) FROM deleted) AS deleted, \
                        (SELECT count(*) FROM scanned) AS scanned, \
                        l.expires_at, l.user_id, l.goal_id \
                 FROM (SELECT 1) AS one LEFT JOIN LATERAL ( \
                   SELECT expires_at, user_id, goal_id FROM scanned \
                   ORDER BY expires_at DESC, user_id DESC, goal_id DESC LIMIT 1) AS l ON true"
            )))
            .bind(&goals)
            .bind(&active)
            .bind(&claimed)
            .bind(before)
            .bind(limit)
            .bind(after.map(|c| c.expires_at))
            .bind(after.map(|c| c.user_id.as_str()))
            .bind(after.map(|c| c.goal_id.as_str()))
            .bind(engine::Status::Claimed.as_str())
            .fetch_one(&self.pool)
            .await?;
            Ok(expired_batch(
                row.try_get("deleted")?,
                row.try_get("scanned")?,
                limit,
                row.try_get("expires_at")?,
                row.try_get("user_id")?,
                row.try_get("goal_id")?,
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
                   SELECT event_id FROM processed_events WHERE processed_at < $1 ORDER BY processed_at LIMIT $2)",
            )
            .bind(before)
            .bind(limit)
            .execute(&self.pool)
            .await?
            .rows_affected();
            let applied = sqlx::query(
            "DELETE FROM applied_events WHERE ctid IN ( \
               SELECT ctid FROM applied_events WHERE processed_at < $1 ORDER BY processed_at LIMIT $2)",
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
               SELECT user_id FROM deleted_users WHERE deleted_at < $1 ORDER BY deleted_at LIMIT $2)",
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
                let ids: Vec<&str> = goals.iter().map(GoalId::as_str).collect();
                let held: Vec<String> = sqlx::query_scalar(
                    "SELECT t.goal FROM UNNEST($1::varchar[]) AS t(goal) \
             WHERE EXISTS (SELECT 1 FROM user_goal_progress p WHERE p.goal_id = t.goal)",
                )
                .bind(ids)
                .fetch_all(&self.pool)
                .await?;
                Ok(held.into_iter().map(GoalId::new).collect())
            })
            .await
    }
}
