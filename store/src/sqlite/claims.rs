//! Reward intents on SQLite: the hooks of the statements written once in `ledger.rs`, made safe
//! by SQLite's single writer (`BEGIN IMMEDIATE`) instead of row locks.

use chrono::{DateTime, Utc};
use engine::{GoalId, UserId};

use super::SqliteStore;
use crate::StoreError;
use crate::claims::{IntentKey, IntentOutcome, RewardIntent, ledger_key};
use crate::ledger::{INTENT_COLUMNS, KEY};

/// Leases due intents (one writer at a time: nobody else leases in between).
fn lease() -> String {
    format!(
        "UPDATE reward_grants SET lease_until = $2 \
         WHERE (user_id, goal_id, period_start) IN ( \
           SELECT user_id, goal_id, period_start FROM reward_grants \
           WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) \
           ORDER BY next_attempt_at LIMIT $3) \
         RETURNING {INTENT_COLUMNS}"
    )
}

crate::ledger::claim_ledger!(SqliteStore, sqlx::Sqlite, lease: lease());

impl SqliteStore {
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The progress row's status and whether the ledger of deleted players' rewards holds this
    /// one (the write lock is held already).
    async fn claim_row(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        key: &IntentKey,
        ledger_key: &str,
    ) -> Result<(Option<String>, bool), StoreError> {
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2",
        )
        .bind(key.user_id.as_str())
        .bind(key.goal_id.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        let in_ledger: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reward_ledger WHERE key = $1)")
                .bind(ledger_key)
                .fetch_one(&mut **tx)
                .await?;
        Ok((status, in_ledger))
    }

    async fn finish(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        only_from: Option<&[&str]>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let columns = outcome.columns();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sql = format!(
            "UPDATE reward_grants SET state = coalesce(?4, state), last_error = ?5, \
               lease_until = CASE WHEN ?9 THEN lease_until ELSE NULL END, \
               next_attempt_at = CASE WHEN ?9 THEN next_attempt_at ELSE ?6 END, updated_at = ?7 \
             WHERE {KEY} AND state IN (SELECT value FROM json_each(?8)) RETURNING {INTENT_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.user_id.as_str())
            .bind(key.goal_id.as_str())
            .bind(key.period_start)
            .bind(columns.state)
            .bind(columns.error)
            .bind(columns.next_attempt_at)
            .bind(now)
            .bind(
                serde_json::to_string(only_from.unwrap_or(columns.from))
                    .unwrap_or_else(|_| "[]".into()),
            )
            .bind(columns.keeps_lease)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let intent = decode_intent(&row)?;
        if let IntentOutcome::Granted { claimed_at } = outcome {
            // The row of the intent's own period only.
            // The engine's transition, bound: its status, and the one it starts from.
            let claim = engine::progress::CLAIM;
            sqlx::query(
                "UPDATE user_goal_progress SET status = ?6, claimed_at = ?3, updated_at = ?4 \
                 WHERE user_id = ?1 AND goal_id = ?2 AND status = ?7 AND (?5 IS NULL OR expires_at = ?5)",
            )
            .bind(key.user_id.as_str())
            .bind(key.goal_id.as_str())
            .bind(claimed_at)
            .bind(now)
            .bind(intent.period_end)
            .bind(claim.to.as_str())
            .bind(claim.from.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(intent))
    }

    /// Inside `delete_user`'s transaction: what was (or may have been) granted goes to the
    /// ledger as a keyed hash; then the user's intents go.
    pub(super) async fn move_intents_to_ledger(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
        user_id: &UserId,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // `pending` was never sent (sending is recorded first) and `refused` frees the goal.
        let intents: Vec<(String, DateTime<Utc>, String, String)> = sqlx::query_as(
            "SELECT goal_id, period_start, namespace, state FROM reward_grants \
             WHERE user_id = ? AND state IN ('sending', 'granted', 'unknown')",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut **tx)
        .await?;
        for (goal_id, period_start, namespace, state) in intents {
            let key = IntentKey {
                user_id: user_id.clone(),
                goal_id: GoalId::new(goal_id),
                period_start,
            };
            sqlx::query(
                "INSERT INTO reward_ledger (key, state, recorded_at) VALUES (?, ?, ?) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(ledger_key(secret, &namespace, &key))
            .bind(state)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        sqlx::query("DELETE FROM reward_grants WHERE user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
