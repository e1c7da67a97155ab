//! Reward intents on PostgreSQL: the hooks of the statements written once in `ledger.rs`.
//! Every transaction that touches both a progress row and an intent locks the progress row
//! first, so a double click cannot deadlock; the reconciler leases with `FOR UPDATE SKIP
//! LOCKED`, so replicas never work the same intent.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::PgStore;
use crate::StoreError;
use crate::claims::{IntentKey, IntentOutcome, RewardIntent};
use crate::ledger::{ClaimRow, Finish, INTENT_COLUMNS, KEY};

type Tx<'c> = sqlx::Transaction<'c, sqlx::Postgres>;

/// Leases due intents no other replica holds.
static LEASE: LazyLock<String> = LazyLock::new(|| {
    let columns = INTENT_COLUMNS
        .split(", ")
        .map(|c| format!("g.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE reward_grants g SET lease_until = $2 FROM ( \
           SELECT user_id, goal_id, period_start FROM reward_grants \
           WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < $1) \
           ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
         WHERE g.user_id = due.user_id AND g.goal_id = due.goal_id \
           AND g.period_start = due.period_start \
         RETURNING {columns}"
    )
});

crate::ledger::claim_ledger!(PgStore, sqlx::Postgres, lease: LEASE.as_str(), lock: " FOR UPDATE");

/// The outcome of a finish, in the lock order of every claim transaction: `locked` (run by the
/// intent's one-time filter, before the intent's row is touched) locks the progress row,
/// `intent` records the outcome, and `claimed` (run after them) marks a grant's progress row:
/// the row of the intent's own period only, so a row that moved on to a later period (or was
/// cleaned up) is left alone. The engine's transition is bound: its status (`$11`) and the one
/// it starts from (`$12`).
static FINISH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH locked AS ( \
           SELECT 1 FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2 FOR UPDATE \
         ), intent AS ( \
           UPDATE reward_grants SET state = coalesce($4, state), last_error = $5, \
             lease_until = CASE WHEN $9 THEN lease_until ELSE NULL END, \
             next_attempt_at = CASE WHEN $9 THEN next_attempt_at ELSE $6 END, updated_at = $7 \
           WHERE {KEY} AND state = ANY($8) AND (SELECT count(*) FROM locked) >= 0 \
           RETURNING {INTENT_COLUMNS} \
         ), claimed AS ( \
           UPDATE user_goal_progress p SET status = $11, claimed_at = $10, updated_at = $7 \
           FROM intent i \
           WHERE $10::timestamptz IS NOT NULL AND p.user_id = $1 AND p.goal_id = $2 \
             AND p.status = $12 AND (i.period_end IS NULL OR p.expires_at = i.period_end) \
         ) SELECT * FROM intent"
    )
});

impl PgStore {
    pub(super) async fn begin_write(&self) -> Result<Tx<'static>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// The progress row's status, locked, and in the same round trip whether the ledger of
    /// deleted players' rewards holds this one.
    async fn claim_row(&self, tx: &mut Tx<'static>, key: &IntentKey, ledger: &str) -> ClaimRow {
        let found: Option<(String, bool)> = sqlx::query_as(
            "SELECT status, EXISTS (SELECT 1 FROM reward_ledger WHERE key = $3) \
             FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2 \
             FOR UPDATE OF user_goal_progress",
        )
        .bind(key.user_id.as_str())
        .bind(key.goal_id.as_str())
        .bind(ledger)
        .fetch_optional(&mut **tx)
        .await?;
        let (status, in_ledger) = found.unzip();
        Ok((status, in_ledger == Some(true)))
    }

    /// One statement ([`FINISH`]).
    async fn finish(&self, f: Finish<'_>) -> Result<Option<RewardIntent>, StoreError> {
        let columns = f.outcome.columns();
        let claimed_at = match f.outcome {
            IntentOutcome::Granted { claimed_at } => Some(*claimed_at),
            _ => None,
        };
        let claim = engine::progress::CLAIM;
        let finish = bind_outcome(sqlx::query(FINISH.as_str()), f.key, &columns, f.now)
            .bind(f.only_from.unwrap_or(columns.from))
            .bind(columns.keeps_lease)
            .bind(claimed_at)
            .bind(claim.to.as_str())
            .bind(claim.from.as_str());
        if !matches!(
            f.outcome,
            IntentOutcome::Granted { .. } | IntentOutcome::Refused { .. }
        ) {
            // Nothing to notify: one statement, no transaction around it.
            let row = finish.fetch_optional(&self.pool).await?;
            return Ok(row.as_ref().map(decode_intent).transpose()?);
        }
        // A grant or a refusal writes its notification in the same transaction.
        let mut tx = self.pool.begin().await?;
        let row = finish.fetch_optional(&mut *tx).await?;
        let intent = row.as_ref().map(decode_intent).transpose()?;
        if let Some(notice) = intent
            .as_ref()
            .and_then(|intent| crate::outbox::for_outcome(intent, f.outcome, f.now))
        {
            super::outbox::insert_notice(&mut tx, &notice).await?;
        }
        tx.commit().await?;
        Ok(intent)
    }
}

/// The keyed hashes of a deleted player's rewards, in one statement.
async fn record_in_ledger(
    tx: &mut Tx<'_>,
    keys: &[String],
    states: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO reward_ledger (key, state, recorded_at) \
         SELECT k, s, $3 FROM UNNEST($1::varchar[], $2::varchar[]) AS t(k, s) \
         ON CONFLICT (key) DO NOTHING",
    )
    .bind(keys)
    .bind(states)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
