//! A local HTTP server playing AGS for the reward tests: IAM (client-credentials tokens, the
//! JWKS of `tests/data/jwt/key1`) and Platform's grant endpoints. Platform APPLIES a grant and
//! only then answers, as late as the test says (or with the statuses it scripts), and records
//! every effect: a fulfillment once per transaction id (Platform's idempotency), every direct
//! entitlement grant or wallet credit (no idempotency key).
//!
//! Fulfillments behave as AGS documents them: the answer is a `FulfillmentV2Result` whose
//! `state` comes late in a long body; a fulfillment can fail (`FULFILL_FAILED`, stored under
//! its transaction id); the same id again answers what Platform holds, 409 while it is failed,
//! and 400 `38128` with other items; `…/retry` fulfils a failed one with its first payload.

use std::collections::{HashMap, VecDeque};
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
    /// Transaction id → (the items first sent, whether it is fulfilled).
    fulfillments: Mutex<HashMap<String, (Value, bool)>>,
    /// The next this many fulfillment attempts (first or retry) fail on Platform's side.
    failing: AtomicUsize,
    /// The next this many 2xx answers carry a body that is not JSON.
    garbled: AtomicUsize,
    /// IAM's revocation list, as it answers it.
    revocations: Mutex<Value>,
    /// The revocation list answers 500 while set.
    iam_down: std::sync::atomic::AtomicBool,
    requests: AtomicUsize,
    tokens: AtomicUsize,
    /// Statuses for the next grant requests (a non-2xx one applies nothing).
    script: Mutex<VecDeque<u16>>,
    /// After applying, wait this long before answering.
    delay: Mutex<Duration>,
    /// The grant requests before this one (counted from the start) answer at once.
    late_from: AtomicUsize,
    bearers: Mutex<Vec<String>>,
    /// Lobby's free-form notifications: (user, body, bearer).
    notified: Mutex<Vec<(String, Value, String)>>,
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
            .route("/iam/v3/oauth/revocationlist", get(revocation_list))
            .route(
                "/platform/v3/admin/namespaces/{ns}/users/{user}/fulfillments/{txid}",
                put(fulfil),
            )
            .route(
                "/platform/v3/admin/namespaces/{ns}/users/{user}/fulfillments/{txid}/retry",
                put(retry),
            )
            .route(
                "/platform/admin/namespaces/{ns}/users/{user}/entitlements",
                post(direct),
            )
            .route(
                "/platform/admin/namespaces/{ns}/users/{user}/wallets/{currency}/credit",
                put(direct),
            )
            .route(
                "/lobby/v1/admin/notification/namespaces/{ns}/users/{user}/freeform/notify",
                post(notify),
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

    /// Lobby's free-form notifications so far: (user, body, bearer).
    pub fn notified(&self) -> Vec<(String, Value, String)> {
        self.ags.notified.lock().unwrap().clone()
    }

    pub fn bearers(&self) -> Vec<String> {
        self.ags.bearers.lock().unwrap().clone()
    }

    /// Answers every grant `delay` after applying it.
    pub fn answer_after(&self, delay: Duration) {
        self.ags.late_from.store(0, Ordering::SeqCst);
        *self.ags.delay.lock().unwrap() = delay;
    }

    /// Answers the next `prompt` grant requests at once, and every later one `delay` after
    /// applying it.
    pub fn answer_late_after(&self, prompt: usize, delay: Duration) {
        self.ags
            .late_from
            .store(self.requests() + prompt, Ordering::SeqCst);
        *self.ags.delay.lock().unwrap() = delay;
    }

    /// The next grant requests answer these statuses (applying only on 2xx).
    pub fn script(&self, statuses: impl IntoIterator<Item = u16>) {
        self.ags.script.lock().unwrap().extend(statuses);
    }

    /// IAM revokes these tokens and these users (at these Unix times), building its list as
    /// AccelByte's IAM and SDKs do: a bloom filter of 64-bit words whose `k` indexes come
    /// from MurmurHash3 x64 128 of the token (seed 0).
    pub fn revoke(&self, tokens: &[&str], users: &[(&str, i64)]) {
        const WORDS: usize = 32;
        const K: u64 = 5;
        let m = (WORDS * 64) as u64;
        let mut bits = vec![0_u64; WORDS];
        for token in tokens {
            let hash =
                murmur3::murmur3_x64_128(&mut std::io::Cursor::new(token.as_bytes()), 0).unwrap();
            let (h1, h2) = (hash as u64 as i64, (hash >> 64) as u64 as i64);
            let mut combined = h1;
            for _ in 0..K {
                let index = ((combined & i64::MAX) as u64) % m;
                bits[(index / 64) as usize] |= 1 << (index % 64);
                combined = combined.wrapping_add(h2);
            }
        }
        let users: Vec<Value> = users
            .iter()
            .map(|(id, at)| {
                let at = chrono::DateTime::from_timestamp(*at, 0).unwrap();
                json!({"id": id, "revoked_at": at.to_rfc3339()})
            })
            .collect();
        *self.ags.revocations.lock().unwrap() = json!({
            "revoked_tokens": {"m": m, "k": K, "bits": bits},
            "revoked_users": users,
        });
    }

    /// IAM's revocation list answers 500 (`true`) or the list (`false`).
    pub fn iam_down(&self, down: bool) {
        self.ags.iam_down.store(down, Ordering::SeqCst);
    }

    /// Forgets the scripted statuses not used yet (Platform is back).
    pub fn recover(&self) {
        self.ags.script.lock().unwrap().clear();
    }

    /// The next `count` fulfillment attempts fail on Platform's side (`FULFILL_FAILED`).
    pub fn fail_fulfillments(&self, count: usize) {
        self.ags.failing.store(count, Ordering::SeqCst);
    }

    /// The next `count` successful answers carry a body that is not JSON.
    pub fn garble_answers(&self, count: usize) {
        self.ags.garbled.store(count, Ordering::SeqCst);
    }

    /// Grant requests that reached the retry endpoint.
    pub fn retries(&self) -> usize {
        self.ags
            .bearers
            .lock()
            .unwrap()
            .iter()
            .filter(|b| *b == "retry")
            .count()
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

/// Lobby takes a free-form notification for a player: 204, as AGS answers.
async fn notify(
    State(ags): State<Arc<Ags>>,
    Path((_ns, user)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> StatusCode {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    ags.notified.lock().unwrap().push((user, body, bearer));
    StatusCode::NO_CONTENT
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

async fn revocation_list(
    State(ags): State<Arc<Ags>>,
    headers: HeaderMap,
) -> (StatusCode, axum::Json<Value>) {
    if ags.iam_down.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({})));
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // IAM answers it to a client by Basic authentication (AGS: `BASIC_AUTH`).
    if !bearer.starts_with("Basic ") {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
    }
    let list = ags.revocations.lock().unwrap().clone();
    let list = if list.is_null() {
        json!({"revoked_tokens": {"m": 64, "k": 1, "bits": [0]}, "revoked_users": []})
    } else {
        list
    };
    (StatusCode::OK, axum::Json(list))
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
) -> (StatusCode, String) {
    grant(ags, user, method, uri, headers, body, Some(txid)).await
}

async fn direct(
    State(ags): State<Arc<Ags>>,
    Path(params): Path<Vec<(String, String)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let user = params
        .iter()
        .find(|(name, _)| name == "user")
        .map(|(_, value)| value.clone())
        .unwrap_or_default();
    grant(ags, user, method, uri, headers, body, None).await
}

/// Takes one from a countdown, if any is left.
fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// A `FulfillmentV2Result` as Platform answers it: long, with `state` well past its start.
fn fulfillment_result(user: &str, txid: &str, items: &Value, state: &str) -> Value {
    json!({
        "id": format!("f-{txid}"),
        "namespace": "game",
        "userId": user,
        "transactionId": txid,
        "items": items,
        "entitlementSummaries": (0..4).map(|n| json!({
            "id": format!("entitlement-{n}-{}", "0".repeat(32)),
            "itemId": items[0]["itemId"],
            "stackable": true,
            "clazz": "ENTITLEMENT",
            "type": "DURABLE",
        })).collect::<Vec<_>>(),
        "creditSummaries": [],
        "state": state,
    })
}

async fn retry(
    State(ags): State<Arc<Ags>>,
    Path((_ns, user, txid)): Path<(String, String, String)>,
    uri: Uri,
) -> (StatusCode, String) {
    ags.requests.fetch_add(1, Ordering::SeqCst);
    ags.bearers.lock().unwrap().push("retry".into());
    let held = ags.fulfillments.lock().unwrap().get(&txid).cloned();
    let Some((items, fulfilled)) = held else {
        let error = json!({"errorCode": 38145, "errorMessage": format!("Fulfillment with transactionId [{txid}] does not exist")});
        return (StatusCode::NOT_FOUND, error.to_string());
    };
    let fulfilled = fulfilled || {
        let applied = !take(&ags.failing);
        if applied {
            ags.fulfillments
                .lock()
                .unwrap()
                .insert(txid.clone(), (items.clone(), true));
            ags.effects.lock().unwrap().push(Effect {
                method: "PUT".into(),
                path: uri.path().trim_end_matches("/retry").to_string(),
                user: user.clone(),
                body: json!({"items": items}),
            });
        }
        applied
    };
    let state = if fulfilled {
        "FULFILLED"
    } else {
        "FULFILL_FAILED"
    };
    answer(
        &ags,
        StatusCode::OK,
        fulfillment_result(&user, &txid, &items, state),
    )
}

async fn grant(
    ags: Arc<Ags>,
    user: String,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
    transaction_id: Option<String>,
) -> (StatusCode, String) {
    let number = ags.requests.fetch_add(1, Ordering::SeqCst);
    ags.bearers.lock().unwrap().push(
        headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default(),
    );
    let status = ags.script.lock().unwrap().pop_front().unwrap_or(200);
    if status == 401 {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let effect = Effect {
        method: method.to_string(),
        path: uri.path().to_string(),
        user: user.clone(),
        body: body.clone(),
    };
    let delay = if number < ags.late_from.load(Ordering::SeqCst) {
        Duration::ZERO
    } else {
        *ags.delay.lock().unwrap()
    };
    let Some(txid) = transaction_id else {
        // A direct call applies every time.
        if (200..300).contains(&status) {
            ags.effects.lock().unwrap().push(effect);
        }
        tokio::time::sleep(delay).await;
        return answer(
            &ags,
            StatusCode::from_u16(status).unwrap(),
            json!({"ok": true}),
        );
    };
    if !(200..300).contains(&status) {
        tokio::time::sleep(delay).await;
        return (StatusCode::from_u16(status).unwrap(), "{}".into());
    }
    // A fulfillment: once per transaction id, and what Platform holds under it answers.
    let items = body["items"].clone();
    let held = ags.fulfillments.lock().unwrap().get(&txid).cloned();
    let result = match held {
        Some((first, _)) if first != items => {
            let error = json!({"errorCode": 38128, "errorMessage": "Cannot retry fulfillment with different payload. Please check the items list."});
            (StatusCode::BAD_REQUEST, error)
        }
        Some((_, false)) => {
            let error = json!({"errorCode": 38127, "errorMessage": format!("Fulfillment [{txid}] failed; retry it")});
            (StatusCode::CONFLICT, error)
        }
        Some((_, true)) => (
            StatusCode::OK,
            fulfillment_result(&user, &txid, &items, "FULFILLED"),
        ),
        None => {
            let applied = !take(&ags.failing);
            ags.fulfillments
                .lock()
                .unwrap()
                .insert(txid.clone(), (items.clone(), applied));
            if applied {
                ags.effects.lock().unwrap().push(effect);
            }
            let state = if applied {
                "FULFILLED"
            } else {
                "FULFILL_FAILED"
            };
            (
                StatusCode::OK,
                fulfillment_result(&user, &txid, &items, state),
            )
        }
    };
    tokio::time::sleep(delay).await;
    answer(&ags, result.0, result.1)
}

/// The answer's body: the JSON, or (when the test garbles it) something that is not JSON.
fn answer(ags: &Ags, status: StatusCode, body: Value) -> (StatusCode, String) {
    if status.is_success() && take(&ags.garbled) {
        return (status, "<html>upstream says hello</html>".into());
    }
    (status, body.to_string())
}
