//! Test databases (a fresh PostgreSQL database or SQLite file per test), rules and events.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::{
    Event, EventData, EventKind, GoalId, RuleSet, SourceFile, Sources, Status, UserId, compile,
};
use store::testing::TestDatabase;
use store::{
    PgStore, PlayerProgress, ProgressRow, SqliteStore, Store, StoreError, Writer, WriterConfig,
};

/// The tests' clock: a fixed Wednesday noon (UTC), far from any day or week boundary, so that
/// daily and weekly periods never roll over in the middle of a test, whatever the real date.
pub fn test_now() -> DateTime<Utc> {
    "2026-06-10T12:00:00Z".parse().expect("a valid instant")
}

/// A database of one test, and the store over it.
pub struct TestDb {
    pub url: String,
    _db: TestDatabase,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let db = TestDatabase::postgres()
            .await
            .expect("PostgreSQL at TEST_DATABASE_URL (default 127.0.0.1:5432)");
        Self {
            url: db.url.clone(),
            _db: db,
        }
    }

    pub async fn sqlite() -> Self {
        let db = TestDatabase::sqlite().expect("temporary SQLite file");
        Self {
            url: db.url.clone(),
            _db: db,
        }
    }

    /// Runs one SQL statement on the test database (what another release would have written).
    pub async fn execute(&self, sql: &str) {
        if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&pool)
                .await
                .expect("SQL");
            pool.close().await;
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("open");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&pool)
                .await
                .expect("SQL");
            pool.close().await;
        }
    }

    /// The plan the database chooses for `sql`, one line per node (PostgreSQL's `EXPLAIN`,
    /// SQLite's `EXPLAIN QUERY PLAN` details).
    pub async fn plan(&self, sql: &str) -> Vec<String> {
        let sql = if self.url.starts_with("postgres") {
            format!("EXPLAIN {sql}")
        } else {
            format!("EXPLAIN QUERY PLAN {sql}")
        };
        if self.url.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(&self.url).await.expect("connect");
            let plan = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .expect("EXPLAIN");
            pool.close().await;
            plan
        } else {
            let pool = sqlx::SqlitePool::connect(&self.url).await.expect("open");
            // EXPLAIN QUERY PLAN's rows: id, parent, notused, detail.
            let plan = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .expect("EXPLAIN QUERY PLAN")
                .iter()
                .map(|row| sqlx::Row::get::<String, _>(row, 3))
                .collect();
            pool.close().await;
            plan
        }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        self.store_with(store::Probe::default()).await
    }

    /// The store, reporting its calls to `probe`.
    pub async fn store_with(&self, probe: store::Probe) -> Arc<dyn Store> {
        let store: Arc<dyn Store> = if self.url.starts_with("postgres") {
            let pg = PgStore::connect(&self.url, 8).await.expect("connect");
            Arc::new(pg.with_probe(probe))
        } else {
            let sqlite = SqliteStore::connect(&self.url).await.expect("open");
            Arc::new(sqlite.with_probe(probe))
        };
        store.migrate().await.expect("migrate");
        store
    }
}

pub const RULES: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: counter, name: Counter, on: stat, stat: kills, count: events, target: 1000000 }
      - { id: auto-counter, name: Auto, on: stat, stat: kills, count: events, target: 1000000, assign: auto }
      - { id: manual, name: Manual, on: stat, stat: kills, count: events, target: 5, assign: manual }
      - { id: level, name: Level, on: stat, stat: level, target: 10 }
  - id: d
    name: D
    rotation: { every: daily }
    goals:
      - { id: daily, name: Daily, on: stat, stat: wins, count: events, target: 3 }
"#;

pub fn rules() -> Arc<RuleSet> {
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("rules.yaml", RULES)],
        unreadable: Vec::new(),
    });
    Arc::new(compiled.rules.expect("test rules compile"))
}

pub fn stat_event(id: &str, user: &str, code: &str, value: i64, at: DateTime<Utc>) -> Event {
    Event::new(EventData {
        id: id.into(),
        kind: EventKind::Stat,
        user_id: UserId::new(user),
        namespace: "test".into(),
        timestamp: at,
        sent_at: None,
        stat_code: Some(code.into()),
        value,
        inc: 1,
        additional: Default::default(),
    })
}

/// Initializes a user's default goals.
pub async fn init_user(store: &dyn Store, rules: &RuleSet, user: &str) {
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    store
        .initialize_for_user(&UserId::new(user), "test", &defaults, test_now())
        .await
        .expect("initialize");
}

/// The intent of (user, goal, period).
pub fn intent_key(user: &str, goal: &str, period_start: DateTime<Utc>) -> store::IntentKey {
    store::IntentKey {
        user_id: UserId::new(user),
        goal_id: engine::GoalId::new(goal),
        period_start,
    }
}

/// A new intent of `key` in namespace `test`, leased for a minute from `now`.
pub fn new_intent(
    key: &store::IntentKey,
    delivery: store::Delivery,
    period_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> store::NewIntent {
    store::NewIntent {
        key: key.clone(),
        namespace: "test".into(),
        challenge_id: "season".into(),
        delivery,
        reward: r#"{"type":"WALLET","rewardId":"GOLD","quantity":5}"#.into(),
        period_end,
        lease_until: now + chrono::TimeDelta::minutes(1),
        audit: None,
    }
}

/// A whole successful claim of `key`: recorded, sent, granted.
pub async fn claim_granted(
    store: &dyn Store,
    key: &store::IntentKey,
    period_end: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    let intent = new_intent(key, store::Delivery::Fulfillment, period_end, now);
    let started = store.begin_claim(&intent, now).await.expect("begin");
    assert!(
        matches!(started, store::ClaimStart::Started(_)),
        "{started:?}"
    );
    // A fulfillment is recorded `sending` by `begin_claim` itself: the grant goes out at once.
    store
        .finish_intent(key, &store::IntentOutcome::Granted { claimed_at: now }, now)
        .await
        .expect("granted")
        .expect("open");
}

/// A new player `user` who completed today's `daily` at `now` and whose fulfillment claim of
/// it started (the intent recorded and leased): its key and intent.
pub async fn started_daily_claim(
    store: &Arc<dyn Store>,
    rules: &Arc<RuleSet>,
    user: &str,
    now: DateTime<Utc>,
) -> (store::IntentKey, store::NewIntent) {
    init_user(store.as_ref(), rules, user).await;
    complete_daily(store, rules, user, now).await;
    let period = engine::period::Period::Daily.start_of(now);
    let key = intent_key(user, "daily", period);
    let intent = new_intent(
        &key,
        store::Delivery::Fulfillment,
        Some(period + chrono::TimeDelta::days(1)),
        now,
    );
    let started = store.begin_claim(&intent, now).await.expect("begin");
    assert!(
        matches!(started, store::ClaimStart::Started(_)),
        "{started:?}"
    );
    (key, intent)
}

/// Completes the daily goal `daily` (3 wins) of `user` at `at`.
pub async fn complete_daily(
    store: &Arc<dyn Store>,
    rules: &Arc<RuleSet>,
    user: &str,
    at: DateTime<Utc>,
) {
    let config = WriterConfig {
        clock: engine::Clock::at(at),
        ..WriterConfig::default()
    };
    let writer = Writer::start(store.clone(), config);
    for i in 0..3 {
        writer
            .submit(
                rules.clone(),
                stat_event(
                    &format!("{user}-{}-{i}", at.timestamp()),
                    user,
                    "wins",
                    i,
                    at,
                ),
            )
            .await
            .expect("win");
    }
    writer.shutdown().await;
}

pub async fn status_of(store: &dyn Store, user: &str, goal: &str) -> Option<Status> {
    store
        .progress_for_user_goal(&UserId::new(user), &GoalId::new(goal))
        .await
        .expect("read")
        .map(|row| row.state.status)
}

/// Two stores with a writer each over one database, as two replicas of the handler (batches of
/// 64, so a burst makes several batches race).
pub async fn two_replicas(db: &TestDb) -> ([Arc<dyn Store>; 2], [Arc<Writer>; 2]) {
    let stores = [db.store().await, db.store().await];
    let config = WriterConfig {
        batch_size: 64,
        ..WriterConfig::default()
    };
    let writers = [
        Arc::new(Writer::start(stores[0].clone(), config.clone())),
        Arc::new(Writer::start(stores[1].clone(), config)),
    ];
    (stores, writers)
}

/// Submits every event at once, event `i` through `writers[i % 2]`, and waits until all are
/// committed.
pub async fn race(writers: &[Arc<Writer>; 2], rules: &Arc<RuleSet>, events: Vec<Event>) {
    let tasks: Vec<_> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let (writer, rules) = (writers[i % 2].clone(), rules.clone());
            tokio::spawn(async move { writer.submit(rules, event).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("committed");
    }
}

/// Reads only tests make, written over the players' role: one row, or the rows of some goals.
#[async_trait::async_trait]
pub trait TestReads {
    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError>;

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError>;
}

#[async_trait::async_trait]
impl<T: PlayerProgress + ?Sized> TestReads for T {
    async fn progress_for_user_goal(
        &self,
        user_id: &UserId,
        goal_id: &GoalId,
    ) -> Result<Option<ProgressRow>, StoreError> {
        let rows = self.progress_for_user(user_id, false).await?;
        Ok(rows.into_iter().find(|row| &row.goal_id == goal_id))
    }

    async fn progress_for_user_goals(
        &self,
        user_id: &UserId,
        goal_ids: &[GoalId],
    ) -> Result<Vec<ProgressRow>, StoreError> {
        let rows = self.progress_for_user(user_id, false).await?;
        Ok(rows
            .into_iter()
            .filter(|row| goal_ids.contains(&row.goal_id))
            .collect())
    }
}
