//! A per-player cache of progress rows for the services' reads, kept correct by PostgreSQL's
//! change feed.
//!
//! Every statement that writes `user_goal_progress`, from any process, notifies the channel
//! [`CHANNEL`] at its commit with the players it touched (a trigger; migration
//! `20261201000007_progress_change_feed`). [`follow`] listens and evicts them. The rules that
//! keep a cached read from ever outliving a write:
//! - rows are served and stored only while the listener is connected (`ready`); when its
//!   connection drops, notifications sent meanwhile are lost, so the whole cache is emptied and
//!   reads go to the database until it has listened again;
//! - a fill stores what it read only if no eviction of its player happened since before its
//!   read (a counter per stripe of players, and one for "everyone"): a write that committed
//!   after the read began is evicted by its notification, whether that arrives before or after
//!   the store. Striped, so the handler's steady writes to other players do not keep every fill
//!   from storing;
//! - the store that wrote evicts its player at once, so a player's own write through this
//!   service is seen by their next read without waiting for the notification.
//!
//! What a reader may see: another process's commit, until its notification arrives (well under
//! a millisecond on one host), then never again. Writes decide from the database, never from
//! this cache (claims lock their row).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use engine::UserId;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::{ProgressRow, StoreError};

/// The channel the change feed notifies.
pub const CHANNEL: &str = "challenge_progress";

/// Stripes of players, each with its own eviction counter.
const STRIPES: usize = 1024;

/// The cache's size and safety net.
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Most players held (least recently used go first).
    pub players: u64,
    /// Longest a player's rows are held, whatever the feed says.
    pub ttl: Duration,
}

/// Cached rows of players; see the module documentation for why reads stay correct.
pub struct ProgressCache {
    entries: moka::sync::Cache<UserId, Arc<Vec<ProgressRow>>>,
    /// Bumped by every eviction of a player of the stripe.
    stripes: Box<[AtomicU64]>,
    /// Bumped by every eviction of everyone.
    epoch: AtomicU64,
    ready: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ProgressCache {
    pub fn new(config: CacheConfig) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(config.players)
                .time_to_live(config.ttl)
                .build(),
            stripes: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU64::new(0),
            ready: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// A player's rows (only the active ones when `active_only`), from the cache or from `load`
    /// (which reads all of them).
    pub async fn rows<F>(
        &self,
        user: &UserId,
        active_only: bool,
        load: F,
    ) -> Result<Vec<ProgressRow>, StoreError>
    where
        F: Future<Output = Result<Vec<ProgressRow>, StoreError>>,
    {
        let all = match self.ready.load(SeqCst).then(|| self.entries.get(user)) {
            Some(Some(rows)) => {
                self.hits.fetch_add(1, SeqCst);
                rows
            }
            _ => {
                self.misses.fetch_add(1, SeqCst);
                let before = self.generation(user);
                let rows = Arc::new(load.await?);
                if self.ready.load(SeqCst) {
                    self.entries.insert(user.clone(), rows.clone());
                    // An eviction since the read began may have run before the insert: undo it.
                    if self.generation(user) != before {
                        self.entries.invalidate(user);
                    }
                }
                rows
            }
        };
        Ok(all
            .iter()
            .filter(|row| !active_only || row.state.is_active)
            .cloned()
            .collect())
    }

    /// Forgets `user`'s rows (their write committed, or may have).
    pub fn evict(&self, user: &UserId) {
        self.stripe(user).fetch_add(1, SeqCst);
        self.entries.invalidate(user);
    }

    /// Forgets every player's rows.
    pub fn evict_all(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.entries.invalidate_all();
    }

    /// Reads served from the cache and reads that went to the database, since the start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(SeqCst), self.misses.load(SeqCst))
    }

    /// How many players' rows are held (approximate: evictions are applied lazily).
    pub fn players(&self) -> u64 {
        self.entries.entry_count()
    }

    /// Whether the feed is followed, so rows are served and stored.
    pub fn is_ready(&self) -> bool {
        self.ready.load(SeqCst)
    }

    fn stripe(&self, user: &UserId) -> &AtomicU64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        user.hash(&mut hasher);
        &self.stripes[(hasher.finish() % STRIPES as u64) as usize]
    }

    fn generation(&self, user: &UserId) -> (u64, u64) {
        (self.epoch.load(SeqCst), self.stripe(user).load(SeqCst))
    }

    fn notified(&self, payload: &str) {
        match serde_json::from_str::<Vec<String>>(payload) {
            Ok(users) => {
                for user in users {
                    self.evict(&UserId::new(user));
                }
            }
            // `*` (a TRUNCATE), or anything unexpected: forget everyone rather than guess.
            Err(_) => self.evict_all(),
        }
    }

    fn set_ready(&self, ready: bool) {
        if !ready {
            self.ready.store(false, SeqCst);
        }
        // Fills that began on the other side of this change must not store what they read.
        self.evict_all();
        if ready {
            self.ready.store(true, SeqCst);
        }
    }
}

/// Follows the change feed of the PostgreSQL database at `url` into `cache` until `stop` turns
/// true, reconnecting (with a pause) whenever the connection drops.
pub async fn follow(url: String, cache: Arc<ProgressCache>, mut stop: watch::Receiver<bool>) {
    let mut pause = Duration::from_millis(100);
    while !*stop.borrow() {
        match listen(&url).await {
            Ok(mut listener) => {
                cache.set_ready(true);
                pause = Duration::from_millis(100);
                tracing::info!("following the progress change feed; the read cache is on");
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        next = listener.try_recv() => match next {
                            Ok(Some(notification)) => cache.notified(notification.payload()),
                            Ok(None) | Err(_) => {
                                tracing::warn!("lost the progress change feed; reading without the cache until it is back");
                                break;
                            }
                        },
                    }
                }
                cache.set_ready(false);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow the progress change feed; reading without the cache");
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
    cache.set_ready(false);
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
