//! The transactional outbox of notifications: a `goal.completed` record is written in the
//! writer's batch transaction that completes the goal, a `reward.granted` or `reward.refused`
//! one in the transaction that records the intent's outcome; the service leases them (per
//! player, only the oldest live record is due, so they go out in order), delivers them to its
//! sinks and deletes them, or dead-letters one that keeps failing. Written once for both
//! backends: the statements here, the trait's code in [`notification_outbox!`], compiled for
//! each driver with its lease statement.

use chrono::{DateTime, Utc};
use engine::{CompiledGoal, ProgressState, Reward};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::StoreError;

/// A record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: String,
    pub user_id: String,
    pub kind: &'static str,
    /// The JSON delivered, signed as it is.
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A record as leased for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    pub seq: i64,
    pub id: String,
    pub user_id: String,
    pub kind: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Sinks that took it already (a retry goes to the others only).
    pub delivered_to: Vec<String>,
    /// Deliveries tried, this one included.
    pub attempts: i32,
}

/// `n-` and 32 hex digits of SHA-256 over the parts: a record's stable id.
fn stable_id(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    format!("n-{}", &crate::claims::hex(&hash.finalize())[..32])
}

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A reward as the API shows it.
pub fn reward_json(reward: &Reward) -> Value {
    json!({"type": reward.kind(), "rewardId": reward.id(), "quantity": reward.quantity()})
}

#[allow(clippy::too_many_arguments)]
fn body(
    id: &str,
    kind: &str,
    at: DateTime<Utc>,
    namespace: &str,
    user_id: &str,
    challenge_id: &str,
    goal_id: &str,
    reward: Value,
    extra: Option<(&str, Value)>,
) -> String {
    let mut record = json!({
        "id": id,
        "type": kind,
        "at": stamp(at),
        "namespace": namespace,
        "userId": user_id,
        "challengeId": challenge_id,
        "goalId": goal_id,
        "reward": reward,
    });
    if let (Some((key, value)), Some(object)) = (extra, record.as_object_mut()) {
        object.insert(key.to_string(), value);
    }
    record.to_string()
}

impl Notice {
    /// `goal.completed`, when `next` completes `goal` (and `before` was not this completion).
    pub fn completed(
        goal: &CompiledGoal,
        namespace: &str,
        user_id: &str,
        before: Option<&ProgressState>,
        next: &ProgressState,
    ) -> Option<Notice> {
        let at = next.completed_at?;
        let completes = next.status == engine::Status::Completed
            && before.is_none_or(|b| b.completed_at != next.completed_at);
        if !completes {
            return None;
        }
        let kind = "goal.completed";
        let micros = at.timestamp_micros().to_string();
        let id = stable_id(&[kind, namespace, user_id, goal.id.as_str(), &micros]);
        let reward = goal.rewards.headline().map_or(Value::Null, reward_json);
        let body = body(
            &id,
            kind,
            at,
            namespace,
            user_id,
            goal.challenge_id.as_str(),
            goal.id.as_str(),
            reward,
            None,
        );
        Some(Notice {
            id,
            user_id: user_id.to_string(),
            kind,
            body,
            created_at: at,
        })
    }

    /// `reward.granted` or `reward.refused` (with its `error`), for an intent whose reward
    /// record is `reward` (one reward, a list, or `null`: no notice).
    pub fn reward(
        intent: &crate::RewardIntent,
        granted: bool,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Option<Notice> {
        let recorded: Value = serde_json::from_str(&intent.reward).unwrap_or(Value::Null);
        let (first, all) = match recorded {
            Value::Null => return None,
            Value::Array(list) => (list.first().cloned().unwrap_or(Value::Null), Some(list)),
            one => (one, None),
        };
        let kind = if granted {
            "reward.granted"
        } else {
            "reward.refused"
        };
        // A grant happens once per transaction; a refusal may repeat (claimed again).
        let when = if granted {
            String::new()
        } else {
            at.timestamp_micros().to_string()
        };
        let id = stable_id(&[kind, &intent.transaction_id, &when]);
        let extra = match (all, error) {
            (_, Some(error)) => Some(("error", Value::String(error.to_string()))),
            (Some(all), None) => Some(("rewards", Value::Array(all))),
            (None, None) => None,
        };
        let body = body(
            &id,
            kind,
            at,
            &intent.namespace,
            intent.key.user_id.as_str(),
            &intent.challenge_id,
            intent.key.goal_id.as_str(),
            first,
            extra,
        );
        Some(Notice {
            id,
            user_id: intent.key.user_id.to_string(),
            kind,
            body,
            created_at: at,
        })
    }
}

/// The record an intent's outcome writes: `reward.granted` or `reward.refused` (nothing for
/// the other outcomes, nor for a goal without reward).
pub(crate) fn for_outcome(
    intent: &crate::RewardIntent,
    outcome: &crate::IntentOutcome,
    now: DateTime<Utc>,
) -> Option<Notice> {
    match outcome {
        crate::IntentOutcome::Granted { claimed_at } => {
            Notice::reward(intent, true, None, *claimed_at)
        }
        crate::IntentOutcome::Refused { error } => Notice::reward(intent, false, Some(error), now),
        _ => None,
    }
}

/// One record, kept if a record of the same id is there already.
pub(crate) const INSERT: &str = "INSERT INTO notification_outbox \
       (id, user_id, kind, body, created_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (user_id, id) DO NOTHING";

/// The columns a lease returns, the order column (`seq`, SQLite's `rowid`) as `seq`.
pub(crate) fn columns(seq: &str) -> String {
    format!("{seq} AS seq, id, user_id, kind, body, created_at, delivered_to, attempts")
}

/// Which records are due: live, their backoff over, not leased, and the oldest live record of
/// their player (so a player's records go out in order, and a dead one blocks nothing). A lease
/// takes them by `next_attempt_at` (its index), the per-player order coming from this test.
pub(crate) fn due(seq: &str) -> String {
    format!(
        "NOT n.dead AND n.next_attempt_at <= $1 \
         AND (n.lease_until IS NULL OR n.lease_until < $1) \
         AND NOT EXISTS (SELECT 1 FROM notification_outbox e \
                         WHERE e.user_id = n.user_id AND NOT e.dead AND e.{seq} < n.{seq})"
    )
}

/// The notification outbox, as the service's notifier works it.
#[async_trait::async_trait]
pub trait NotificationOutbox: Send + Sync + 'static {
    /// Leases up to `limit` due records until `lease_until`, counting the attempt: no two
    /// callers, on any replica, get the same one, nor two records of one player.
    async fn lease_notices(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRecord>, StoreError>;

    /// Every sink took it: the record is deleted.
    async fn notice_delivered(&self, record: &OutboxRecord) -> Result<(), StoreError>;

    /// Not every sink took it: which did, why the others did not, and when to try again; or
    /// `dead`, dead-lettered (kept for an operator; the player's later records go on).
    async fn notice_failed(
        &self,
        record: &OutboxRecord,
        delivered_to: &[String],
        error: &str,
        retry_at: DateTime<Utc>,
        dead: bool,
    ) -> Result<(), StoreError>;

    /// Live and dead-lettered records.
    async fn notice_counts(&self) -> Result<(i64, i64), StoreError>;
}

/// Implements [`NotificationOutbox`] for `$store` over `$db`, leasing with `$lease` (`$1` now,
/// `$2` the lease's end, `$3` how many); `$seq` is the order column.
macro_rules! notification_outbox {
    ($store:ty, $db:ty, lease: $lease:expr, seq: $seq:literal) => {
        #[async_trait::async_trait]
        impl $crate::outbox::NotificationOutbox for $store {
            async fn lease_notices(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                lease_until: chrono::DateTime<chrono::Utc>,
                limit: i64,
            ) -> Result<Vec<$crate::outbox::OutboxRecord>, $crate::StoreError> {
                use sqlx::Row as _;
                self.common
                    .probe
                    .timed("lease_notices", async move {
                        let rows = sqlx::query(sqlx::AssertSqlSafe($lease))
                            .bind(now)
                            .bind(lease_until)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?;
                        let mut records = Vec::with_capacity(rows.len());
                        for row in &rows {
                            let delivered: String = row.try_get("delivered_to")?;
                            records.push($crate::outbox::OutboxRecord {
                                seq: row.try_get("seq")?,
                                id: row.try_get("id")?,
                                user_id: row.try_get("user_id")?,
                                kind: row.try_get("kind")?,
                                body: row.try_get("body")?,
                                created_at: row.try_get("created_at")?,
                                delivered_to: delivered
                                    .split(',')
                                    .filter(|s| !s.is_empty())
                                    .map(str::to_string)
                                    .collect(),
                                attempts: row.try_get("attempts")?,
                            });
                        }
                        records.sort_by_key(|r| r.seq);
                        Ok(records)
                    })
                    .await
            }

            async fn notice_delivered(
                &self,
                record: &$crate::outbox::OutboxRecord,
            ) -> Result<(), $crate::StoreError> {
                self.common
                    .probe
                    .timed("notice_delivered", async move {
                        // The id too: SQLite may give a deleted row's rowid to a new one.
                        sqlx::query(concat!(
                            "DELETE FROM notification_outbox WHERE user_id = $1 AND id = $3 AND ",
                            $seq,
                            " = $2"
                        ))
                        .bind(&record.user_id)
                        .bind(record.seq)
                        .bind(&record.id)
                        .execute(&self.pool)
                        .await?;
                        Ok(())
                    })
                    .await
            }

            async fn notice_failed(
                &self,
                record: &$crate::outbox::OutboxRecord,
                delivered_to: &[String],
                error: &str,
                retry_at: chrono::DateTime<chrono::Utc>,
                dead: bool,
            ) -> Result<(), $crate::StoreError> {
                let delivered = delivered_to.join(",");
                self.common
                    .probe
                    .timed("notice_failed", async move {
                        sqlx::query(concat!(
                            "UPDATE notification_outbox SET delivered_to = $3, last_error = $4, \
                               next_attempt_at = $5, dead = $6, lease_until = NULL \
                             WHERE user_id = $1 AND id = $7 AND ",
                            $seq,
                            " = $2"
                        ))
                        .bind(&record.user_id)
                        .bind(record.seq)
                        .bind(&delivered)
                        .bind(error)
                        .bind(retry_at)
                        .bind(dead)
                        .bind(&record.id)
                        .execute(&self.pool)
                        .await?;
                        Ok(())
                    })
                    .await
            }

            async fn notice_counts(&self) -> Result<(i64, i64), $crate::StoreError> {
                self.common
                    .probe
                    .timed("notice_counts", async move {
                        let (live, dead): (i64, i64) = sqlx::query_as(
                            "SELECT COALESCE(SUM(CASE WHEN dead THEN 0 ELSE 1 END), 0), \
                                    COALESCE(SUM(CASE WHEN dead THEN 1 ELSE 0 END), 0) \
                             FROM notification_outbox",
                        )
                        .fetch_one(&self.pool)
                        .await?;
                        Ok((live, dead))
                    })
                    .await
            }
        }
    };
}

pub(crate) use notification_outbox;
