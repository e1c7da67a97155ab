//! SQLite store: the embedded default for a first run. One writer at a time (`BEGIN
//! IMMEDIATE`), WAL journal so reads go on during writes. Reward intents are in `claims.rs`.

mod archive;
mod assignment;
mod batch;
mod claims;
mod cleanup;

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

use crate::archive::{ArchiveWindow, ArchivedEvent};
use crate::row::ProgressRow;
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
    /// Whether the legacy dedup table is still read (`dedup.rs`).
    legacy_dedup: std::sync::Arc<crate::dedup::Legacy>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite:` URL names.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|err| StoreError::Config(format!("bad SQLite URL `{url}`: {err}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
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
            legacy_dedup: Default::default(),
        })
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

pub(super) async fn insert_row(
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
        activate_goals: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.activate_batch_for_user_impl(user_id, namespace, activate_goals, deactivate, now)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An acknowledged event or a `granted` claim must survive a power loss: every commit is
    /// synced before it returns (`synchronous=FULL`; `NORMAL` in WAL mode may roll back the
    /// last commits).
    #[tokio::test]
    async fn every_commit_is_synced_before_it_returns() {
        let dir = std::env::temp_dir().join(format!("challenge-sync-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}", dir.join("sync.db").display());
        let store = SqliteStore::connect(&url).await.expect("open");
        for _ in 0..4 {
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .expect("pragma");
            assert_eq!(level, 2, "synchronous is FULL (2) on every connection");
        }
        store.pool.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
