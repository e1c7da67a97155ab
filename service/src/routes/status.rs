//! What is running: the loaded rule set (`/v1/rules`) and health (`/healthz`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::json::time;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/rules", get(rules))
        .route("/healthz", get(healthz))
}

#[utoipa::path(get, path = "/v1/rules", tag = "server",
    responses((status = 200, description = "content hash, load time, files, counts, last reload error")))]
pub(super) async fn rules(State(state): State<AppState>, _caller: ServerCaller) -> Json<Value> {
    let status = state.context.rules.status();
    let rules = state.context.rules.current();
    Json(json!({
        "contentHash": status.content_hash,
        "loadedAt": time(Some(status.loaded_at)),
        "files": status.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "challenges": status.challenges,
        "goals": status.goals,
        "ruleTests": rules.test_count(),
        "reloads": status.reloads,
        "reloadFailures": status.failures,
        "lastError": status.last_error.map(|failure| json!({
            "at": time(Some(failure.at)),
            "message": failure.message,
            "diagnostics": (failure.diagnostics.iter())
                .filter(|d| d.is_error())
                .map(challenge_lint::JsonDiagnostic::of)
                .collect::<Vec<_>>(),
        })),
    }))
}

#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\":\"healthy\"}`"), (status = 503, description = "the database does not answer, or a writer flusher is restarting")))]
pub(super) async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    pipeline::metrics::health(state.events.maintenance.as_ref(), &state.events.writer).await
}
