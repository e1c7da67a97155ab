//! Support's actions on a player, each with a reason, each on record: set a goal's progress,
//! complete it or reset it. The engine decides the transition (`engine::support`); the store
//! writes it and its audit entry in one transaction, only on the row as it was read, so an
//! event or a claim landing meanwhile is never overwritten: the action is decided again.

use chrono::{DateTime, Utc};
use engine::support::{SupportAction, SupportRefusal, support_change};
use engine::{ProgressState, UserId};
use serde_json::json;
use store::{AuditEntry, ProgressRow};

use super::{Context, Error, ErrorCode};

/// Longest reason kept.
pub const MAX_REASON: usize = 2_000;
/// Tries when events keep moving the row between the read and the write.
const TRIES: usize = 5;

/// Who asks what, and why.
pub struct SupportRequest<'a> {
    pub actor: &'a str,
    pub user: &'a UserId,
    pub challenge: &'a str,
    pub goal: &'a str,
    pub action: SupportAction,
    pub reason: &'a str,
}

/// Applies a support action; answers the audit entry's id.
pub async fn change_progress(
    ctx: &Context,
    request: SupportRequest<'_>,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let reason = checked_reason(request.reason)?;
    let rules = ctx.rules.current();
    let goal = super::goal(&rules, request.challenge, request.goal, now)?;
    for _ in 0..TRIES {
        let rows = ctx.players.progress_for_user(request.user, false).await?;
        let before = rows.into_iter().find(|row| row.goal_id == goal.id);
        let after = support_change(goal, before.as_ref().map(|r| &r.state), request.action, now)
            .map_err(|refusal| match refusal {
                SupportRefusal::Claimed => Error::new(
                    ErrorCode::AlreadyClaimed,
                    format!(
                        "goal `{}` was claimed in this period: its reward went out, so its progress stays",
                        goal.id
                    ),
                ),
                SupportRefusal::Negative => Error::new(
                    ErrorCode::ValidationFailed,
                    "`progress` must be 0 or more",
                ),
            })?;
        let row = ProgressRow {
            user_id: request.user.clone(),
            goal_id: goal.id.clone(),
            challenge_id: goal.challenge_id.clone(),
            namespace: (before.as_ref())
                .map_or_else(|| ctx.namespace.clone(), |r| r.namespace.clone()),
            state: after,
        };
        let entry = AuditEntry {
            id: store::audit::new_audit_id()?,
            at: now,
            actor: request.actor.to_string(),
            action: request.action.as_str().to_string(),
            user_id: request.user.to_string(),
            challenge_id: Some(goal.challenge_id.to_string()),
            goal_id: Some(goal.id.to_string()),
            reason: reason.to_string(),
            detail: json!({
                "before": before.as_ref().map(|r| shown(goal, &r.state)),
                "after": shown(goal, &row.state),
            })
            .to_string(),
        };
        if ctx
            .support
            .support_write(before.as_ref(), &row, &entry)
            .await?
        {
            return Ok(entry.id);
        }
    }
    Err(Error::new(
        ErrorCode::Timeout,
        "the goal kept changing while the action was applied; try again",
    ))
}

/// A reason kept in the audit log: 1 to [`MAX_REASON`] characters once trimmed.
pub fn checked_reason(reason: &str) -> Result<&str, Error> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            format!("`reason` is required: why this change, in 1 to {MAX_REASON} characters"),
        ));
    }
    Ok(reason)
}

/// Claims a completed goal's reward on the player's behalf, through the claim's own path (one
/// intent, one transaction id, delivered exactly once), with the audit entry written in the
/// transaction that records the intent: a grant refused (not completed, already claimed)
/// leaves no entry, and one that started always has its entry.
pub async fn grant(
    ctx: &Context,
    actor: &str,
    user: &UserId,
    challenge: &str,
    goal_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<super::claim::ClaimAnswer, Error> {
    let reason = checked_reason(reason)?;
    let rules = ctx.rules.current();
    let goal = super::goal(&rules, challenge, goal_id, now)?;
    let entry = AuditEntry {
        id: store::audit::new_audit_id()?,
        at: now,
        actor: actor.to_string(),
        action: "grant".to_string(),
        user_id: user.to_string(),
        challenge_id: Some(goal.challenge_id.to_string()),
        goal_id: Some(goal.id.to_string()),
        reason: reason.to_string(),
        detail: {
            let record = super::delivery::reward_record(goal.reward.as_ref());
            let reward = serde_json::from_str(&record).unwrap_or(serde_json::Value::String(record));
            json!({ "reward": reward }).to_string()
        },
    };
    super::claim::claim_recorded(ctx, user, challenge, goal_id, now, Some(entry)).await
}

/// A goal's state as the audit records it: the progress the player sees, and the status.
fn shown(goal: &engine::CompiledGoal, state: &ProgressState) -> serde_json::Value {
    json!({
        "progress": engine::progress::shown_progress(goal, state),
        "status": state.status.as_str(),
    })
}
