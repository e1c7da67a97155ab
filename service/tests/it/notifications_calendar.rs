//! `claim: auto` and the calendar: a completion whose outbox record is worked after its goal's
//! period ended still claims the period it completed in.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::notifications::{Receiver, SECRET, serve};

/// A `claim: auto` completion whose record is worked after the goal's period ended (here held
/// back behind the player's earlier record, which the webhook refused once) still claims the
/// period it completed in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_claim_worked_after_midnight_claims_the_day_it_completed() {
    let db = TestDatabase::sqlite().expect("SQLite file");
    let (receiver, url) = Receiver::start(&[500]).await;
    let text = format!(
        "{}{}",
        crate::claims::RULES,
        r#"  - id: daily
    name: Daily
    rotation: { every: daily }
    goals:
      - { id: daily-login, name: Log in, on: login, target: 1, assign: auto, claim: auto, reward: { item: daily-chest } }
"#
    );
    let before_midnight: chrono::DateTime<chrono::Utc> = "2026-12-10T23:59:58Z".parse().unwrap();
    let clock = engine::Clock::at(before_midnight);
    let settings = [
        "--notify-webhook-url",
        &url,
        "--notify-webhook-secret",
        SECRET,
        "--notify-backoff-seconds",
        "1",
    ];
    let (served, _rules) = serve(&db, &text, &settings, clock.clone()).await;
    let post = |body: Value| {
        reqwest::Client::new()
            .post(format!("{}/v1/events", served.base))
            .header("x-mock-user-id", "p1")
            .json(&body)
            .send()
    };
    // A kill, then a login: the login's record waits behind the kill's, which the webhook
    // refuses once and which is due again only a second later on this clock.
    let kill = post(
        json!({"kind": "stat", "id": "k1", "userId": "p1", "statCode": "kills", "latestValue": 1, "inc": 1}),
    );
    assert_eq!(kill.await.unwrap().status(), 200);
    let login = post(json!({"kind": "login", "id": "l1", "userId": "p1"}));
    assert_eq!(login.await.unwrap().status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.seen.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the webhook was never called");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past midnight: the kill's record goes, then the login's is worked.
    clock.advance(chrono::Duration::seconds(10));
    receiver.wait_taken(3, Duration::from_secs(30)).await;
    let store = store::open(&db.url, 2).await.expect("store");
    let day: chrono::DateTime<chrono::Utc> = "2026-12-10T00:00:00Z".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let intent = store
            .intent(&store::IntentKey {
                user_id: engine::UserId::new("p1"),
                goal_id: engine::GoalId::new("daily-login"),
                period_start: day,
            })
            .await
            .expect("intent");
        if intent.as_ref().map(|i| i.state) == Some(store::IntentState::Granted) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the day it completed was not claimed: {intent:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = served.stop.send(());
}
