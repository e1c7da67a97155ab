//! The REST API against a real server (port 0) on real PostgreSQL, with a reward client that
//! counts grants.

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
    rotation: { every: daily, reset_progress: true }
    goals:
      - { id: daily-wins, name: Wins, on: stat, stat: wins, count: events, target: 2, reward: { wallet: GOLD, amount: 5 } }
  - id: spring
    name: Spring
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
    fn delivery(&self, _reward: &engine::Reward) -> store::Delivery {
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
    _db: TestDatabase,
    rules_dir: tempfile::TempDir,
    metrics_port: u16,
    /// The service's clock: a fixed Wednesday noon (UTC) that tests move, so that daily goals
    /// roll over when the test says, never at a real midnight.
    clock: engine::Clock,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Api {
    async fn start() -> Self {
        let db = TestDatabase::postgres().await.expect("PostgreSQL");
        let rules_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(rules_dir.path().join("rules.yaml"), RULES).expect("rules");
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
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}/challenge", http.local_addr().unwrap());
        let metrics_port = metrics.local_addr().unwrap().port();
        let rewards = Arc::new(CountingRewards::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let clock = engine::Clock::at("2026-06-10T12:00:00Z".parse().expect("instant"));
        tokio::spawn(service::app::run_with_clock(
            config,
            service::app::Listeners {
                http,
                metrics,
                grpc: None,
            },
            rewards.clone(),
            clock.clone(),
            async {
                let _ = stopped.await;
            },
        ));
        let api = Self {
            base,
            client: reqwest::Client::new(),
            rewards,
            _db: db,
            rules_dir,
            metrics_port,
            clock,
            stop: Some(stop),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while api
            .client
            .get(format!("{}/healthz", api.base))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the service did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        api
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_initialize_and_progress() {
    let api = Api::start().await;
    let (status, body) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["challenges"].as_array().unwrap().len(), 4);
    let (status, body) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["newAssignments"], 3, "tutorial, kills, daily-wins");
    assert_eq!(body["totalActive"], 3);
    api.stat("p1", "e1", "kills", 3).await;
    let kills = api.goal("p1", "season", "kills").await;
    assert_eq!(
        (
            kills["progress"].clone(),
            kills["status"].clone(),
            kills["locked"].clone()
        ),
        (json!(3), json!("in_progress"), json!(true))
    );
    assert_eq!(
        kills["requirement"],
        json!({"statCode": "kills", "operator": ">=", "targetValue": 5})
    );
    assert_eq!(
        kills["reward"],
        json!({"type": "ITEM", "rewardId": "sword", "quantity": 1})
    );
    assert_eq!(kills["completedAt"], "");
    let (status, again) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(
        (status, again["newAssignments"].clone()),
        (StatusCode::OK, json!(0))
    );
    let (status, body) = api.get("p1", "/v1/challenges/unknown").await;
    assert_eq!(
        (status, body["errorCode"].clone(), body["code"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("CHALLENGE_NOT_FOUND"),
            json!(5)
        )
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_follow_the_documented_order_and_grant_once() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("GOAL_NOT_COMPLETED"))
    );
    let (status, body) = api
        .post("p1", "/v1/challenges/daily/goals/tutorial/claim", json!({}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("GOAL_NOT_FOUND")),
        "goal of another challenge"
    );

    // Prerequisites block the claim until met.
    api.stat("p1", "k1", "kills", 5).await;
    let (status, body) = api
        .post("p1", "/v1/challenges/season/goals/kills/claim", json!({}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("PREREQUISITES_NOT_MET"))
    );
    api.stat("p1", "t1", "tutorial", 1).await;

    // Five concurrent claims: one 200; the others are told it is pending (202) or, once
    // granted, already claimed (409); one grant.
    let claims: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (
                api.client.clone(),
                format!("{}/v1/challenges/season/goals/tutorial/claim", api.base),
            );
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-mock-user-id", "p1")
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for claim in claims {
        statuses.push(claim.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT || **s == StatusCode::ACCEPTED)
            .count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );

    // Now the prerequisite is claimed: the locked goal can be claimed.
    let (status, body) = api
        .post("p1", "/v1/challenges/season/goals/kills/claim", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "claimed");
    assert_eq!(
        body["reward"],
        json!({"type": "ITEM", "rewardId": "sword", "quantity": 1})
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_grant_answers_502_and_the_goal_stays_claimable() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "t1", "tutorial", 1).await;
    api.rewards.fail.store(true, Ordering::SeqCst);
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_GATEWAY, json!("REWARD_GRANT_FAILED"))
    );
    assert_eq!(
        api.goal("p1", "season", "tutorial").await["status"],
        "completed"
    );
    api.rewards.fail.store(false, Ordering::SeqCst);
    let (status, _) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_batch_is_all_or_nothing_and_random_skips_done_and_locked() {
    let api = Api::start().await;
    let path = "/v1/challenges/season/goals/batch-select";
    let (status, body) = api
        .post("p1", path, json!({"goalIds": ["pick-a", "nope"]}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("GOAL_NOT_FOUND"))
    );
    assert_eq!(
        api.goal("p1", "season", "pick-a").await["isActive"],
        false,
        "nothing was selected"
    );
    let (status, body) = api.post("p1", path, json!({"goalIds": []})).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/random-select",
            json!({"count": 0}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("count"),
        "{body}"
    );
    let (status, body) = api.post("p1", path, json!({"goalIds": ["pick-a"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalActiveGoals"], 1);

    // pick-a done, pick-c locked (kills not completed): random-select can only pick pick-b.
    api.stat("p1", "a1", "a", 1).await;
    assert_eq!(
        api.goal("p1", "season", "pick-a").await["status"],
        "completed"
    );
    for _ in 0..5 {
        let (status, body) = api
            .post(
                "p1",
                "/v1/challenges/season/goals/random-select",
                json!({"count": 3}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let picked: Vec<&str> = body["selectedGoals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["goalId"].as_str().unwrap())
            .collect();
        assert!(
            picked
                .iter()
                .all(|g| !["pick-a", "pick-c", "tutorial", "kills"].contains(g))
                || picked.iter().all(|g| *g != "pick-a" && *g != "pick-c"),
            "{picked:?}"
        );
        assert!(
            !picked.contains(&"pick-a") && !picked.contains(&"pick-c"),
            "{picked:?}"
        );
    }
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/daily/goals/random-select",
            json!({"count": 1, "excludeActive": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/daily/goals/random-select",
            json!({"count": 1, "excludeActive": true}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INSUFFICIENT_GOALS"))
    );

    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-b/active",
            Some(json!({"isActive": true})),
        )
        .await;
    assert_eq!(
        (status, body["isActive"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/ghost/active",
            Some(json!({"isActive": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-b/active",
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_goal_shows_zero_and_cannot_be_claimed() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "w1", "wins", 1).await;
    api.stat("p1", "w2", "wins", 2).await;
    assert_eq!(
        api.goal("p1", "daily", "daily-wins").await["status"],
        "completed"
    );
    // The next day.
    api.clock.advance(chrono::Duration::days(1));
    let goal = api.goal("p1", "daily", "daily-wins").await;
    assert_eq!(
        (goal["progress"].clone(), goal["status"].clone()),
        (json!(0), json!("not_started"))
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/daily/goals/daily-wins/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("GOAL_ROTATED"))
    );
    let (status, body) = api.get("p1", "/v1/challenges/daily/rotation").await;
    assert_eq!(
        (status, body["rotation"]["schedule"].clone()),
        (StatusCode::OK, json!("daily"))
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_default_goal_reaches_a_returning_player() {
    let api = Api::start().await;
    let (_, first) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(first["newAssignments"], 3);
    let edited = RULES.replace(
        "      - { id: pick-a,",
        "      - { id: new-default, name: New, on: stat, stat: n, target: 1 }\n      - { id: pick-a,",
    );
    std::fs::write(api.rules_dir.path().join("rules.yaml"), edited).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, rules) = api.get("p1", "/v1/rules").await;
        if rules["goals"] == 9 {
            break;
        }
        assert!(Instant::now() < deadline, "reload not seen: {rules}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, again) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(again["newAssignments"], 1, "{again}");
    assert_eq!(again["totalActive"], 4);
    let (status, body) = api
        .get("p1", "/v1/challenges/season/goals/new-default/explain")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned"], true);
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdpr_deletion_is_rate_limited() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .call(reqwest::Method::DELETE, "p1", "/v1/users/me/data", None)
        .await;
    assert_eq!(
        (status, body["rowsDeleted"].clone(), body["userId"].clone()),
        (StatusCode::OK, json!(3), json!("p1"))
    );
    let (status, body) = api
        .call(reqwest::Method::DELETE, "p1", "/v1/users/me/data", None)
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("RATE_LIMITED"))
    );
    let (status, _) = api
        .call(reqwest::Method::DELETE, "p2", "/v1/users/me/data", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the limit is per user");
    let (status, body) = api
        .post("p1", "/v1/events", json!({"kind": "stat", "userId": "p1"}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_endpoint() {
    let api = Api::start().await;
    let (status, doc) = api.get("p1", "/apidocs/api.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert_eq!(doc["servers"][0]["url"], "/challenge");
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/challenges",
        "/v1/challenges/{challenge}",
        "/v1/challenges/initialize",
        "/v1/challenges/{challenge}/goals/{goal}/active",
        "/v1/challenges/{challenge}/goals/batch-select",
        "/v1/challenges/{challenge}/goals/random-select",
        "/v1/challenges/{challenge}/goals/{goal}/claim",
        "/v1/challenges/{challenge}/rotation",
        "/v1/challenges/{challenge}/goals/{goal}/explain",
        "/v1/users/me/data",
        "/v1/events",
        "/v1/rules",
        "/healthz",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["GoalJson"]["properties"]["expiresInSeconds"].is_object());
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_latency_is_measured_per_route() {
    let api = Api::start().await;
    let (status, _) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = api.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("challenge_api_request_duration_seconds_count")
                && l.contains("v1/challenges\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no latency of GET /v1/challenges in {metrics}"));
    assert!(line.contains("method=\"GET\""), "{line}");
    api.stop();
}

/// Every metric name the operations docs, the alert rules and the dashboard use is served, so
/// the examples in docs/ cannot drift from the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_docs_name_is_served() {
    let api = Api::start().await;
    let (status, _) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    let served = api.metrics().await;
    let family = |name: &str| {
        ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name)
            .to_string()
    };
    let served: std::collections::BTreeSet<String> = served
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(family)
        .collect();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for file in [
        "operations.md",
        "prometheus-alerts.yml",
        "grafana-dashboard.json",
    ] {
        let text = std::fs::read_to_string(docs.join(file)).expect("docs file");
        let mut named = 0;
        for (start, _) in text.match_indices("challenge_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // Words that are not metrics: the database name and a column.
            if name.ends_with('_') || ["challenge_db", "challenge_id"].contains(&name.as_str()) {
                continue;
            }
            named += 1;
            assert!(
                served.contains(&family(&name)),
                "{file} names `{name}`, which /metrics does not serve: {served:?}"
            );
        }
        assert!(named > 5, "{file} names metrics");
    }
    api.stop();
}

/// A weekly goal that carries its progress over, completed one week, is claimed the next
/// (`challenges/weekly-missions.yaml`'s `weekly-veteran` is one): once, ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carried_over_completion_is_claimed_in_a_later_week_once() {
    let api = Api::start().await;
    api.stat("p1", "m1", "matches", 1).await;
    api.stat("p1", "m2", "matches", 2).await;
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "completed"
    );
    api.clock.advance(chrono::Duration::days(8));
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "completed"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/veteran/goals/veteran-matches/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    api.clock.advance(chrono::Duration::days(7));
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "claimed"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/veteran/goals/veteran-matches/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);
    api.stop();
}

/// A season's unclaimed rewards stay claimable for its `claim_grace` after it ends; its events
/// stop counting at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_season_can_be_claimed_within_its_grace_period() {
    let api = Api::start().await;
    for user in ["p1", "p2"] {
        api.stat(user, &format!("{user}-f"), "flowers", 1).await;
        assert_eq!(
            api.goal(user, "spring", "spring-flowers").await["status"],
            "completed"
        );
    }
    // The season ended 12 hours ago: still listed, still claimable, no longer counting.
    api.clock.advance(chrono::Duration::hours(24));
    let (_, list) = api.get("p3", "/v1/challenges").await;
    assert!(
        list["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["challengeId"] == "spring")
    );
    api.stat("p3", "p3-f", "flowers", 1).await;
    assert_eq!(
        api.goal("p3", "spring", "spring-flowers").await["status"],
        "not_started"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/spring/goals/spring-flowers/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    // After the grace, the season is gone.
    api.clock.advance(chrono::Duration::days(2));
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/spring/goals/spring-flowers/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("CHALLENGE_NOT_FOUND"))
    );
    api.stop();
}

/// Events posted over REST are counted like those arriving over gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_events_are_counted_like_grpc_ones() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "r1", "kills", 1).await;
    api.stat("p1", "r1", "kills", 1).await;
    let (status, _) = api
        .post("p1", "/v1/events", json!({"kind": "stat", "id": "bad", "userId": "", "statCode": "kills", "latestValue": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let metrics = api.metrics().await;
    for sample in [
        r#"challenge_events_received_total{kind="stat"} 3"#,
        r#"challenge_events_processed_total{kind="stat",outcome="applied"} 1"#,
        r#"challenge_events_processed_total{kind="stat",outcome="duplicate"} 1"#,
        r#"challenge_events_rejected_total{kind="stat",reason="invalid"} 1"#,
    ] {
        assert!(metrics.contains(sample), "missing `{sample}`");
    }
    assert!(metrics.contains(r#"challenge_event_processing_seconds_count{kind="stat"} 3"#));
    api.stop();
}

/// Every error answers `{code, errorCode, message}`, also those no handler produces: an
/// unknown route, a wrong method, a bad query string or body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_json_error_shape() {
    let api = Api::start().await;
    let cases = [
        (
            reqwest::Method::GET,
            "/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/challenges",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            reqwest::Method::GET,
            "/v1/challenges?active_only=maybe",
            None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            reqwest::Method::POST,
            "/v1/events",
            Some(json!({"kind": 7})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
    ];
    for (method, path, body, status, error_code) in cases {
        let (got, answer) = api.call(method.clone(), "p1", path, body).await;
        assert_eq!(
            (got, answer["errorCode"].clone()),
            (status, json!(error_code)),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["code"].is_u64() && answer["message"].is_string(),
            "{answer}"
        );
    }
    api.stop();
}

/// A list of events is validated whole before any of it is committed: one bad event refuses
/// the list, and the good ones before it did not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_a_bad_event_commits_nothing() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .post(
            "p1",
            "/v1/events",
            json!([
                {"kind": "stat", "id": "good-1", "userId": "p1", "statCode": "kills", "latestValue": 3, "inc": 3},
                {"kind": "stat", "id": "bad-1", "userId": "", "statCode": "kills", "latestValue": 1, "inc": 1}
            ]),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("bad-1"),
        "{body}"
    );
    assert_eq!(
        api.goal("p1", "season", "kills").await["progress"],
        0,
        "nothing was committed"
    );
    api.stop();
}
