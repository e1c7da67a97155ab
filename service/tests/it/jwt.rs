//! AGS IAM JWT verification with locally generated RSA keys, served as the IAM JWKS by a local
//! HTTP server: valid, expired, wrong namespace, bad signature, missing, unknown kid then
//! rotated keys, and the permission of the server endpoints.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::testing::TestDatabase;

pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/data/jwt/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

pub(crate) fn token(key: &str, kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let pem = fixture(&format!("{key}.pem"));
    encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pem"),
    )
    .expect("sign")
}

/// The issuer the tests' IAM signs as (the services under test get `--iam-issuer` with it).
pub(crate) const ISSUER: &str = "https://iam.test.example";

pub(crate) fn claims(sub: &str, namespace: &str, expires_in: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": sub, "namespace": namespace, "exp": now + expires_in, "iat": now, "iss": ISSUER})
}

/// The settings every auth-on service of the tests gets: the tests' issuer and an IAM client.
pub(crate) const IAM_SETTINGS: [&str; 6] = [
    "--iam-issuer",
    ISSUER,
    "--ab-client-id",
    "challenge-service",
    "--ab-client-secret",
    "s3cret",
];

/// A local IAM serving the keys in `keys` at /iam/v3/oauth/jwks, counting the fetches.
async fn iam(keys: Arc<Mutex<Vec<Value>>>, fetches: Arc<AtomicUsize>) -> String {
    let app = Router::new().route(
        "/iam/v3/oauth/jwks",
        get(move || {
            let keys = keys.clone();
            fetches.fetch_add(1, Ordering::SeqCst);
            async move { axum::Json(json!({"keys": keys.lock().unwrap().clone()})) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_verified_against_the_iam_keys() {
    let jwk =
        |name: &str| serde_json::from_str::<Value>(&fixture(&format!("{name}.jwk.json"))).unwrap();
    let keys = Arc::new(Mutex::new(vec![jwk("key1")]));
    let fetches = Arc::new(AtomicUsize::new(0));
    let iam_url = iam(keys.clone(), fetches.clone()).await;
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let challenges = format!("{}/../challenges", env!("CARGO_MANIFEST_DIR"));
    let config = service::config::ServeConfig::try_parse_from(
        [
            "service",
            "--database-url",
            &db.url,
            "--challenges",
            &challenges,
            "--migrate",
            "--namespace",
            "game",
            "--auth-enabled",
            "true",
            "--ab-base-url",
            &iam_url,
            "--reward-mode",
            "mock",
        ]
        .into_iter()
        .chain(IAM_SETTINGS),
    )
    .expect("config");
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/challenge", http.local_addr().unwrap());
    tokio::spawn(service::app::run(
        config,
        service::app::Listeners {
            http,
            metrics,
            grpc: None,
        },
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let call = |method: reqwest::Method, path: &str, bearer: Option<String>| {
        let mut request = client.request(method, format!("{base}{path}"));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    // Valid: the user is the token's subject.
    let (status, body) = call(
        reqwest::Method::DELETE,
        "/v1/users/me/data",
        Some(token("key1", "key1", claims("player-7", "game", 600))),
    )
    .await;
    assert_eq!(
        (status, body["userId"].clone()),
        (StatusCode::OK, json!("player-7")),
        "{body}"
    );

    for (name, bearer) in [
        ("missing", None),
        (
            "expired",
            Some(token("key1", "key1", claims("p", "game", -600))),
        ),
        (
            "wrong namespace",
            Some(token("key1", "key1", claims("p", "other-game", 600))),
        ),
        (
            "bad signature",
            Some(token("other", "key1", claims("p", "game", 600))),
        ),
        ("garbage", Some("not.a.jwt".to_string())),
    ] {
        let (status, body) = call(reqwest::Method::GET, "/v1/challenges", bearer).await;
        assert_eq!(
            (status, body["errorCode"].clone(), body["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED"), json!(16)),
            "{name}: {body}"
        );
    }

    // IAM rotates its keys: a token signed with the new key triggers a refresh and passes.
    // Unknown key ids refresh at most once a second, so the player retries until one does;
    // however often they retry, IAM is asked once.
    *keys.lock().unwrap() = vec![jwk("key2")];
    let fetched_before = fetches.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = call(
            reqwest::Method::GET,
            "/v1/challenges",
            Some(token("key2", "key2", claims("player-8", "game", 600))),
        )
        .await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        fetched_before + 1,
        "the rotated key was fetched once, not once per attempt"
    );

    // A burst of tokens with a key IAM does not have: refused, without a refresh storm.
    let fetched_before = fetches.load(Ordering::SeqCst);
    let burst_started = Instant::now();
    for _ in 0..10 {
        let (status, body) = call(
            reqwest::Method::GET,
            "/v1/challenges",
            Some(token("key2", "key3", claims("player-9", "game", 600))),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    // At most one refresh per second of the burst (plus the one it may start with).
    let allowed = 1 + burst_started.elapsed().as_secs() as usize;
    assert!(
        fetches.load(Ordering::SeqCst) <= fetched_before + allowed,
        "unknown keys refresh at most once per interval ({} fetches)",
        fetches.load(Ordering::SeqCst) - fetched_before
    );

    // Server endpoints need the challenge admin permission.
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/rules",
        Some(token("key2", "key2", claims("player-8", "game", 600))),
    )
    .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::FORBIDDEN, json!("FORBIDDEN"))
    );
    let mut admin = claims("game-server", "game", 600);
    admin["permissions"] = json!([{"Resource": "ADMIN:NAMESPACE:game:CHALLENGE", "Action": 15}]);
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/rules",
        Some(token("key2", "key2", admin)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["contentHash"].as_str().is_some_and(|h| h.len() == 64));

    // A game server's client-credentials token has no `sub`; its permission's action decides.
    let game_server = |action: i64| {
        let mut claims = claims("unused", "game", 600);
        claims.as_object_mut().unwrap().remove("sub");
        claims["permissions"] =
            json!([{"Resource": "ADMIN:NAMESPACE:game:CHALLENGE", "Action": action}]);
        token("key2", "key2", claims)
    };
    const CREATE: i64 = 1;
    const READ: i64 = 2;
    let (status, body) = call(reqwest::Method::GET, "/v1/rules", Some(game_server(READ))).await;
    assert_eq!(status, StatusCode::OK, "READ reads the rules: {body}");
    let send_event = |bearer: String| {
        client
            .post(format!("{base}/v1/events"))
            .bearer_auth(bearer)
            .json(&json!({"kind": "stat", "id": "cc-1", "userId": "player-8", "statCode": "player_level", "latestValue": 3, "inc": 3}))
            .send()
    };
    let denied = send_event(game_server(READ)).await.expect("request");
    assert_eq!(
        denied.status(),
        StatusCode::FORBIDDEN,
        "READ cannot send events"
    );
    let sent = send_event(game_server(CREATE)).await.expect("request");
    assert_eq!(sent.status(), StatusCode::OK, "CREATE sends events");

    // The designer console: its page is public, what it calls needs the same permission.
    let page = client
        .get(format!("{base}/console/"))
        .send()
        .await
        .expect("console page");
    assert_eq!(page.status(), StatusCode::OK);
    let player = || token("key2", "key2", claims("player-8", "game", 600));
    for (method, path) in [
        (reqwest::Method::GET, "/v1/admin/rules/overview"),
        (reqwest::Method::POST, "/v1/admin/rules/lint"),
        (reqwest::Method::POST, "/v1/admin/rules/simulate"),
        (reqwest::Method::POST, "/v1/admin/rules/replay"),
        (
            reqwest::Method::GET,
            "/v1/admin/players/player-8/challenges/achievements/goals/level-20/explain",
        ),
        (
            reqwest::Method::GET,
            "/v1/admin/players/player-8/challenges",
        ),
        (reqwest::Method::GET, "/v1/admin/players/player-8/timeline"),
    ] {
        let (status, body) = call(method.clone(), path, Some(player())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        let anonymous = client
            .request(method, format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/admin/rules/overview",
        Some(game_server(READ)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "READ reads the overview: {body}");
    let linted = client
        .post(format!("{base}/v1/admin/rules/lint"))
        .bearer_auth(game_server(CREATE))
        .json(&json!({"rules": "version: 1\nchallenges: []\n"}))
        .send()
        .await
        .expect("lint");
    assert_eq!(linted.status(), StatusCode::OK, "CREATE lints");
    // A support action changes a player's data: UPDATE, not CREATE.
    let support = |action: i64| {
        client
            .post(format!(
                "{base}/v1/admin/players/player-8/challenges/achievements/goals/level-20/progress"
            ))
            .bearer_auth(game_server(action))
            .json(&json!({"action": "set", "progress": 3, "reason": "ticket 9"}))
            .send()
    };
    let refused = support(CREATE).await.expect("request");
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "CREATE cannot act for support"
    );
    let done = support(4).await.expect("request");
    assert_eq!(done.status(), StatusCode::OK, "UPDATE can");
    let (status, body) = call(
        reqwest::Method::GET,
        "/v1/challenges",
        Some(game_server(15)),
    )
    .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED")),
        "a token without a player cannot act as one"
    );
}

/// IAM going away does not lock players out: known keys keep verifying while the refresh
/// backs off in the background; only a key never seen cannot be checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iam_outage_keeps_the_cached_keys_and_backs_off() {
    use service::auth::jwt::{JwtVerifier, TokenError};
    let key1 = serde_json::from_str::<Value>(&fixture("key1.jwk.json")).unwrap();
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fetches = Arc::new(AtomicUsize::new(0));
    let iam_url = flaky_iam(key1, failing.clone(), fetches.clone()).await;
    // Keys are stale at once: every verification wants a refresh.
    let verifier = JwtVerifier::with_keys_ttl(&iam_url, "game", Duration::ZERO).unwrap();
    let mut player = claims("player-1", "game", 600);
    player["iss"] = json!(iam_url);
    let player = token("key1", "key1", player);
    verifier.verify(&player).await.expect("IAM up");
    assert_eq!(fetches.load(Ordering::SeqCst), 1);

    // IAM fails: the cached key still verifies, and the refreshes back off.
    failing.store(true, Ordering::SeqCst);
    let outage_started = Instant::now();
    // Players keep arriving until the refresh has failed twice (the deadline guards a hang).
    let mut verified = 0;
    while fetches.load(Ordering::SeqCst) < 3 {
        assert!(
            outage_started.elapsed() < Duration::from_secs(30),
            "no refresh was tried"
        );
        verifier
            .verify(&player)
            .await
            .expect("a known key verifies while IAM is down");
        verified += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Refreshes back off (1 s, doubling) instead of following every request.
    let tries = fetches.load(Ordering::SeqCst) - 1;
    assert!(
        tries <= 2 + outage_started.elapsed().as_secs() as usize && verified > tries * 10,
        "{tries} refreshes for {verified} verifications in {:?}",
        outage_started.elapsed()
    );
    let unknown = token("key2", "key2", claims("player-2", "game", 600));
    let err = verifier
        .verify(&unknown)
        .await
        .expect_err("a new key cannot be checked");
    assert!(
        matches!(err, TokenError::Unavailable(_) | TokenError::UnknownKey(_)),
        "{err:?}"
    );
}

/// A local IAM serving `key` at /iam/v3/oauth/jwks, or answering 500 while `failing`.
async fn flaky_iam(
    key: Value,
    failing: Arc<std::sync::atomic::AtomicBool>,
    fetches: Arc<AtomicUsize>,
) -> String {
    let app = Router::new().route(
        "/iam/v3/oauth/jwks",
        get(move || {
            fetches.fetch_add(1, Ordering::SeqCst);
            let answer = if failing.load(Ordering::SeqCst) {
                (StatusCode::INTERNAL_SERVER_ERROR, json!({}))
            } else {
                (StatusCode::OK, json!({"keys": [key.clone()]}))
            };
            async move { (answer.0, axum::Json(answer.1)) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// When IAM's keys cannot be fetched, a token cannot be checked: that is the service being
/// unavailable (503, retry later), not the player being unauthorized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_iam_answers_503_not_401() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let db = TestDatabase::sqlite().expect("SQLite");
    let challenges = format!("{}/../challenges", env!("CARGO_MANIFEST_DIR"));
    let config = service::config::ServeConfig::try_parse_from(
        [
            "service",
            "--database-url",
            &db.url,
            "--challenges",
            &challenges,
            "--namespace",
            "game",
            "--auth-enabled",
            "true",
            "--ab-base-url",
            &format!("http://127.0.0.1:{closed}"),
            "--reward-mode",
            "mock",
        ]
        .into_iter()
        .chain(IAM_SETTINGS),
    )
    .expect("config");
    let served = crate::support::serve(
        config,
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    let base = served.base;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}/v1/challenges"))
        .bearer_auth(token("key1", "key1", claims("player-1", "game", 600)))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("AUTH_UNAVAILABLE")),
        "{body}"
    );
}
