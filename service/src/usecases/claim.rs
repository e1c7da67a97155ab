//! Claiming a reward (progress.md, "Claim"): checks in the documented order, a durable intent
//! before the reward service is called, no transaction held across that call, and exactly one
//! grant per (user, goal, period).

use chrono::{DateTime, Utc};
use engine::{ClaimRefusal, UserId};
use serde::Serialize;
use store::ClaimStart;

use super::{Context, PlayerProgress, goal};
use crate::error::{ApiError, ErrorCode};
use crate::rewards::{GrantError, GrantRequest};
use crate::views::{RewardJson, time};

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Claimed {
    pub goal_id: String,
    pub status: &'static str,
    pub reward: Option<RewardJson>,
    pub claimed_at: String,
}

pub async fn claim(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    now: DateTime<Utc>,
) -> Result<Claimed, ApiError> {
    let rules = ctx.rules.current();
    let found = goal(&rules, challenge_id, goal_id, now)?;
    let progress = PlayerProgress::load(ctx.store.as_ref(), user, false, now).await?;
    let row = progress.row(&found.id);
    rules
        .check_claim(
            found,
            row.map(|r| &r.state),
            progress.status_of(&rules),
            now,
        )
        .map_err(|refusal| match refusal {
            ClaimRefusal::NotCompleted => ApiError::new(
                ErrorCode::GoalNotCompleted,
                format!("goal `{goal_id}` is not completed"),
            ),
            ClaimRefusal::Inactive => ApiError::new(
                ErrorCode::GoalInactive,
                format!("goal `{goal_id}` is not active"),
            ),
            ClaimRefusal::Rotated => ApiError::new(
                ErrorCode::GoalRotated,
                format!("goal `{goal_id}` has rotated; its period is over"),
            ),
            ClaimRefusal::AlreadyClaimed => ApiError::new(
                ErrorCode::AlreadyClaimed,
                format!("goal `{goal_id}` is already claimed"),
            ),
            ClaimRefusal::PrerequisitesNotMet => ApiError::new(
                ErrorCode::PrerequisitesNotMet,
                format!("goal `{goal_id}` has prerequisites that are not completed"),
            ),
        })?;
    let Some(row) = row else {
        return Err(ApiError::new(
            ErrorCode::GoalNotCompleted,
            format!("goal `{goal_id}` is not completed"),
        ));
    };
    // One grant per period: fixed goals have a single period starting at the epoch.
    let period_start = found
        .rotation
        .map_or(DateTime::<Utc>::UNIX_EPOCH, |r| r.every.start_of(now));
    let reward = RewardJson::of(found.reward.as_ref());
    let reward_record = serde_json::to_string(&reward).unwrap_or_else(|_| "null".into());
    match ctx
        .store
        .begin_claim(user, &found.id, period_start, &reward_record, now)
        .await?
    {
        ClaimStart::Started => {}
        ClaimStart::AlreadyClaimed | ClaimStart::InProgress => {
            return Err(ApiError::new(
                ErrorCode::AlreadyClaimed,
                format!("goal `{goal_id}` is already claimed"),
            ));
        }
        ClaimStart::NotCompleted => {
            return Err(ApiError::new(
                ErrorCode::GoalNotCompleted,
                format!("goal `{goal_id}` is not completed"),
            ));
        }
    }
    if let Some(reward) = &found.reward {
        let request = GrantRequest {
            user_id: user.clone(),
            namespace: ctx.namespace.clone(),
            reward: reward.clone(),
            // Stable per (user, goal, period): the reward service can deduplicate retries.
            transaction_id: transaction_id(user, &found.id, period_start),
        };
        if let Err(err) = ctx.rewards.grant(&request).await {
            return Err(match err {
                GrantError::Rejected(message) | GrantError::Unavailable(message) => {
                    tracing::warn!(user_id = %user, goal_id, error = %message, "reward grant failed; the goal stays claimable");
                    ctx.store
                        .fail_claim(user, &found.id, period_start, &message, Utc::now())
                        .await?;
                    ApiError::new(
                        ErrorCode::RewardGrantFailed,
                        "the reward could not be granted; try again later",
                    )
                }
            });
        }
    }
    let claimed_state = engine::progress::claimed(&row.state, now);
    let stored = ctx
        .store
        .finish_claim(user, &found.id, period_start, &claimed_state)
        .await?;
    Ok(Claimed {
        goal_id: goal_id.to_string(),
        status: "claimed",
        reward,
        claimed_at: time(stored.and_then(|r| r.state.claimed_at).or(Some(now))),
    })
}

/// The grant's transaction id: stable per (user, goal, period), so retries carry the same one.
fn transaction_id(user: &UserId, goal: &engine::GoalId, period_start: DateTime<Utc>) -> String {
    format!("{user}:{goal}:{}", period_start.timestamp())
}

/// What a reconciler pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub granted: usize,
    pub failed: usize,
    pub still_pending: usize,
}

/// Finishes claims whose intent was recorded but whose grant never completed (a crash, a
/// timeout): grants the reward and marks the goal claimed, or marks the intent failed on a
/// definite refusal. Intents younger than `before` are left to the claim in flight.
pub async fn reconcile(
    ctx: &Context,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Reconciled, ApiError> {
    let mut report = Reconciled::default();
    for pending in ctx.store.pending_claims(before, limit).await? {
        let Some(reward) = reward_from_record(&pending.reward) else {
            // A claim of a goal without reward: only the row is left to mark.
            finish(ctx, &pending).await?;
            report.granted += 1;
            continue;
        };
        let request = GrantRequest {
            user_id: pending.user_id.clone(),
            namespace: ctx.namespace.clone(),
            reward,
            transaction_id: transaction_id(
                &pending.user_id,
                &pending.goal_id,
                pending.period_start,
            ),
        };
        match ctx.rewards.grant(&request).await {
            Ok(()) => {
                finish(ctx, &pending).await?;
                report.granted += 1;
            }
            Err(GrantError::Rejected(message)) => {
                ctx.store
                    .fail_claim(
                        &pending.user_id,
                        &pending.goal_id,
                        pending.period_start,
                        &message,
                        Utc::now(),
                    )
                    .await?;
                report.failed += 1;
            }
            Err(GrantError::Unavailable(_)) => report.still_pending += 1,
        }
    }
    if report != Reconciled::default() {
        tracing::info!(
            granted = report.granted,
            failed = report.failed,
            still_pending = report.still_pending,
            "reconciled pending claims"
        );
    }
    Ok(report)
}

async fn finish(ctx: &Context, pending: &store::PendingClaim) -> Result<(), ApiError> {
    let now = Utc::now();
    let row = ctx
        .store
        .progress_for_user_goal(&pending.user_id, &pending.goal_id)
        .await?;
    let Some(row) = row else {
        return Ok(());
    };
    let claimed_state = engine::progress::claimed(&row.state, now);
    ctx.store
        .finish_claim(
            &pending.user_id,
            &pending.goal_id,
            pending.period_start,
            &claimed_state,
        )
        .await?;
    Ok(())
}

/// The reward as recorded with the intent (`RewardJson`), back to the engine's type.
fn reward_from_record(record: &str) -> Option<engine::Reward> {
    let value: serde_json::Value = serde_json::from_str(record).ok()?;
    let id = value.get("rewardId")?.as_str()?.to_string();
    let quantity = value.get("quantity")?.as_i64()?;
    match value.get("type")?.as_str()? {
        "WALLET" => Some(engine::Reward::Wallet {
            currency: id,
            amount: quantity,
        }),
        "ITEM" => Some(engine::Reward::Item {
            item_id: id,
            quantity,
        }),
        _ => None,
    }
}
