//! A local AGS Platform (and IAM token endpoint) that fulfils every grant at once and answers
//! as Platform does (`"state": "FULFILLED"`), counting distinct transaction ids: the ceiling
//! the reward benchmarks measure against.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::Result;

/// Platform answering every fulfillment at once, counting distinct transaction ids.
pub async fn instant() -> Result<(String, Arc<Mutex<HashSet<String>>>)> {
    use axum::routing::{post, put};
    let fulfilled = Arc::new(Mutex::new(HashSet::new()));
    let seen = fulfilled.clone();
    let app = axum::Router::new()
        .route(
            "/iam/v3/oauth/token",
            post(|| async {
                axum::Json(serde_json::json!({"access_token": "bench", "expires_in": 3600}))
            }),
        )
        .route(
            "/platform/v3/admin/namespaces/{ns}/users/{user}/fulfillments/{txid}",
            put(
                move |axum::extract::Path((_, _, txid)): axum::extract::Path<(
                    String,
                    String,
                    String,
                )>| {
                    let seen = seen.clone();
                    async move {
                        seen.lock().map(|mut s| s.insert(txid)).ok();
                        axum::Json(serde_json::json!({"state": "FULFILLED"}))
                    }
                },
            ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((url, fulfilled))
}
