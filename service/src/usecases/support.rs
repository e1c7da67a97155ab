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
    let refusal = std::sync::Mutex::new(None);
    let decide = |before: Option<&ProgressRow>| {
        let decided = support_change(goal, before.map(|r| &r.state), request.action, now);
        let after = match decided {
            Ok(after) => after,
            Err(refused) => {
                *refusal
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(refused);
                return None;
            }
        };
        let row = ProgressRow {
            user_id: request.user.clone(),
            goal_id: goal.id.clone(),
            challenge_id: goal.challenge_id.clone(),
            namespace: before.map_or_else(|| ctx.namespace.clone(), |r| r.namespace.clone()),
            state: after,
        };
        let notice = store::Notice::completed(
            goal,
            &row.namespace,
            row.user_id.as_str(),
            before.map(|r| &r.state),
            &row.state,
        );
        let entry = AuditEntry {
            id: store::audit::new_audit_id().ok()?,
            at: now,
            actor: request.actor.to_string(),
            action: request.action.as_str().to_string(),
            user_id: request.user.to_string(),
            challenge_id: Some(goal.challenge_id.to_string()),
            goal_id: Some(goal.id.to_string()),
            reason: reason.to_string(),
            detail: json!({
                "before": before.map(|r| shown(goal, &r.state)),
                "after": shown(goal, &row.state),
            })
            .to_string(),
        };
        Some((row, entry, notice))
    };
    // Decided on the row held in the store's transaction; tried again only when another writer
    // created the player's row between the read and the insert.
    for _ in 0..TRIES {
        if let Some(entry) = ctx
            .support
            .support_write(request.user, &goal.id, &decide)
            .await?
        {
            return Ok(entry.id);
        }
        let refused = refusal
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match refused {
            Some(SupportRefusal::Claimed) => {
                return Err(Error::new(
                    ErrorCode::AlreadyClaimed,
                    format!(
                        "goal `{}` was claimed in this period: its reward went out, so its progress stays",
                        goal.id
                    ),
                ));
            }
            Some(SupportRefusal::Negative) => {
                return Err(Error::new(
                    ErrorCode::ValidationFailed,
                    "`progress` must be 0 or more",
                ));
            }
            None => {}
        }
    }
    tracing::warn!(user = %request.user, goal = %goal.id, "a support action lost the race to create the player's row repeatedly");
    Err(Error::new(
        ErrorCode::Internal,
        "the goal's row could not be written; try again",
    ))
}

/// A reason kept in the audit log: 1 to [`MAX_REASON`] characters once trimmed.
pub fn checked_reason(reason: &str) -> Result<&str, Error> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            "`reason` is required: why this change (it is kept in the audit log)",
        ));
    }
    let length = reason.chars().count();
    if length > MAX_REASON {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            format!("`reason` is {length} characters; at most {MAX_REASON} are kept"),
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
        // The claim writes what it drew.
        detail: String::new(),
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
