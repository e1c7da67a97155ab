//! Side tables forgotten at the rate they grow: windows of seconds prune on both stores, and on
//! PostgreSQL replicas pruning at once do not wait on each other, and the read caches' change
//! log is pruned even where no cache reads it.

use std::time::Duration as Wait;

use chrono::{DateTime, Duration, Utc};
use engine::GoalId;
use store::{PendingEvent, Store};

use crate::support::{TestDb, rules, stat_event, test_now};

conformance!(windows_of_seconds_prune_what_is_older);

/// Applies one event per second from `from`, `count` of them, each at its own time.
async fn one_a_second(store: &dyn Store, prefix: &str, from: DateTime<Utc>, count: i64) {
    let rules = rules();
    for i in 0..count {
        let at = from + Duration::seconds(i);
        let event = PendingEvent {
            rules: rules.clone(),
            event: stat_event(&format!("{prefix}{i}"), "u1", "kills", 1, at),
            goals: vec![GoalId::new("auto-counter")],
            archive: true,
        };
        store.apply_events(&[event], at).await.expect("apply");
    }
}

/// Another replica's open transaction, holding what `sql` locks.
async fn another_replica(
    db: &TestDb,
    sql: &'static str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let mut holder = pool.begin().await.expect("begin");
    sqlx::query(sql).execute(&mut *holder).await.expect("hold");
    holder
}

/// A prune's answer. The timeout only tells a hang from an answer: a prune that waited for
/// another replica's locks would wait until that one ends.
async fn unblocked(
    prune: impl std::future::Future<Output = Result<u64, store::StoreError>>,
) -> u64 {
    tokio::time::timeout(Wait::from_secs(60), prune)
        .await
        .expect("the prune waited for another replica")
        .expect("prune")
}

async fn windows_of_seconds_prune_what_is_older(db: &TestDb) {
    let store = db.store().await;
    one_a_second(store.as_ref(), "e", test_now(), 10).await;
    // A 90-second window, 95 seconds after the first event: the first five are older.
    let before = test_now() + Duration::seconds(95) - Duration::seconds(90);
    assert_eq!(
        store
            .prune_processed_events(before, 100)
            .await
            .expect("prune"),
        5
    );
    assert_eq!(
        store.prune_event_archive(before, 100).await.expect("prune"),
        5
    );
    assert_eq!(
        store
            .prune_processed_events(before, 100)
            .await
            .expect("again"),
        0
    );
}

/// A transaction holding some of the oldest event ids (another replica deleting them) does not
/// hold this prune up: it deletes the others and leaves those to their holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_prunes_skip_the_event_ids_another_replica_holds() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    one_a_second(store.as_ref(), "e", test_now(), 6).await;
    let holder = another_replica(
        &db,
        "SELECT 1 FROM applied_events WHERE ctid IN ( \
           SELECT ctid FROM applied_events ORDER BY processed_at LIMIT 2) FOR UPDATE",
    )
    .await;
    let later = test_now() + Duration::minutes(1);
    let pruned = unblocked(store.prune_processed_events(later, 100)).await;
    assert_eq!(pruned, 4, "all but the two held");
    holder.rollback().await.expect("release");
    assert_eq!(
        store
            .prune_processed_events(later, 100)
            .await
            .expect("prune"),
        2
    );
}

/// One replica prunes the archive at a time: while another holds the turn, a prune deletes
/// nothing (and does not wait); once it is free, the batches go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_archive_prunes_take_turns() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    one_a_second(store.as_ref(), "e", test_now(), 3).await;
    // The store's key for the turn (store/src/postgres/archive.rs, ARCHIVE_PRUNE_TURN).
    let holder = another_replica(
        &db,
        "SELECT pg_advisory_xact_lock(hashtext('challenge.event_archive.prune'))",
    )
    .await;
    let later = test_now() + Duration::minutes(1);
    let pruned = unblocked(store.prune_event_archive(later, 100)).await;
    assert_eq!(pruned, 0, "another replica's turn");
    holder.commit().await.expect("release");
    assert_eq!(
        store.prune_event_archive(later, 100).await.expect("prune"),
        3
    );
}

/// Every write of progress logs a row for the read caches. With no cache reading (a handler
/// alone), the cleanup's prune takes rows older than its window and an hour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_change_log_is_pruned_without_a_reader() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    one_a_second(store.as_ref(), "e", test_now(), 3).await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let count =
        || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM progress_changes").fetch_one(&pool);
    assert!(count().await.expect("count") > 0, "a row per write");
    store
        .prune_change_log(Utc::now() + Duration::days(1), 100)
        .await
        .expect("prune");
    assert!(
        count().await.expect("count") >= 3,
        "younger than an hour: kept"
    );
    sqlx::query("UPDATE progress_changes SET recorded_at = now() - interval '2 hours'")
        .execute(&pool)
        .await
        .expect("age the log");
    store
        .prune_change_log(Utc::now() + Duration::days(1), 100)
        .await
        .expect("prune");
    assert_eq!(count().await.expect("count"), 0);
}
