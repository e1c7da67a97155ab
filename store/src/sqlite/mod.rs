//! SQLite store: the embedded default for a first run. One writer at a time (`BEGIN
//! IMMEDIATE`), WAL journal so reads go on during writes. Reward intents are in `claims.rs`.

mod claims;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, ProgressState, Status, UserId};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::fold::{ApplyBatch, auto_keys, first_occurrences, fold, isolate_failures, touched_keys};
use crate::row::{ProgressRow, expired_batch};
use crate::{
    ClaimStart, EventOutcome, ExpiredBatch, ExpiryCursor, ExpiryPolicy, IntentKey, IntentOutcome,
    IntentState, NewIntent, PendingEvent, PoolStats, ProgressStore, RewardIntent, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const COLUMNS: &str = "user_id, goal_id, challenge_id, namespace, progress, status, completed_at, claimed_at, \
     created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day";

const INSERT: &str = "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, progress, status, \
     completed_at, claimed_at, created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The embedded store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The reward ledger's HMAC secret, read (or created) on first use.
    ledger_secret: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite:` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("bad SQLite URL `{url}`: {err}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            ledger_secret: Default::default(),
        })
    }

    async fn apply_in_one_transaction(
        &self,
        batch: &[&PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        let mut fresh = first_occurrences(batch);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (pending, is_fresh) in batch.iter().zip(fresh.iter_mut()) {
            if !*is_fresh || pending.event.id.is_empty() {
                continue;
            }
            let inserted = sqlx::query(
                "INSERT INTO processed_events (event_id, user_id, processed_at) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&pending.event.id)
            .bind(pending.event.user_id.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            *is_fresh = inserted == 1;
        }
        let wanted: Vec<&PendingEvent> = batch
            .iter()
            .zip(&fresh)
            .filter(|(_, f)| **f)
            .map(|(p, _)| *p)
            .collect();
        for (user_id, goal_id, pending) in auto_keys(wanted.iter().copied()) {
            if let Some(goal) = pending.rules.goal(goal_id.as_str()) {
                let row = ProgressRow::assigned(&user_id, &pending.event.namespace, goal, now);
                insert_row(&mut tx, &row, " ON CONFLICT (user_id, goal_id) DO NOTHING").await?;
            }
        }
        let mut rows = Vec::new();
        for (user_id, goal_id) in touched_keys(wanted.iter().copied()) {
            let sql = format!(
                "SELECT {COLUMNS} FROM user_goal_progress WHERE user_id = ? AND goal_id = ?"
            );
            if let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(user_id.as_str())
                .bind(goal_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
            {
                rows.push(decode(&row)?);
            }
        }
        let folded = fold(batch, &fresh, rows, now);
        for row in &folded.changed {
            insert_row(
                &mut tx,
                row,
                " ON CONFLICT (user_id, goal_id) DO UPDATE SET progress = excluded.progress, status = excluded.status, \
                 completed_at = excluded.completed_at, claimed_at = excluded.claimed_at, updated_at = excluded.updated_at, \
                 is_active = excluded.is_active, assigned_at = excluded.assigned_at, expires_at = excluded.expires_at, \
                 baseline_value = excluded.baseline_value, last_counted_day = excluded.last_counted_day",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(folded.outcomes)
    }
}

fn decode(row: &SqliteRow) -> Result<ProgressRow, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let status = Status::parse(&status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status `{status}`").into()))?;
    Ok(ProgressRow {
        user_id: UserId::new(row.try_get::<String, _>("user_id")?),
        goal_id: GoalId::new(row.try_get::<String, _>("goal_id")?),
        challenge_id: ChallengeId::new(row.try_get::<String, _>("challenge_id")?),
        namespace: row.try_get("namespace")?,
        state: ProgressState {
            progress: row.try_get("progress")?,
            baseline: row.try_get("baseline_value")?,
            status,
            is_active: row.try_get("is_active")?,
            assigned_at: row.try_get("assigned_at")?,
            completed_at: row.try_get("completed_at")?,
            claimed_at: row.try_get("claimed_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            expires_at: row.try_get("expires_at")?,
            last_counted_day: row.try_get("last_counted_day")?,
        },
    })
}

async fn insert_row(
    conn: &mut SqliteConnection,
    row: &ProgressRow,
    on_conflict: &str,
) -> Result<u64, StoreError> {
    let sql = format!("{INSERT}{on_conflict}");
    let s = &row.state;
    Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(row.user_id.as_str())
        .bind(row.goal_id.as_str())
        .bind(row.challenge_id.as_str())
        .bind(&row.namespace)
        .bind(s.progress.max(0))
        .bind(s.status.as_str())
        .bind(s.completed_at)
        .bind(s.claimed_at)
        .bind(s.created_at)
        .bind(s.updated_at)
        .bind(s.is_active)
        .bind(s.assigned_at)
        .bind(s.expires_at)
        .bind(s.baseline)
        .bind(s.last_counted_day)
        .execute(conn)
        .await?
        .rows_affected())
}

async fn select_user_goal(
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
async fn activate(
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
        .ok_or_else(|| StoreError::Rejected(format!("row of goal `{}` vanished", goal.id)))
}

#[async_trait]
impl ProgressStore for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        let migrated: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')")
            .fetch_one(&self.pool)
            .await?;
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

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn pool_connections(&self) -> PoolStats {
        PoolStats {
            open: self.pool.size(),
            idle: self.pool.num_idle(),
            max: self.pool.options().get_max_connections(),
        }
    }

    async fn progress_for_user(
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

    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        select_user_goal(&mut conn, user_id, goal_id).await
    }

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let mut rows: Vec<ProgressRow> = self
            .progress_for_user(user_id, false)
            .await?
            .into_iter()
            .filter(|row| goal_ids.contains(&row.goal_id))
            .collect();
        rows.sort_by(|a, b| a.goal_id.cmp(&b.goal_id));
        Ok(rows)
    }

    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM user_goal_progress WHERE user_id = ? AND is_active AND (? IS NULL OR challenge_id = ?)",
        )
        .bind(user_id.as_str())
        .bind(challenge_id.map(ChallengeId::as_str))
        .bind(challenge_id.map(ChallengeId::as_str))
        .fetch_one(&self.pool)
        .await?)
    }

    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut inserted = Vec::new();
        for goal in goals {
            let row = ProgressRow::assigned(user_id, namespace, goal, now);
            if insert_row(&mut tx, &row, " ON CONFLICT (user_id, goal_id) DO NOTHING").await? == 1 {
                inserted.push(row);
            }
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn set_active_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = activate(&mut tx, user_id, namespace, goal, active, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate_goals: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
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
    }

    async fn delete_user(&self, user_id: &UserId) -> Result<u64, StoreError> {
        let secret = self.ledger_secret().await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let rows = sqlx::query("DELETE FROM user_goal_progress WHERE user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.move_intents_to_ledger(&mut tx, user_id, &secret, Utc::now())
            .await?;
        sqlx::query("DELETE FROM processed_events WHERE user_id = ?")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        let policies = serde_json::Value::Array(
            policies
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "goal": p.goal_id.as_str(),
                        "active": p.active,
                        "claimed": p.claimed_too,
                    })
                })
                .collect(),
        );
        // The write lock is held from the walk to the delete, so nothing changes in between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let scanned: Vec<(DateTime<Utc>, String, String, bool)> = sqlx::query_as(
            "SELECT e.expires_at, e.user_id, e.goal_id, \
                    COALESCE(g.value IS NOT NULL \
                      AND e.is_active = json_extract(g.value, '$.active') \
                      AND (e.status <> 'claimed' OR json_extract(g.value, '$.claimed')) \
                      AND NOT EXISTS (SELECT 1 FROM reward_grants r \
                        WHERE r.user_id = e.user_id AND r.goal_id = e.goal_id \
                          AND r.state IN ('pending', 'sending', 'unknown')), 0) \
             FROM user_goal_progress e \
             LEFT JOIN json_each(?) g ON json_extract(g.value, '$.goal') = e.goal_id \
             WHERE e.expires_at IS NOT NULL AND e.expires_at < ? \
               AND (? IS NULL OR (e.expires_at, e.user_id, e.goal_id) > (?, ?, ?)) \
             ORDER BY e.expires_at, e.user_id, e.goal_id LIMIT ?",
        )
        .bind(policies.to_string())
        .bind(before)
        .bind(after.map(|c| c.expires_at))
        .bind(after.map(|c| c.expires_at))
        .bind(after.map(|c| c.user_id.as_str()))
        .bind(after.map(|c| c.goal_id.as_str()))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let doomed = serde_json::Value::Array(
            scanned
                .iter()
                .filter(|row| row.3)
                .map(|(_, user, goal, _)| serde_json::json!([user, goal]))
                .collect(),
        );
        let deleted = sqlx::query(
            "DELETE FROM user_goal_progress WHERE (user_id, goal_id) IN ( \
               SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))",
        )
        .bind(doomed.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        let count = i64::try_from(scanned.len()).unwrap_or(i64::MAX);
        let last = scanned.into_iter().next_back();
        Ok(expired_batch(
            i64::try_from(deleted).unwrap_or(i64::MAX),
            count,
            limit,
            last.as_ref().map(|row| row.0),
            last.as_ref().map(|row| row.1.clone()),
            last.map(|row| row.2),
        ))
    }

    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM processed_events WHERE event_id IN ( \
               SELECT event_id FROM processed_events WHERE processed_at < ? ORDER BY processed_at LIMIT ?)",
        )
        .bind(before)
        .bind(limit)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn begin_claim(
        &self,
        intent: &NewIntent,
        now: DateTime<Utc>,
    ) -> Result<ClaimStart, StoreError> {
        self.begin_claim_impl(intent, now).await
    }

    async fn mark_sending(
        &self,
        key: &IntentKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.mark_sending_impl(key, lease_until, now).await
    }

    async fn finish_intent(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        let from: &[&str] = match outcome {
            IntentOutcome::Retry { .. } | IntentOutcome::Unknown { .. } => &["pending", "sending"],
            _ => &["pending", "sending", "unknown"],
        };
        self.finish_intent_impl(key, outcome, from, now).await
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
        self.finish_intent_impl(key, &outcome, &["unknown"], now)
            .await
    }

    async fn lease_intents(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.lease_intents_impl(now, lease_until, limit).await
    }

    async fn intent(&self, key: &IntentKey) -> Result<Option<RewardIntent>, StoreError> {
        self.intent_impl(key).await
    }

    async fn list_intents(
        &self,
        state: Option<IntentState>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.list_intents_impl(state, limit).await
    }

    async fn intent_counts(&self) -> Result<Vec<(IntentState, i64)>, StoreError> {
        self.intent_counts_impl().await
    }

    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
        isolate_failures(self, batch, now).await
    }
}

#[async_trait]
impl ApplyBatch for SqliteStore {
    async fn apply_batch(
        &self,
        batch: &[&PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<EventOutcome>, StoreError> {
        self.apply_in_one_transaction(batch, now).await
    }
}
