//! The designer console: a web page served from assets embedded in the binary (no Node
//! toolchain to build or run it), and the two endpoints only it needs beyond lint, simulate and
//! explain: the deployed rules at a glance, and a replay of an edited file over REST.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use engine::{CompiledGoal, Reward};
use serde::Deserialize;
use serde_json::{Value, json};
use store::ArchiveWindow;

use super::ApiJson;
use super::admin::diagnostics;
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::ApiError;
use crate::json::time;
use crate::usecases::designers::{self, Draft};

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
    let deployed = designers::deployed(&state.context).await;
    let rules = deployed.rules;
    let files: Vec<Value> = (deployed.files.into_iter())
        .map(|(name, text)| json!({ "name": name, "text": text }))
        .collect();
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
    let draft = Draft {
        text: body.rules,
        file_name: Some(body.file_name),
        with_deployed: true,
    };
    let edit = designers::replay_edit(&state.context, draft, window).await?;
    let diagnostics = diagnostics(&edit.diagnostics);
    let Some(replayed) = edit.replayed else {
        return Ok(Json(json!({ "diagnostics": diagnostics, "report": null })));
    };
    Ok(Json(json!({
        "diagnostics": diagnostics,
        "report": replayed.report,
        "failedExpressions": {"before": replayed.failed_expressions.0, "after": replayed.failed_expressions.1},
    })))
}
