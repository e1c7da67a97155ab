//! The designer console: a web page served from assets embedded in the binary (no Node
//! toolchain to build or run it), and the two endpoints only it needs beyond lint, simulate and
//! explain: the deployed rules at a glance, and a replay of an edited file over REST.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use engine::{CompiledGoal, Reward, RuleSet};
use serde::Deserialize;
use serde_json::{Value, json};
use store::ArchiveWindow;

use super::ApiJson;
use super::admin::{compile_text, deployed_files, diagnostics};
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ErrorCode};
use crate::views::time;

/// Most archived events a replay over REST reads; more is the CLI's job (`service replay`).
const MAX_REPLAY_EVENTS: u64 = 1_000_000;

/// One replay at a time per process: each holds its archive in memory (about 0.5 GB per
/// million events) and keeps both cores busy while it runs.
static REPLAYS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

const INDEX: &str = include_str!("../console/index.html");
const SCRIPT: &str = include_str!("../console/console.js");
const STYLE: &str = include_str!("../console/console.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("console/") }),
        )
        .route(
            "/console/",
            get(|| async { asset("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/console.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/v1/admin/rules/overview", get(overview))
        .route("/v1/admin/rules/replay", post(replay))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The deployed rules for the console: files with their text, challenges and goals with their
/// rule, reward, prerequisites and the rule tests that check them.
#[utoipa::path(get, path = "/v1/admin/rules/overview", tag = "designers",
    responses((status = 200, description = "`{contentHash, loadedAt, files: [{name, text}], challenges: [{id, name, description, schedule, rotation, goals: [...]}]}`")))]
pub(super) async fn overview(
    State(state): State<AppState>,
    _caller: ServerCaller,
) -> Result<Json<Value>, ApiError> {
    let rules = state.context.rules.current();
    let mut files = Vec::new();
    for path in &rules.info.files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // A file changed on disk since the load still shows; the watcher reloads it soon.
        let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
        files.push(json!({ "name": name, "text": text }));
    }
    let tests = rules.test_summaries();
    let challenges: Vec<Value> = rules
        .challenges()
        .iter()
        .map(|challenge| {
            json!({
                "id": challenge.id.as_str(),
                "name": challenge.name,
                "description": challenge.description,
                "schedule": (challenge.schedule.start.is_some() || challenge.schedule.end.is_some()).then(|| json!({
                    "start": time(challenge.schedule.start),
                    "end": time(challenge.schedule.end),
                })),
                "rotation": challenge.rotation.map(|r| json!({
                    "every": r.every.as_str(), "resetProgress": r.reset_progress,
                    "allowReselection": r.allow_reselection,
                })),
                "goals": rules.goals_of(challenge).map(|goal| goal_json(goal, &tests)).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "contentHash": rules.info.content_hash,
        "loadedAt": time(Some(rules.info.loaded_at)),
        "files": files,
        "challenges": challenges,
    })))
}

fn goal_json(goal: &CompiledGoal, tests: &[engine::ruleset::TestSummary]) -> Value {
    json!({
        "id": goal.id.as_str(),
        "name": goal.name,
        "description": goal.description,
        "on": goal.on.as_str(),
        "stats": goal.stats,
        "when": goal.when.as_ref().map(|e| e.text.as_str()),
        "count": goal.count.as_str(),
        "amount": goal.amount.as_ref().map(|e| e.text.as_str()),
        "target": goal.target,
        "assign": match goal.assign {
            engine::Assign::Default => "default",
            engine::Assign::Manual => "manual",
            engine::Assign::Auto => "auto",
        },
        "reward": goal.reward.as_ref().map(|reward| match reward {
            Reward::Wallet { currency, amount } => json!({"type": "wallet", "currency": currency, "amount": amount}),
            Reward::Item { item_id, quantity } => json!({"type": "item", "itemId": item_id, "quantity": quantity}),
        }),
        "requires": goal.requires.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "tests": tests.iter().filter(|t| t.goals.contains(&goal.id)).map(|t| json!({
            "name": t.name,
            "file": t.file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "line": t.line,
            "passed": true,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ReplayBody {
    /// The edited file's text; the rest of the deployed files stay as they are.
    rules: String,
    /// The edited file's name (a deployed file's, to replace it; another, to add one).
    file_name: String,
    /// Events that happened at or after this time (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    from: Option<DateTime<Utc>>,
    /// Events that happened before this time (RFC 3339).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    to: Option<DateTime<Utc>>,
}

/// `service replay` over REST for the console: the deployed rules against the deployed files
/// with one file edited, over the archive of `from`..`to`.
#[utoipa::path(post, path = "/v1/admin/rules/replay", tag = "designers", request_body = ReplayBody,
    responses((status = 200, description = "`{diagnostics, report: {players, events, goals: [...]} | null}`"),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn replay(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<ReplayBody>,
) -> Result<Json<Value>, ApiError> {
    let window = ArchiveWindow {
        from: body.from,
        to: body.to,
    };
    let compiled = compile_text(
        body.rules,
        Some(&body.file_name),
        deployed_files(&state, true),
    )
    .await?;
    let diagnostics = diagnostics(&compiled);
    let Some(after) = compiled.trial_rules().map(Arc::new) else {
        return Ok(Json(json!({ "diagnostics": diagnostics, "report": null })));
    };
    let events = state.context.archive.count_archive(&window).await?;
    if events > MAX_REPLAY_EVENTS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "{events} archived events in this window; the console replays at most \
                 {MAX_REPLAY_EVENTS}: narrow it with from and to, or run `service replay`"
            ),
        ));
    }
    let Ok(_running) = REPLAYS.try_acquire() else {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "another replay is running on this service; try again when it ends",
        ));
    };
    let before: Arc<RuleSet> = state.context.rules.current();
    let replayed = crate::usecases::replay::replay(
        state.context.archive.as_ref(),
        window,
        before,
        after,
        Arc::new(crate::usecases::replay::Quiet),
    )
    .await?;
    Ok(Json(json!({
        "diagnostics": diagnostics,
        "report": replayed.report,
        "failedExpressions": {"before": replayed.failed_expressions.0, "after": replayed.failed_expressions.1},
    })))
}
