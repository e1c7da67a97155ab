//! The `PlayerProgress` role written once for both backends ([`player_progress!`]): a player's
//! rows and the assignment writes. Statements use `$N` placeholders, which both drivers bind by
//! number; the rule a write applies on conflict is one of the constants here. What differs is
//! each backend's hook:
//! - `upsert(conn, rows, on_conflict)`: writes rows, answering those written (PostgreSQL: one
//!   `UNNEST` statement; SQLite: a few multi-row statements);
//! - `upsert_all(rows, on_conflict)`: the same as one write (PostgreSQL: one statement needs no
//!   transaction; SQLite takes the write lock);
//!
//! and `elements`, passed to the macro: the rows of the JSON array of text bound as `$1`.

/// The progress columns, in the order the backends' `decode` reads them.
pub(crate) const COLUMNS: &str = "user_id, goal_id, challenge_id, namespace, progress, status, \
     completed_at, claimed_at, created_at, updated_at, is_active, assigned_at, expires_at, \
     baseline_value, last_counted_day";

/// Initialization: a row that exists stays as it is.
pub(crate) const KEEP: &str = "ON CONFLICT (user_id, goal_id) DO NOTHING";

/// Selecting or deselecting one goal: a goal that becomes active is assigned now.
pub(crate) const SET_ACTIVE: &str = "ON CONFLICT (user_id, goal_id) DO UPDATE \
     SET is_active = EXCLUDED.is_active, \
       assigned_at = CASE WHEN EXCLUDED.is_active AND NOT user_goal_progress.is_active \
                          THEN EXCLUDED.assigned_at ELSE user_goal_progress.assigned_at END";

/// Batch selection: every goal becomes active, and one that was not is assigned now.
pub(crate) const ACTIVATE: &str = "ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = true, \
     assigned_at = CASE WHEN user_goal_progress.is_active THEN user_goal_progress.assigned_at \
                        ELSE EXCLUDED.assigned_at END";

/// Rows read or written.
pub(crate) type Rows = Result<Vec<crate::ProgressRow>, crate::StoreError>;

/// A player's rows by goal, or only the active ones when `$2`.
pub(crate) static READ_ROWS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS} FROM user_goal_progress \
         WHERE user_id = $1 AND (NOT $2 OR is_active) ORDER BY goal_id"
    )
});

/// Implements `PlayerProgress` for `$store`.
macro_rules! player_progress {
    ($store:ty, elements: $elements:literal) => {
        impl $store {
            async fn read_rows(
                &self,
                user_id: &engine::UserId,
                active_only: bool,
            ) -> Result<Vec<$crate::ProgressRow>, $crate::StoreError> {
                let rows = sqlx::query($crate::players::READ_ROWS.as_str())
                    .bind(user_id.as_str())
                    .bind(active_only)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
            }
        }

        #[async_trait::async_trait]
        impl $crate::PlayerProgress for $store {
            async fn progress_for_user(
                &self,
                user_id: &engine::UserId,
                active_only: bool,
            ) -> Result<Vec<$crate::ProgressRow>, $crate::StoreError> {
                let read = self.read_rows(user_id, active_only);
                self.common.probe.timed("progress_for_user", read).await
            }

            async fn progress_for_display(
                &self,
                user_id: &engine::UserId,
                active_only: bool,
            ) -> Result<Vec<$crate::ProgressRow>, $crate::StoreError> {
                let read = |active_only| self.read_rows(user_id, active_only);
                self.common.probe.display(user_id, active_only, read).await
            }

            async fn count_active_for_user(
                &self,
                user_id: &engine::UserId,
                challenge_id: Option<&engine::ChallengeId>,
            ) -> Result<i64, $crate::StoreError> {
                let work = async move {
                    Ok(sqlx::query_scalar(
                        "SELECT count(*) FROM user_goal_progress WHERE user_id = $1 AND is_active \
                         AND (CAST($2 AS VARCHAR) IS NULL OR challenge_id = $2)",
                    )
                    .bind(user_id.as_str())
                    .bind(challenge_id.map(engine::ChallengeId::as_str))
                    .fetch_one(&self.pool)
                    .await?)
                };
                self.common.probe.timed("count_active_for_user", work).await
            }

            async fn initialize_for_user(
                &self,
                user_id: &engine::UserId,
                namespace: &str,
                goals: &[&engine::CompiledGoal],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::ProgressRow>, $crate::StoreError> {
                let work = async move {
                    let rows: Vec<$crate::ProgressRow> = goals
                        .iter()
                        .map(|g| $crate::ProgressRow::assigned(user_id, namespace, g, now))
                        .collect();
                    if rows.is_empty() {
                        return Ok(Vec::new());
                    }
                    self.upsert_all(&rows, $crate::players::KEEP).await
                };
                self.common
                    .probe
                    .wrote("initialize_for_user", user_id, work)
                    .await
            }

            async fn set_active_for_user(
                &self,
                user_id: &engine::UserId,
                namespace: &str,
                goal: &engine::CompiledGoal,
                active: bool,
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<$crate::ProgressRow, $crate::StoreError> {
                let work = async move {
                    let mut row = $crate::ProgressRow::assigned(user_id, namespace, goal, now);
                    row.state.is_active = active;
                    let stored = self.upsert_all(&[row], $crate::players::SET_ACTIVE).await?;
                    stored.into_iter().next().ok_or_else(|| {
                        $crate::StoreError::Inconsistent(format!(
                            "row of goal `{}` vanished",
                            goal.id
                        ))
                    })
                };
                self.common
                    .probe
                    .wrote("set_active_for_user", user_id, work)
                    .await
            }

            async fn activate_batch_for_user(
                &self,
                user_id: &engine::UserId,
                namespace: &str,
                activate: &[&engine::CompiledGoal],
                deactivate: &[engine::GoalId],
                now: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::ProgressRow>, $crate::StoreError> {
                let work = async move {
                    let mut tx = self.begin_write().await?;
                    if !deactivate.is_empty() {
                        let ids: Vec<&str> =
                            deactivate.iter().map(engine::GoalId::as_str).collect();
                        sqlx::query(concat!(
                            "UPDATE user_goal_progress SET is_active = false \
                             WHERE goal_id IN (SELECT value FROM ",
                            $elements,
                            ") AND user_id = $2"
                        ))
                        .bind(serde_json::to_string(&ids).unwrap_or_default())
                        .bind(user_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                    }
                    let rows: Vec<$crate::ProgressRow> = activate
                        .iter()
                        .map(|g| $crate::ProgressRow::assigned(user_id, namespace, g, now))
                        .collect();
                    let stored = if rows.is_empty() {
                        Vec::new()
                    } else {
                        upsert(&mut tx, &rows, $crate::players::ACTIVATE).await?
                    };
                    tx.commit().await?;
                    Ok(stored)
                };
                self.common
                    .probe
                    .wrote("activate_batch_for_user", user_id, work)
                    .await
            }
        }
    };
}

pub(crate) use player_progress;
