//! The service's read cache across replicas: each replica runs as its own process on one
//! PostgreSQL database, and writes made through one reach the other's cached answers.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::replicas::{Replica, setup};

/// Replica B answers lists from its read cache; writes made through replica A (an event, then a
/// claim) reach B's answers through the database's change log, not after a time limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicas_cached_list_follows_writes_made_through_another() {
    let (db, rules, ags) = setup().await;
    let writer = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    let reader = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    let hits = r#"challenge_progress_cache_reads_total{outcome="hit"}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    while reader.metric("challenge_progress_cache_following").await != 1.0 {
        assert!(
            Instant::now() < deadline,
            "the reader never followed the feed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reader.status("p3", "sword").await, "not_started");
    let before = reader.metric(hits).await;
    assert_eq!(reader.status("p3", "sword").await, "not_started");
    assert_eq!(
        reader.metric(hits).await,
        before + 1.0,
        "the second list was not a hit"
    );

    writer.kill_event("p3", "k3").await;
    reader.wait_status("p3", "sword", "completed").await;
    let (status, body) = writer.claim("p3", "sword").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    reader.wait_claimed("p3", "sword").await;
    assert_eq!(ags.effects().len(), 1);
}
