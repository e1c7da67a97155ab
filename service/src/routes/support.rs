//! Support's actions on a player (`POST …/progress`), each with a reason and on record, and the
//! audit log that records them (`GET /v1/admin/audit`).

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::support::SupportAction;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::{ServerCaller, SupportCaller};
use crate::error::{ApiError, ErrorCode};
use crate::json::time;
use crate::usecases::support::{SupportRequest, change_progress};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/progress",
            post(progress),
        )
        .route(
            "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/grant",
            post(grant),
        )
        .route("/v1/admin/audit", get(audit))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ProgressBody {
    /// `set` (needs `progress`), `complete` or `reset`.
    action: String,
    /// The progress the player will see, for `set`.
    #[serde(default)]
    progress: Option<i64>,
    /// Why: kept in the audit log (required, 1 to 2,000 characters).
    #[serde(default)]
    reason: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProgressAnswer {
    /// The goal as the player sees it now (the list's goal shape).
    #[schema(value_type = Object)]
    goal: serde_json::Value,
    /// The audit log entry that records the change.
    audit_id: String,
}

/// Sets a player's goal's progress, completes it or resets it, with a reason kept in the audit
/// log. A claimed goal is refused (409).
#[utoipa::path(post, path = "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/progress", tag = "support",
    params(("user" = String, Path), ("challenge" = String, Path), ("goal" = String, Path)),
    request_body = ProgressBody,
    responses((status = 200, body = ProgressAnswer), (status = 400, body = crate::error::ErrorJson),
        (status = 403, body = crate::error::ErrorJson), (status = 404, body = crate::error::ErrorJson),
        (status = 409, body = crate::error::ErrorJson)))]
pub(super) async fn progress(
    State(state): State<AppState>,
    caller: SupportCaller,
    Path((user, challenge, goal)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<ProgressBody>,
) -> Result<Json<ProgressAnswer>, ApiError> {
    let action = match (body.action.as_str(), body.progress) {
        ("set", Some(progress)) => SupportAction::Set(progress),
        ("set", None) => {
            return Err(invalid(
                "`set` needs `progress`: the progress the player will see",
            ));
        }
        ("complete", None) => SupportAction::Complete,
        ("reset", None) => SupportAction::Reset,
        ("complete" | "reset", Some(_)) => {
            return Err(invalid("`progress` goes with `set` only"));
        }
        (other, _) => {
            return Err(invalid(format!(
                "unknown `action` `{other}`: `set`, `complete` or `reset`"
            )));
        }
    };
    if user.is_empty() || user.len() > 128 {
        return Err(invalid("the user id is 1 to 128 characters"));
    }
    let (user, now) = (engine::UserId::new(user), state.context.clock.now());
    let request = SupportRequest {
        actor: &caller.actor,
        user: &user,
        challenge: &challenge,
        goal: &goal,
        action,
        reason: &body.reason,
    };
    let audit_id = change_progress(&state.context, request, now).await?;
    let view = crate::usecases::challenges::get(&state.context, &user, &challenge, now).await?;
    let rendered: serde_json::Value = serde_json::from_slice(&state.render.challenge(&view))
        .map_err(|_| ApiError::new(ErrorCode::Internal, "internal error"))?;
    let goal = (rendered["goals"].as_array().into_iter().flatten())
        .find(|g| g["goalId"] == goal.as_str())
        .cloned()
        .unwrap_or_default();
    Ok(Json(ProgressAnswer { goal, audit_id }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct GrantBody {
    /// Why: kept in the audit log (required, 1 to 2,000 characters).
    #[serde(default)]
    reason: String,
}

/// Claims a completed goal's reward on the player's behalf, through the claim's own path: the
/// answers are a claim's (200 granted, 202 on its way, 409 already claimed, 400 not completed),
/// and the reward still goes out exactly once.
#[utoipa::path(post, path = "/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/grant", tag = "support",
    params(("user" = String, Path), ("challenge" = String, Path), ("goal" = String, Path)),
    request_body = GrantBody,
    responses((status = 200, body = crate::json::answers::ClaimedJson),
        (status = 202, body = crate::json::answers::ClaimPendingJson),
        (status = 400, body = crate::error::ErrorJson), (status = 403, body = crate::error::ErrorJson),
        (status = 404, body = crate::error::ErrorJson), (status = 409, body = crate::error::ErrorJson),
        (status = 502, body = crate::error::ErrorJson)))]
pub(super) async fn grant(
    State(state): State<AppState>,
    caller: SupportCaller,
    Path((user, challenge, goal)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<GrantBody>,
) -> Result<axum::response::Response, ApiError> {
    if user.is_empty() || user.len() > 128 {
        return Err(invalid("the user id is 1 to 128 characters"));
    }
    let (user, now) = (engine::UserId::new(user), state.context.clock.now());
    let answer = crate::usecases::support::grant(
        &state.context,
        &caller.actor,
        &user,
        &challenge,
        &goal,
        &body.reason,
        now,
    )
    .await?;
    Ok(super::challenges::claim_response(answer))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct AuditQuery {
    #[serde(default)]
    user_id: Option<String>,
    /// At most this many entries (default 50, at most 1,000).
    #[serde(default)]
    limit: Option<i64>,
}

/// One audit log entry.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct AuditEntryJson {
    id: String,
    at: String,
    actor: String,
    action: String,
    user_id: String,
    challenge_id: Option<String>,
    goal_id: Option<String>,
    reason: String,
    /// What the action changed: `{before, after}` with the goal's shown progress and status.
    #[schema(value_type = Object)]
    detail: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AuditAnswer {
    entries: Vec<AuditEntryJson>,
}

/// The audit log, newest first: every support action, or one player's. A deleted player's
/// entries name a pseudonym, so asking by their id answers none.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "support",
    params(("userId" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = AuditAnswer), (status = 400, body = crate::error::ErrorJson)))]
pub(super) async fn audit(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditAnswer>, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=1_000).contains(&limit) {
        return Err(invalid("`limit` is 1 to 1,000"));
    }
    let user = query.user_id.map(engine::UserId::new);
    let entries = (state.context.support)
        .audit_entries(user.as_ref(), limit)
        .await
        .map_err(crate::usecases::Error::from)?;
    Ok(Json(AuditAnswer {
        entries: entries
            .into_iter()
            .map(|entry| AuditEntryJson {
                detail: serde_json::from_str(&entry.detail).unwrap_or_default(),
                id: entry.id,
                at: time(Some(entry.at)),
                actor: entry.actor,
                action: entry.action,
                user_id: entry.user_id,
                challenge_id: entry.challenge_id,
                goal_id: entry.goal_id,
                reason: entry.reason,
            })
            .collect(),
    }))
}
