//! Tokens IAM would not honour are refused (401): `alg: none`, HS256 signed with the public
//! key, a foreign issuer, `nbf` in the future, a wrong namespace, a token IAM revoked, and a
//! player IAM revoked after the token was issued. The revocation list comes from a local IAM
//! that builds it as AccelByte's does, is read again periodically, and is kept when IAM fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::fake_ags::FakeAgs;
use crate::jwt::{claims, token};

fn b64(data: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

struct Api {
    base: String,
    metrics: String,
    client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
    _db: TestDatabase,
}

impl Api {
    async fn list(&self, bearer: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .get(format!("{}/v1/challenges", self.base))
            .bearer_auth(bearer)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(&self.metrics)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse().ok())
    }

    /// Waits (bounded) until `bearer` gets `status`.
    async fn wait_for(&self, bearer: &str, status: StatusCode) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (got, body) = self.list(bearer).await;
            if got == status {
                return;
            }
            assert!(Instant::now() < deadline, "still {got}: {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn start(ags: &FakeAgs) -> Api {
    let db = TestDatabase::sqlite().expect("SQLite");
    let config = crate::support::with_auth(
        &db.url,
        &ags.url,
        &["--iam-revocation-refresh-seconds", "1"],
    );
    let served = crate::support::serve(
        config,
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    Api {
        base: served.base,
        metrics: format!("http://127.0.0.1:{}/metrics", served.metrics_port),
        client: reqwest::Client::new(),
        _stop: served.stop,
        _db: db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_iam_would_not_honour_are_refused() {
    let ags = FakeAgs::start().await;
    let api = start(&ags).await;
    let good = token("key1", "key1", claims("player-1", "game", 600));
    let (status, body) = api.list(&good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.metric("challenge_iam_revocation_list_stale ").await,
        Some(0.0),
        "the list was read at start"
    );

    let now = chrono::Utc::now().timestamp();
    let payload = b64(claims("player-1", "game", 600).to_string().as_bytes());
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let jwk = crate::jwt::fixture("key1.jwk.json");
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("key1".into());
    let hs256 = encode(
        &hs256,
        &claims("player-1", "game", 600),
        &EncodingKey::from_secret(jwk.as_bytes()).unwrap(),
    )
    .unwrap();
    let mut foreign = claims("player-1", "game", 600);
    foreign["iss"] = json!("https://evil.example");
    let mut unissued = claims("player-1", "game", 600);
    unissued.as_object_mut().unwrap().remove("iss");
    let mut early = claims("player-1", "game", 600);
    early["nbf"] = json!(4_102_444_800_i64); // 2100-01-01
    let cases = [
        ("alg none", none),
        ("HS256 with the public key", hs256),
        ("foreign issuer", token("key1", "key1", foreign)),
        ("no issuer", token("key1", "key1", unissued)),
        ("nbf in 2100", token("key1", "key1", early)),
        (
            "wrong namespace",
            token("key1", "key1", claims("player-1", "other", 600)),
        ),
    ];
    for (name, bearer) in &cases {
        let (status, body) = api.list(bearer).await;
        assert_eq!(
            (status, body["errorCode"].clone()),
            (StatusCode::UNAUTHORIZED, json!("UNAUTHORIZED")),
            "{name}: {body}"
        );
    }

    // IAM revokes one token, and bans a player: both are refused once the list is read again.
    let revoked = token("key1", "key1", claims("player-2", "game", 599));
    let banned_before = token("key1", "key1", claims("player-3", "game", 600));
    assert_eq!(api.list(&revoked).await.0, StatusCode::OK);
    assert_eq!(api.list(&banned_before).await.0, StatusCode::OK);
    // The ban is recorded after the token was issued (a minute on, whatever second it is now).
    ags.revoke(&[&revoked], &[("player-3", now + 60)]);
    api.wait_for(&revoked, StatusCode::UNAUTHORIZED).await;
    api.wait_for(&banned_before, StatusCode::UNAUTHORIZED).await;
    let (_, body) = api.list(&banned_before).await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("revoked")),
        "{body}"
    );
    assert_eq!(api.list(&good).await.0, StatusCode::OK, "others still pass");
    // A token the banned player gets after the ban passes.
    let mut after = claims("player-3", "game", 600);
    after["iat"] = json!(now + 120);
    assert_eq!(
        api.list(&token("key1", "key1", after)).await.0,
        StatusCode::OK
    );

    // IAM fails: the last list stays in use, and the metric says it is stale.
    ags.iam_down(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.metric("challenge_iam_revocation_list_stale ").await != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "the failed read was never reported"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(api.list(&revoked).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.list(&good).await.0, StatusCode::OK);
    assert!(
        api.metric("challenge_iam_revocation_list_last_success_timestamp_seconds ")
            .await
            .is_some_and(|at| at >= now as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_needs_the_services_iam_client() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let config = service::config::ServeConfig::try_parse_from([
        "service",
        "--database-url",
        &db.url,
        "--namespace",
        "game",
        "--auth-enabled",
        "true",
        "--ab-base-url",
        "http://127.0.0.1:9",
        "--reward-mode",
        "mock",
    ])
    .expect("config");
    let listeners = service::app::Listeners {
        http: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        metrics: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        grpc: None,
    };
    let err = service::app::run(config, listeners, std::future::pending())
        .await
        .expect_err("no IAM client");
    let message = format!("{err:#}");
    assert!(
        message.contains("AB_CLIENT_ID") && message.contains("revocation list"),
        "{message}"
    );
}
