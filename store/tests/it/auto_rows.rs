//! `assign: auto` rows and the writer's own connections: a store that remembers which auto rows
//! exist (to skip creating them) must not lose an update when one is deleted behind its back,
//! and a writer connection the server dropped while idle must not fail a batch.

use chrono::Duration;
use engine::{GoalId, UserId};
use store::{Store, Writer, WriterConfig};

use crate::support::{
    TestDb, TestReads, init_user, race, rules, stat_event, test_now, two_replicas,
};

conformance!(two_writers_that_knew_an_auto_row_lose_no_update_after_it_is_deleted);

async fn auto_progress(store: &dyn Store, user: &str) -> Option<i64> {
    store
        .progress_for_user_goal(&UserId::new(user), &GoalId::new("auto-counter"))
        .await
        .expect("read")
        .map(|row| row.state.progress)
}

/// The backends of the writer's own connections to the test's database.
async fn writer_backends(admin: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE application_name = $1 AND datname = current_database() ORDER BY pid",
    )
    .bind(store::WRITER_APPLICATION)
    .fetch_all(admin)
    .await
    .expect("the writer's backends")
}

/// Two replicas both saw u1's auto row; then the player's data is deleted. Their next events
/// race to create the row again: each replica must find it gone and create it before counting,
/// or one replica's count overwrites the other's.
async fn two_writers_that_knew_an_auto_row_lose_no_update_after_it_is_deleted(db: &TestDb) {
    let ([store_a, store_b], writers) = two_replicas(db).await;
    let rules = rules();
    let now = test_now();
    let before = now - Duration::minutes(10);
    init_user(store_a.as_ref(), &rules, "u1").await;
    for (n, writer) in writers.iter().enumerate() {
        writer
            .submit(
                rules.clone(),
                stat_event(&format!("warm-{n}"), "u1", "kills", 1, before),
            )
            .await
            .expect("warm-up event");
    }
    assert_eq!(auto_progress(store_a.as_ref(), "u1").await, Some(2));

    // Each round deletes the row both replicas know and races them to count again; the lost
    // update, when it happens, is a matter of timing, so there are several rounds.
    for round in 0..6 {
        let at = now + Duration::minutes(10 * round);
        store_a
            .delete_user(&UserId::new("u1"), at - Duration::minutes(5))
            .await
            .expect("delete");
        assert_eq!(auto_progress(store_a.as_ref(), "u1").await, None);
        let events = (0..400)
            .map(|i| stat_event(&format!("e{round}-{i}"), "u1", "kills", i, at))
            .collect();
        race(&writers, &rules, events).await;
        assert_eq!(
            auto_progress(store_b.as_ref(), "u1").await,
            Some(400),
            "round {round}"
        );
    }
    for writer in writers {
        writer.shutdown().await;
    }
}

/// The server ends the writer's idle connections (a restart, an idle timeout, an operator's
/// `pg_terminate_backend`): the next event is still committed, because a connection idle for
/// a while is tested before a batch uses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_writer_connection_the_server_ended_fails_no_event() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let rules = rules();
    init_user(store.as_ref(), &rules, "u1").await;
    let writer = Writer::start(store.clone(), WriterConfig::default());
    let now = test_now();
    writer
        .submit(rules.clone(), stat_event("e1", "u1", "kills", 1, now))
        .await
        .expect("first event");

    let admin = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let backends = writer_backends(&admin).await;
    assert!(
        !backends.is_empty(),
        "the writer's connection is named {:?} in pg_stat_activity",
        store::WRITER_APPLICATION
    );
    for pid in backends {
        let ended: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .fetch_one(&admin)
            .await
            .expect("terminate");
        assert!(ended, "backend {pid} ended");
    }
    // Idle past the point where a connection is tested before use.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    writer
        .submit(rules.clone(), stat_event("e2", "u1", "kills", 2, now))
        .await
        .expect("an event after the connection was ended");
    assert_eq!(auto_progress(store.as_ref(), "u1").await, Some(2));
    writer.shutdown().await;
}

/// An event the database refuses (a user id longer than the column) fails alone; the writer
/// keeps its connection, which only rolled a transaction back, instead of opening one per bad
/// event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_event_keeps_the_writer_connection() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let rules = rules();
    let now = test_now();
    let admin = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let event = |id: &str, user: &str| store::PendingEvent {
        rules: rules.clone(),
        event: stat_event(id, user, "kills", 1, now),
        goals: vec![GoalId::new("auto-counter")],
        archive: false,
    };
    store
        .apply_events(&[event("first", "u1")], now)
        .await
        .expect("the database is up");
    let before = writer_backends(&admin).await;
    assert_eq!(before.len(), 1, "{before:?}");

    let too_long = "x".repeat(200);
    let outcomes = store
        .apply_events(&[event("bad-1", &too_long), event("bad-2", &too_long)], now)
        .await
        .expect("the database is up");
    assert!(outcomes.iter().all(|o| o.is_err()), "{outcomes:?}");
    store
        .apply_events(&[event("after", "u1")], now)
        .await
        .expect("the database is up")[0]
        .as_ref()
        .expect("applied");
    assert_eq!(writer_backends(&admin).await, before);
}
