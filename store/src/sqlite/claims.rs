//! Reward intents on SQLite: the hooks of the statements written once in `ledger.rs`, made safe
//! by SQLite's single writer (`BEGIN IMMEDIATE`) instead of row locks.

use chrono::{DateTime, Utc};

use super::SqliteStore;
use crate::StoreError;
use crate::claims::{IntentKey, IntentOutcome, RewardIntent};
use crate::ledger::{ClaimRow, Finish, INTENT_COLUMNS, KEY};

type Tx<'c> = sqlx::Transaction<'c, sqlx::Sqlite>;

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

crate::ledger::claim_ledger!(SqliteStore, sqlx::Sqlite, lease: lease(), lock: "");

impl SqliteStore {
    pub(super) async fn begin_write(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.writes.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The progress row's status and whether the ledger of deleted players' rewards holds this
    /// one (the write lock is held already).
    async fn claim_row(&self, tx: &mut Tx<'static>, key: &IntentKey, ledger: &str) -> ClaimRow {
        let status = sqlx::query_scalar(
            "SELECT status FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2",
        );
        let status: Option<String> = status
            .bind(key.user_id.as_str())
            .bind(key.goal_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        let in_ledger =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM reward_ledger WHERE key = $1)");
        let in_ledger: bool = in_ledger.bind(ledger).fetch_one(&mut **tx).await?;
        Ok((status, in_ledger))
    }

    /// The intent's outcome, then a grant's progress row, under the write lock.
    async fn finish(&self, f: Finish<'_>) -> Result<Option<RewardIntent>, StoreError> {
        let columns = f.outcome.columns();
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE reward_grants SET state = coalesce($4, state), last_error = $5, \
               lease_until = CASE WHEN $9 THEN lease_until ELSE NULL END, \
               next_attempt_at = CASE WHEN $9 THEN next_attempt_at ELSE $6 END, updated_at = $7 \
             WHERE {KEY} AND state IN (SELECT value FROM json_each($8)) RETURNING {INTENT_COLUMNS}"
        );
        let from = serde_json::to_string(f.only_from.unwrap_or(columns.from));
        let row = bind_outcome(
            sqlx::query(sqlx::AssertSqlSafe(sql)),
            f.key,
            &columns,
            f.now,
        )
        .bind(from.unwrap_or_else(|_| "[]".into()))
        .bind(columns.keeps_lease)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let intent = decode_intent(&row)?;
        if let IntentOutcome::Granted { claimed_at } = f.outcome {
            // The row of the intent's own period only. The engine's transition is bound: its
            // status, and the one it starts from.
            let claim = engine::progress::CLAIM;
            sqlx::query(
                "UPDATE user_goal_progress SET status = $6, claimed_at = $3, updated_at = $4 \
                 WHERE user_id = $1 AND goal_id = $2 AND status = $7 \
                   AND ($5 IS NULL OR expires_at = $5)",
            )
            .bind(f.key.user_id.as_str())
            .bind(f.key.goal_id.as_str())
            .bind(claimed_at)
            .bind(f.now)
            .bind(intent.period_end)
            .bind(claim.to.as_str())
            .bind(claim.from.as_str())
            .execute(&mut *tx)
            .await?;
        }
        if let Some(notice) = crate::outbox::for_outcome(&intent, f.outcome, f.now) {
            super::outbox::insert_notice(&mut tx, &notice).await?;
        }
        tx.commit().await?;
        Ok(Some(intent))
    }
}

/// The keyed hashes of a deleted player's rewards, one statement each.
async fn record_in_ledger(
    tx: &mut Tx<'_>,
    keys: &[String],
    states: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (key, state) in keys.iter().zip(states) {
        let insert = sqlx::query(
            "INSERT INTO reward_ledger (key, state, recorded_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
        );
        insert
            .bind(key)
            .bind(state)
            .bind(now)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
