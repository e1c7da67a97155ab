//! PostgreSQL reads of a player's rows and the assignment writes (initialize, select, batch select).

use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, UserId};

use super::batch::{Columns, UNNEST_ROWS};
use super::{COLUMNS, PgStore, decode};
use crate::StoreError;
use crate::row::ProgressRow;

impl PgStore {
    pub(super) async fn read_rows(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND ($2 = false OR is_active) ORDER BY goal_id"
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
impl crate::PlayerProgress for PgStore {
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
                "SELECT count(*) FROM user_goal_progress WHERE user_id = $1 AND is_active AND ($2::varchar IS NULL OR challenge_id = $2)",
            )
            .bind(user_id.as_str())
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
        let work = async move {
            let rows: Vec<ProgressRow> = goals
                .iter()
                .map(|g| ProgressRow::assigned(user_id, namespace, g, now))
                .collect();
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} ON CONFLICT (user_id, goal_id) DO NOTHING RETURNING {COLUMNS}"
            );
            let columns = Columns::of(&rows);
            let inserted = columns
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_all(&self.pool)
                .await?;
            Ok(inserted.iter().map(decode).collect::<Result<_, _>>()?)
        };
        self.probe.wrote("initialize_for_user", user_id, work).await
    }

    async fn set_active_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError> {
        let work = async move {
            let mut row = ProgressRow::assigned(user_id, namespace, goal, now);
            row.state.is_active = active;
            let sql = format!(
                "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
                 ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = EXCLUDED.is_active, \
                   assigned_at = CASE WHEN EXCLUDED.is_active AND NOT user_goal_progress.is_active \
                                      THEN EXCLUDED.assigned_at ELSE user_goal_progress.assigned_at END \
                 RETURNING {COLUMNS}"
            );
            let rows = [row];
            let columns = Columns::of(&rows);
            let stored = columns
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_one(&self.pool)
                .await?;
            Ok(decode(&stored)?)
        };
        self.probe.wrote("set_active_for_user", user_id, work).await
    }

    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let work = async move {
            let mut tx = self.pool.begin().await?;
            if !deactivate.is_empty() {
                let ids: Vec<&str> = deactivate.iter().map(GoalId::as_str).collect();
                sqlx::query("UPDATE user_goal_progress SET is_active = false WHERE user_id = $1 AND goal_id = ANY($2)")
                    .bind(user_id.as_str())
                    .bind(&ids)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut result = Vec::new();
            if !activate.is_empty() {
                let rows: Vec<ProgressRow> = activate
                    .iter()
                    .map(|g| ProgressRow::assigned(user_id, namespace, g, now))
                    .collect();
                let sql = format!(
                    "INSERT INTO user_goal_progress ({COLUMNS}) {UNNEST_ROWS} \
                     ON CONFLICT (user_id, goal_id) DO UPDATE SET is_active = true, \
                       assigned_at = CASE WHEN user_goal_progress.is_active THEN user_goal_progress.assigned_at \
                                          ELSE EXCLUDED.assigned_at END \
                     RETURNING {COLUMNS}"
                );
                let columns = Columns::of(&rows);
                let stored = columns
                    .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                    .fetch_all(&mut *tx)
                    .await?;
                result = stored.iter().map(decode).collect::<Result<_, _>>()?;
            }
            tx.commit().await?;
            Ok(result)
        };
        self.probe
            .wrote("activate_batch_for_user", user_id, work)
            .await
    }
}
