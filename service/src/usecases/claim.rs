//! Claiming a reward: checks in the documented order, a durable intent (with a transaction id
//! derived from namespace, user, goal and period) before Platform is called, and a delivery
//! that runs detached from the HTTP request, so a player who hangs up still gets the reward
//! once and a player who asks again is told it is pending.

use chrono::{DateTime, Utc};
use engine::{ClaimRefusal, GoalId, Reward, UserId};
use store::{ClaimStart, Delivery, IntentKey, NewIntent};

use super::delivery::{Delivered, Owned, deliver};
use super::rewards::reward_record;
use super::{Context, PlayerRows, goal};
use crate::usecases::error::{Error, ErrorCode};

/// A granted claim.
#[derive(Debug)]
pub struct Claimed {
    pub goal_id: GoalId,
    /// What it granted (a table's entry as drawn), part by part.
    pub rewards: Vec<Reward>,
    pub claimed_at: DateTime<Utc>,
}

/// The reward is on its way: granted soon, or an operator decides an unknown outcome.
#[derive(Debug)]
pub struct ClaimPending {
    pub goal_id: GoalId,
    /// What is being granted (as drawn), part by part.
    pub rewards: Vec<Reward>,
}

/// What a claim answers.
#[derive(Debug)]
pub enum ClaimAnswer {
    Claimed(Claimed),
    Pending(ClaimPending),
}

pub async fn claim(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    now: DateTime<Utc>,
) -> Result<ClaimAnswer, Error> {
    claim_recorded(ctx, user, challenge_id, goal_id, now, None).await
}

/// [`claim`], with `audit` written in the transaction that records the intent (a support grant
/// on the player's behalf): the entry exists exactly when the intent does.
pub async fn claim_recorded(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    now: DateTime<Utc>,
    audit: Option<store::AuditEntry>,
) -> Result<ClaimAnswer, Error> {
    let (goal_id, drawn, detached) =
        match begin(ctx, user, challenge_id, goal_id, now, now, audit).await? {
            Begun::Answered(answer) => return Ok(answer),
            Begun::Delivering {
                goal_id,
                drawn,
                task,
            } => (goal_id, drawn, task),
        };
    let pending = |rewards: Vec<Reward>| {
        ClaimAnswer::Pending(ClaimPending {
            goal_id: goal_id.clone(),
            rewards,
        })
    };
    match detached.await {
        Ok(Ok(Delivered::Granted { claimed_at })) => Ok(ClaimAnswer::Claimed(Claimed {
            goal_id: goal_id.clone(),
            rewards: drawn,
            claimed_at,
        })),
        Ok(Ok(Delivered::Refused(_))) => Err(Error::new(
            ErrorCode::RewardGrantFailed,
            "the reward could not be granted; try again later",
        )),
        Ok(Ok(Delivered::Pending)) => Ok(pending(drawn)),
        Ok(Err(err)) => Err(err.into()),
        Err(err) => {
            tracing::error!(error = %err, "a reward delivery task failed");
            Ok(pending(drawn))
        }
    }
}

/// A claim the service makes for the player (`claim: auto`): the same checks, intent and
/// delivery as the player's, without waiting for Platform's answer (the delivery goes on
/// detached; a reconciler finishes what it leaves). Checked as of `completed_at`, when the
/// completion that triggers it happened: a record delivered after the goal's period ended (a
/// daily goal completed a second before midnight) still claims that period.
pub async fn auto_claim(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    completed_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    begin(ctx, user, challenge_id, goal_id, completed_at, now, None)
        .await
        .map(|_| ())
}

/// A claim checked and its intent recorded: answered at once, or its delivery started.
enum Begun {
    Answered(ClaimAnswer),
    Delivering {
        goal_id: GoalId,
        drawn: Vec<Reward>,
        task: tokio::task::JoinHandle<Result<Delivered, store::StoreError>>,
    },
}

/// Checks and records a claim whose period is the one in force `at` (the claim's own time,
/// or an auto-claim's completion), leased from `now`.
async fn begin(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    audit: Option<store::AuditEntry>,
) -> Result<Begun, Error> {
    let rules = ctx.rules.current();
    let found = goal(&rules, challenge_id, goal_id, at)?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, at).await?;
    let row = progress.row(&found.id);
    rules
        .check_claim(found, row.map(|r| &r.state), progress.status_of(&rules), at)
        .map_err(|refusal| refused(refusal, goal_id))?;
    // One grant per period. Goals that never rotate, and rotating ones that carry their
    // progress over (claimable once, whenever completed), have a single period: the epoch, and
    // no end (the claim marks their row whatever its current expiry).
    let (period_start, period_end) = match found.rotation {
        Some(rotation) if rotation.reset_progress => {
            (rotation.start_of(at), Some(rotation.next_start(at)))
        }
        _ => (DateTime::<Utc>::UNIX_EPOCH, None),
    };
    let key = IntentKey {
        user_id: user.clone(),
        goal_id: found.id.clone(),
        period_start,
    };
    // A table's entry is drawn here, from the transaction id, and recorded with the intent
    // before anything is sent: every retry, replica and reconciler grants this draw.
    let drawn = found
        .rewards
        .draw(&store::claims::transaction_id(&ctx.namespace, &key));
    let intent = NewIntent {
        key,
        namespace: ctx.namespace.clone(),
        challenge_id: found.challenge_id.to_string(),
        delivery: if drawn.is_empty() {
            Delivery::None
        } else {
            ctx.rewards.delivery(&drawn)
        },
        reward: reward_record(&drawn),
        period_end,
        lease_until: ctx.claims.lease_from(now),
        audit: audit.map(|entry| store::AuditEntry {
            detail: granted_detail(&drawn),
            ..entry
        }),
    };
    let started = match ctx.ledger.begin_claim(&intent, now).await? {
        ClaimStart::Started(started) => started,
        ClaimStart::InProgress(_) => {
            return Ok(Begun::Answered(ClaimAnswer::Pending(ClaimPending {
                goal_id: found.id.clone(),
                rewards: drawn,
            })));
        }
        ClaimStart::AlreadyClaimed => {
            return Err(refused(ClaimRefusal::AlreadyClaimed, goal_id));
        }
        ClaimStart::NotCompleted => return Err(refused(ClaimRefusal::NotCompleted, goal_id)),
    };
    // What was recorded: a bundle partly granted before a refusal keeps its first draw.
    let drawn = super::rewards::rewards_from_record(&started.reward);
    // Detached: the delivery goes on (and records its outcome) if the player hangs up.
    let task = {
        let ctx = ctx.clone();
        tokio::spawn(async move { deliver(&ctx, &started, Owned::Claimed).await })
    };
    Ok(Begun::Delivering {
        goal_id: found.id.clone(),
        drawn,
        task,
    })
}

/// A support grant's audit detail: what the claim drew (one reward, or the list).
fn granted_detail(drawn: &[Reward]) -> String {
    let record = reward_record(drawn);
    let reward = serde_json::from_str(&record).unwrap_or(serde_json::Value::String(record));
    serde_json::json!({ "reward": reward }).to_string()
}

fn refused(refusal: ClaimRefusal, goal_id: &str) -> Error {
    match refusal {
        ClaimRefusal::NotCompleted => Error::new(
            ErrorCode::GoalNotCompleted,
            format!("goal `{goal_id}` is not completed"),
        ),
        ClaimRefusal::Inactive => Error::new(
            ErrorCode::GoalInactive,
            format!("goal `{goal_id}` is not active"),
        ),
        ClaimRefusal::Rotated => Error::new(
            ErrorCode::GoalRotated,
            format!("goal `{goal_id}` has rotated; its period is over"),
        ),
        ClaimRefusal::AlreadyClaimed => Error::new(
            ErrorCode::AlreadyClaimed,
            format!("goal `{goal_id}` is already claimed"),
        ),
        ClaimRefusal::PrerequisitesNotMet => Error::new(
            ErrorCode::PrerequisitesNotMet,
            format!("goal `{goal_id}` has prerequisites that are not completed"),
        ),
    }
}
