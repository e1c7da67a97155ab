//! Rewards exactly once, through the real REST service and a local Platform that applies a
//! grant and then answers late, never, or with an error: a slow Platform with a player who
//! keeps pressing "claim", a player who hangs up, a refusal, a player who deletes their data
//! and plays again, and 32 claims at once. Every case counts the grants Platform applied.
//! Each runs on PostgreSQL and on SQLite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::rewards::platform::{DeliveryMode, PlatformConfig, PlatformRewards};
use store::testing::TestDatabase;
use store::{IntentState, Store};

use crate::fake_ags::FakeAgs;

pub const RULES: &str = r#"
version: 1
challenges:
  - id: season
    name: Season
    goals:
      - { id: sword, name: Sword, on: stat, stat: kills, target: 1, assign: auto, reward: { item: sword-1, quantity: 1 } }
      - { id: gold, name: Gold, on: stat, stat: kills, target: 1, assign: auto, reward: { wallet: GOLD, amount: 50 } }
"#;

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

both_stores!(
    a_slow_platform_and_a_player_who_keeps_claiming_get_one_grant,
    a_lost_answer_to_a_direct_grant_is_never_sent_again,
    a_player_who_hangs_up_still_gets_the_reward_once,
    a_refusal_answers_502_and_the_goal_stays_claimable,
    deleting_my_data_does_not_make_a_reward_claimable_again,
    thirty_two_claims_at_once_grant_once,
    a_platform_answering_503_is_retried_within_the_claim,
);

pub mod auto;
pub mod bundles;
mod platform_faults;
mod support_grant;

/// Timings of the tests: a claim gives up after 2 s; its intent is taken over 4 s after its
/// last attempt; the reconciler looks every second; a retry waits a second, doubling.
const FAST: &[&str] = &[
    "--claim-deadline-seconds",
    "2",
    "--reconcile-stuck-after-seconds",
    "4",
    "--reconcile-interval-seconds",
    "1",
    "--reconcile-backoff-seconds",
    "1",
];

struct Harness {
    base: String,
    metrics: String,
    client: reqwest::Client,
    ags: FakeAgs,
    store: Arc<dyn Store>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _db: TestDatabase,
    _rules: tempfile::TempDir,
}

impl Harness {
    async fn start(db: TestDatabase, mode: DeliveryMode, settings: &[&str]) -> Self {
        Self::start_with(db, mode, settings, RULES).await
    }

    async fn start_with(
        db: TestDatabase,
        mode: DeliveryMode,
        settings: &[&str],
        rules_text: &str,
    ) -> Self {
        let rules = tempfile::tempdir().expect("tempdir");
        std::fs::write(rules.path().join("rules.yaml"), rules_text).expect("rules");
        let mut args = vec![
            "service",
            "--database-url",
            &db.url,
            "--challenges",
            rules.path().to_str().unwrap(),
            "--migrate",
            "--auth-enabled",
            "false",
            "--namespace",
            "game",
        ];
        args.extend_from_slice(settings);
        let config = service::config::ServeConfig::try_parse_from(args).expect("config");
        let ags = FakeAgs::start().await;
        let mut platform = PlatformConfig::new(&ags.url, "challenge-service", "s3cret");
        platform.mode = mode;
        platform.timeout = Duration::from_secs(1);
        platform.currency_items =
            service::rewards::platform::parse_currency_items(&config.reward_currency_items)
                .expect("currency items");
        let rewards = Arc::new(PlatformRewards::new(platform).expect("client"));
        let served = crate::support::serve(config, rewards, engine::Clock::system()).await;
        let metrics_url = format!("http://127.0.0.1:{}/metrics", served.metrics_port);
        let store = store::open(&db.url, 2).await.expect("store");
        Self {
            base: served.base,
            metrics: metrics_url,
            client: reqwest::Client::new(),
            ags,
            store,
            stop: Some(served.stop),
            _db: db,
            _rules: rules,
        }
    }

    fn db_url(&self) -> String {
        self._db.url.clone()
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
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The game reports a statistic going up by one.
    async fn event(&self, user: &str, id: &str, stat: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                user,
                "/v1/events",
                Some(json!({"kind": "stat", "id": id, "userId": user, "statCode": stat, "latestValue": 1, "inc": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// The game reports a kill: both goals complete.
    async fn kill(&self, user: &str, id: &str) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                user,
                "/v1/events",
                Some(json!({"kind": "stat", "id": id, "userId": user, "statCode": "kills", "latestValue": 1, "inc": 1})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    async fn claim(&self, user: &str, goal: &str) -> (StatusCode, Value) {
        self.call(
            reqwest::Method::POST,
            user,
            &format!("/v1/challenges/season/goals/{goal}/claim"),
            None,
        )
        .await
    }

    async fn status(&self, user: &str, goal: &str) -> String {
        let (status, body) = self
            .call(reqwest::Method::GET, user, "/v1/challenges/season", None)
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

    /// Waits (bounded: the bound only guards against a hang) until the goal shows `claimed`.
    async fn wait_claimed(&self, user: &str, goal: &str) {
        self.wait_claimed_within(user, goal, Duration::from_secs(30))
            .await;
    }

    async fn wait_claimed_within(&self, user: &str, goal: &str, bound: Duration) {
        let deadline = Instant::now() + bound;
        while self.status(user, goal).await != "claimed" {
            assert!(
                Instant::now() < deadline,
                "`{goal}` of {user} was never claimed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn metric(&self, sample: &str) -> f64 {
        let text = self
            .client
            .get(&self.metrics)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(sample))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn a_slow_platform_and_a_player_who_keeps_claiming_get_one_grant(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Fulfillment, FAST).await;
    api.kill("p1", "k1").await;
    // Platform applies the grant, then answers after 3 s: every request times out (1 s) and
    // the claim's deadline (2 s) passes.
    api.ags.answer_after(Duration::from_secs(3));
    let (status, body) = api.claim("p1", "sword").await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::ACCEPTED, json!("pending")),
        "{body}"
    );
    for _ in 0..3 {
        let (status, body) = api.claim("p1", "sword").await;
        assert_eq!(
            status,
            StatusCode::ACCEPTED,
            "the player asks again: {body}"
        );
    }
    assert_eq!(api.ags.effects().len(), 1);
    // Platform recovers: the reconciler sends the same transaction id again and records it.
    api.ags.answer_after(Duration::ZERO);
    api.wait_claimed("p1", "sword").await;
    assert_eq!(
        api.ags.effects().len(),
        1,
        "one grant: {:?}",
        api.ags.effects()
    );
    assert!(
        api.ags.requests() >= 2,
        "the same fulfillment was sent again"
    );
    let (status, body) = api.claim("p1", "sword").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );
}

async fn a_lost_answer_to_a_direct_grant_is_never_sent_again(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Direct, FAST).await;
    api.kill("p1", "k1").await;
    api.ags.answer_after(Duration::from_secs(3));
    let (status, body) = api.claim("p1", "gold").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = api.claim("p1", "gold").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "an unknown outcome is pending for the player"
    );
    // The credit may have been applied (it was): the intent waits for an operator, and no
    // reconciler may send it, since `unknown` is never leased.
    let unknown = api
        .store
        .list_intents(Some(IntentState::Unknown), 10)
        .await
        .expect("list");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!((api.ags.requests(), api.ags.effects().len()), (1, 1));
    assert_eq!(
        api.metric(r#"challenge_reward_grants_total{outcome="unknown"} "#)
            .await,
        1.0
    );

    // The operator finds the credit in Platform's wallet history and records it.
    api.store
        .resolve_intent(
            &unknown[0].key,
            true,
            "credit found in the wallet history",
            chrono::Utc::now(),
        )
        .await
        .expect("resolve")
        .expect("was unknown");
    assert_eq!(api.status("p1", "gold").await, "claimed");
    assert_eq!((api.ags.requests(), api.ags.effects().len()), (1, 1));
}

async fn a_player_who_hangs_up_still_gets_the_reward_once(db: TestDatabase) {
    // No reconciler in reach (an hour): only the claim's own, detached delivery can finish.
    let settings = [
        "--claim-deadline-seconds",
        "10",
        "--reconcile-stuck-after-seconds",
        "3600",
        "--reconcile-interval-seconds",
        "3600",
    ];
    let api = Harness::start(db, DeliveryMode::Fulfillment, &settings).await;
    api.kill("p1", "k1").await;
    api.ags.answer_after(Duration::from_millis(800));
    let claim = api
        .client
        .post(format!(
            "{}/v1/challenges/season/goals/sword/claim",
            api.base
        ))
        .header("x-mock-user-id", "p1")
        .send();
    let claiming = tokio::spawn(claim);
    // Hang up while the grant is at Platform (not on a timer: on a loaded machine a fixed
    // 100 ms could end the request before the claim even began, a different case).
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.ags.requests() == 0 {
        assert!(
            Instant::now() < deadline,
            "the grant never reached Platform"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    claiming.abort();
    assert!(
        claiming.await.is_err_and(|err| err.is_cancelled()),
        "the client gave up before the answer"
    );
    api.wait_claimed("p1", "sword").await;
    assert_eq!(api.ags.effects().len(), 1);
}

async fn a_refusal_answers_502_and_the_goal_stays_claimable(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Direct, FAST).await;
    api.kill("p1", "k1").await;
    api.ags.script([400]);
    let (status, body) = api.claim("p1", "gold").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_GATEWAY, json!("REWARD_GRANT_FAILED"))
    );
    assert_eq!(
        api.status("p1", "gold").await,
        "completed",
        "still claimable"
    );
    let (status, body) = api.claim("p1", "gold").await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    assert_eq!(api.ags.effects().len(), 1);
}

async fn deleting_my_data_does_not_make_a_reward_claimable_again(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Fulfillment, FAST).await;
    api.kill("p1", "k1").await;
    let (status, body) = api.claim("p1", "sword").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .call(reqwest::Method::DELETE, "p1", "/v1/users/me/data", None)
        .await;
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(
        api.status("p1", "sword").await,
        "not_started",
        "the player's data is gone"
    );
    // The player plays again and claims again.
    api.kill("p1", "k2").await;
    assert_eq!(api.status("p1", "sword").await, "completed");
    let (status, body) = api.claim("p1", "sword").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED")),
        "{body}"
    );
    assert_eq!(api.ags.effects().len(), 1);
}

async fn thirty_two_claims_at_once_grant_once(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Direct, FAST).await;
    api.kill("p1", "k1").await;
    api.ags.answer_after(Duration::from_millis(200));
    let url = format!("{}/v1/challenges/season/goals/gold/claim", api.base);
    let claims: Vec<_> = (0..32)
        .map(|_| {
            let (client, url) = (api.client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-mock-user-id", "p1")
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
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::CONFLICT].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    api.wait_claimed("p1", "gold").await;
    assert_eq!((api.ags.requests(), api.ags.effects().len()), (1, 1));
}

async fn a_platform_answering_503_is_retried_within_the_claim(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Fulfillment, FAST).await;
    api.kill("p1", "k1").await;
    // Platform is overloaded twice (nothing applied), then grants.
    api.ags.script([503, 503]);
    let (status, body) = api.claim("p1", "sword").await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    assert_eq!((api.ags.requests(), api.ags.effects().len()), (3, 1));
    assert_eq!(
        api.metric(r#"challenge_reward_grants_total{outcome="retry"} "#)
            .await,
        2.0
    );
}
