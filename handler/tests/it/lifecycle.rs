//! The handler's life: the database going away and coming back, SIGTERM under load, and a rule
//! edit on disk taking effect without a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::testing::{OutageProxy, TestDatabase};
use tonic::Code;

use crate::support::{HandlerProcess, RULES, TestHandler, initialize, progress, stat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_unavailable_and_a_retry_succeeds() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let proxy = OutageProxy::start("127.0.0.1:5432".into())
        .await
        .expect("proxy");
    let through_proxy = proxy.url_through(&db.url);
    let handler = TestHandler::start_with(db, &through_proxy).await;
    initialize(&handler.db.url, "player-1").await;
    let pool = handler.pool().await;
    let mut stats = handler.stats().await;
    stats
        .on_message(stat("before", "player-1", "kills", 1.0, None))
        .await
        .expect("database up");

    proxy.cut();
    let status = stats
        .on_message(stat("during", "player-1", "kills", 2.0, None))
        .await
        .expect_err("database down");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let (code, _) = handler.metrics("/healthz").await.expect("healthz answers");
    assert_eq!(code, 503);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match stats
            .on_message(stat("during", "player-1", "kills", 2.0, None))
            .await
        {
            Ok(_) => break,
            Err(status) if status.code() == Code::Unavailable && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("retry failed: {status:?}"),
        }
    }
    assert_eq!(progress(&pool, "player-1", "kills").await, Some(2));
    // `total` counts events: an attempt that committed and then answered an error, retried,
    // would show 3 here.
    assert_eq!(
        progress(&pool, "player-1", "total").await,
        Some(2),
        "each event counted once across the outage and the retries"
    );

    // The game redelivers the event once more: acknowledged, counted as a duplicate, not again.
    let duplicates = || async {
        let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
        duplicate_count(&metrics)
    };
    let before = duplicates().await;
    stats
        .on_message(stat("during", "player-1", "kills", 2.0, None))
        .await
        .expect("a redelivery is acknowledged");
    assert_eq!(progress(&pool, "player-1", "total").await, Some(2));
    assert_eq!(
        duplicates().await,
        before + 1,
        "the redelivery is a duplicate"
    );
    handler.stop().await;
}

/// `challenge_events_processed_total{kind="stat",outcome="duplicate"}` in a /metrics text.
fn duplicate_count(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(
                r#"challenge_events_processed_total{kind="stat",outcome="duplicate"} "#,
            )
        })
        .map_or(0, |value| value.trim().parse().expect("a count"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_edit_on_disk_changes_behaviour_without_restart() {
    let handler = TestHandler::start().await;
    initialize(&handler.db.url, "player-1").await;
    let pool = handler.pool().await;
    let mut stats = handler.stats().await;
    stats
        .on_message(stat("e1", "player-1", "kills", 1.0, Some("meadow")))
        .await
        .expect("stat");
    assert_eq!(progress(&pool, "player-1", "tundra-kills").await, Some(0));

    // The designer widens the predicate to meadows as well.
    let edited = RULES.replace(
        r#"event.additional.biome == "tundra""#,
        r#"event.additional.biome == "tundra" || event.additional.biome == "meadow""#,
    );
    std::fs::write(handler.rules_file(), edited).expect("edit");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut i = 2;
    while progress(&pool, "player-1", "tundra-kills").await == Some(0) {
        assert!(Instant::now() < deadline, "the edit was not picked up");
        tokio::time::sleep(Duration::from_millis(100)).await;
        stats
            .on_message(stat(
                &format!("e{i}"),
                "player-1",
                "kills",
                i as f64,
                Some("meadow"),
            ))
            .await
            .expect("stat");
        i += 1;
    }

    // A broken edit is rejected; the rules in use stay.
    std::fs::write(handler.rules_file(), "version: 1\nchallenges: [ {").expect("break");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
        if metrics.contains("challenge_rules_reload_failures 1") {
            break;
        }
        assert!(Instant::now() < deadline, "the broken edit was not seen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = progress(&pool, "player-1", "tundra-kills").await;
    stats
        .on_message(stat(
            "after-break",
            "player-1",
            "kills",
            100.0,
            Some("meadow"),
        ))
        .await
        .expect("still serving");
    assert_eq!(
        progress(&pool, "player-1", "tundra-kills").await,
        before.map(|p| p + 1)
    );
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_load_loses_no_acknowledged_event() {
    signal_during_load("TERM").await;
}

/// A crash (SIGKILL, no shutdown at all) loses nothing that was acknowledged: an event is
/// answered OK only once its transaction committed. The crash comes while the database hangs
/// (a proxy that stops forwarding), so batches are mid-transaction when the process dies: a
/// build that answered before its commit would have answered events that never commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_load_loses_no_acknowledged_event() {
    signal_during_load("KILL").await;
}

/// Runs the handler binary under load from 16 senders, sends it `signal` once 200 events were
/// acknowledged, and checks every acknowledged event committed and counted once. Before a
/// SIGKILL the database stalls for a moment first, so the kill lands mid-transaction.
async fn signal_during_load(signal: &str) {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let proxy = OutageProxy::start("127.0.0.1:5432".into())
        .await
        .expect("proxy");
    let HandlerProcess {
        mut child,
        grpc_port,
        rules_dir: _rules_dir,
    } = HandlerProcess::spawn(&proxy.url_through(&db.url)).await;

    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{grpc_port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect");
    let acknowledged = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let mut senders = Vec::new();
    for t in 0..16 {
        let channel = channel.clone();
        let acknowledged = acknowledged.clone();
        senders.push(tokio::spawn(async move {
            let mut client = pipeline::proto::statistic::statistic_stat_item_updated_service_client::StatisticStatItemUpdatedServiceClient::new(channel);
            for i in 0..10_000 {
                let id = format!("t{t}-{i}");
                match client.on_message(stat(&id, &format!("player-{t}"), "kills", i as f64, None)).await {
                    Ok(_) => {
                        acknowledged.lock().unwrap().insert(id);
                    }
                    Err(_) => break, // the server is going away
                }
            }
        }));
    }
    // SIGTERM once the load is really running (the deadline only guards against a hang).
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 200 {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if signal == "KILL" {
        // Queries hang from now on: whatever the flushers hold is mid-transaction, and the
        // senders keep sending. A correct build answers none of it; the wait only gives a
        // broken one the time to answer what it should not.
        proxy.stall();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap_or_else(|_| panic!("exits after SIG{signal}"))
        .expect("wait");
    if signal == "TERM" {
        assert!(exit.success(), "graceful exit, got {exit:?}");
    }
    for sender in senders {
        sender.await.expect("a sender panicked");
    }

    let acknowledged = acknowledged.lock().unwrap().clone();
    let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
    let committed: HashSet<String> = sqlx::query_scalar("SELECT event_id FROM applied_events")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = acknowledged.difference(&committed).take(5).collect();
    assert!(lost.is_empty(), "acknowledged but not committed: {lost:?}");
    let total: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(progress), 0)::bigint FROM user_goal_progress WHERE goal_id = 'total'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        total,
        committed.len() as i64,
        "every committed event counted once"
    );
}
