//! Choosing goals: set one active, select a batch (all or nothing), select at random.

use chrono::{DateTime, Utc};
use engine::progress::GoalView;
use engine::{ChallengeId, CompiledGoal, GoalId, UserId};
use rand::seq::IndexedRandom;

use super::{Context, PlayerRows, challenge, goal};
use crate::usecases::error::{Error, ErrorCode};

/// A goal set active or not.
#[derive(Debug)]
pub struct ActiveSet {
    pub challenge_id: ChallengeId,
    pub goal_id: GoalId,
    pub is_active: bool,
    pub assigned_at: Option<DateTime<Utc>>,
}

/// Activates or deactivates one goal; progress is kept either way.
pub async fn set_active(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_id: &str,
    active: bool,
    now: DateTime<Utc>,
) -> Result<ActiveSet, Error> {
    let rules = ctx.rules.current();
    let found = goal(&rules, challenge_id, goal_id, now)?;
    let row = ctx
        .players
        .set_active_for_user(user, &ctx.namespace, found, active, now)
        .await?;
    Ok(ActiveSet {
        challenge_id: found.challenge_id.clone(),
        goal_id: found.id.clone(),
        is_active: row.state.is_active,
        assigned_at: row.state.assigned_at,
    })
}

/// A goal a selection chose, as the player has it now.
#[derive(Debug)]
pub struct SelectedGoal {
    pub goal: CompiledGoal,
    pub view: GoalView,
    pub locked: bool,
}

/// What a selection did.
#[derive(Debug)]
pub struct Selection {
    pub selected: Vec<SelectedGoal>,
    pub challenge_id: ChallengeId,
    /// The player's active goals in the challenge, after.
    pub total_active_goals: i64,
    /// The goals deactivated to make room (`replace_existing`).
    pub replaced: Vec<GoalId>,
    pub now: DateTime<Utc>,
}

/// Activates `goal_ids` (all or nothing); with `replace_existing`, deactivates the challenge's
/// other active goals in the same transaction.
pub async fn batch_select(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    goal_ids: &[String],
    replace_existing: bool,
    now: DateTime<Utc>,
) -> Result<Selection, Error> {
    if goal_ids.is_empty() {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            "goalIds must name at least one goal",
        ));
    }
    let rules = ctx.rules.current();
    let mut chosen = Vec::new();
    for id in goal_ids {
        let found = goal(&rules, challenge_id, id, now)?;
        if found.is_retired(now) {
            return Err(Error::new(
                ErrorCode::GoalInactive,
                format!("goal `{id}` is retired: it can no longer be selected"),
            ));
        }
        if !chosen
            .iter()
            .any(|g: &&engine::CompiledGoal| g.id == found.id)
        {
            chosen.push(found);
        }
    }
    select(ctx, user, challenge_id, &chosen, replace_existing, now).await
}

/// Picks up to `count` goals at random from those the player can still do: not completed or
/// claimed, not locked, and (with `exclude_active` or `replace_existing`) not already active.
pub async fn random_select(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    count: usize,
    replace_existing: bool,
    exclude_active: bool,
    now: DateTime<Utc>,
) -> Result<Selection, Error> {
    if count == 0 {
        return Err(Error::new(
            ErrorCode::ValidationFailed,
            "count must be at least 1",
        ));
    }
    let rules = ctx.rules.current();
    let found = challenge(&rules, challenge_id, now)?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, now).await?;
    let pool: Vec<&engine::CompiledGoal> = rules
        .goals_of(found)
        .filter(|g| {
            let view = progress.view(g);
            !view.status.is_done()
                && !g.is_retired(now)
                && !progress.is_locked(&rules, g)
                && !((exclude_active || replace_existing) && view.is_active && view.exists)
        })
        .collect();
    if pool.is_empty() {
        return Err(Error::new(
            ErrorCode::InsufficientGoals,
            format!("no goal of `{challenge_id}` is available to select"),
        ));
    }
    let chosen: Vec<&engine::CompiledGoal> = pool
        .choose_multiple(&mut rand::rng(), count.min(pool.len()))
        .copied()
        .collect();
    select(ctx, user, challenge_id, &chosen, replace_existing, now).await
}

async fn select(
    ctx: &Context,
    user: &UserId,
    challenge_id: &str,
    chosen: &[&engine::CompiledGoal],
    replace_existing: bool,
    now: DateTime<Utc>,
) -> Result<Selection, Error> {
    let rules = ctx.rules.current();
    let replaced: Vec<GoalId> = if replace_existing {
        let progress = PlayerRows::load(ctx.players.as_ref(), user, true, now).await?;
        let challenge = challenge(&rules, challenge_id, now)?;
        rules
            .goals_of(challenge)
            .filter(|g| progress.row(&g.id).is_some() && !chosen.iter().any(|c| c.id == g.id))
            .map(|g| g.id.clone())
            .collect()
    } else {
        Vec::new()
    };
    ctx.players
        .activate_batch_for_user(user, &ctx.namespace, chosen, &replaced, now)
        .await?;
    let progress = PlayerRows::load(ctx.players.as_ref(), user, false, now).await?;
    let total_active = ctx
        .players
        .count_active_for_user(user, Some(&engine::ChallengeId::new(challenge_id)))
        .await?;
    Ok(Selection {
        selected: chosen
            .iter()
            .map(|g| SelectedGoal {
                goal: (*g).clone(),
                view: progress.view(g),
                locked: progress.is_locked(&rules, g),
            })
            .collect(),
        challenge_id: ChallengeId::new(challenge_id),
        total_active_goals: total_active,
        replaced,
        now,
    })
}
