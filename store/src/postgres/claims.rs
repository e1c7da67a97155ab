//! Reward intents on PostgreSQL. Every transaction that touches both a progress row and an
//! intent locks the progress row first, so a double click cannot deadlock; the reconciler
//! leases with `FOR UPDATE SKIP LOCKED`, so replicas never work the same intent.

use chrono::{DateTime, Utc};
use engine::{GoalId, UserId};
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::PgStore;
use crate::StoreError;
use crate::claims::{
    ClaimStart, Delivery, IntentKey, IntentOutcome, IntentState, NewIntent, RewardIntent,
    ledger_key, new_ledger_secret,
};

const INTENT_COLUMNS: &str = "user_id, goal_id, period_start, namespace, state, delivery, reward, \
     transaction_id, period_end, attempts, last_error, created_at, updated_at, lease_until, next_attempt_at";

const KEY: &str = "user_id = $1 AND goal_id = $2 AND period_start = $3";

impl PgStore {
    /// The ledger's HMAC secret: generated and stored once, on first use.
    pub(super) async fn ledger_secret(&self) -> Result<String, StoreError> {
        self.ledger_secret
            .get_or_try_init(|| async {
                sqlx::query(
                    "INSERT INTO reward_ledger_secret (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                )
                .bind(new_ledger_secret()?)
                .execute(&self.pool)
                .await?;
                let secret: String =
                    sqlx::query_scalar("SELECT secret FROM reward_ledger_secret WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await?;
                Ok(secret)
            })
            .await
            .cloned()
    }

    async fn finish(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        only_from: Option<&[&str]>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let columns = outcome.columns();
        let claimed_at = match outcome {
            IntentOutcome::Granted { claimed_at } => Some(*claimed_at),
            _ => None,
        };
        // The engine's transition, bound: its status ($11), and the one it starts from ($12).
        let claim = engine::progress::CLAIM;
        // One statement, in the lock order of every claim transaction: `locked` (run by the
        // intent's one-time filter, before the intent's row is touched) locks the progress row,
        // `intent` records the outcome, and `claimed` (run after them) marks a grant's progress
        // row: the row of the intent's own period only, so a row that moved on to a later period
        // (or was cleaned up) is left alone.
        let sql = format!(
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
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.user_id.as_str())
            .bind(key.goal_id.as_str())
            .bind(key.period_start)
            .bind(columns.state)
            .bind(columns.error)
            .bind(columns.next_attempt_at)
            .bind(now)
            .bind(only_from.unwrap_or(columns.from))
            .bind(columns.keeps_lease)
            .bind(claimed_at)
            .bind(claim.to.as_str())
            .bind(claim.from.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(decode_intent).transpose()?)
    }

    /// Inside `delete_user`'s transaction: what was (or may have been) granted goes to the
    /// ledger as a keyed hash; then the user's intents go.
    pub(super) async fn move_intents_to_ledger(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        user_id: &UserId,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // `pending` was never sent (sending is recorded first) and `refused` frees the goal.
        let intents: Vec<(String, DateTime<Utc>, String, String)> = sqlx::query_as(
            "SELECT goal_id, period_start, namespace, state FROM reward_grants \
             WHERE user_id = $1 AND state IN ('sending', 'granted', 'unknown') FOR UPDATE",
        )
        .bind(user_id.as_str())
        .fetch_all(&mut **tx)
        .await?;
        let mut keys = Vec::with_capacity(intents.len());
        let mut states = Vec::with_capacity(intents.len());
        for (goal_id, period_start, namespace, state) in intents {
            let key = IntentKey {
                user_id: user_id.clone(),
                goal_id: GoalId::new(goal_id),
                period_start,
            };
            keys.push(ledger_key(secret, &namespace, &key));
            states.push(state);
        }
        sqlx::query(
            "INSERT INTO reward_ledger (key, state, recorded_at) \
             SELECT k, s, $3 FROM UNNEST($1::varchar[], $2::varchar[]) AS t(k, s) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(&keys)
        .bind(&states)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM reward_grants WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

fn decode_intent(row: &PgRow) -> Result<RewardIntent, sqlx::Error> {
    let state: String = row.try_get("state")?;
    let delivery: String = row.try_get("delivery")?;
    Ok(RewardIntent {
        key: IntentKey {
            user_id: UserId::new(row.try_get::<String, _>("user_id")?),
            goal_id: GoalId::new(row.try_get::<String, _>("goal_id")?),
            period_start: row.try_get("period_start")?,
        },
        namespace: row.try_get("namespace")?,
        state: IntentState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown intent state `{state}`").into()))?,
        delivery: Delivery::parse(&delivery)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown delivery `{delivery}`").into()))?,
        reward: row.try_get("reward")?,
        transaction_id: row.try_get("transaction_id")?,
        period_end: row.try_get("period_end")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        lease_until: row.try_get("lease_until")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

#[async_trait::async_trait]
impl crate::ClaimLedger for PgStore {
    async fn begin_claim(
        &self,
        intent: &NewIntent,
        now: DateTime<Utc>,
    ) -> Result<ClaimStart, StoreError> {
        self.probe.wrote("begin_claim", &intent.key.user_id, async move {
        let secret = self.ledger_secret().await?;
        let key = &intent.key;
        let (first_state, first_attempts) = intent.first_state();
        let mut tx = self.pool.begin().await?;
        // The progress row first (the lock order of every claim transaction), and in the same
        // round trip the ledger of deleted players' rewards.
        let found: Option<(String, bool)> = sqlx::query_as(
            "SELECT status, EXISTS (SELECT 1 FROM reward_ledger WHERE key = $3) \
             FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2 \
             FOR UPDATE OF user_goal_progress",
        )
        .bind(key.user_id.as_str())
        .bind(key.goal_id.as_str())
        .bind(ledger_key(&secret, &intent.namespace, key))
        .fetch_optional(&mut *tx)
        .await?;
        let (status, in_ledger) = found.unzip();
        if let Some(refused) = ClaimStart::refused_by_row(status.as_deref()) {
            return Ok(refused);
        }
        if in_ledger == Some(true) {
            return Ok(ClaimStart::AlreadyClaimed);
        }
        let sql = format!(
            "INSERT INTO reward_grants (user_id, goal_id, period_start, namespace, state, delivery, \
               reward, transaction_id, period_end, attempts, created_at, updated_at, lease_until, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $12, $9, $9, $10, $10) \
             ON CONFLICT (user_id, goal_id, period_start) DO UPDATE SET state = EXCLUDED.state, \
               attempts = reward_grants.attempts + EXCLUDED.attempts, \
               namespace = EXCLUDED.namespace, delivery = EXCLUDED.delivery, reward = EXCLUDED.reward, \
               transaction_id = EXCLUDED.transaction_id, period_end = EXCLUDED.period_end, \
               last_error = NULL, updated_at = EXCLUDED.updated_at, \
               lease_until = EXCLUDED.lease_until, next_attempt_at = EXCLUDED.next_attempt_at \
             WHERE reward_grants.state = 'refused' RETURNING {INTENT_COLUMNS}"
        );
        let started = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key.user_id.as_str())
            .bind(key.goal_id.as_str())
            .bind(key.period_start)
            .bind(&intent.namespace)
            .bind(intent.delivery.as_str())
            .bind(&intent.reward)
            .bind(intent.transaction_id())
            .bind(intent.period_end)
            .bind(now)
            .bind(intent.lease_until)
            .bind(first_state)
            .bind(first_attempts)
            .fetch_optional(&mut *tx)
            .await?;
        let outcome = match started {
            Some(row) => ClaimStart::Started(Box::new(decode_intent(&row)?)),
            None => {
                let state: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT state FROM reward_grants WHERE {KEY}"
                )))
                .bind(key.user_id.as_str())
                .bind(key.goal_id.as_str())
                .bind(key.period_start)
                .fetch_optional(&mut *tx)
                .await?;
                ClaimStart::blocked_by(state.as_deref())
            }
        };
        tx.commit().await?;
        Ok(outcome)
        }).await
    }

    async fn mark_sending(
        &self,
        key: &IntentKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.probe
            .timed("mark_sending", async move {
                // A direct delivery already `sending` may have arrived: it is never sent again.
                let sql = format!(
                    "UPDATE reward_grants SET state = 'sending', attempts = attempts + 1, \
               lease_until = $4, updated_at = $5 \
             WHERE {KEY} AND (state = 'pending' OR (state = 'sending' AND delivery <> 'direct')) \
             RETURNING {INTENT_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(key.user_id.as_str())
                    .bind(key.goal_id.as_str())
                    .bind(key.period_start)
                    .bind(lease_until)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.as_ref().map(decode_intent).transpose()?)
            })
            .await
    }

    async fn finish_intent(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let finish = self.finish(key, outcome, None, now);
        self.probe
            .wrote("finish_intent", &key.user_id, finish)
            .await
    }

    async fn resolve_intent(
        &self,
        key: &IntentKey,
        granted: bool,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let outcome = if granted {
            IntentOutcome::Granted { claimed_at: now }
        } else {
            IntentOutcome::Refused {
                error: note.to_string(),
            }
        };
        let finish = self.finish(key, &outcome, Some(&["unknown"]), now);
        self.probe
            .wrote("resolve_intent", &key.user_id, finish)
            .await
    }

    async fn lease_intents(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.probe
            .timed("lease_intents", async move {
                let columns = INTENT_COLUMNS
                    .split(", ")
                    .map(|c| format!("g.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "UPDATE reward_grants g SET lease_until = $2 FROM ( \
               SELECT user_id, goal_id, period_start FROM reward_grants \
               WHERE state IN ('pending', 'sending') AND next_attempt_at <= $1 \
                 AND (lease_until IS NULL OR lease_until < $1) \
               ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) due \
             WHERE g.user_id = due.user_id AND g.goal_id = due.goal_id \
               AND g.period_start = due.period_start \
             RETURNING {columns}"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(lease_until)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(decode_intent)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
            })
            .await
    }

    async fn intent(&self, key: &IntentKey) -> Result<Option<RewardIntent>, StoreError> {
        self.probe
            .timed("intent", async move {
                let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT {INTENT_COLUMNS} FROM reward_grants WHERE {KEY}"
                )))
                .bind(key.user_id.as_str())
                .bind(key.goal_id.as_str())
                .bind(key.period_start)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.as_ref().map(decode_intent).transpose()?)
            })
            .await
    }

    async fn list_intents(
        &self,
        state: Option<IntentState>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.probe
            .timed("list_intents", async move {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTENT_COLUMNS} FROM reward_grants WHERE ($1::varchar IS NULL OR state = $1) \
             ORDER BY updated_at, user_id, goal_id LIMIT $2"
        )))
        .bind(state.map(IntentState::as_str))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
                rows.iter()
                    .map(decode_intent)
                    .collect::<Result<_, _>>()
                    .map_err(StoreError::from)
            })
            .await
    }

    async fn expedite_intents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.probe
            .timed("expedite_intents", async move {
                Ok(sqlx::query(
                    "UPDATE reward_grants SET next_attempt_at = $1 \
             WHERE state IN ('pending', 'sending') AND next_attempt_at > $1 \
               AND (lease_until IS NULL OR lease_until < $1)",
                )
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected())
            })
            .await
    }

    async fn intent_counts(&self) -> Result<Vec<(IntentState, i64)>, StoreError> {
        self.probe.timed("intent_counts", async move {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, count(*) FROM reward_grants WHERE state IN ('pending', 'sending', 'unknown') GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(state, count)| Some((IntentState::parse(&state)?, count)))
            .collect())
        }).await
    }
}
