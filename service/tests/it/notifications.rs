//! Notifications through the outbox, against a local webhook receiver that answers 500 twice
//! and then 200: every completion and grant arrives, signed, under one id each, a player's in
//! the order they happened; and a `kill -9` of the service right after a completing event was
//! committed still delivers it (the next process finds it in the outbox).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use clap::Parser;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use store::testing::TestDatabase;

pub const SECRET: &str = "webhook-secret";

/// A webhook receiver: answers the scripted statuses first, then 200, and records every
/// request (body, signature header) with its answer.
#[derive(Clone, Default)]
pub struct Receiver {
    pub script: Arc<Mutex<std::collections::VecDeque<u16>>>,
    pub seen: Arc<Mutex<Vec<(String, String, u16)>>>,
}

impl Receiver {
    pub async fn start(script: &[u16]) -> (Self, String) {
        let receiver = Self::default();
        receiver.script.lock().unwrap().extend(script);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// The bodies answered 200, in the order they arrived.
    pub fn taken(&self) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, status)| *status == 200)
            .map(|(body, _, _)| serde_json::from_str(body).expect("a JSON body"))
            .collect()
    }

    /// Waits until `count` were taken (bounded by `within`: the bound only guards against a
    /// hang).
    pub async fn wait_taken(&self, count: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let taken = self.taken();
            if taken.len() >= count {
                return taken;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} notifications arrived: {:?}",
                taken.len(),
                self.seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn hook(
    axum::extract::State(receiver): axum::extract::State<Receiver>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let status = receiver.script.lock().unwrap().pop_front().unwrap_or(200);
    let signature = headers
        .get("x-challenge-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    receiver
        .seen
        .lock()
        .unwrap()
        .push((body, signature, status));
    StatusCode::from_u16(status).unwrap()
}

fn signed(body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

macro_rules! both_stores {
    ($($case:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(store::testing::TestDatabase::postgres().await.expect("PostgreSQL")).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(store::testing::TestDatabase::sqlite().expect("SQLite file")).await;
                }
            )*
        }
    };
}

/// The service in this process on `db`, serving `rules` (mock users and rewards), with
/// `settings` added to its command line; the rules' folder lives as long as the returned one.
pub async fn serve(
    db: &TestDatabase,
    rules: &str,
    settings: &[&str],
    clock: engine::Clock,
) -> (crate::support::InProcess, tempfile::TempDir) {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("rules.yaml"), rules).unwrap();
    let mut args = vec![
        "service",
        "--database-url",
        &db.url,
        "--challenges",
        folder.path().to_str().unwrap(),
        "--migrate",
        "--auth-enabled",
        "false",
    ];
    args.extend_from_slice(settings);
    let config = service::config::ServeConfig::try_parse_from(args).expect("config");
    let served =
        crate::support::serve(config, Arc::new(service::rewards::MockRewards), clock).await;
    (served, folder)
}

both_stores!(every_completion_and_grant_arrives_signed_once_and_in_order);

async fn every_completion_and_grant_arrives_signed_once_and_in_order(db: TestDatabase) {
    let (receiver, url) = Receiver::start(&[500, 500]).await;
    let (served, _rules) = serve(
        &db,
        crate::claims::RULES,
        &[
            "--namespace",
            "game",
            "--notify-webhook-url",
            &url,
            "--notify-webhook-secret",
            SECRET,
            "--notify-backoff-seconds",
            "1",
        ],
        engine::Clock::system(),
    )
    .await;
    let client = reqwest::Client::new();
    let post = |user: &str, path: &str, body: Value| {
        client
            .post(format!("{}{path}", served.base))
            .header("x-mock-user-id", user)
            .json(&body)
            .send()
    };
    // Each kill completes both goals of the player; p1 then claims the sword.
    for (user, id) in [("p1", "k1"), ("p2", "k2")] {
        let answer = post(user, "/v1/events", json!({"kind": "stat", "id": id, "userId": user, "statCode": "kills", "latestValue": 1, "inc": 1}))
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let claimed = post("p1", "/v1/challenges/season/goals/sword/claim", json!({}))
        .await
        .unwrap();
    assert_eq!(claimed.status(), 200);

    let taken = receiver.wait_taken(5, Duration::from_secs(30)).await;
    // Twice 500 first: the first record was sent three times, under its one id.
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(seen.len() >= 7, "{seen:?}");
    for (body, signature, _) in &seen {
        assert_eq!(*signature, signed(body), "every body is signed");
    }
    let mut ids: Vec<(String, String, String)> = taken
        .iter()
        .map(|b| {
            let text = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (text("userId"), text("goalId"), text("type"))
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids,
        [
            (
                "p1".to_string(),
                "gold".to_string(),
                "goal.completed".to_string()
            ),
            ("p1".into(), "sword".into(), "goal.completed".into()),
            ("p1".into(), "sword".into(), "reward.granted".into()),
            ("p2".into(), "gold".into(), "goal.completed".into()),
            ("p2".into(), "sword".into(), "goal.completed".into()),
        ]
    );
    let distinct: std::collections::BTreeSet<&str> =
        taken.iter().map(|b| b["id"].as_str().unwrap()).collect();
    assert_eq!(
        distinct.len(),
        5,
        "no record arrives under two ids: {taken:?}"
    );
    // A player's records in the order they happened: the grant after the completions.
    let p1: Vec<&str> = taken
        .iter()
        .filter(|b| b["userId"] == "p1")
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(p1.last(), Some(&"reward.granted"), "{p1:?}");
    let granted = taken
        .iter()
        .find(|b| b["type"] == "reward.granted")
        .unwrap();
    assert_eq!(
        (
            granted["challengeId"].clone(),
            granted["reward"]["rewardId"].clone()
        ),
        (json!("season"), json!("sword-1"))
    );
    let _ = served.stop.send(());
}

/// The service, as a process: the embedded-style deployment (auth off, mock rewards) on
/// `db`, notifying `url`.
fn spawn_service(
    db: &TestDatabase,
    rules: &std::path::Path,
    url: &str,
) -> (tokio::process::Child, String) {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (http, metrics) = (free(), free());
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_service"))
        .env("DATABASE_URL", &db.url)
        .env("MIGRATE_ON_START", "true")
        .env("CHALLENGE_CONFIG_PATH", rules)
        .env("AB_NAMESPACE", "game")
        .env("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "false")
        .env("REWARD_CLIENT_MODE", "mock")
        .env("HTTP_PORT", http.to_string())
        .env("METRICS_PORT", metrics.to_string())
        .env("SERVE_GRPC_EVENTS", "false")
        .env("CLEANUP_INTERVAL_SECONDS", "0")
        .env("NOTIFY_WEBHOOK_URL", url)
        .env("NOTIFY_WEBHOOK_SECRET", SECRET)
        .env("NOTIFY_BACKOFF_SECONDS", "1")
        .env("LOG_LEVEL", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("the service binary starts");
    (child, format!("http://127.0.0.1:{http}/challenge"))
}

async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz"))
        .await
        .map(|r| r.status().as_u16())
        .ok()
        != Some(200)
    {
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `kill -9` right after the event that completes a goal was committed (the webhook refusing
/// until then, so nothing went out): the next process delivers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_committed_before_a_kill_9_is_still_delivered() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let (receiver, url) = Receiver::start(&[503; 1000]).await;
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("rules.yaml"), crate::claims::RULES).unwrap();
    let (mut first, base) = spawn_service(&db, rules.path(), &url);
    wait_healthy(&base).await;
    let answer = reqwest::Client::new()
        .post(format!("{base}/v1/events"))
        .header("x-mock-user-id", "p1")
        .json(&json!({"kind": "stat", "id": "k1", "userId": "p1", "statCode": "kills", "latestValue": 1, "inc": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "committed");
    let pid = first.id().expect("running").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    let _ = first.wait().await;
    assert!(
        receiver.taken().is_empty(),
        "nothing was taken before the kill"
    );

    receiver.script.lock().unwrap().clear();
    let (_second, base) = spawn_service(&db, rules.path(), &url);
    wait_healthy(&base).await;
    // A record the killed process had leased waits out its lease (a minute) first.
    let taken = receiver.wait_taken(2, Duration::from_secs(120)).await;
    let goals: std::collections::BTreeSet<&str> = taken
        .iter()
        .map(|b| b["goalId"].as_str().unwrap())
        .collect();
    assert_eq!(goals, ["gold", "sword"].into_iter().collect());
    assert!(
        taken
            .iter()
            .all(|b| b["type"] == "goal.completed" && b["userId"] == "p1")
    );
}

/// With `NOTIFY_LOBBY=true`, each record also goes to the player through AGS Lobby's
/// free-form notification, with the service's client token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lobby_tells_the_player() {
    let db = TestDatabase::sqlite().expect("SQLite file");
    let ags = crate::fake_ags::FakeAgs::start().await;
    let (served, _rules) = serve(
        &db,
        crate::claims::RULES,
        &[
            "--namespace",
            "game",
            "--notify-lobby",
            "true",
            "--ab-base-url",
            &ags.url,
            "--ab-client-id",
            "challenge-service",
            "--ab-client-secret",
            "s3cret",
        ],
        engine::Clock::system(),
    )
    .await;
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/events", served.base))
        .header("x-mock-user-id", "p1")
        .json(&json!({"kind": "stat", "id": "k1", "userId": "p1", "statCode": "kills", "latestValue": 1, "inc": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while ags.notified().len() < 2 {
        assert!(
            Instant::now() < deadline,
            "Lobby was not told: {:?}",
            ags.notified()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (user, body, bearer) in ags.notified() {
        assert_eq!((user.as_str(), bearer.as_str()), ("p1", "Bearer token-1"));
        assert_eq!(body["topicName"], "CHALLENGE");
        let record: Value = serde_json::from_str(body["message"].as_str().unwrap()).unwrap();
        assert_eq!(
            (record["type"].clone(), record["userId"].clone()),
            (json!("goal.completed"), json!("p1"))
        );
    }
    let _ = served.stop.send(());
}

/// A record the webhook keeps refusing is dead-lettered after `NOTIFY_MAX_ATTEMPTS`, counted
/// and gauged; the player's next record goes out after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_keeps_failing_is_dead_lettered_and_blocks_nothing() {
    let db = TestDatabase::sqlite().expect("SQLite file");
    let (receiver, url) = Receiver::start(&[500, 500]).await;
    let (served, _rules) = serve(
        &db,
        crate::claims::RULES,
        &[
            "--notify-webhook-url",
            &url,
            "--notify-webhook-secret",
            SECRET,
            "--notify-backoff-seconds",
            "1",
            "--notify-max-attempts",
            "2",
        ],
        engine::Clock::system(),
    )
    .await;
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/events", served.base))
        .header("x-mock-user-id", "p1")
        .json(&json!({"kind": "stat", "id": "k1", "userId": "p1", "statCode": "kills", "latestValue": 1, "inc": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    // The first completion fails twice and is dead; the second goes out.
    let taken = receiver.wait_taken(1, Duration::from_secs(30)).await;
    let seen = receiver.seen.lock().unwrap().clone();
    let first: Value = serde_json::from_str(&seen[0].0).unwrap();
    assert_eq!(seen[1].0, seen[0].0, "sent twice");
    assert_ne!(taken[0]["id"], first["id"], "the next record went out");
    let metrics = format!("http://127.0.0.1:{}/metrics", served.metrics_port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        let dead = text
            .contains(r#"challenge_notifications_total{outcome="dead",sink="webhook"} 1"#)
            && text.contains(r#"challenge_notification_outbox{state="dead"} 1"#);
        if dead {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = served.stop.send(());
}
