//! PostgreSQL store: bulk statements over `UNNEST` arrays, rows locked with
//! `SELECT … ORDER BY key FOR UPDATE` so concurrent replicas never deadlock. Reward intents
//! are in `claims.rs`.

mod archive;
mod assignment;
mod auto_rows;
mod batch;
mod claims;
mod cleanup;
mod connections;
mod dedup;

pub use connections::WRITER_APPLICATION;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, ProgressState, Status, UserId};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};

use crate::archive::{ArchiveWindow, ArchivedEvent};
use crate::row::ProgressRow;
use crate::{
    ClaimStart, EventOutcome, ExpiredBatch, ExpiryCursor, ExpiryPolicy, IntentKey, IntentOutcome,
    IntentState, NewIntent, PendingEvent, PoolStats, ProgressStore, RewardIntent, StoreError,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The progress columns, in the order `decode` reads them by position.
const COLUMNS: &str = "user_id, goal_id, challenge_id, namespace, progress, status, completed_at, claimed_at, \
     created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day";

/// The production store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The reward ledger's HMAC secret, read (or created) on first use.
    ledger_secret: std::sync::Arc<tokio::sync::OnceCell<String>>,
    /// The batch writer's own connections (`connections.rs` says why).
    writer_connections: std::sync::Arc<connections::WriterConnections>,
    /// Auto rows seen to exist, so most batches skip the placeholders (`auto_rows.rs`).
    known_auto_rows: std::sync::Arc<auto_rows::KnownAutoRows>,
    /// Whether the legacy dedup table is still read (`dedup.rs`).
    legacy_dedup: std::sync::Arc<crate::dedup::Legacy>,
}

impl PgStore {
    /// Connects a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| StoreError::Config(format!("bad DATABASE_URL: {err}")))?;
        let pool = connections::pool_options(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        let writer_connections =
            std::sync::Arc::new(connections::WriterConnections::new(&pool.connect_options()));
        Self {
            pool,
            ledger_secret: Default::default(),
            writer_connections,
            known_auto_rows: Default::default(),
            legacy_dedup: Default::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// A row of `SELECT {COLUMNS}` (every caller selects exactly [`COLUMNS`], in its order).
/// By position: a by-name lookup compares the name with each column's, per column per row,
/// which was a tenth of the list route's CPU.
fn decode(row: &PgRow) -> Result<ProgressRow, sqlx::Error> {
    let status: &str = row.try_get(5)?;
    let status = Status::parse(status)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown status `{status}`").into()))?;
    Ok(ProgressRow {
        user_id: UserId::new(row.try_get::<String, _>(0)?),
        goal_id: GoalId::new(row.try_get::<String, _>(1)?),
        challenge_id: ChallengeId::new(row.try_get::<String, _>(2)?),
        namespace: row.try_get(3)?,
        state: ProgressState {
            progress: row.try_get::<i64, _>(4)?,
            status,
            completed_at: row.try_get(6)?,
            claimed_at: row.try_get(7)?,
            created_at: row.try_get(8)?,
            updated_at: row.try_get(9)?,
            is_active: row.try_get(10)?,
            assigned_at: row.try_get(11)?,
            expires_at: row.try_get(12)?,
            baseline: row.try_get::<Option<i64>, _>(13)?,
            last_counted_day: row.try_get(14)?,
        },
    })
}

#[async_trait]
impl ProgressStore for PgStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        let migrated: bool =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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
        self.progress_for_user_impl(user_id, active_only).await
    }

    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        self.progress_for_user_goal_impl(user_id, goal_id).await
    }

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.progress_for_user_goals_impl(user_id, goal_ids).await
    }

    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        self.count_active_for_user_impl(user_id, challenge_id).await
    }

    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.initialize_for_user_impl(user_id, namespace, goals, now)
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
        self.set_active_for_user_impl(user_id, namespace, goal, active, now)
            .await
    }

    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.activate_batch_for_user_impl(user_id, namespace, activate, deactivate, now)
            .await
    }

    async fn delete_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete_user_impl(user_id, now).await
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        self.delete_expired_impl(policies, before, after, limit)
            .await
    }

    async fn prune_event_archive(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.prune_event_archive_impl(before, limit).await
    }

    async fn read_archive(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        self.read_archive_impl(window, after, limit).await
    }

    async fn player_archive(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        self.player_archive_impl(user_id, limit).await
    }

    async fn count_archive(&self, window: &ArchiveWindow) -> Result<u64, StoreError> {
        self.count_archive_impl(window).await
    }

    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.prune_processed_events_impl(before, limit).await
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
        self.finish_intent_impl(key, outcome, None, now).await
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
        self.finish_intent_impl(key, &outcome, Some(&["unknown"]), now)
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

    async fn expedite_intents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.expedite_intents_impl(now).await
    }

    async fn goals_in_use(&self, goals: &[GoalId]) -> Result<Vec<GoalId>, StoreError> {
        self.goals_in_use_impl(goals).await
    }

    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
        self.apply_events_impl(batch, now).await
    }
}
