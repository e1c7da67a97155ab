//! What every store call reports, and the read cache it may go through: each backend holds a
//! [`Probe`] and runs each role method inside it, so timing and cache eviction are written once,
//! here, and no layer sits between a role and its backend.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::UserId;

use crate::cache::ProgressCache;
use crate::{PendingEvent, ProgressRow, StoreError};

/// Told about every store call: its operation name (the role method), how long it took and
/// whether it succeeded (the binaries' `challenge_db_query_duration_seconds`).
pub trait QueryObserver: Send + Sync + 'static {
    fn query(&self, operation: &'static str, elapsed: Duration, ok: bool);
}

/// Who hears about a backend's calls, and the cache players' rows for answers are read through
/// (PostgreSQL only: SQLite has no change log to keep one right). The default reports nowhere
/// and caches nothing.
#[derive(Clone, Default)]
pub struct Probe {
    observer: Option<Arc<dyn QueryObserver>>,
    cache: Option<Arc<ProgressCache>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("observed", &self.observer.is_some())
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl Probe {
    pub fn new(observer: Arc<dyn QueryObserver>, cache: Option<Arc<ProgressCache>>) -> Self {
        Self {
            observer: Some(observer),
            cache,
        }
    }

    /// Runs `call`, telling the observer how long it took and whether it succeeded.
    pub(crate) async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        if let Some(observer) = &self.observer {
            observer.query(operation, started.elapsed(), result.is_ok());
        }
        result
    }

    /// `write`, timed, then `user` evicted from the cache, whatever the outcome (a failed
    /// answer may follow a commit), so the player's next read sees it without waiting for the
    /// change log.
    pub(crate) async fn wrote<T>(
        &self,
        operation: &'static str,
        user: &UserId,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = self.timed(operation, write).await;
        if let Some(cache) = &self.cache {
            cache.evict(user);
        }
        result
    }

    /// A batch of events, timed, then each of its players evicted.
    pub(crate) async fn wrote_batch<T>(
        &self,
        batch: &[PendingEvent],
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = self.timed("apply_events", write).await;
        if let Some(cache) = &self.cache {
            for pending in batch {
                cache.evict(&pending.event.user_id);
            }
        }
        result
    }

    /// A write that may touch any player (cleanup), timed, then the whole cache emptied.
    pub(crate) async fn wrote_anyone<T>(
        &self,
        operation: &'static str,
        write: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = self.timed(operation, write).await;
        if let Some(cache) = &self.cache {
            cache.evict_all();
        }
        result
    }

    /// A player's rows for an answer: from the cache when there is one (which loads every row
    /// of the player, `read(false)`, on a miss), else `read(active_only)` from the database.
    pub(crate) async fn display<F>(
        &self,
        user_id: &UserId,
        active_only: bool,
        read: impl FnOnce(bool) -> F,
    ) -> Result<Vec<ProgressRow>, StoreError>
    where
        F: Future<Output = Result<Vec<ProgressRow>, StoreError>>,
    {
        match &self.cache {
            Some(cache) => {
                let all = self.timed("progress_for_user", read(false));
                cache.rows(user_id, active_only, all).await
            }
            None => self.timed("progress_for_user", read(active_only)).await,
        }
    }
}
