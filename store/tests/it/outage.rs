//! The database going away mid-flush: no caller hears OK for an event that was not committed,
//! and once the database is reachable again a retry succeeds (without counting twice).
//!
//! The outage is a TCP proxy between the store and PostgreSQL that the test cuts: from the
//! store's side that is exactly a database that died (connections reset mid-transaction,
//! new connections refused), without stopping the PostgreSQL other tests share.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;
use engine::{GoalId, UserId};
use store::testing::OutageProxy;
use store::{PgStore, Store, WriteError, Writer, WriterConfig};

use crate::support::{TestDb, TestReads, init_user, rules, stat_event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_database_mid_flush_acknowledges_only_committed_events() {
    let db = TestDb::postgres().await;
    let direct = db.store().await;
    let rules = rules();
    init_user(direct.as_ref(), &rules, "u1").await;

    let proxy = OutageProxy::start("127.0.0.1:5432".into())
        .await
        .expect("proxy");
    let via_proxy = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    assert_ne!(
        via_proxy, db.url,
        "the test database URL must point at 127.0.0.1:5432"
    );
    let store: Arc<dyn Store> = Arc::new(
        PgStore::connect(&via_proxy, 4)
            .await
            .expect("connect via proxy"),
    );
    let writer = Arc::new(Writer::start(
        store.clone(),
        WriterConfig {
            batch_size: 20,
            ..WriterConfig::default()
        },
    ));

    // Before the cut: a first group, acknowledged (and so committed) for sure.
    let now = Utc::now();
    let submit = |i: usize| {
        let writer = writer.clone();
        let rules = rules.clone();
        tokio::spawn(async move {
            let id = format!("e{i}");
            let result = writer
                .submit(rules, stat_event(&id, "u1", "kills", i as i64, now))
                .await;
            (id, result)
        })
    };
    let total = 400;
    let early: Vec<_> = (0..50).map(submit).collect();
    let mut outcomes = Vec::new();
    for task in early {
        let (id, result) = task.await.expect("task");
        assert!(result.is_ok(), "{id} before the cut: {result:?}");
        outcomes.push((id, result));
    }
    // Mid-flush: a second group in flight as the database goes away, then a third after it.
    let in_flight: Vec<_> = (50..300).map(submit).collect();
    proxy.cut();
    let after_cut: Vec<_> = (300..total).map(submit).collect();
    for task in in_flight {
        outcomes.push(task.await.expect("task"));
    }
    for task in after_cut {
        let (id, result) = task.await.expect("task");
        assert!(
            result.is_err(),
            "{id} was submitted after the cut yet acknowledged"
        );
        outcomes.push((id, result));
    }

    let mut acknowledged = HashSet::new();
    let mut failed = Vec::new();
    for (id, result) in outcomes {
        match result {
            Ok(_) => {
                acknowledged.insert(id);
            }
            Err(err) => {
                assert!(
                    err.is_retryable(),
                    "an outage must map to a retryable error, got {err}"
                );
                assert!(
                    matches!(err, WriteError::Store(ref e) if e.is_unavailable()),
                    "{err}"
                );
                failed.push(id);
            }
        }
    }
    assert!(acknowledged.len() >= 50 && failed.len() >= 100);

    // Every acknowledged event is committed: its id is recorded with its progress.
    let pool = sqlx::PgPool::connect(&db.url).await.expect("direct");
    let recorded: HashSet<String> = sqlx::query_scalar("SELECT event_id FROM applied_events")
        .fetch_all(&pool)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    let missing: Vec<_> = acknowledged.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not committed: {missing:?}"
    );
    let progress = |store: Arc<dyn Store>| async move {
        store
            .progress_for_user_goal(&UserId::new("u1"), &GoalId::new("counter"))
            .await
            .expect("read")
            .map(|r| r.state.progress)
    };
    assert_eq!(
        progress(direct.clone()).await,
        Some(recorded.len() as i64),
        "progress matches the committed events"
    );

    // The database is back: retrying the failed events succeeds, and nothing counts twice.
    proxy.restore();
    for id in &failed {
        let i: i64 = id.trim_start_matches('e').parse().expect("number");
        let mut attempts = 0;
        loop {
            match writer
                .submit(rules.clone(), stat_event(id, "u1", "kills", i, now))
                .await
            {
                Ok(_) => break,
                Err(err) if err.is_retryable() && attempts < 50 => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(err) => panic!("retry of {id} failed: {err}"),
            }
        }
    }
    assert_eq!(progress(direct).await, Some(total as i64));
    writer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_at_once() {
    let db = TestDb::postgres().await;
    db.store().await;
    let proxy = OutageProxy::start("127.0.0.1:5432".into())
        .await
        .expect("proxy");
    let via_proxy = db
        .url
        .replacen("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port), 1);
    let store: Arc<dyn Store> = Arc::new(
        PgStore::connect(&via_proxy, 1)
            .await
            .expect("connect via proxy"),
    );
    // Prove the connection works, then the database hangs: the one flusher is stuck on its
    // batch, so the queue fills and stays full.
    assert!(
        store
            .count_active_for_user(&engine::UserId::new("u0"), None)
            .await
            .is_ok()
    );
    proxy.stall();
    let config = WriterConfig {
        queue_capacity: 4,
        flushers: 1,
        batch_size: 1,
        ..WriterConfig::default()
    };
    let writer = Arc::new(Writer::start(store, config));
    let rules = rules();
    let now = Utc::now();
    let mut tasks: Vec<_> = (0..40)
        .map(|i| {
            let writer = writer.clone();
            let rules = rules.clone();
            tokio::spawn(async move {
                writer
                    .submit(rules, stat_event(&format!("e{i}"), "u1", "kills", i, now))
                    .await
            })
        })
        .collect();
    // Every submission beyond what the stuck flusher holds and the queue keeps answers at once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while tasks.iter().filter(|t| t.is_finished()).count() < 35 {
        assert!(
            std::time::Instant::now() < deadline,
            "submissions to a full queue are still waiting"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(writer.queue_depth() <= 4);
    let (finished, waiting): (Vec<_>, Vec<_>) = tasks.drain(..).partition(|t| t.is_finished());
    let mut overloaded = 0;
    for task in finished {
        match task.await.expect("task") {
            Err(WriteError::Overloaded(_)) => overloaded += 1,
            other => panic!("only overload can answer while the database hangs: {other:?}"),
        }
    }
    assert!(overloaded >= 35, "{overloaded} of 40 refused as overload");
    // The database goes away for good: what was held fails, retryable, never committed.
    proxy.cut();
    for task in waiting {
        match task.await.expect("task") {
            Err(err) => assert!(err.is_retryable(), "{err}"),
            Ok(outcome) => panic!("nothing can commit while the database is away: {outcome:?}"),
        }
    }
}
