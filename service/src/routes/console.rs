//! The designer console: a web page served from assets embedded in the binary (no Node
//! toolchain to build or run it), and the two endpoints only it needs beyond lint, simulate and
//! explain: the deployed rules at a glance, and a replay of an edited file over REST.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use store::ArchiveWindow;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::ApiError;
use crate::json::designers::{EditReplayJson, OverviewJson};
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
    responses((status = 200, body = OverviewJson)))]
pub(super) async fn overview(State(state): State<AppState>, _caller: ServerCaller) -> Response {
    let deployed = designers::deployed(&state.context).await;
    Json(OverviewJson::from(&deployed)).into_response()
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
    responses((status = 200, body = EditReplayJson),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn replay(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<ReplayBody>,
) -> Result<Response, ApiError> {
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
    Ok(Json(EditReplayJson::from(&edit)).into_response())
}
