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
use crate::json::timeline::AuditEntryJson;
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
        .route("/v1/admin/bulk/progress", post(bulk_progress))
        .route("/v1/admin/bulk/grant", post(bulk_grant))
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
    goal: Option<crate::json::GoalJson>,
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
    let action = parse_action(&body.action, body.progress)?;
    let (user, now) = (player_id(user)?, state.context.clock.now());
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
    let goal = (view.challenges().next())
        .map(|shown| crate::json::challenge_json(&view.rules, shown, &view.progress, view.now, &[]))
        .and_then(|shown| shown.goals.into_iter().find(|g| g.goal_id == goal));
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
    let (user, now) = (player_id(user)?, state.context.clock.now());
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

/// The largest progress support may set: 2^53 - 1, what a JavaScript client reads exactly.
const MAX_PROGRESS: i64 = 9_007_199_254_740_991;

/// A player id from a path or a body: 1 to 128 bytes, not only spaces, no control characters.
pub(super) fn player_id(raw: String) -> Result<engine::UserId, ApiError> {
    if raw.is_empty()
        || raw.len() > 128
        || raw.trim().is_empty()
        || raw.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "user id `{}`: 1 to 128 characters, not only spaces, no control characters",
            raw.escape_debug()
        )));
    }
    Ok(engine::UserId::new(raw))
}

/// A support action from its body's `action` and `progress`.
fn parse_action(action: &str, progress: Option<i64>) -> Result<SupportAction, ApiError> {
    match (action, progress) {
        ("set", Some(progress)) if progress < 0 => Err(invalid("`progress` must be 0 or more")),
        ("set", Some(progress)) if progress > MAX_PROGRESS => Err(invalid(format!(
            "`progress` is at most {MAX_PROGRESS} (the largest integer every JSON client reads exactly)"
        ))),
        ("set", Some(progress)) => Ok(SupportAction::Set(progress)),
        ("set", None) => Err(invalid(
            "`set` needs `progress`: the progress the player will see",
        )),
        ("complete", None) => Ok(SupportAction::Complete),
        ("reset", None) => Ok(SupportAction::Reset),
        ("complete" | "reset", Some(_)) => Err(invalid("`progress` goes with `set` only")),
        (other, _) => Err(invalid(format!(
            "unknown `action` `{other}`: `set`, `complete` or `reset`"
        ))),
    }
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
    /// The page after an earlier answer's: its `next`.
    #[serde(default)]
    after: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AuditAnswer {
    entries: Vec<AuditEntryJson>,
    /// Pass it as `after` for the next, older page; null when this page is the last.
    next: Option<String>,
}

/// The audit log, newest first: every support action, or one player's. A deleted player's
/// entries name a pseudonym, so asking by their id answers none.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "support",
    params(("userId" = Option<String>, Query), ("limit" = Option<i64>, Query),
        ("after" = Option<String>, Query)),
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
    let user = query.user_id.map(player_id).transpose()?;
    let after = (query.after.as_deref())
        .map(|text| {
            store::AuditCursor::decode(text)
                .ok_or_else(|| invalid("`after` is not the `next` of an earlier answer"))
        })
        .transpose()?;
    let entries = (state.context.support)
        .audit_entries(user.as_ref(), after.as_ref(), limit)
        .await
        .map_err(crate::usecases::Error::from)?;
    let full = usize::try_from(limit).is_ok_and(|limit| entries.len() == limit);
    let next = (entries.last())
        .filter(|_| full)
        .map(|last| store::AuditCursor::after(last).encode());
    Ok(Json(AuditAnswer {
        entries: entries.into_iter().map(Into::into).collect(),
        next,
    }))
}

/// Most players one bulk request names.
const MAX_BULK: usize = 1_000;
/// Players worked on at once in a bulk request (a grant may wait for Platform).
const BULK_CONCURRENCY: usize = 8;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BulkProgressBody {
    /// The players, 1 to 1,000, each named once.
    user_ids: Vec<String>,
    challenge_id: String,
    goal_id: String,
    /// `set` (needs `progress`), `complete` or `reset`.
    action: String,
    #[serde(default)]
    progress: Option<i64>,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct BulkGrantBody {
    /// The players, 1 to 1,000, each named once.
    user_ids: Vec<String>,
    challenge_id: String,
    goal_id: String,
    #[serde(default)]
    reason: String,
}

/// One player's outcome in a bulk request: the HTTP status the single action would have
/// answered, with its error or its audit entry.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct BulkResultJson {
    user_id: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audit_id: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct BulkAnswer {
    /// In the order of `userIds`.
    results: Vec<BulkResultJson>,
    /// Players whose action was applied (or whose grant is on its way).
    succeeded: usize,
    failed: usize,
}

fn bulk_users(user_ids: Vec<String>) -> Result<Vec<engine::UserId>, ApiError> {
    if user_ids.is_empty() || user_ids.len() > MAX_BULK {
        return Err(invalid(format!(
            "`userIds` names 1 to {MAX_BULK} players, not {}",
            user_ids.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for user in &user_ids {
        if !seen.insert(user.as_str()) {
            return Err(invalid(format!("user id `{user}` is named twice")));
        }
    }
    user_ids.into_iter().map(player_id).collect()
}

/// One player's status and audit entry, or why the action was refused.
type Outcome = Result<(u16, Option<String>), crate::usecases::Error>;

/// Runs `act` for each player, [`BULK_CONCURRENCY`] at a time; each player's action is all or
/// nothing on its own, and one player's failure does not stop the others.
async fn for_each_player<F, Fut>(users: Vec<engine::UserId>, act: F) -> BulkAnswer
where
    F: Fn(engine::UserId) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(BULK_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for (at, user) in users.iter().enumerate() {
        let (gate, work) = (gate.clone(), act(user.clone()));
        tasks.spawn(async move {
            let _turn = gate.acquire_owned().await;
            (at, work.await)
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = (0..users.len()).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((at, outcome)) => outcomes[at] = Some(outcome),
            Err(err) => tracing::error!(error = %err, "a bulk support task failed"),
        }
    }
    let results: Vec<BulkResultJson> = (users.iter().zip(outcomes))
        .map(|(user, outcome)| match outcome {
            Some(Ok((status, audit_id))) => BulkResultJson {
                user_id: user.to_string(),
                status,
                error_code: None,
                message: None,
                audit_id,
            },
            Some(Err(err)) => BulkResultJson {
                user_id: user.to_string(),
                status: err.code.http_status().as_u16(),
                error_code: Some(err.code.as_str()),
                message: Some(err.message),
                audit_id: None,
            },
            None => BulkResultJson {
                user_id: user.to_string(),
                status: 500,
                error_code: Some(ErrorCode::Internal.as_str()),
                message: Some("internal error".into()),
                audit_id: None,
            },
        })
        .collect();
    let succeeded = results.iter().filter(|r| r.status < 300).count();
    BulkAnswer {
        failed: results.len() - succeeded,
        succeeded,
        results,
    }
}

/// A support action on one goal of many players at once: each player all or nothing, each
/// with its own audit entry; the answer reports every player's result.
#[utoipa::path(post, path = "/v1/admin/bulk/progress", tag = "support", request_body = BulkProgressBody,
    responses((status = 200, body = BulkAnswer), (status = 400, body = crate::error::ErrorJson),
        (status = 403, body = crate::error::ErrorJson)))]
pub(super) async fn bulk_progress(
    State(state): State<AppState>,
    caller: SupportCaller,
    ApiJson(body): ApiJson<BulkProgressBody>,
) -> Result<Json<BulkAnswer>, ApiError> {
    let action = parse_action(&body.action, body.progress)?;
    crate::usecases::support::checked_reason(&body.reason)?;
    let users = bulk_users(body.user_ids)?;
    let now = state.context.clock.now();
    let (challenge, goal, reason) = (body.challenge_id, body.goal_id, body.reason);
    let answer = for_each_player(users, |user| {
        let (ctx, actor) = (state.context.clone(), caller.actor.clone());
        let (challenge, goal, reason) = (challenge.clone(), goal.clone(), reason.clone());
        async move {
            let request = SupportRequest {
                actor: &actor,
                user: &user,
                challenge: &challenge,
                goal: &goal,
                action,
                reason: &reason,
            };
            change_progress(&ctx, request, now)
                .await
                .map(|audit_id| (200, Some(audit_id)))
        }
    })
    .await;
    Ok(Json(answer))
}

/// A grant on many players' behalf: each through the claim's own path, exactly once.
#[utoipa::path(post, path = "/v1/admin/bulk/grant", tag = "support", request_body = BulkGrantBody,
    responses((status = 200, body = BulkAnswer), (status = 400, body = crate::error::ErrorJson),
        (status = 403, body = crate::error::ErrorJson)))]
pub(super) async fn bulk_grant(
    State(state): State<AppState>,
    caller: SupportCaller,
    ApiJson(body): ApiJson<BulkGrantBody>,
) -> Result<Json<BulkAnswer>, ApiError> {
    crate::usecases::support::checked_reason(&body.reason)?;
    let users = bulk_users(body.user_ids)?;
    let now = state.context.clock.now();
    let (challenge, goal, reason) = (body.challenge_id, body.goal_id, body.reason);
    let answer = for_each_player(users, |user| {
        let (ctx, actor) = (state.context.clone(), caller.actor.clone());
        let (challenge, goal, reason) = (challenge.clone(), goal.clone(), reason.clone());
        async move {
            let granted = crate::usecases::support::grant(
                &ctx, &actor, &user, &challenge, &goal, &reason, now,
            )
            .await?;
            Ok(match granted {
                crate::usecases::claim::ClaimAnswer::Claimed(_) => (200, None),
                crate::usecases::claim::ClaimAnswer::Pending(_) => (202, None),
            })
        }
    })
    .await;
    Ok(Json(answer))
}
