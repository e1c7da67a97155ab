//! A local HTTP server playing AGS for the reward tests: IAM (client-credentials tokens, the
//! JWKS of `tests/data/jwt/key1`) and Platform's grant endpoints. Platform APPLIES a grant and
//! only then answers, as late as the test says (or with the statuses it scripts), and records
//! every effect: a fulfillment once per transaction id (Platform's idempotency), every direct
//! entitlement grant or wallet credit (no idempotency key).

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

/// A grant Platform applied.
#[derive(Debug, Clone)]
pub struct Effect {
    pub method: String,
    pub path: String,
    pub user: String,
    pub body: Value,
}

#[derive(Default)]
struct Ags {
    effects: Mutex<Vec<Effect>>,
    fulfilled: Mutex<HashSet<String>>,
    requests: AtomicUsize,
    tokens: AtomicUsize,
    /// Statuses for the next grant requests (a non-2xx one applies nothing).
    script: Mutex<VecDeque<u16>>,
    /// After applying, wait this long before answering.
    delay: Mutex<Duration>,
    bearers: Mutex<Vec<String>>,
}

pub struct FakeAgs {
    pub url: String,
    ags: Arc<Ags>,
}

impl FakeAgs {
    pub async fn start() -> Self {
        let ags = Arc::new(Ags::default());
        let app = Router::new()
            .route("/iam/v3/oauth/token", post(token))
            .route("/iam/v3/oauth/jwks", get(jwks))
            .route(
                "/platform/v3/admin/namespaces/{ns}/users/{user}/fulfillments/{txid}",
                put(fulfil),
            )
            .route(
                "/platform/admin/namespaces/{ns}/users/{user}/entitlements",
                post(direct),
            )
            .route(
                "/platform/admin/namespaces/{ns}/users/{user}/wallets/{currency}/credit",
                put(direct),
            )
            .with_state(ags.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, ags }
    }

    /// Grants applied so far.
    pub fn effects(&self) -> Vec<Effect> {
        self.ags.effects.lock().unwrap().clone()
    }

    /// Grant requests received (applied or not).
    pub fn requests(&self) -> usize {
        self.ags.requests.load(Ordering::SeqCst)
    }

    pub fn tokens(&self) -> usize {
        self.ags.tokens.load(Ordering::SeqCst)
    }

    pub fn bearers(&self) -> Vec<String> {
        self.ags.bearers.lock().unwrap().clone()
    }

    /// Answers every grant `delay` after applying it.
    pub fn answer_after(&self, delay: Duration) {
        *self.ags.delay.lock().unwrap() = delay;
    }

    /// The next grant requests answer these statuses (applying only on 2xx).
    pub fn script(&self, statuses: impl IntoIterator<Item = u16>) {
        self.ags.script.lock().unwrap().extend(statuses);
    }

    /// Waits (bounded) until `count` effects were applied.
    pub async fn wait_for_effects(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.effects().len() < count {
            assert!(Instant::now() < deadline, "no grant reached Platform");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn token(State(ags): State<Arc<Ags>>, headers: HeaderMap) -> (StatusCode, axum::Json<Value>) {
    let n = ags.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(
        headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap().starts_with("Basic ")),
        "client credentials use basic auth"
    );
    (
        StatusCode::OK,
        axum::Json(json!({"access_token": format!("token-{n}"), "expires_in": 3600})),
    )
}

async fn jwks() -> axum::Json<Value> {
    let key: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/data/jwt/key1.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    axum::Json(json!({"keys": [key]}))
}

async fn fulfil(
    State(ags): State<Arc<Ags>>,
    Path((_ns, user, txid)): Path<(String, String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    grant(ags, user, method, uri, headers, body, Some(txid)).await
}

async fn direct(
    State(ags): State<Arc<Ags>>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    let user = params
        .iter()
        .find(|(name, _)| name == "user")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    grant(ags, user, method, uri, headers, body, None).await
}

async fn grant(
    ags: Arc<Ags>,
    user: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
    transaction_id: Option<String>,
) -> (StatusCode, axum::Json<Value>) {
    ags.requests.fetch_add(1, Ordering::SeqCst);
    ags.bearers.lock().unwrap().push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
    );
    let status = ags.script.lock().unwrap().pop_front().unwrap_or(200);
    if status == 401 {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
    }
    // A fulfillment applies once per transaction id; a direct call every time.
    let applies = (200..300).contains(&status)
        && transaction_id.is_none_or(|txid| ags.fulfilled.lock().unwrap().insert(txid));
    if applies {
        ags.effects.lock().unwrap().push(Effect {
            method: method.to_string(),
            path: uri.path().to_string(),
            user,
            body: serde_json::from_str(&body).unwrap_or(Value::Null),
        });
    }
    let delay = *ags.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).unwrap(),
        axum::Json(json!({"state": "FULFILLED"})),
    )
}
