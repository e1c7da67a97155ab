//! The services' read cache against writes from another process: the handler binary applying
//! events, an operator's SQL in another session, and the cache's own feed connection dropping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::UserId;
use store::Store;
use store::cache::{CacheConfig, ProgressCache};
use store::testing::TestDatabase;

use crate::support::{HandlerProcess, initialize, stat};

struct Quiet;
impl store::QueryObserver for Quiet {
    fn query(&self, _: &'static str, _: Duration, _: bool) {}
}

/// A store reading through a cache that follows the database's change log, as the service's.
struct Cached {
    store: Arc<dyn Store>,
    cache: Arc<ProgressCache>,
    _stop: tokio::sync::watch::Sender<bool>,
}

impl Cached {
    async fn open(url: &str) -> Self {
        Self::open_with(url, store::cache::FeedConfig::default()).await
    }

    async fn open_with(url: &str, feed: store::cache::FeedConfig) -> Self {
        let cache = Arc::new(ProgressCache::new(CacheConfig {
            players: 1_000,
            ttl: Duration::from_secs(3_600),
        }));
        let probe = store::Probe::new(Arc::new(Quiet), Some(cache.clone()));
        let store = store::open_with(url, 4, probe).await.expect("store");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(store::cache::follow_with(
            url.to_string(),
            cache.clone(),
            feed,
            stopped.clone(),
        ));
        tokio::spawn(store::cache::prune_log(url.to_string(), feed, stopped));
        let cached = Self {
            store,
            cache,
            _stop: stop,
        };
        cached.wait_ready().await;
        cached
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.cache.is_ready() {
            assert!(Instant::now() < deadline, "the feed was never followed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn progress(&self, user: &str, goal: &str) -> Option<i64> {
        self.store
            .progress_for_display(&UserId::new(user), false)
            .await
            .expect("read")
            .into_iter()
            .find(|row| row.goal_id.as_str() == goal)
            .map(|row| row.state.progress)
    }

    /// Reads until `user`'s `goal` shows `want`. The deadline is generous: it only separates
    /// "arrives" from "never arrives" (a stale entry would stay for the hour-long TTL).
    async fn eventually(&self, user: &str, goal: &str, want: i64) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let seen = self.progress(user, goal).await;
            if seen == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{user}/{goal} still reads {seen:?} from the cache, the database holds {want}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn direct(pool: &sqlx::PgPool, user: &str, goal: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT progress FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2",
    )
    .bind(user)
    .bind(goal)
    .fetch_one(pool)
    .await
    .expect("row")
}

/// Reads the count `sql` (with `$1` bound to `arg` when given) until it is `want`, for at most
/// `within`.
async fn count_reaches(
    pool: &sqlx::PgPool,
    sql: &'static str,
    arg: Option<&str>,
    want: i64,
    within: Duration,
    what: &str,
) {
    let deadline = Instant::now() + within;
    loop {
        let mut query = sqlx::query_scalar::<_, i64>(sql);
        if let Some(arg) = arg {
            query = query.bind(arg);
        }
        let got = query.fetch_one(pool).await.expect(what);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_follow_writes_made_by_other_processes() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let handler = HandlerProcess::spawn(&db.url).await;
    initialize(&db.url, "player-1").await;
    let cached = Cached::open(&db.url).await;

    // Read twice: the second read is served from memory.
    assert_eq!(cached.progress("player-1", "kills").await, Some(0));
    let (hits_before, _) = cached.cache.hits_and_misses();
    assert_eq!(cached.progress("player-1", "kills").await, Some(0));
    assert_eq!(
        cached.cache.hits_and_misses().0,
        hits_before + 1,
        "not cached"
    );

    // The handler, another process, applies an event: the cached read follows.
    let mut stats = handler.stats().await;
    stats
        .on_message(stat("e1", "player-1", "kills", 7.0, None))
        .await
        .expect("applied");
    cached.eventually("player-1", "kills", 7).await;

    // An operator's SQL in another session.
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    sqlx::query("UPDATE user_goal_progress SET progress = 8 WHERE user_id = 'player-1' AND goal_id = 'kills'")
        .execute(&pool)
        .await
        .expect("update");
    cached.eventually("player-1", "kills", 8).await;
    // Cached again. The read that first saw 8 may have kept nothing (the update's change
    // can arrive while it reads, and then it must not store), so the next one may refill; a
    // read after that is a hit, and every read shows 8.
    let (hits, _) = cached.cache.hits_and_misses();
    let deadline = Instant::now() + Duration::from_secs(15);
    while cached.cache.hits_and_misses().0 == hits {
        assert!(Instant::now() < deadline, "never cached again");
        assert_eq!(cached.progress("player-1", "kills").await, Some(8));
    }

    // The feed's connection is cut, and a write lands while it is down: nothing cached before
    // may be served afterwards.
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1",
    )
    .bind(store::cache::FEED_APPLICATION)
    .fetch_all(&pool)
    .await
    .expect("terminate the feed");
    assert_eq!(cut, [true], "the feed's connection was not found");
    sqlx::query("UPDATE user_goal_progress SET progress = 9 WHERE user_id = 'player-1' AND goal_id = 'kills'")
        .execute(&pool)
        .await
        .expect("update");
    cached.eventually("player-1", "kills", 9).await;
    cached.wait_ready().await;
    cached.eventually("player-1", "kills", 9).await;
}

/// Readers fill the cache while the handler process writes the same players: once the writes
/// stop, every cached read agrees with the database (a fill that raced a write never sticks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_writes_settle_on_the_database() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let handler = HandlerProcess::spawn(&db.url).await;
    let players: Vec<String> = (0..4).map(|p| format!("racer-{p}")).collect();
    for player in &players {
        initialize(&db.url, player).await;
    }
    let cached = Arc::new(Cached::open(&db.url).await);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for player in players.clone() {
        let (cached, done) = (cached.clone(), done.clone());
        readers.push(tokio::spawn(async move {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                cached.progress(&player, "total").await;
                // A hit answers without waiting on anything: let the other tasks run.
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut stats = handler.stats().await;
    for i in 0..150 {
        for player in &players {
            stats
                .on_message(stat(
                    &format!("{player}-{i}"),
                    player,
                    "kills",
                    f64::from(i),
                    None,
                ))
                .await
                .expect("applied");
        }
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for reader in readers {
        reader.await.expect("reader");
    }
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    for player in &players {
        // `total` counts events (an `assign: auto` goal: its row is created by the first one).
        let stored = direct(&pool, player, "total").await;
        assert_eq!(stored, 150);
        cached.eventually(player, "total", stored).await;
    }
    let (hits, misses) = cached.cache.hits_and_misses();
    assert!(hits > 0 && misses > 0, "hits {hits}, misses {misses}");
}

/// An operator's transaction writes a player, stays open while the reader reads the log many
/// times (and prunes it, with a short retention), and commits: the commit still reaches the
/// cache, because the reader reads again from the oldest transaction still running. Once
/// nothing is running, the log is pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_commit_of_a_long_transaction_reaches_the_cache() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    store::open(&db.url, 2)
        .await
        .expect("store")
        .migrate()
        .await
        .expect("migrate");
    initialize(&db.url, "player-1").await;
    let feed = store::cache::FeedConfig {
        poll: Duration::from_millis(10),
        retention: Duration::from_millis(600),
        prune_every: Duration::from_millis(100),
    };
    let cached = Cached::open_with(&db.url, feed).await;
    assert_eq!(cached.progress("player-1", "kills").await, Some(0));

    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let mut long = pool.begin().await.expect("begin");
    sqlx::query("UPDATE user_goal_progress SET progress = 5 WHERE user_id = 'player-1' AND goal_id = 'kills'")
        .execute(&mut *long)
        .await
        .expect("update");
    // Meanwhile other transactions commit and are read (so the reader's reads move on), and
    // the retention passes several times over.
    initialize(&db.url, "player-2").await;
    cached.eventually("player-2", "kills", 0).await;
    tokio::time::sleep(feed.retention * 3).await;
    initialize(&db.url, "player-3").await;
    cached.eventually("player-3", "kills", 0).await;
    assert_eq!(
        cached.progress("player-1", "kills").await,
        Some(0),
        "nothing committed yet"
    );
    long.commit().await.expect("commit");
    cached.eventually("player-1", "kills", 5).await;

    let pruned = "SELECT count(*) FROM progress_changes";
    count_reaches(
        &pool,
        pruned,
        None,
        0,
        Duration::from_secs(15),
        "changes never pruned",
    )
    .await;
}

/// The handler prunes the change log itself, so the log stays small where no service reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_prunes_the_change_log() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let _handler = HandlerProcess::spawn(&db.url).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let pruners = "SELECT count(*) FROM pg_stat_activity \
                   WHERE datname = current_database() AND application_name = $1";
    let name = Some(store::cache::PRUNER_APPLICATION);
    count_reaches(
        &pool,
        pruners,
        name,
        1,
        Duration::from_secs(20),
        "no pruner connected",
    )
    .await;
}

/// A read served from the cache shows every commit that finished before the read arrived, as a
/// read of the database would: a player's screen right after another process acknowledged
/// their event (the handler answers after its commit) is never stale. The log is read only
/// every 10 s here, so nothing but that guarantee can show the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_read_shows_what_committed_before_it_arrived() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let handler = HandlerProcess::spawn(&db.url).await;
    initialize(&db.url, "player-1").await;
    let feed = store::cache::FeedConfig {
        poll: Duration::from_secs(10),
        ..store::cache::FeedConfig::default()
    };
    let cached = Cached::open_with(&db.url, feed).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let mut stats = handler.stats().await;
    for value in 1..=5 {
        assert_eq!(cached.progress("player-1", "kills").await, Some(value - 1));
        let (hits, _) = cached.cache.hits_and_misses();
        assert_eq!(cached.progress("player-1", "kills").await, Some(value - 1));
        assert_eq!(cached.cache.hits_and_misses().0, hits + 1, "not cached");
        // Acknowledged by the handler, another process: committed.
        stats
            .on_message(stat(
                &format!("e{value}"),
                "player-1",
                "kills",
                value as f64,
                None,
            ))
            .await
            .expect("applied");
        assert_eq!(direct(&pool, "player-1", "kills").await, value);
        assert_eq!(
            cached.progress("player-1", "kills").await,
            Some(value),
            "a read after the acknowledgement showed the cache's old rows"
        );
    }
}
