//! The REST API against a real server (port 0) on real PostgreSQL, with a reward client that
//! counts grants and a clock the tests set: the harness here, the cases by area below.

mod calendar;
mod claims;
mod compat;
mod events;
mod locales;
mod metrics;
mod reads;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::rewards::{GrantOutcome, GrantRequest, RewardClient};
use store::testing::TestDatabase;

const RULES: &str = r#"
version: 1
challenges:
  - id: season
    name: Season
    goals:
      - { id: tutorial, name: Tutorial, on: stat, stat: tutorial, target: 1, reward: { wallet: GOLD, amount: 10 } }
      - { id: kills, name: Kills, on: stat, stat: kills, target: 5, requires: [tutorial], reward: { item: sword, quantity: 1 } }
      - { id: pick-a, name: A, on: stat, stat: a, count: events, target: 1, assign: manual }
      - { id: pick-b, name: B, on: stat, stat: b, count: events, target: 1, assign: manual }
      - { id: pick-c, name: C, on: stat, stat: c, count: events, target: 1, assign: manual, requires: [kills] }
  - id: daily
    name: Daily
    tags: [daily, pvp]
    rotation: { every: daily, reset_progress: true }
    goals:
      - { id: daily-wins, name: Wins, tags: [ranked], on: stat, stat: wins, count: events, target: 2, reward: { wallet: GOLD, amount: 5 } }
  - id: spring
    name: Spring
    tags: [seasonal]
    schedule: { start: 2026-06-01T00:00:00Z, end: 2026-06-11T00:00:00Z, claim_grace: 2d }
    goals:
      - { id: spring-flowers, name: Flowers, on: stat, stat: flowers, target: 1, assign: auto, reward: { wallet: GOLD, amount: 3 } }
  - id: veteran
    name: Veteran
    rotation: { every: weekly, reset_progress: false }
    goals:
      - { id: veteran-matches, name: Matches, on: stat, stat: matches, count: events, target: 2, assign: auto, reward: { wallet: GOLD, amount: 50 } }
"#;

#[derive(Default)]
struct CountingRewards {
    grants: AtomicUsize,
    fail: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl RewardClient for CountingRewards {
    fn delivery(&self, _rewards: &[engine::Reward]) -> store::Delivery {
        store::Delivery::Fulfillment
    }

    async fn send(&self, _request: &GrantRequest) -> GrantOutcome {
        // Slow enough that concurrent claims overlap.
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.fail.load(Ordering::SeqCst) {
            return GrantOutcome::Refused("platform said no".into());
        }
        self.grants.fetch_add(1, Ordering::SeqCst);
        GrantOutcome::Granted
    }
}

struct Api {
    base: String,
    client: reqwest::Client,
    rewards: Arc<CountingRewards>,
    db: Arc<TestDatabase>,
    rules_dir: Arc<tempfile::TempDir>,
    metrics_port: u16,
    /// The service's clock: a fixed Wednesday noon (UTC) that tests move, so that daily goals
    /// roll over when the test says, never at a real midnight.
    clock: engine::Clock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Api {
    async fn start() -> Self {
        Self::start_with(RULES).await
    }

    /// A server on `rules` instead of the shared ones.
    async fn start_with(rules: &str) -> Self {
        let db = TestDatabase::postgres().await.expect("PostgreSQL");
        let rules_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(rules_dir.path().join("rules.yaml"), rules).expect("rules");
        let clock = engine::Clock::at("2026-06-10T12:00:00Z".parse().expect("instant"));
        let rewards = Arc::new(CountingRewards::default());
        Self::serve(Arc::new(db), Arc::new(rules_dir), rewards, clock).await
    }

    /// A second server on the same database, files, Platform and clock: another replica.
    async fn replica(&self) -> Self {
        Self::serve(
            self.db.clone(),
            self.rules_dir.clone(),
            self.rewards.clone(),
            self.clock.clone(),
        )
        .await
    }

    async fn serve(
        db: Arc<TestDatabase>,
        rules_dir: Arc<tempfile::TempDir>,
        rewards: Arc<CountingRewards>,
        clock: engine::Clock,
    ) -> Self {
        let config = service::config::ServeConfig::try_parse_from([
            "service",
            "--database-url",
            &db.url,
            "--challenges",
            rules_dir.path().to_str().unwrap(),
            "--migrate",
            "--auth-enabled",
            "false",
            "--reward-mode",
            "mock",
            "--reload-debounce-ms",
            "100",
        ])
        .expect("config");
        let served = crate::support::serve(config, rewards.clone(), clock.clone()).await;
        Self {
            base: served.base,
            client: reqwest::Client::new(),
            rewards,
            db,
            rules_dir,
            metrics_port: served.metrics_port,
            clock,
            stop: Some(served.stop),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        user: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-mock-user-id", user);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// The Prometheus text of the metrics port.
    async fn metrics(&self) -> String {
        self.client
            .get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("body")
    }

    /// Writes `rules` as the rules file and waits until the server has loaded them.
    async fn deploy(&self, rules: &str) {
        let (_, status) = self.get("ops", "/v1/rules").await;
        let before = status["contentHash"].as_str().expect("hash").to_string();
        std::fs::write(self.rules_dir.path().join("rules.yaml"), rules).expect("rules");
        self.reloaded(&before).await;
    }

    /// Waits until the rules in use are no longer those of `hash_before`.
    async fn reloaded(&self, hash_before: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, rules) = self.get("ops", "/v1/rules").await;
            if rules["contentHash"]
                .as_str()
                .is_some_and(|h| h != hash_before)
            {
                return;
            }
            assert!(Instant::now() < deadline, "reload not seen: {rules}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn get(&self, user: &str, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, user, path, None).await
    }

    async fn post(&self, user: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, user, path, Some(body))
            .await
    }

    async fn stat(&self, user: &str, id: &str, code: &str, value: i64) {
        let (status, body) = self
            .post(user, "/v1/events", json!({"kind": "stat", "id": id, "userId": user, "statCode": code, "latestValue": value, "inc": 1}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn goal(&self, user: &str, challenge: &str, goal: &str) -> Value {
        let (status, body) = self.get(user, &format!("/v1/challenges/{challenge}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["goals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["goalId"] == goal)
            .cloned()
            .expect("goal listed")
    }

    fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
