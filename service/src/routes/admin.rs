//! Designers' tools over REST (server permission): lint a challenge file's text, simulate
//! events against it or against the deployed rules (`usecases::designers`), and any player's
//! explain. Nothing is written.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiJson;
use super::events::EventBody;
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ErrorCode};
use crate::json::answers::ExplanationJson;
use crate::json::designers::{LintJson, SimulationJson};
use crate::json::timeline::TimelineJson;
use crate::usecases::designers::{self, Draft, MAX_SIMULATED_EVENTS};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/rules/lint", post(lint))
        .route("/v1/admin/rules/simulate", post(simulate))
        .route(
            "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/explain",
            get(explain_player),
        )
        .route(
            "/v1/admin/players/{user}/challenges",
            get(player_challenges),
        )
        .route("/v1/admin/players/{user}/timeline", get(player_timeline))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct TimelineQuery {
    /// At most this many entries, besides the rule sets deployed meanwhile (default 100, at
    /// most 1,000).
    #[serde(default)]
    limit: Option<usize>,
}

/// What happened to a player, newest first, for support: their archived events with what
/// each did to every goal listening, the rule sets deployed meanwhile, their claims with each
/// intent's state, and support's actions on them.
#[utoipa::path(get, path = "/v1/admin/players/{user}/timeline", tag = "support",
    params(("user" = String, Path), TimelineQuery),
    responses((status = 200, body = TimelineJson), (status = 400, body = crate::error::ErrorJson),
        (status = 403, body = crate::error::ErrorJson)))]
pub(super) async fn player_timeline(
    State(state): State<AppState>,
    _caller: ServerCaller,
    Path(user): Path<String>,
    super::ApiQuery(query): super::ApiQuery<TimelineQuery>,
) -> Result<Json<TimelineJson>, ApiError> {
    use crate::usecases::timeline::{MAX_ENTRIES, timeline};
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_ENTRIES).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "`limit` is 1 to 1,000",
        ));
    }
    let user = super::support::player_id(user)?;
    let found = timeline(&state.context, &user, limit).await?;
    Ok(Json(TimelineJson::new(user.to_string(), found)))
}

/// Any player's challenges, for support: what `GET /v1/challenges` answers that player, plus
/// `userId`. Reading writes nothing: a player who never listed stays unassigned.
#[utoipa::path(get, path = "/v1/admin/players/{user}/challenges", tag = "designers",
    params(("user" = String, Path)),
    responses((status = 200, description = "`{userId, challenges}`: the player's list as `GET /v1/challenges` answers it"),
        (status = 403, body = crate::error::ErrorJson)))]
pub(super) async fn player_challenges(
    State(state): State<AppState>,
    _caller: ServerCaller,
    Path(user): Path<String>,
) -> Result<super::challenges::JsonBytes, ApiError> {
    let (user, now) = (super::support::player_id(user)?, state.context.clock.now());
    let view = crate::usecases::challenges::list(&state.context, &user, false, &[], now).await?;
    let list = state.render.list(&view);
    // The list's object with `userId` first: `{"userId":…,` then the list's own fields.
    let mut answer =
        format!("{{\"userId\":{},", serde_json::Value::from(user.as_str())).into_bytes();
    answer.extend_from_slice(list.get(1..).unwrap_or_default());
    Ok(super::challenges::JsonBytes::new(answer))
}

/// Any player's explain, for designers and support (the player's own is
/// `GET /v1/challenges/{challenge}/goals/{goal}/explain`).
#[utoipa::path(get, path = "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/explain", tag = "designers",
    params(("user" = String, Path), ("challenge" = String, Path), ("goal" = String, Path)),
    responses((status = 200, body = ExplanationJson), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn explain_player(
    State(state): State<AppState>,
    _caller: ServerCaller,
    Path((user, challenge, goal)): Path<(String, String, String)>,
) -> Result<Json<ExplanationJson>, ApiError> {
    let (user, now) = (engine::UserId::new(user), state.context.clock.now());
    let why = crate::usecases::challenges::explain(&state.context, &user, &challenge, &goal, now);
    Ok(Json(why.await?.into()))
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
    responses((status = 200, body = LintJson),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn lint(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<LintBody>,
) -> Result<Response, ApiError> {
    let draft = Draft {
        text: body.rules,
        file_name: body.file_name,
        with_deployed: body.with_deployed,
    };
    let compiled = designers::lint(&state.context, draft).await?;
    Ok(Json(LintJson::of(&compiled)).into_response())
}

/// Events applied in order to one fresh player per `userId`, under the given rules or the
/// deployed ones: for each event, every goal listening to it, whether it matched and why.
#[utoipa::path(post, path = "/v1/admin/rules/simulate", tag = "designers", request_body = SimulateBody,
    responses((status = 200, body = SimulationJson),
        (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn simulate(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<SimulateBody>,
) -> Result<Response, ApiError> {
    if body.events.len() > MAX_SIMULATED_EVENTS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "{} events: a simulation takes at most {MAX_SIMULATED_EVENTS}",
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
    let draft = body.rules.map(|text| Draft {
        text,
        file_name: body.file_name,
        with_deployed: body.with_deployed,
    });
    let simulation = designers::simulate(&state.context, draft, events).await?;
    Ok(Json(SimulationJson::from(&simulation)).into_response())
}
