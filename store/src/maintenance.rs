//! The `Maintenance` role written once for both backends ([`maintenance!`]): migrations, ping,
//! pool figures, a player's deletion (GDPR) and the cleanup job's prunes. Statements use `$N`
//! placeholders, which both drivers bind by number. What differs is passed to the macro:
//! - `migrated`: whether the migrations table exists (each database's catalog);
//! - `newest`: the two-argument maximum (`GREATEST` / `max`);
//! - `applied_key`: how `applied_events` names a row to delete, in a condition and in a select
//!   list (PostgreSQL: `ctid`; SQLite: the primary key);
//! - `elements`: the rows of the JSON array of text bound as `$1`, one column `value`;
//! - `skip_locked`: how a prune's pick leaves rows another replica is deleting (PostgreSQL:
//!   `FOR UPDATE SKIP LOCKED`; SQLite has one writer);
//!
//! and each backend's hooks:
//! - `lock_user` (PostgreSQL: an advisory lock the batches touching the player hold shared;
//!   SQLite's single writer needs none);
//! - `delete_archived_events` (PostgreSQL's archive keeps batches, SQLite's rows);
//! - `expire`: one step of the expiry walk (PostgreSQL: one statement with `SKIP LOCKED`);
//! - `forget_change_log`: the read caches' change log (PostgreSQL only).

use chrono::{DateTime, Utc};

use crate::{ExpiryCursor, ExpiryPolicy};

/// The goals players hold rows for (`Maintenance::goals_in_use` with no goals named), one
/// index probe per goal: each step finds the next goal id after the last (a loose index scan
/// of `user_goal_progress_goal`), where a `DISTINCT` would read every row.
pub const HELD_GOALS: &str = "WITH RECURSIVE held(goal_id) AS ( \
       SELECT min(goal_id) FROM user_goal_progress \
       UNION ALL \
       SELECT (SELECT min(p.goal_id) FROM user_goal_progress p WHERE p.goal_id > held.goal_id) \
       FROM held WHERE held.goal_id IS NOT NULL) \
     SELECT goal_id FROM held WHERE goal_id IS NOT NULL";

/// One step of the cleanup's walk over expired rows (`Maintenance::delete_expired`).
pub(crate) struct ExpiryScan<'a> {
    pub policies: &'a [ExpiryPolicy],
    pub before: DateTime<Utc>,
    pub after: Option<&'a ExpiryCursor>,
    pub limit: i64,
}

/// Implements `Maintenance` for `$store` over `$db`.
macro_rules! maintenance {
    ($store:ty, $db:ty, migrated: $migrated:literal, newest: $newest:literal,
     applied_key: ($key:literal, $columns:literal), elements: $elements:literal,
     skip_locked: $skip:literal) => {
        #[async_trait::async_trait]
        impl $crate::Maintenance for $store {
            async fn migrate(&self) -> Result<(), $crate::StoreError> {
                MIGRATOR.run(&self.pool).await?;
                Ok(())
            }

            async fn migrate_down(&self, steps: usize) -> Result<usize, $crate::StoreError> {
                let migrated: bool = sqlx::query_scalar($migrated).fetch_one(&self.pool).await?;
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

            async fn ping(&self) -> Result<(), $crate::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            fn pool_connections(&self) -> $crate::PoolStats {
                $crate::PoolStats {
                    open: self.pool.size(),
                    idle: self.pool.num_idle(),
                    max: self.pool.options().get_max_connections(),
                }
            }

            async fn delete_user(
                &self,
                user_id: &engine::UserId,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let work = async move {
                    let secret = self.ledger_secret().await?;
                    let mut tx = self.begin_write().await?;
                    // No batch writes the player's rows between this deletion and its
                    // tombstone becoming visible.
                    self.lock_user(&mut tx, user_id).await?;
                    // Times are stored in one format, so the newest of two is their maximum.
                    sqlx::query(concat!(
                        "INSERT INTO deleted_users (user_id, deleted_at) VALUES ($1, $2) \
                         ON CONFLICT (user_id) DO UPDATE \
                         SET deleted_at = ",
                        $newest,
                        "(deleted_users.deleted_at, EXCLUDED.deleted_at)"
                    ))
                    .bind(user_id.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    let user = user_id.as_str();
                    let rows = sqlx::query("DELETE FROM user_goal_progress WHERE user_id = $1")
                        .bind(user)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    self.move_intents_to_ledger(&mut tx, user_id, &secret, now)
                        .await?;
                    delete_archived_events(&mut tx, user_id).await?;
                    let pseudonym = $crate::audit::pseudonym(&secret, user_id);
                    super::audit::pseudonymize_audit(&mut tx, user_id, &pseudonym, now).await?;
                    for table in ["processed_events", "applied_events", "notification_outbox"] {
                        let sql = format!("DELETE FROM {table} WHERE user_id = $1");
                        sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(user)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(rows)
                };
                self.common.probe.wrote("delete_user", user_id, work).await
            }

            async fn delete_expired(
                &self,
                policies: &[$crate::ExpiryPolicy],
                before: chrono::DateTime<chrono::Utc>,
                after: Option<&$crate::ExpiryCursor>,
                limit: i64,
            ) -> Result<$crate::ExpiredBatch, $crate::StoreError> {
                let scan = $crate::maintenance::ExpiryScan {
                    policies,
                    before,
                    after,
                    limit,
                };
                let work = async move { self.expire(&scan).await };
                self.common.probe.wrote_anyone("delete_expired", work).await
            }

            async fn prune_processed_events(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let work = async move {
                    let prune = |sql| {
                        sqlx::query(sql)
                            .bind(before)
                            .bind(limit)
                            .execute(&self.pool)
                    };
                    let events = prune(concat!(
                        "DELETE FROM processed_events WHERE event_id IN ( \
                           SELECT event_id FROM processed_events WHERE processed_at < $1 \
                           ORDER BY processed_at LIMIT $2",
                        $skip,
                        ")"
                    ))
                    .await?
                    .rows_affected();
                    let applied = prune(concat!(
                        "DELETE FROM applied_events WHERE ",
                        $key,
                        " IN (SELECT ",
                        $columns,
                        " FROM applied_events WHERE processed_at < $1 \
                           ORDER BY processed_at LIMIT $2",
                        $skip,
                        ")"
                    ))
                    .await?
                    .rows_affected();
                    self.common
                        .legacy_dedup
                        .recheck(|| {
                            sqlx::query_scalar($crate::dedup::HAS_ROWS).fetch_one(&self.pool)
                        })
                        .await?;
                    // Tombstones live as long as event ids: a redelivery older than both is not
                    // expected.
                    prune(concat!(
                        "DELETE FROM deleted_users WHERE user_id IN ( \
                           SELECT user_id FROM deleted_users WHERE deleted_at < $1 \
                           ORDER BY deleted_at LIMIT $2",
                        $skip,
                        ")"
                    ))
                    .await?;
                    Ok(events + applied)
                };
                self.common
                    .probe
                    .timed("prune_processed_events", work)
                    .await
            }

            async fn prune_change_log(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<u64, $crate::StoreError> {
                let work = self.forget_change_log(before, limit);
                self.common.probe.timed("prune_change_log", work).await
            }

            async fn prune_audit_log(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                before: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, $crate::StoreError> {
                let work = self.forget_audit_months(now, before);
                self.common.probe.timed("prune_audit_log", work).await
            }

            async fn goals_in_use(
                &self,
                goals: &[engine::GoalId],
            ) -> Result<Vec<engine::GoalId>, $crate::StoreError> {
                let work = async move {
                    let held: Vec<String> = if goals.is_empty() {
                        sqlx::query_scalar($crate::maintenance::HELD_GOALS)
                            .fetch_all(&self.pool)
                            .await?
                    } else {
                        let ids: Vec<&str> = goals.iter().map(engine::GoalId::as_str).collect();
                        sqlx::query_scalar(concat!(
                            "SELECT j.value FROM ",
                            $elements,
                            " AS j WHERE EXISTS \
                             (SELECT 1 FROM user_goal_progress p WHERE p.goal_id = j.value)"
                        ))
                        .bind(serde_json::to_string(&ids).unwrap_or_default())
                        .fetch_all(&self.pool)
                        .await?
                    };
                    Ok(held.into_iter().map(engine::GoalId::new).collect())
                };
                self.common.probe.timed("goals_in_use", work).await
            }

            async fn rotation_calendars(
                &self,
                subjects: &[String],
            ) -> Result<Vec<engine::calendar_changes::RecordedCalendar>, $crate::StoreError> {
                let work = async move {
                    let rows: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(concat!(
                        "SELECT subject, calendar, effective_from FROM rotation_calendars \
                         WHERE subject IN (SELECT j.value FROM ",
                        $elements,
                        " AS j) ORDER BY subject, effective_from"
                    ))
                    .bind(serde_json::to_string(subjects).unwrap_or_default())
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(subject, calendar, effective_from)| {
                            engine::calendar_changes::RecordedCalendar {
                                subject,
                                calendar,
                                effective_from,
                            }
                        })
                        .collect())
                };
                self.common.probe.timed("rotation_calendars", work).await
            }

            async fn record_rotation_calendars(
                &self,
                withdraw: &[(String, DateTime<Utc>)],
                rows: &[engine::calendar_changes::RecordedCalendar],
                now: DateTime<Utc>,
            ) -> Result<(), $crate::StoreError> {
                let work = async move {
                    let mut tx = self.pool.begin().await?;
                    for (subject, after) in withdraw {
                        sqlx::query(
                            "DELETE FROM rotation_calendars WHERE subject = $1 AND effective_from > $2",
                        )
                        .bind(subject)
                        .bind(*after)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for row in rows {
                        sqlx::query(
                            "INSERT INTO rotation_calendars \
                               (subject, calendar, effective_from, recorded_at) \
                             VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (subject, effective_from) DO UPDATE \
                             SET calendar = excluded.calendar, recorded_at = excluded.recorded_at",
                        )
                        .bind(&row.subject)
                        .bind(&row.calendar)
                        .bind(row.effective_from)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                };
                self.common.probe.timed("record_rotation_calendars", work).await
            }
        }
    };
}

pub(crate) use maintenance;
