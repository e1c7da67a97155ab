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

#[derive(Debug, Serialize)]
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
            transaction_id: format!("{}:{}:{}", user, found.id, period_start.timestamp()),
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
