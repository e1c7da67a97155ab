//! A [`ProgressStore`] that times every call of the store it wraps and tells a
//! [`QueryObserver`] (the binaries' `challenge_db_query_duration_seconds`), and, given a
//! [`ProgressCache`], serves the rows of answers (`progress_for_display`) from it and evicts a
//! player after every write that names them (so their next read sees it without waiting for the
//! change log).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, UserId};

use crate::archive::{ArchiveWindow, ArchivedEvent};
use crate::cache::ProgressCache;
use crate::{
    ClaimStart, EventOutcome, ExpiredBatch, ExpiryCursor, ExpiryPolicy, IntentKey, IntentOutcome,
    IntentState, NewIntent, PendingEvent, PoolStats, ProgressRow, ProgressStore, RewardIntent,
    StoreError,
};

/// Told about every store call: its operation name (the trait method), how long it took and
/// whether it succeeded.
pub trait QueryObserver: Send + Sync + 'static {
    fn query(&self, operation: &'static str, elapsed: Duration, ok: bool);
}

/// Wraps `store` so every call is timed and reported to `observer`, and players' rows are read
/// through `cache` when there is one.
pub fn instrument(
    store: Arc<dyn ProgressStore>,
    observer: Arc<dyn QueryObserver>,
    cache: Option<Arc<ProgressCache>>,
) -> Arc<dyn ProgressStore> {
    Arc::new(Instrumented {
        inner: store,
        observer,
        cache,
    })
}

struct Instrumented {
    inner: Arc<dyn ProgressStore>,
    observer: Arc<dyn QueryObserver>,
    cache: Option<Arc<ProgressCache>>,
}

impl Instrumented {
    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.observer
            .query(operation, started.elapsed(), result.is_ok());
        result
    }

    /// `write`, timed, then `user` evicted from the cache (whatever the outcome: a failed
    /// answer may follow a commit).
    async fn wrote<T>(
        &self,
        operation: &'static str,
        user: &UserId,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = self.timed(operation, write).await;
        self.evict(|cache| cache.evict(user));
        result
    }

    /// Tells the cache, when there is one, what a write may have changed.
    fn evict(&self, what: impl FnOnce(&ProgressCache)) {
        if let Some(cache) = &self.cache {
            what(cache);
        }
    }
}

#[async_trait]
impl ProgressStore for Instrumented {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.timed("migrate", self.inner.migrate()).await
    }

    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError> {
        self.timed("migrate_down", self.inner.migrate_down(steps))
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }

    fn pool_connections(&self) -> PoolStats {
        self.inner.pool_connections()
    }

    async fn progress_for_user(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.timed(
            "progress_for_user",
            self.inner.progress_for_user(user_id, active_only),
        )
        .await
    }

    async fn progress_for_display(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let Some(cache) = &self.cache else {
            return self.progress_for_user(user_id, active_only).await;
        };
        let all = self.timed(
            "progress_for_user",
            self.inner.progress_for_user(user_id, false),
        );
        cache.rows(user_id, active_only, all).await
    }

    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        self.timed(
            "progress_for_user_goal",
            self.inner.progress_for_user_goal(user_id, goal_id),
        )
        .await
    }

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.timed(
            "progress_for_user_goals",
            self.inner.progress_for_user_goals(user_id, goal_ids),
        )
        .await
    }

    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError> {
        self.timed(
            "count_active_for_user",
            self.inner.count_active_for_user(user_id, challenge_id),
        )
        .await
    }

    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError> {
        self.wrote(
            "initialize_for_user",
            user_id,
            self.inner
                .initialize_for_user(user_id, namespace, goals, now),
        )
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
        self.wrote(
            "set_active_for_user",
            user_id,
            self.inner
                .set_active_for_user(user_id, namespace, goal, active, now),
        )
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
        self.wrote(
            "activate_batch_for_user",
            user_id,
            self.inner
                .activate_batch_for_user(user_id, namespace, activate, deactivate, now),
        )
        .await
    }

    async fn delete_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.wrote("delete_user", user_id, self.inner.delete_user(user_id, now))
            .await
    }

    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError> {
        let result = self
            .timed(
                "delete_expired",
                self.inner.delete_expired(policies, before, after, limit),
            )
            .await;
        self.evict(ProgressCache::evict_all);
        result
    }

    async fn prune_event_archive(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.timed(
            "prune_event_archive",
            self.inner.prune_event_archive(before, limit),
        )
        .await
    }

    async fn read_archive(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        self.timed(
            "read_archive",
            self.inner.read_archive(window, after, limit),
        )
        .await
    }

    async fn player_archive(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError> {
        self.timed("player_archive", self.inner.player_archive(user_id, limit))
            .await
    }

    async fn count_archive(&self, window: &ArchiveWindow) -> Result<u64, StoreError> {
        self.timed("count_archive", self.inner.count_archive(window))
            .await
    }

    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError> {
        self.timed(
            "prune_processed_events",
            self.inner.prune_processed_events(before, limit),
        )
        .await
    }

    async fn begin_claim(
        &self,
        intent: &NewIntent,
        now: DateTime<Utc>,
    ) -> Result<ClaimStart, StoreError> {
        self.wrote(
            "begin_claim",
            &intent.key.user_id,
            self.inner.begin_claim(intent, now),
        )
        .await
    }

    async fn mark_sending(
        &self,
        key: &IntentKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.timed(
            "mark_sending",
            self.inner.mark_sending(key, lease_until, now),
        )
        .await
    }

    async fn finish_intent(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.wrote(
            "finish_intent",
            &key.user_id,
            self.inner.finish_intent(key, outcome, now),
        )
        .await
    }

    async fn resolve_intent(
        &self,
        key: &IntentKey,
        granted: bool,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError> {
        self.wrote(
            "resolve_intent",
            &key.user_id,
            self.inner.resolve_intent(key, granted, note, now),
        )
        .await
    }

    async fn lease_intents(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.timed(
            "lease_intents",
            self.inner.lease_intents(now, lease_until, limit),
        )
        .await
    }

    async fn intent(&self, key: &IntentKey) -> Result<Option<RewardIntent>, StoreError> {
        self.timed("intent", self.inner.intent(key)).await
    }

    async fn list_intents(
        &self,
        state: Option<IntentState>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError> {
        self.timed("list_intents", self.inner.list_intents(state, limit))
            .await
    }

    async fn intent_counts(&self) -> Result<Vec<(IntentState, i64)>, StoreError> {
        self.timed("intent_counts", self.inner.intent_counts())
            .await
    }

    async fn expedite_intents(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.timed("expedite_intents", self.inner.expedite_intents(now))
            .await
    }

    async fn goals_in_use(&self, goals: &[GoalId]) -> Result<Vec<GoalId>, StoreError> {
        self.timed("goals_in_use", self.inner.goals_in_use(goals))
            .await
    }

    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError> {
        let result = self
            .timed("apply_events", self.inner.apply_events(batch, now))
            .await;
        self.evict(|cache| {
            for pending in batch {
                cache.evict(&pending.event.user_id);
            }
        });
        result
    }
}
