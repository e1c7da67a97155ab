//! Choosing goals: set-active, batch-select, random-select.

use axum::extract::{Path, State};
use axum::routing::{post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::json::answers::{ActiveSetJson, SelectionJson};
use crate::usecases::selection;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/challenges/{challenge}/goals/{goal}/active",
            put(set_active),
        )
        .route(
            "/v1/challenges/{challenge}/goals/batch-select",
            post(batch_select),
        )
        .route(
            "/v1/challenges/{challenge}/goals/random-select",
            post(random_select),
        )
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SetActiveBody {
    /// Also `is_active`: grpc-gateway, which the reference's clients are generated for, reads
    /// a body key by its proto name or its JSON name.
    #[serde(alias = "is_active")]
    is_active: bool,
}

#[utoipa::path(put, path = "/v1/challenges/{challenge}/goals/{goal}/active", tag = "goals",
    params(("challenge" = String, Path), ("goal" = String, Path)), request_body = SetActiveBody,
    responses((status = 200, body = ActiveSetJson), (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn set_active(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((challenge, goal)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetActiveBody>,
) -> Result<Json<ActiveSetJson>, ApiError> {
    Ok(Json(
        selection::set_active(
            &state.context,
            &user,
            &challenge,
            &goal,
            body.is_active,
            state.context.clock.now(),
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BatchBody {
    #[validate(length(min = 1, max = 100, message = "goalIds must name 1 to 100 goals"))]
    #[serde(alias = "goal_ids")]
    goal_ids: Vec<String>,
    #[serde(default, alias = "replace_existing")]
    replace_existing: bool,
}

#[utoipa::path(post, path = "/v1/challenges/{challenge}/goals/batch-select", tag = "goals",
    params(("challenge" = String, Path)), request_body = BatchBody,
    responses((status = 200, body = SelectionJson), (status = 400, body = crate::error::ErrorJson),
        (status = 404, body = crate::error::ErrorJson)))]
pub(super) async fn batch_select(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    Path(challenge): Path<String>,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<super::challenges::Localized<Json<SelectionJson>>, ApiError> {
    let body = super::validated(body)?;
    let locales = super::challenges::locales(&headers, &state.context.rules.current());
    Ok(super::challenges::Localized(Json(SelectionJson::of(
        selection::batch_select(
            &state.context,
            &user,
            &challenge,
            &body.goal_ids,
            body.replace_existing,
            state.context.clock.now(),
        )
        .await?,
        &locales,
    ))))
}

#[derive(Debug, Deserialize, utoipa::ToSchema, validator::Validate)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct RandomBody {
    #[validate(range(min = 1, max = 100, message = "count must be between 1 and 100"))]
    count: usize,
    #[serde(default, alias = "replace_existing")]
    replace_existing: bool,
    #[serde(default, alias = "exclude_active")]
    exclude_active: bool,
}

#[utoipa::path(post, path = "/v1/challenges/{challenge}/goals/random-select", tag = "goals",
    params(("challenge" = String, Path)), request_body = RandomBody,
    responses((status = 200, body = SelectionJson), (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn random_select(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    headers: axum::http::HeaderMap,
    Path(challenge): Path<String>,
    ApiJson(body): ApiJson<RandomBody>,
) -> Result<super::challenges::Localized<Json<SelectionJson>>, ApiError> {
    let body = super::validated(body)?;
    let locales = super::challenges::locales(&headers, &state.context.rules.current());
    Ok(super::challenges::Localized(Json(SelectionJson::of(
        selection::random_select(
            &state.context,
            &user,
            &challenge,
            body.count,
            body.replace_existing,
            body.exclude_active,
            state.context.clock.now(),
        )
        .await?,
        &locales,
    ))))
}
