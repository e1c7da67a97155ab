//! Support staff act with their own IAM user token, whose permissions come from its roles
//! (`roles`, `namespace_roles`), not from a `permissions` claim. The service resolves them from
//! IAM's role API (`GET /iam/v3/admin/roles/{roleId}`, with its own client token), cached, as
//! AccelByte's SDK validators do. A local IAM plays the role API, counting its calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::jwt::{claims, fixture, token};

#[derive(Default)]
struct Iam {
    role_calls: AtomicUsize,
    /// Answer 500 to the role API (IAM in trouble).
    failing: std::sync::atomic::AtomicBool,
}

/// The role API: `support` may read and update the challenge data of its namespace (the
/// resource written with IAM's `{namespace}` placeholder), `viewer` may only read it, `player`
/// has nothing of ours. Anything else is 404. Calls without the client's bearer token are 401.
async fn role(
    State(iam): State<Arc<Iam>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> (StatusCode, axum::Json<Value>) {
    iam.role_calls.fetch_add(1, Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer client-token") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errorCode": 20001})),
        );
    }
    if iam.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({})));
    }
    let permissions = match id.as_str() {
        "support" => json!([{"resource": "ADMIN:NAMESPACE:{namespace}:CHALLENGE", "action": 6}]),
        "viewer" => json!([{"resource": "ADMIN:NAMESPACE:{namespace}:CHALLENGE", "action": 2}]),
        "player" => {
            json!([{"resource": "NAMESPACE:{namespace}:USER:{userId}:PROFILE", "action": 15}])
        }
        _ => {
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"errorCode": 10456})),
            );
        }
    };
    (
        StatusCode::OK,
        axum::Json(
            json!({"roleId": id, "roleName": id, "adminRole": false, "isWildcard": false, "permissions": permissions}),
        ),
    )
}

async fn local_iam(iam: Arc<Iam>) -> String {
    let jwk =
        |name: &str| serde_json::from_str::<Value>(&fixture(&format!("{name}.jwk.json"))).unwrap();
    let keys = json!({"keys": [jwk("key1")]});
    let app = Router::new()
        .route(
            "/iam/v3/oauth/jwks",
            get(move || async move { axum::Json(keys) }),
        )
        .route(
            "/iam/v3/oauth/token",
            post(|| async {
                axum::Json(json!({"access_token": "client-token", "expires_in": 3600}))
            }),
        )
        .route("/iam/v3/admin/roles/{id}", get(role))
        .with_state(iam);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_tokens_roles_grant_the_server_endpoints() {
    let iam = Arc::new(Iam::default());
    let iam_url = local_iam(iam.clone()).await;
    let db = TestDatabase::sqlite().expect("SQLite");
    let served = crate::support::serve(
        crate::support::with_auth(&db.url, &iam_url, &[]),
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    let client = reqwest::Client::new();
    let read = |bearer: String| {
        let request = client
            .get(format!("{}/v1/admin/players/p1/challenges", served.base))
            .bearer_auth(bearer)
            .send();
        async move {
            let response = request.await.expect("request");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let user = |sub: &str, roles: Value, namespace_roles: Value| {
        let mut claims = claims(sub, "game", 600);
        claims["roles"] = roles;
        claims["namespace_roles"] = namespace_roles;
        token("key1", "key1", claims)
    };

    // A support agent's global role, and one given in this namespace only.
    let (status, body) = read(user("agent-1", json!(["support"]), json!([]))).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a role with the permission lets in: {body}"
    );
    assert_eq!(body["userId"], "p1");
    let (status, body) = read(user(
        "agent-2",
        json!([]),
        json!([{"roleId": "viewer", "namespace": "game"}]),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "a namespace role too: {body}");

    // Refused: roles without it, a role for another namespace, a role IAM does not know.
    for (who, roles, namespace_roles) in [
        ("player-1", json!(["player"]), json!([])),
        (
            "agent-3",
            json!([]),
            json!([{"roleId": "support", "namespace": "other-game"}]),
        ),
        ("agent-4", json!(["ghost"]), json!([])),
        ("agent-5", json!([]), json!([])),
    ] {
        let (status, body) = read(user(who, roles, namespace_roles)).await;
        assert_eq!(
            (status, body["errorCode"].clone()),
            (StatusCode::FORBIDDEN, json!("FORBIDDEN")),
            "{who}: {body}"
        );
    }

    // Cached: asking again does not call IAM again, and survives IAM failing.
    let calls = iam.role_calls.load(Ordering::SeqCst);
    iam.failing.store(true, Ordering::SeqCst);
    let (status, _) = read(user("agent-1", json!(["support"]), json!([]))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        iam.role_calls.load(Ordering::SeqCst),
        calls,
        "the role came from the cache"
    );
    // A role never seen while IAM fails cannot be checked: 503, not a refusal.
    let (status, body) = read(user("agent-6", json!(["viewer-2"]), json!([]))).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("AUTH_UNAVAILABLE")),
        "{body}"
    );
    let _ = served.stop.send(());
}
