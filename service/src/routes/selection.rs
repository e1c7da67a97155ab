//! Choosing goals: set-active, batch-select, random-select.

use axum::extract::{Path, State};
use axum::routing::{post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

use super::ApiJson;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetActiveBody {
    is_active: bool,
}

async fn set_active(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path((challenge, goal)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetActiveBody>,
) -> Result<Json<selection::ActiveSet>, ApiError> {
    Ok(Json(
        selection::set_active(
            &state.context,
            &user,
            &challenge,
            &goal,
            body.is_active,
            Utc::now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BatchBody {
    goal_ids: Vec<String>,
    #[serde(default)]
    replace_existing: bool,
}

async fn batch_select(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(challenge): Path<String>,
    ApiJson(body): ApiJson<BatchBody>,
) -> Result<Json<selection::Selection>, ApiError> {
    Ok(Json(
        selection::batch_select(
            &state.context,
            &user,
            &challenge,
            &body.goal_ids,
            body.replace_existing,
            Utc::now(),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RandomBody {
    count: usize,
    #[serde(default)]
    replace_existing: bool,
    #[serde(default)]
    exclude_active: bool,
}

async fn random_select(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    Path(challenge): Path<String>,
    ApiJson(body): ApiJson<RandomBody>,
) -> Result<Json<selection::Selection>, ApiError> {
    Ok(Json(
        selection::random_select(
            &state.context,
            &user,
            &challenge,
            body.count,
            body.replace_existing,
            body.exclude_active,
            Utc::now(),
        )
        .await?,
    ))
}
