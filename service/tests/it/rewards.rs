//! The real AGS Platform client against a local HTTP server playing IAM and Platform: token
//! caching, retries on 503 only, token renewal on 401, the player's 502 on a refusal with the
//! goal still claimable, and a crash between intent and grant finished by the reconciler.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{post, put};
use chrono::Utc;
use engine::{GoalId, Reward, UserId};
use service::rewards::platform::{PlatformConfig, PlatformRewards};
use service::rewards::{GrantError, GrantRequest, RewardClient};
use store::testing::TestDatabase;

/// Scripted IAM + Platform: Platform answers the queued statuses (then 200), IAM issues tokens.
#[derive(Default)]
struct FakeAgs {
    platform_script: Mutex<VecDeque<u16>>,
    token_calls: Mutex<usize>,
    platform_calls: Mutex<Vec<(String, String)>>,
}

async fn token(
    State(ags): State<Arc<FakeAgs>>,
    headers: HeaderMap,
) -> (StatusCode, axum::Json<serde_json::Value>) {
    let mut calls = ags.token_calls.lock().unwrap();
    *calls += 1;
    assert!(
        headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic ")),
        "client credentials use basic auth"
    );
    (
        StatusCode::OK,
        axum::Json(
            serde_json::json!({"access_token": format!("token-{calls}"), "expires_in": 3600}),
        ),
    )
}

async fn platform(
    State(ags): State<Arc<FakeAgs>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> StatusCode {
    let bearer = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    ags.platform_calls
        .lock()
        .unwrap()
        .push((uri.path().to_string(), bearer));
    let status = ags
        .platform_script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

async fn fake_ags() -> (String, Arc<FakeAgs>) {
    let ags = Arc::new(FakeAgs::default());
    let app = Router::new()
        .route("/iam/v3/oauth/token", post(token))
        .route(
            "/platform/admin/namespaces/{ns}/users/{user}/entitlements",
            post(platform),
        )
        .route(
            "/platform/admin/namespaces/{ns}/users/{user}/wallets/{currency}/credit",
            put(platform),
        )
        .with_state(ags.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, ags)
}

fn client(url: &str) -> PlatformRewards {
    let mut config = PlatformConfig::new(url, "challenge-service", "s3cret");
    config.backoff = Duration::from_millis(10);
    PlatformRewards::new(config).unwrap()
}

fn wallet(user: &str) -> GrantRequest {
    GrantRequest {
        user_id: UserId::new(user),
        namespace: "game".into(),
        reward: Reward::Wallet {
            currency: "GOLD".into(),
            amount: 10,
        },
        transaction_id: format!("{user}:goal:0"),
    }
}

#[tokio::test]
async fn the_token_is_cached_and_items_and_wallets_go_to_their_endpoints() {
    let (url, ags) = fake_ags().await;
    let rewards = client(&url);
    rewards.grant(&wallet("p1")).await.expect("wallet");
    let item = GrantRequest {
        reward: Reward::Item {
            item_id: "sword".into(),
            quantity: 1,
        },
        ..wallet("p1")
    };
    rewards.grant(&item).await.expect("item");
    assert_eq!(
        *ags.token_calls.lock().unwrap(),
        1,
        "one token for both grants"
    );
    let calls = ags.platform_calls.lock().unwrap().clone();
    assert_eq!(
        calls[0].0,
        "/platform/admin/namespaces/game/users/p1/wallets/GOLD/credit"
    );
    assert_eq!(
        calls[1].0,
        "/platform/admin/namespaces/game/users/p1/entitlements"
    );
    assert!(calls.iter().all(|(_, bearer)| bearer == "Bearer token-1"));
}

#[tokio::test]
async fn retries_on_503_but_not_on_400() {
    let (url, ags) = fake_ags().await;
    let rewards = client(&url);
    ags.platform_script.lock().unwrap().extend([503, 503]);
    rewards
        .grant(&wallet("p1"))
        .await
        .expect("third attempt succeeds");
    assert_eq!(ags.platform_calls.lock().unwrap().len(), 3);

    ags.platform_calls.lock().unwrap().clear();
    ags.platform_script.lock().unwrap().extend([400]);
    let err = rewards.grant(&wallet("p2")).await.expect_err("refused");
    assert!(matches!(err, GrantError::Rejected(_)), "{err:?}");
    assert_eq!(
        ags.platform_calls.lock().unwrap().len(),
        1,
        "a 400 is not retried"
    );

    ags.platform_calls.lock().unwrap().clear();
    ags.platform_script
        .lock()
        .unwrap()
        .extend([503, 503, 503, 503]);
    let err = rewards.grant(&wallet("p3")).await.expect_err("gives up");
    assert!(matches!(err, GrantError::Unavailable(_)), "{err:?}");
    assert_eq!(ags.platform_calls.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn a_401_renews_the_token_once() {
    let (url, ags) = fake_ags().await;
    let rewards = client(&url);
    rewards.grant(&wallet("p1")).await.expect("first");
    ags.platform_script.lock().unwrap().extend([401]);
    rewards.grant(&wallet("p1")).await.expect("renewed");
    assert_eq!(*ags.token_calls.lock().unwrap(), 2);
    let calls = ags.platform_calls.lock().unwrap().clone();
    assert_eq!(calls.last().map(|c| c.1.as_str()), Some("Bearer token-2"));
}

async fn context(db: &TestDatabase, rewards: Arc<dyn RewardClient>) -> service::usecases::Context {
    let store = store::open(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    let challenges =
        std::path::PathBuf::from(format!("{}/../challenges", env!("CARGO_MANIFEST_DIR")));
    service::usecases::Context {
        rules: Arc::new(engine::RuleSetHandle::load(vec![challenges]).unwrap()),
        store,
        rewards,
        namespace: "game".into(),
        clock: engine::Clock::system(),
    }
}

/// Completes `level-20` (achievements, auto) for `user` through the engine and the store.
async fn complete_level_20(ctx: &service::usecases::Context, user: &str) {
    let writer = store::Writer::start(ctx.store.clone(), store::WriterConfig::default());
    let event = engine::Event::new(engine::EventData {
        id: format!("{user}-level"),
        kind: engine::EventKind::Stat,
        user_id: UserId::new(user),
        namespace: "game".into(),
        timestamp: Utc::now(),
        stat_code: Some("player_level".into()),
        value: 20,
        inc: 20,
        additional: rhai::Map::new(),
    });
    writer.submit(ctx.rules.current(), event).await.unwrap();
    writer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_answers_502_and_the_goal_stays_claimable() {
    let (url, ags) = fake_ags().await;
    let db = TestDatabase::postgres().await.unwrap();
    let ctx = context(&db, Arc::new(client(&url))).await;
    complete_level_20(&ctx, "p1").await;
    let user = UserId::new("p1");
    ags.platform_script.lock().unwrap().extend([400]);
    let err = service::usecases::claim::claim(&ctx, &user, "achievements", "level-20", Utc::now())
        .await
        .expect_err("refused");
    assert_eq!(err.code, service::error::ErrorCode::RewardGrantFailed);
    let row = ctx
        .store
        .progress_for_user_goal(&user, &GoalId::new("level-20"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        row.state.status,
        engine::Status::Completed,
        "still claimable"
    );
    let claimed =
        service::usecases::claim::claim(&ctx, &user, "achievements", "level-20", Utc::now())
            .await
            .expect("second try");
    assert_eq!(claimed.status, "claimed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_intent_and_grant_is_finished_by_the_reconciler_once() {
    let (url, ags) = fake_ags().await;
    let db = TestDatabase::postgres().await.unwrap();
    let ctx = context(&db, Arc::new(client(&url))).await;
    complete_level_20(&ctx, "p1").await;
    let user = UserId::new("p1");
    let goal = GoalId::new("level-20");
    // The claim recorded its intent, then the process died before calling Platform.
    let record = r#"{"type":"WALLET","rewardId":"GEMS","quantity":50}"#;
    let started = ctx
        .store
        .begin_claim(
            &user,
            &goal,
            chrono::DateTime::UNIX_EPOCH,
            record,
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(started, store::ClaimStart::Started);
    // The player retries meanwhile: the claim in flight blocks a second grant.
    let err = service::usecases::claim::claim(&ctx, &user, "achievements", "level-20", Utc::now())
        .await
        .expect_err("in flight");
    assert_eq!(err.code, service::error::ErrorCode::AlreadyClaimed);

    let later = Utc::now() + chrono::TimeDelta::seconds(1);
    let report = service::usecases::claim::reconcile(&ctx, later, 10)
        .await
        .unwrap();
    assert_eq!(
        (report.granted, report.failed, report.still_pending),
        (1, 0, 0)
    );
    let again = service::usecases::claim::reconcile(&ctx, later, 10)
        .await
        .unwrap();
    assert_eq!(again, service::usecases::claim::Reconciled::default());
    let calls = ags.platform_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one grant only: {calls:?}");
    assert_eq!(
        calls[0].0,
        "/platform/admin/namespaces/game/users/p1/wallets/GEMS/credit"
    );
    let row = ctx
        .store
        .progress_for_user_goal(&user, &goal)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.state.status, engine::Status::Claimed);
}
