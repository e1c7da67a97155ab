//! Designers' tools over REST (server permission): lint a challenge file's text, and simulate
//! events against it or against the deployed rules. Both are pure: nothing is written.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use challenge_lint::JsonDiagnostic;
use engine::{Compiled, RuleSet, SourceFile, Sources};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use super::events::EventBody;
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ErrorCode};

/// Most events one simulate request may carry.
const MAX_EVENTS: usize = 10_000;

/// Longest one simulation may run; it stops between events after it.
const SIMULATE_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(10);

/// One simulation at a time per process: each keeps a core busy while it runs, and players'
/// requests share those cores.
static SIMULATIONS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/rules/lint", post(lint))
        .route("/v1/admin/rules/simulate", post(simulate))
        .route(
            "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/explain",
            get(explain_player),
        )
}

/// Any player's explain, for designers and support (the player's own is
/// `GET /v1/challenges/{challenge}/goals/{goal}/explain`).
#[utoipa::path(get, path = "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/explain", tag = "designers",
    params(("user" = String, Path), ("challenge" = String, Path), ("goal" = String, Path)),
    responses((status = 200, body = crate::usecases::challenges::Explanation), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn explain_player(
    State(state): State<AppState>,
    _caller: ServerCaller,
    Path((user, challenge, goal)): Path<(String, String, String)>,
) -> Result<Json<crate::usecases::challenges::Explanation>, ApiError> {
    Ok(Json(
        crate::usecases::challenges::explain(
            &state.context,
            &engine::UserId::new(user),
            &challenge,
            &goal,
            state.context.clock.now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LintBody {
    /// A challenge file's text: YAML, or the reference implementation's legacy JSON.
    rules: String,
    /// The file's name, for the diagnostics (`.yaml`, `.yml` or `.json`; `.json` reads it as
    /// legacy JSON). Default: `challenges.yaml`, or `challenges.json` for a legacy document.
    #[serde(default)]
    file_name: Option<String>,
    /// Compile the text together with the other deployed files (the deployed file of the same
    /// name replaced), so references across files resolve. Default: the text alone.
    #[serde(default)]
    with_deployed: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SimulateBody {
    /// The rules to simulate with (default: the deployed rules).
    #[serde(default)]
    rules: Option<String>,
    #[serde(default)]
    file_name: Option<String>,
    #[serde(default)]
    with_deployed: bool,
    /// Events, as `POST /v1/events` takes them, applied in order.
    events: Vec<EventBody>,
}

/// The diagnostics of a challenge file, as `challenge-lint --format json` reports them.
#[utoipa::path(post, path = "/v1/admin/rules/lint", tag = "designers", request_body = LintBody,
    responses((status = 200, description = "`{diagnostics, errors, warnings}`"),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn lint(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<LintBody>,
) -> Result<Json<Value>, ApiError> {
    let deployed = deployed_files(&state, body.with_deployed);
    let compiled = compile_text(body.rules, body.file_name.as_deref(), deployed).await?;
    Ok(Json(json!({
        "diagnostics": diagnostics(&compiled),
        "errors": compiled.errors(),
        "warnings": compiled.warnings(),
    })))
}

/// Events applied in order to one fresh player per `userId`, under the given rules or the
/// deployed ones: for each event, every goal listening to it, whether it matched and why.
#[utoipa::path(post, path = "/v1/admin/rules/simulate", tag = "designers", request_body = SimulateBody,
    responses((status = 200, description = "`{diagnostics, results: [{eventId, userId, goals: [{challengeId, goalId, matched, when, fields, progressBefore, progressAfter, statusBefore, statusAfter, reason}]}]}`"),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn simulate(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<SimulateBody>,
) -> Result<Json<Value>, ApiError> {
    if body.events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "{} events: a simulation takes at most {MAX_EVENTS}",
                body.events.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(body.events.len());
    for (index, event) in body.events.into_iter().enumerate() {
        let (id, input) = event.into_input()?;
        match input.event(&state.events) {
            Ok(Some(event)) => events.push(event),
            // Another namespace's: the handler would skip it too.
            Ok(None) => {}
            Err(err) => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("event {} (`{id}`): {}", index + 1, err.public_message()),
                ));
            }
        }
    }
    let (rules, diagnostics): (Option<Arc<RuleSet>>, Value) = match body.rules {
        None => (Some(state.context.rules.current()), json!([])),
        Some(text) => {
            let deployed = deployed_files(&state, body.with_deployed);
            let compiled = compile_text(text, body.file_name.as_deref(), deployed).await?;
            let diagnostics = diagnostics(&compiled);
            (compiled.trial_rules().map(Arc::new), diagnostics)
        }
    };
    let Some(rules) = rules else {
        return Ok(Json(json!({ "diagnostics": diagnostics, "results": [] })));
    };
    let Ok(_running) = SIMULATIONS.try_acquire() else {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "another simulation is running on this service; try again when it ends",
        ));
    };
    let deadline = std::time::Instant::now() + SIMULATE_TIME_LIMIT;
    let results = tokio::task::spawn_blocking(move || {
        engine::simulate::simulate_until(&rules, &events, deadline)
    })
    .await
    .map_err(|err| ApiError::new(ErrorCode::Internal, format!("the simulation failed: {err}")))?
    .map_err(|out| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "{out} (the limit is {} s): simulate fewer events at a time",
                SIMULATE_TIME_LIMIT.as_secs()
            ),
        )
    })?;
    Ok(Json(
        json!({ "diagnostics": diagnostics, "results": results }),
    ))
}

pub(super) fn diagnostics(compiled: &Compiled) -> Value {
    json!(
        compiled
            .diagnostics
            .iter()
            .map(JsonDiagnostic::of)
            .collect::<Vec<_>>()
    )
}

/// The deployed rule set's files, when the text is to be compiled with them.
pub(super) fn deployed_files(state: &AppState, with_deployed: bool) -> Vec<std::path::PathBuf> {
    if with_deployed {
        state.context.rules.current().info.files.clone()
    } else {
        Vec::new()
    }
}

/// Compiles one file's text, alone or with `deployed` files (the one of the same name
/// replaced), off the async threads: rule tests run as part of it.
pub(super) async fn compile_text(
    text: String,
    file_name: Option<&str>,
    deployed: Vec<std::path::PathBuf>,
) -> Result<Compiled, ApiError> {
    let name = match file_name {
        Some(name) => {
            let plain = std::path::Path::new(name)
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"));
            match plain {
                Some(plain) => plain.to_string(),
                None => {
                    return Err(ApiError::new(
                        ErrorCode::ValidationFailed,
                        format!(
                            "fileName `{name}` must be a file name ending in .yaml, .yml or .json"
                        ),
                    ));
                }
            }
        }
        None if is_legacy_json(&text) => "challenges.json".to_string(),
        None => "challenges.yaml".to_string(),
    };
    tokio::task::spawn_blocking(move || {
        let mut files = Vec::with_capacity(deployed.len() + 1);
        let mut unreadable = Vec::new();
        for path in deployed {
            if path.file_name().and_then(|n| n.to_str()) == Some(name.as_str()) {
                continue;
            }
            match std::fs::read_to_string(&path) {
                Ok(text) => files.push(SourceFile::new(path, text)),
                Err(err) => unreadable.push(
                    engine::Diagnostic::new(
                        engine::Code::UnreadableFile,
                        format!("cannot read the deployed file: {err}"),
                    )
                    .at(path, None),
                ),
            }
        }
        files.push(SourceFile::new(name, text));
        engine::compile(&Sources { files, unreadable })
    })
    .await
    .map_err(|err| ApiError::new(ErrorCode::Internal, format!("compiling failed: {err}")))
}

/// A JSON object without the DSL's `version`: the reference implementation's format.
fn is_legacy_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(text).is_ok_and(|value| {
            value
                .as_object()
                .is_some_and(|o| !o.contains_key("version"))
        })
}
