//! A per-player cache of progress rows for the services' reads, kept correct by PostgreSQL's
//! change log.
//!
//! Every statement that writes `user_goal_progress`, from any process, adds a row to
//! `progress_changes` in its own transaction: its transaction id and the players it touched (a
//! trigger; migration `20261201000009_progress_change_log`). [`follow`] reads the log every
//! [`FeedConfig::poll`] and evicts them. The rules that keep a cached read from ever outliving a
//! write:
//! - each read takes the rows with `xid >=` the oldest transaction that was still running at the
//!   previous read (`pg_snapshot_xmin` of its snapshot): a transaction that took its id early and
//!   commits late is read once it commits, never skipped. Transactions read already are
//!   remembered, so a long one holding the horizon back does not evict the same players again;
//! - rows are served and stored only while the log is read (`ready`); when a read fails, the whole
//!   cache is emptied and reads go to the database until the log is read again;
//! - every process on the database (handler and services, cache or not: [`prune_log`]) prunes
//!   the log, but only rows of transactions that had finished at least
//!   [`FeedConfig::retention`] earlier; a reader whose reads were further apart than half that
//!   empties its cache;
//! - a fill stores what it read only if no eviction of its player happened since before its
//!   read (a counter per stripe of players, and one for "everyone"): a write that committed
//!   after the read began is evicted by the log, whether that comes before or after the store.
//!   Striped, so the handler's steady writes to other players do not keep every fill from
//!   storing;
//! - the store that wrote evicts its player at once, so a player's own write through this
//!   service is seen by their next read without waiting for the log.
//!
//! - a hit is served only after a read of the log that began after the request arrived (it
//!   asks for one at once; requests arriving together share it), so it shows every commit that
//!   finished before the request, as a read of the database would.
//!
//! Writes decide from the database, never from this cache (claims lock their row).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::{Duration, Instant};

use engine::UserId;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use tokio::sync::watch;

use crate::{ProgressRow, StoreError};

/// The oldest transaction still running when a statement's snapshot was taken (a `bigint`):
/// where the next read of the change log starts.
macro_rules! snapshot_xmin {
    () => {
        "(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint"
    };
}

/// The `application_name` of the connection that reads the change log.
pub const FEED_APPLICATION: &str = "challenge-progress-feed";

/// The `application_name` of the connection that prunes the change log.
pub const PRUNER_APPLICATION: &str = "challenge-progress-log-pruner";

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
    /// Reads of the change log begun so far (a read's number is this count at its start).
    reads_begun: AtomicU64,
    /// The number of the last read of the change log that finished (or `u64::MAX` once the
    /// log is no longer followed): a hit waits for a read begun after it arrived.
    read_done: watch::Sender<u64>,
    /// Asks the reader of the log for a read now.
    read_now: tokio::sync::Notify,
}

/// Longest a hit waits for a read of the log before it reads the database instead.
const FRESH_WAIT: Duration = Duration::from_secs(1);

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
            reads_begun: AtomicU64::new(0),
            read_done: watch::Sender::new(0),
            read_now: tokio::sync::Notify::new(),
        }
    }

    /// Waits for a read of the change log that began after this call, so that every commit
    /// finished before the call has evicted its players. `false`: none came in time (or the
    /// log is not followed), and the caller must read the database.
    async fn caught_up(&self) -> bool {
        let needed = self.reads_begun.load(SeqCst) + 1;
        let mut done = self.read_done.subscribe();
        self.read_now.notify_one();
        let finished = tokio::time::timeout(FRESH_WAIT, done.wait_for(|read| *read >= needed));
        matches!(finished.await, Ok(Ok(read)) if *read != u64::MAX) && self.ready.load(SeqCst)
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
        // A hit is served only after the log was read from after its arrival (and the entry
        // survived that read): what a read of the database would show.
        let mut cached = self
            .ready
            .load(SeqCst)
            .then(|| self.entries.get(user))
            .flatten();
        if cached.is_some() {
            cached = self
                .caught_up()
                .await
                .then(|| self.entries.get(user))
                .flatten();
        }
        let all = match cached {
            Some(rows) => {
                self.hits.fetch_add(1, SeqCst);
                rows
            }
            None => {
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

    /// Evicts what one change of the log names: players, or everyone (`None`, a `TRUNCATE`).
    fn changed(&self, users: Option<Vec<String>>) {
        match users {
            Some(users) => {
                for user in users {
                    self.evict(&UserId::new(user));
                }
            }
            None => self.evict_all(),
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

/// How the change log is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedConfig {
    /// Between two reads of the log: another process's write reaches the cache within this.
    pub poll: Duration,
    /// How long a change stays in the log after its transaction finished.
    pub retention: Duration,
    /// Between two prunings of the log by one process.
    pub prune_every: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(20),
            retention: Duration::from_secs(60),
            prune_every: Duration::from_secs(10),
        }
    }
}

/// Follows the change log of the PostgreSQL database at `url` into `cache` until `stop` turns
/// true, reconnecting (with a pause) whenever a read fails.
pub async fn follow(url: String, cache: Arc<ProgressCache>, stop: watch::Receiver<bool>) {
    follow_with(url, cache, FeedConfig::default(), stop).await;
}

/// [`follow`] with its timings.
pub async fn follow_with(
    url: String,
    cache: Arc<ProgressCache>,
    config: FeedConfig,
    mut stop: watch::Receiver<bool>,
) {
    let mut pause = Duration::from_millis(100);
    while !*stop.borrow() {
        match Feed::open(&url, config, &cache).await {
            Ok(mut feed) => {
                cache.read_done.send_replace(cache.reads_begun.load(SeqCst));
                cache.set_ready(true);
                pause = Duration::from_millis(100);
                tracing::info!("following the progress change log; the read cache is on");
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        _ = tokio::time::sleep(config.poll) => {}
                        _ = cache.read_now.notified() => {}
                    }
                    let number = cache.reads_begun.fetch_add(1, SeqCst) + 1;
                    let read = feed.read(&cache).await;
                    if let Err(err) = read {
                        tracing::warn!(error = %err, "lost the progress change log; reading without the cache until it is back");
                        break;
                    }
                    cache.read_done.send_replace(number);
                }
                cache.set_ready(false);
                // Hits waiting for a read go to the database.
                cache.read_done.send_replace(u64::MAX);
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot follow the progress change log; reading without the cache");
            }
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
    cache.set_ready(false);
    cache.read_done.send_replace(u64::MAX);
}

/// One reader of the change log, on its own connection.
struct Feed {
    connection: PgConnection,
    config: FeedConfig,
    /// The oldest transaction running at the last read: rows from `horizon` on are read again.
    horizon: i64,
    /// Transactions at or above `horizon` whose changes were applied already.
    seen: HashSet<i64>,
    /// When the last successful read began.
    last_read: Instant,
}

impl Feed {
    /// Connects and reads once: that first read takes in what committed before (it evicts
    /// nothing the emptying of `set_ready` does not), so the first hits do not evict it again.
    async fn open(
        url: &str,
        config: FeedConfig,
        cache: &ProgressCache,
    ) -> Result<Self, sqlx::Error> {
        let mut connection = connect(url, FEED_APPLICATION).await?;
        let horizon = sqlx::query_scalar(HORIZON)
            .fetch_one(&mut connection)
            .await?;
        let mut feed = Self {
            connection,
            config,
            horizon,
            seen: HashSet::new(),
            last_read: Instant::now(),
        };
        feed.read(cache).await?;
        Ok(feed)
    }

    /// Reads the changes since the last read into `cache`.
    async fn read(&mut self, cache: &ProgressCache) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let rows: Vec<(i64, Option<i64>, Option<Vec<String>>)> = sqlx::query_as(concat!(
            "SELECT ",
            snapshot_xmin!(),
            ", (c.xid::text)::bigint, c.users \
                 FROM (VALUES (1)) AS here(one) \
                 LEFT JOIN progress_changes c ON c.xid >= ($1::bigint::text)::xid8"
        ))
        .bind(self.horizon)
        .fetch_all(&mut self.connection)
        .await?;
        if started.duration_since(self.last_read) > self.config.retention / 2 {
            // Reads this far apart may have missed a pruned change.
            cache.evict_all();
        }
        let horizon = rows.first().map_or(self.horizon, |row| row.0);
        let mut seen = HashSet::new();
        for (_, xid, users) in rows {
            let Some(xid) = xid else { continue };
            if !self.seen.contains(&xid) {
                cache.changed(users);
            }
            if xid >= horizon {
                seen.insert(xid);
            }
        }
        self.horizon = horizon;
        self.seen = seen;
        self.last_read = started;
        Ok(())
    }
}

/// Prunes the change log of the PostgreSQL database at `url` every [`FeedConfig::prune_every`]
/// until `stop` turns true: the rows of transactions that had finished at least
/// [`FeedConfig::retention`] earlier (below the oldest running transaction of a look that long
/// ago). Every process on the database runs it, so the log stays small whether or not a cache
/// reads it.
pub async fn prune_log(url: String, config: FeedConfig, mut stop: watch::Receiver<bool>) {
    // Oldest first: (when, the oldest transaction running then).
    let mut marks: VecDeque<(Instant, i64)> = VecDeque::new();
    let mut connection: Option<PgConnection> = None;
    while !*stop.borrow() {
        let pruned = async {
            let conn = match &mut connection {
                Some(conn) => conn,
                None => connection.insert(connect(&url, PRUNER_APPLICATION).await?),
            };
            let now = Instant::now();
            marks.push_back((
                now,
                sqlx::query_scalar(HORIZON).fetch_one(&mut *conn).await?,
            ));
            let mut below = None;
            while let Some((at, mark)) = marks.front().copied() {
                if now.duration_since(at) < config.retention {
                    break;
                }
                below = Some(mark);
                marks.pop_front();
            }
            if let Some(mark) = below {
                sqlx::query("DELETE FROM progress_changes WHERE xid < ($1::bigint::text)::xid8")
                    .bind(mark)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        }
        .await;
        if let Err(err) = pruned {
            tracing::warn!(error = %err, "cannot prune the progress change log; trying again");
            connection = None;
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(config.prune_every) => {}
        }
    }
}

async fn connect(url: &str, application: &str) -> Result<PgConnection, sqlx::Error> {
    let options: PgConnectOptions = url.parse()?;
    options.application_name(application).connect().await
}

const HORIZON: &str = concat!("SELECT ", snapshot_xmin!());
