//! Claims against a Platform that fails: a fulfillment Platform reports failed (late in a long
//! body, and on its retry), and an outage that leaves a backlog behind. Each runs on PostgreSQL
//! and on SQLite.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use service::rewards::platform::DeliveryMode;
use store::IntentState;
use store::testing::TestDatabase;

use super::{FAST, Harness};

both_stores!(
    a_failed_fulfillment_leaves_the_goal_unclaimed_until_platform_fulfils_it,
    after_an_outage_the_backlog_drains_at_platforms_pace,
);

async fn a_failed_fulfillment_leaves_the_goal_unclaimed_until_platform_fulfils_it(
    db: TestDatabase,
) {
    let api = Harness::start(db, DeliveryMode::Fulfillment, FAST).await;
    api.kill("p1", "k1").await;
    // Platform answers 200 with `"state":"FULFILL_FAILED"` far into a long body, and its
    // retries fail too, for a while.
    api.ags.fail_fulfillments(1_000);
    let (status, body) = api.claim("p1", "sword").await;
    assert_ne!(body["status"], json!("claimed"), "{status}: {body}");
    assert_ne!(api.status("p1", "sword").await, "claimed");
    assert!(api.ags.effects().is_empty());
    let intent = api
        .store
        .intent(&store::IntentKey {
            user_id: engine::UserId::new("p1"),
            goal_id: engine::GoalId::new("sword"),
            period_start: chrono::DateTime::UNIX_EPOCH,
        })
        .await
        .expect("intent");
    assert_ne!(
        intent.map(|i| i.state),
        Some(IntentState::Granted),
        "a failed fulfillment is not recorded as granted"
    );
    // Platform recovers: the reconciler retries the failed transaction, once, soon. The claim's
    // own quick attempts within its deadline must not push the next try minutes away: an
    // intent waits no longer than it has already been failing (at least the base backoff).
    api.ags.fail_fulfillments(0);
    api.wait_claimed_within("p1", "sword", Duration::from_secs(15))
        .await;
    assert_eq!(api.ags.effects().len(), 1);
}

/// A Platform outage leaves claims pending, each backing off for a minute or more. When
/// Platform grants again (a new claim goes through), the others' backoff is cut short and the
/// reconciler works the whole backlog at once, a bounded number at a time, instead of one pass
/// per interval.
async fn after_an_outage_the_backlog_drains_at_platforms_pace(db: TestDatabase) {
    let settings = [
        "--claim-deadline-seconds",
        "1",
        "--reconcile-stuck-after-seconds",
        "4",
        "--reconcile-interval-seconds",
        "120",
        "--reconcile-backoff-seconds",
        "120",
        "--reconcile-concurrency",
        "4",
    ];
    let api = Harness::start(db, DeliveryMode::Fulfillment, &settings).await;
    let players: Vec<String> = (0..20).map(|n| format!("p{n}")).collect();
    for player in &players {
        api.kill(player, &format!("k-{player}")).await;
    }
    api.ags.script(vec![503; 100_000]);
    let claims = players.iter().map(|player| api.claim(player, "sword"));
    for (status, body) in futures::future::join_all(claims).await {
        assert_ne!(body["status"], json!("claimed"), "{status}: {body}");
    }
    assert!(api.ags.effects().is_empty());
    // Platform is back; one more player claims, and is granted at once.
    api.ags.recover();
    api.kill("late", "k-late").await;
    let (status, body) = api.claim("late", "sword").await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    // The backlog follows well before any backoff (2 minutes) or pass interval would allow.
    for player in &players {
        api.wait_claimed(player, "sword").await;
    }
    assert_eq!(api.ags.effects().len(), players.len() + 1);
}
