//! Rewards exactly once across processes: real `service` binaries (auth on, real rewards)
//! sharing one PostgreSQL database and one local Platform that records every grant it
//! applies. Two replicas under 32 concurrent claims; two replicas racing for an intent whose
//! owner died; and `kill -9` of the service between sending a grant and recording its answer,
//! with an idempotent fulfillment (re-sent, granted once) and a direct credit (never re-sent;
//! the operator resolves it with `service claims`).

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::claims::RULES;
use crate::fake_ags::FakeAgs;
use crate::jwt::{claims, token};

pub struct Replica {
    child: tokio::process::Child,
    base: String,
    metrics: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `log` opened for appending: the binary's stdout and stderr share it without overwriting.
fn append(log: &tempfile::NamedTempFile) -> std::fs::File {
    std::fs::OpenOptions::new()
        .append(true)
        .open(log.path())
        .expect("log file")
}

impl Replica {
    pub async fn start(
        db: &TestDatabase,
        rules: &std::path::Path,
        ags: &FakeAgs,
        delivery: &str,
    ) -> Self {
        // The ports are free when picked but another test may take one before the binary
        // binds it: then it exits saying so, and it starts again on other ports.
        for _ in 0..5 {
            let log = tempfile::NamedTempFile::new().expect("log file");
            let mut replica = Self::spawn(db, rules, ags, delivery, &log);
            let client = reqwest::Client::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let health = client.get(format!("{}/healthz", replica.base)).send().await;
                if health.map(|r| r.status()).ok() == Some(StatusCode::OK) {
                    return replica;
                }
                let output = || std::fs::read_to_string(log.path()).unwrap_or_default();
                if replica.child.try_wait().expect("child state").is_some() {
                    let output = output();
                    assert!(
                        output.contains("cannot listen"),
                        "the service binary stopped at start: {output}"
                    );
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the service binary did not start: {}",
                    output()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("the service binary found no free port in five tries")
    }

    fn spawn(
        db: &TestDatabase,
        rules: &std::path::Path,
        ags: &FakeAgs,
        delivery: &str,
        log: &tempfile::NamedTempFile,
    ) -> Self {
        let (http, metrics) = (free_port(), free_port());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_service"))
            .env("DATABASE_URL", &db.url)
            .env("MIGRATE_ON_START", "true")
            .env("CHALLENGE_CONFIG_PATH", rules)
            .env("AB_NAMESPACE", "game")
            .env("AB_BASE_URL", &ags.url)
            .env("AB_CLIENT_ID", "challenge-service")
            .env("AB_CLIENT_SECRET", "s3cret")
            .env("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "true")
            .env("IAM_ISSUER", crate::jwt::ISSUER)
            .env("REWARD_CLIENT_MODE", "real")
            .env("REWARD_DELIVERY", delivery)
            .env("REWARD_CURRENCY_ITEMS", "GOLD=gold-coins")
            .env("HTTP_PORT", http.to_string())
            .env("METRICS_PORT", metrics.to_string())
            .env("SERVE_GRPC_EVENTS", "false")
            .env("CLEANUP_INTERVAL_SECONDS", "0")
            .env("CLAIM_DEADLINE_SECONDS", "2")
            .env("RECONCILE_STUCK_AFTER_SECONDS", "4")
            .env("RECONCILE_INTERVAL_SECONDS", "1")
            .env("RECONCILE_BACKOFF_SECONDS", "1")
            .env("LOG_LEVEL", "warn")
            .stdout(append(log))
            .stderr(append(log))
            .kill_on_drop(true)
            .spawn()
            .expect("the service binary starts");
        Self {
            child,
            base: format!("http://127.0.0.1:{http}/challenge"),
            metrics,
        }
    }

    fn kill_9(&mut self) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill");
        assert!(killed.success());
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(bearer)
            .timeout(Duration::from_secs(20));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The game server reports a kill of `user`: both goals complete.
    pub async fn kill_event(&self, user: &str, id: &str) {
        let mut server = claims("game-server", "game", 600);
        server["permissions"] =
            json!([{"Resource": "ADMIN:NAMESPACE:game:CHALLENGE", "Action": 15}]);
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/events",
                &token("key1", "key1", server),
                Some(json!({"kind": "stat", "id": id, "userId": user, "statCode": "kills", "latestValue": 1, "inc": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn status(&self, user: &str, goal: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                "/v1/challenges/season",
                &player(user),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["goals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["goalId"] == goal)
            .map(|g| g["status"].as_str().unwrap().to_string())
            .unwrap()
    }

    /// `user` claims `goal` of the `season` challenge through this replica.
    pub async fn claim(&self, user: &str, goal: &str) -> (StatusCode, Value) {
        let path = format!("/v1/challenges/season/goals/{goal}/claim");
        self.call(reqwest::Method::POST, &path, &player(user), None)
            .await
    }

    pub async fn wait_claimed(&self, user: &str, goal: &str) {
        self.wait_status(user, goal, "claimed").await;
    }

    pub async fn wait_status(&self, user: &str, goal: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.status(user, goal).await;
            if seen == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`{goal}` of {user} still reads `{seen}` here, never `{want}`"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One sample of this replica's metrics, by its exact series name.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{series}` in {text}"))
    }
}

fn player(user: &str) -> String {
    token("key1", "key1", claims(user, "game", 600))
}

fn claim_url(base: &str, goal: &str) -> String {
    format!("{base}/v1/challenges/season/goals/{goal}/claim")
}

pub async fn setup() -> (TestDatabase, tempfile::TempDir, FakeAgs) {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let rules = tempfile::tempdir().expect("tempdir");
    std::fs::write(rules.path().join("rules.yaml"), RULES).expect("rules");
    (db, rules, FakeAgs::start().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_claims_over_two_replicas_grant_once() {
    let (db, rules, ags) = setup().await;
    let first = Replica::start(&db, rules.path(), &ags, "direct").await;
    let second = Replica::start(&db, rules.path(), &ags, "direct").await;
    first.kill_event("p1", "k1").await;
    ags.answer_after(Duration::from_millis(200));
    let bearer = player("p1");
    let claims: Vec<_> = (0..32)
        .map(|i| {
            let url = claim_url(
                if i % 2 == 0 {
                    &first.base
                } else {
                    &second.base
                },
                "gold",
            );
            let bearer = bearer.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .bearer_auth(bearer)
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
    second.wait_claimed("p1", "gold").await;
    assert_eq!(
        (ags.requests(), ags.effects().len()),
        (1, 1),
        "{:?}",
        ags.effects()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_take_over_an_orphaned_intent_once() {
    let (db, rules, ags) = setup().await;
    let first = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    first.kill_event("p1", "k1").await;
    // A claim recorded its intent and its process died before sending anything.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let long_ago = chrono::Utc::now() - chrono::TimeDelta::minutes(10);
    sqlx::query(
        "INSERT INTO reward_grants (user_id, goal_id, period_start, namespace, state, delivery, reward, \
           transaction_id, attempts, created_at, updated_at, lease_until, next_attempt_at) \
         VALUES ('p1', 'sword', 'epoch', 'game', 'pending', 'fulfillment', \
           '{\"type\":\"ITEM\",\"rewardId\":\"sword-1\",\"quantity\":1}', 'ce-orphan', 0, $1, $1, $1, $1)",
    )
    .bind(long_ago)
    .execute(&pool)
    .await
    .unwrap();
    // Both replicas' reconcilers look every second; Platform takes 1.5 s to answer, so the
    // one that leased it is still waiting when the other looks.
    ags.answer_after(Duration::from_millis(1500));
    let second = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    second.wait_claimed("p1", "sword").await;
    assert_eq!(
        (ags.requests(), ags.effects().len()),
        (1, 1),
        "one replica worked the intent: {:?}",
        ags.effects()
    );
    let state: String = sqlx::query_scalar("SELECT state FROM reward_grants WHERE user_id = 'p1'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "granted");
    drop(first);
}

/// Starts a claim on a replica whose Platform never answers, waits until the grant is applied,
/// and kills the replica with SIGKILL before it can record anything.
pub async fn kill_9_mid_grant(
    db: &TestDatabase,
    rules: &std::path::Path,
    ags: &FakeAgs,
    delivery: &str,
    goal: &str,
) {
    let mut doomed = Replica::start(db, rules, ags, delivery).await;
    doomed.kill_event("p1", "k1").await;
    ags.answer_after(Duration::from_secs(3600));
    let url = claim_url(&doomed.base, goal);
    let bearer = player("p1");
    let claiming = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .bearer_auth(bearer)
            .send()
            .await
    });
    ags.wait_for_effects(1).await;
    doomed.kill_9();
    let _ = doomed.child.wait().await;
    assert!(
        claiming.await.unwrap().is_err(),
        "the player lost the connection"
    );
    ags.answer_after(Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_sending_and_recording_grants_a_fulfillment_once() {
    let (db, rules, ags) = setup().await;
    kill_9_mid_grant(&db, rules.path(), &ags, "fulfillment", "sword").await;
    let survivor = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    survivor.wait_claimed("p1", "sword").await;
    assert_eq!(ags.effects().len(), 1, "{:?}", ags.effects());
    assert!(
        ags.requests() >= 2,
        "the fulfillment was sent again, with the same transaction id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_sending_and_recording_a_direct_credit_waits_for_the_operator() {
    let (db, rules, ags) = setup().await;
    kill_9_mid_grant(&db, rules.path(), &ags, "direct", "gold").await;
    let survivor = Replica::start(&db, rules.path(), &ags, "direct").await;
    // The survivor's reconciler finds the intent `sending` with a direct delivery: unknown.
    let claims_cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_service"))
            .arg("claims")
            .args(args)
            .args(["--database-url", &db.url])
            .output()
            .expect("service claims runs")
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let out = claims_cli(&["list", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        if !text.trim().is_empty() {
            break text;
        }
        assert!(Instant::now() < deadline, "the intent never became unknown");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let intent: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            intent["userId"].clone(),
            intent["goalId"].clone(),
            intent["state"].clone()
        ),
        (json!("p1"), json!("gold"), json!("unknown"))
    );
    assert_eq!(
        (ags.requests(), ags.effects().len()),
        (1, 1),
        "never sent again"
    );
    let (status, body) = survivor.claim("p1", "gold").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the player is told it is pending: {body}"
    );

    // The operator finds the credit in the wallet history and records it.
    let period = intent["periodStart"].as_str().unwrap();
    let out = claims_cli(&[
        "resolve",
        "p1",
        "gold",
        period,
        "--granted",
        "--note",
        "credit seen in AGS",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(survivor.status("p1", "gold").await, "claimed");
    let out = claims_cli(&["resolve", "p1", "gold", period, "--refused"]);
    assert!(
        !out.status.success(),
        "a granted intent cannot be resolved again"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("granted"));
    assert_eq!((ags.requests(), ags.effects().len()), (1, 1));
}

/// Real rewards with mock users would let any caller claim for any player id.
#[test]
fn real_rewards_without_auth_are_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_service"))
        .env("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "false")
        .env("REWARD_CLIENT_MODE", "real")
        .env("AB_BASE_URL", "http://127.0.0.1:9")
        .env("AB_CLIENT_ID", "id")
        .env("AB_CLIENT_SECRET", "secret")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("HTTP_PORT", free_port().to_string())
        .env("METRICS_PORT", free_port().to_string())
        .env("SERVE_GRPC_EVENTS", "false")
        .output()
        .expect("the service binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("REWARD_CLIENT_MODE: `real`")
            && stderr.contains("PLUGIN_GRPC_SERVER_AUTH_ENABLED=false"),
        "{stderr}"
    );
}
