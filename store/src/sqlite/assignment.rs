//! SQLite reads of a player's rows and the assignment writes (initialize, select, batch select).

use super::{COLUMNS, SqliteStore, decode, insert_row};
use crate::StoreError;
use crate::row::ProgressRow;
use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, UserId};
use sqlx::SqliteConnection;

pub(super) async fn select_user_goal(
    conn: &mut SqliteConnection,
    user_id: &UserId,
    goal_id: &GoalId,
) -> Result<Option<ProgressRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = ? AND goal_id = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id.as_str())
        .bind(goal_id.as_str())
        .fetch_optional(conn)
        .await?;
    Ok(row.as_ref().map(decode).transpose()?)
}
/// Activates one goal inside a transaction: creates the row or flips `is_active`.
pub(super) async fn activate(
    conn: &mut SqliteConnection,
    user_id: &UserId,
    namespace: &str,
    goal: &CompiledGoal,
    active: bool,
    now: DateTime<Utc>,
) -> Result<ProgressRow, StoreError> {
    let mut row = ProgressRow::assigned(user_id, namespace, goal, now);
    row.state.is_active = active;
    insert_row(
        conn,
        &row,
        " ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = excluded.is_active, \
         assigned_at = CASE WHEN excluded.is_active AND NOT user_goal_progress.is_active \
                            THEN excluded.assigned_at ELSE user_goal_progress.assigned_at END",
    )
    .await?;
    select_user_goal(conn, user_id, &goal.id)
        .await?
        .ok_or_else(|| StoreError::Inconsistent(format!("row of goal `{}` vanished", goal.id)))
}

impl SqliteStore {
    pub(super) async fn read_rows(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = ? AND (? = 0 OR is_active) ORDER BY goal_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(active_only)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }
}

#[async_trait::async_trait]
impl crate::PlayerProgress for SqliteStore {
    async fn progress_for_user(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.probe
            .timed("progress_for_user", self.read_rows(user_id, active_only))
            .await
    }

    async fn progress_for_display(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let read = |active_only| self.read_rows(user_id, active_only);
        self.probe.display(user_id, active_only, read).await
    }

    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        let work = async move {
            Ok(sqlx::query_scalar(
                "SELECT count(*) FROM user_goal_progress WHERE user_id = ? AND is_active AND (? IS NULL OR challenge_id = ?)",
            )
            .bind(user_id.as_str())
            .bind(challenge_id.map(ChallengeId::as_str))
            .bind(challenge_id.map(ChallengeId::as_str))
            .fetch_one(&self.pool)
            .await?)
        };
        self.probe.timed("count_active_for_user", work).await
    }

    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.probe
            .wrote("initialize_for_user", user_id, async move {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let mut inserted = Vec::new();
                for goal in goals {
                    let row = ProgressRow::assigned(user_id, namespace, goal, now);
                    if insert_row(&mut tx, &row, " ON CONFLICT (user_id, goal_id) DO NOTHING")
                        .await?
                        == 1
                    {
                        inserted.push(row);
                    }
                }
                tx.commit().await?;
                Ok(inserted)
            })
            .await
    }

    async fn set_active_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError> {
        self.probe
            .wrote("set_active_for_user", user_id, async move {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                let row = activate(&mut tx, user_id, namespace, goal, active, now).await?;
                tx.commit().await?;
                Ok(row)
            })
            .await
    }

    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate_goals: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.probe
            .wrote("activate_batch_for_user", user_id, async move {
                let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                for goal_id in deactivate {
                    sqlx::query(
                "UPDATE user_goal_progress SET is_active = 0 WHERE user_id = ? AND goal_id = ?",
            )
            .bind(user_id.as_str())
            .bind(goal_id.as_str())
            .execute(&mut *tx)
            .await?;
                }
                let mut rows = Vec::new();
                for goal in activate_goals {
                    rows.push(activate(&mut tx, user_id, namespace, goal, true, now).await?);
                }
                tx.commit().await?;
                Ok(rows)
            })
            .await
    }
}
