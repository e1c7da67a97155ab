//! `claim: auto` through the real REST service and a local Platform: a goal is granted as it
//! completes, with no claim call, once; a goal whose prerequisite is not met waits, and the
//! event that completes the prerequisite grants it. Each runs on PostgreSQL and on SQLite.
//! Two handlers and two service replicas: `replicas_bundles.rs`.

use std::time::{Duration, Instant};

use service::rewards::platform::DeliveryMode;
use store::testing::TestDatabase;

use super::{FAST, Harness};

both_stores!(
    a_completed_goal_is_granted_without_a_claim_and_one_waits_for_its_prerequisite,
    a_goal_support_completes_is_granted_too,
);

/// Support completing a `claim: auto` goal (a ticket: "my badge never came") writes its
/// completion with the audit entry, and the badge is granted as for an event.
async fn a_goal_support_completes_is_granted_too(db: TestDatabase) {
    let api = Harness::start_with(db, DeliveryMode::Fulfillment, FAST, &rules()).await;
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "agent-1",
            "/v1/admin/players/p2/challenges/season/goals/badge/progress",
            Some(serde_json::json!({"action": "complete", "reason": "ticket 42"})),
        )
        .await;
    assert!(status.is_success(), "{status}: {body}");
    api.wait_claimed("p2", "badge").await;
    outbox_worked(&api).await;
    assert_eq!(granted(&api, "badge-1"), 1);
}

/// `claims::RULES` and: a badge granted as the first kill completes it, and a death's reward
/// that waits for two kills.
pub fn rules() -> String {
    format!(
        "{}{}",
        super::RULES,
        r#"      - { id: badge, name: Badge, on: stat, stat: kills, target: 1, assign: auto, claim: auto, reward: { item: badge-1 } }
      - { id: two-kills, name: Two kills, on: stat, stat: kills, count: events, target: 2, assign: auto }
      - { id: first-death, name: First death, on: stat, stat: deaths, target: 1, assign: auto, claim: auto, requires: [two-kills], reward: { item: death-1 } }
"#
    )
}

/// Items Platform granted, by id.
fn granted(api: &Harness, item: &str) -> usize {
    api.ags
        .effects()
        .iter()
        .filter(|e| e.body["items"][0]["itemId"] == item)
        .count()
}

/// Waits until the notifier has worked every record (the outbox is empty).
async fn outbox_worked(api: &Harness) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.store.notice_counts().await.expect("counts") != (0, 0) {
        assert!(Instant::now() < deadline, "the outbox was never worked");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_completed_goal_is_granted_without_a_claim_and_one_waits_for_its_prerequisite(
    db: TestDatabase,
) {
    let api = Harness::start_with(db, DeliveryMode::Fulfillment, FAST, &rules()).await;
    // The death first: `first-death` completes, but `two-kills` is not done.
    api.event("p1", "d1", "deaths").await;
    outbox_worked(&api).await;
    assert_eq!(api.status("p1", "first-death").await, "completed");
    assert_eq!(granted(&api, "death-1"), 0, "it waits for its prerequisite");

    // The first kill completes the badge: granted with no claim call.
    api.event("p1", "k1", "kills").await;
    api.wait_claimed("p1", "badge").await;
    assert_eq!(granted(&api, "badge-1"), 1);
    assert_eq!(
        api.status("p1", "sword").await,
        "completed",
        "not claim: auto"
    );
    // The second kill completes the prerequisite: the waiting reward goes now.
    api.event("p1", "k2", "kills").await;
    api.wait_claimed("p1", "first-death").await;
    outbox_worked(&api).await;
    assert_eq!((granted(&api, "badge-1"), granted(&api, "death-1")), (1, 1));
    let (_, body) = api.claim("p1", "badge").await;
    assert_eq!(body["errorCode"], "ALREADY_CLAIMED", "{body}");
    let (_, list) = api
        .call(reqwest::Method::GET, "p1", "/v1/challenges/season", None)
        .await;
    let badge = list["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["goalId"] == "badge")
        .unwrap()
        .clone();
    assert_eq!(badge["autoClaim"], true, "the list says so: {badge}");
}
