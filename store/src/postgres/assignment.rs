//! PostgreSQL reads of a player's rows and the assignment writes (initialize, select, batch select).

use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, UserId};

use super::batch::{Columns, UNNEST_ROWS};
use super::{COLUMNS, PgStore, decode};
use crate::StoreError;
use crate::row::ProgressRow;

impl PgStore {
    pub(super) async fn progress_for_user_impl(
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

    pub(super) async fn progress_for_user_goal_impl(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(goal_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(decode).transpose()?)
    }

    pub(super) async fn progress_for_user_goals_impl(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let ids: Vec<&str> = goal_ids.iter().map(GoalId::as_str).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = $1 AND goal_id = ANY($2) ORDER BY goal_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(user_id.as_str())
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
    }

    pub(super) async fn count_active_for_user_impl(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
                "SELECT count(*) FROM user_goal_progress WHERE user_id = $1 AND is_active AND ($2::varchar IS NULL OR challenge_id = $2)",
            )
            .bind(user_id.as_str())
            .bind(challenge_id.map(ChallengeId::as_str))
            .fetch_one(&self.pool)
            .await?)
    }

    pub(super) async fn initialize_for_user_impl(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
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
    }

    pub(super) async fn set_active_for_user_impl(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError> {
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
    }

    pub(super) async fn activate_batch_for_user_impl(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
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
    }
}

impl super::PgStore {
    pub(super) async fn goals_in_use_impl(
        &self,
        goals: &[GoalId],
    ) -> Result<Vec<GoalId>, StoreError> {
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
    }
}
