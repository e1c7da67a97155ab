//! Reading challenges, initialize, rotation, explain, claim.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::json::ChallengeJson;
use crate::json::answers::{
    ClaimPendingJson, ClaimedJson, ExplanationJson, InitializedJson, RotationStatusJson,
};
use crate::usecases::{challenges, claim};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/challenges", get(list))
        .route("/v1/challenges/initialize", post(initialize))
        .route("/v1/challenges/{challenge}", get(one))
        .route("/v1/challenges/{challenge}/rotation", get(rotation))
        .route(
            "/v1/challenges/{challenge}/goals/{goal}/explain",
            get(explain),
        )
        .route(
            "/v1/challenges/{challenge}/goals/{goal}/claim",
            post(claim_goal),
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(super) struct ListQuery {
    /// `activeOnly` is how clients generated from the reference's swagger send it
    /// (grpc-gateway takes both spellings).
    #[serde(default, alias = "activeOnly")]
    active_only: bool,
    /// Comma-separated tags: only the challenges that carry any of them.
    #[serde(default)]
    tags: Option<String>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct ChallengeList {
    challenges: Vec<ChallengeJson>,
}

#[utoipa::path(get, path = "/v1/challenges", tag = "challenges",
    params(("active_only" = Option<bool>, Query, description = "only the goals active for the player (also `activeOnly`)"),
        ("tags" = Option<String>, Query, description = "comma-separated tags: only the challenges carrying any of them")),
    responses((status = 200, body = ChallengeList), (status = 401, body = crate::error::ErrorJson)))]
pub(super) async fn list(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    super::ApiQuery(query): super::ApiQuery<ListQuery>,
) -> Result<Localized<JsonBytes>, ApiError> {
    // Written from the parts of the rules rendered once per rule set (crate::json::prerendered); the
    // bytes are what serializing `ChallengeList` gives.
    let tags: Vec<&str> = (query.tags.as_deref().unwrap_or_default().split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .collect();
    let mut view = challenges::list(
        &state.context,
        &user,
        query.active_only,
        &tags,
        state.context.clock.now(),
    )
    .await?;
    view.locales = locales(&headers, &view.rules);
    Ok(Localized(JsonBytes(state.render.list(&view))))
}

/// The locales the caller reads, most wanted first: its `Accept-Language` matched against the
/// locales the rules are written in (RFC 4647 lookup; empty when none match or the rules are
/// not localized, and every text is in its file's default locale).
pub(super) fn locales(headers: &axum::http::HeaderMap, rules: &engine::RuleSet) -> Vec<String> {
    if rules.locales.is_empty() {
        return Vec::new();
    }
    (headers.get(axum::http::header::ACCEPT_LANGUAGE))
        .and_then(|value| value.to_str().ok())
        .map(|accept| engine::locale::preferences(accept, &rules.locales))
        .unwrap_or_default()
}

/// An answer whose names and descriptions follow the caller's `Accept-Language`: says so in
/// `Vary`, so a cache keys on it.
pub(super) struct Localized<T>(pub(super) T);

impl<T: axum::response::IntoResponse> axum::response::IntoResponse for Localized<T> {
    fn into_response(self) -> axum::response::Response {
        let mut response = self.0.into_response();
        response.headers_mut().insert(
            axum::http::header::VARY,
            axum::http::HeaderValue::from_static("Accept-Language"),
        );
        response
    }
}

/// A JSON answer already serialized.
pub(super) struct JsonBytes(Vec<u8>);

impl JsonBytes {
    pub(super) fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl axum::response::IntoResponse for JsonBytes {
    fn into_response(self) -> axum::response::Response {
        (
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            self.0,
        )
            .into_response()
    }
}

#[utoipa::path(get, path = "/v1/challenges/{challenge}", tag = "challenges",
    params(("challenge" = String, Path)),
    responses((status = 200, body = ChallengeJson), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn one(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    Path(challenge): Path<String>,
) -> Result<Localized<JsonBytes>, ApiError> {
    let now = state.context.clock.now();
    let mut view = challenges::get(&state.context, &user, &challenge, now).await?;
    view.locales = locales(&headers, &view.rules);
    Ok(Localized(JsonBytes(state.render.challenge(&view))))
}

#[utoipa::path(post, path = "/v1/challenges/initialize", tag = "challenges",
    responses((status = 200, body = InitializedJson)))]
pub(super) async fn initialize(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
) -> Result<Localized<Json<InitializedJson>>, ApiError> {
    let now = state.context.clock.now();
    let initialized = challenges::initialize(&state.context, &user, now).await?;
    let locales = locales(&headers, &state.context.rules.current());
    Ok(Localized(Json(InitializedJson::of(initialized, &locales))))
}

#[utoipa::path(get, path = "/v1/challenges/{challenge}/rotation", tag = "challenges",
    params(("challenge" = String, Path)),
    responses((status = 200, body = RotationStatusJson), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn rotation(
    State(state): State<AppState>,
    _user: AuthUser,
    Path(challenge): Path<String>,
) -> Result<Json<RotationStatusJson>, ApiError> {
    let now = state.context.clock.now();
    Ok(Json(
        challenges::rotation(&state.context, &challenge, now)?.into(),
    ))
}

#[utoipa::path(get, path = "/v1/challenges/{challenge}/goals/{goal}/explain", tag = "challenges",
    params(("challenge" = String, Path), ("goal" = String, Path)),
    responses((status = 200, body = ExplanationJson), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn explain(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((challenge, goal)): Path<(String, String)>,
) -> Result<Json<ExplanationJson>, ApiError> {
    let now = state.context.clock.now();
    let why = challenges::explain(&state.context, &user, &challenge, &goal, now).await?;
    Ok(Json(why.into()))
}

#[utoipa::path(post, path = "/v1/challenges/{challenge}/goals/{goal}/claim", tag = "goals",
    params(("challenge" = String, Path), ("goal" = String, Path)),
    responses((status = 200, body = ClaimedJson),
        (status = 202, description = "the reward is being granted (or its outcome awaits an operator); ask again later", body = ClaimPendingJson),
        (status = 400, body = crate::error::ErrorJson),
        (status = 404, body = crate::error::ErrorJson), (status = 409, body = crate::error::ErrorJson),
        (status = 502, body = crate::error::ErrorJson)))]
pub(super) async fn claim_goal(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((challenge, goal)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    let answer = claim::claim(
        &state.context,
        &user,
        &challenge,
        &goal,
        state.context.clock.now(),
    )
    .await?;
    Ok(claim_response(answer))
}

/// A claim's answer: 200 granted, 202 on its way.
pub(super) fn claim_response(answer: claim::ClaimAnswer) -> axum::response::Response {
    use axum::response::IntoResponse;
    match answer {
        claim::ClaimAnswer::Claimed(claimed) => Json(ClaimedJson::from(claimed)).into_response(),
        claim::ClaimAnswer::Pending(pending) => {
            let pending = ClaimPendingJson::from(pending);
            (axum::http::StatusCode::ACCEPTED, Json(pending)).into_response()
        }
    }
}
