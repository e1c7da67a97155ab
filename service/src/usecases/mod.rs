//! The player use-cases: plain async functions over the rule set and the store, free of HTTP
//! types, so REST handlers and tests call the same code.

pub mod auto_claim;
pub mod backfill;
pub mod challenges;
pub mod claim;
pub mod delivery;
pub mod designers;
pub mod error;
pub mod history;
pub mod notifications;
pub mod replay;
pub mod rewards;
pub mod selection;
pub mod support;
pub mod timeline;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use engine::progress::{GoalView, view};
use engine::{CompiledChallenge, CompiledGoal, GoalId, RuleSet, RuleSetHandle, Status, UserId};
use store::{ClaimLedger, EventArchive, PlayerProgress, ProgressRow};

use crate::rewards::RewardClient;
pub use error::{Error, ErrorCode};

/// What the use-cases need.
#[derive(Clone)]
pub struct Context {
    pub rules: Arc<RuleSetHandle>,
    /// Players' rows and assignment.
    pub players: Arc<dyn PlayerProgress>,
    /// Reward intents.
    pub ledger: Arc<dyn ClaimLedger>,
    /// The event archive's reads (explain, replay).
    pub archive: Arc<dyn EventArchive>,
    /// Support's writes and the audit log.
    pub support: Arc<dyn store::SupportLog>,
    pub rewards: Arc<dyn RewardClient>,
    pub namespace: String,
    /// Where "now" comes from (a set clock in tests).
    pub clock: engine::Clock,
    /// Deadlines and leases of reward delivery.
    pub claims: delivery::ClaimSettings,
    pub metrics: Arc<pipeline::metrics::Metrics>,
    /// When this process last cut the waiting rewards' backoff short.
    pub expedite: Arc<delivery::Expedite>,
    /// Simulations and replays of edits, one at a time each.
    pub exclusive: Arc<designers::Exclusive>,
}

/// A player's rows, keyed by goal, as the current period sees them.
pub struct PlayerRows {
    rows: HashMap<GoalId, ProgressRow>,
    now: DateTime<Utc>,
}

impl PlayerRows {
    pub async fn load(
        store: &dyn PlayerProgress,
        user: &UserId,
        active_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let rows = store.progress_for_user(user, active_only).await?;
        Ok(Self::from_rows(rows, now))
    }

    /// The same for an answer only (the list, one challenge): read through the cache when
    /// there is one. A decision (claim, selection) uses [`Self::load`].
    pub async fn load_for_display(
        store: &dyn PlayerProgress,
        user: &UserId,
        active_only: bool,
        now: DateTime<Utc>,
    ) -> Result<Self, Error> {
        let rows = store.progress_for_display(user, active_only).await?;
        Ok(Self::from_rows(rows, now))
    }

    /// A player's progress from rows already read.
    pub fn from_rows(rows: Vec<ProgressRow>, now: DateTime<Utc>) -> Self {
        Self {
            rows: rows
                .into_iter()
                .map(|row| (row.goal_id.clone(), row))
                .collect(),
            now,
        }
    }

    pub fn row(&self, goal: &GoalId) -> Option<&ProgressRow> {
        self.rows.get(goal)
    }

    pub fn view(&self, goal: &CompiledGoal) -> GoalView {
        view(
            goal,
            self.rows.get(&goal.id).map(|row| &row.state),
            self.now,
        )
    }

    /// Current-period status of any goal (for prerequisites).
    pub fn status_of<'a>(&'a self, rules: &'a RuleSet) -> impl Fn(&GoalId) -> Option<Status> + 'a {
        move |id| {
            let goal = rules.goal(id.as_str())?;
            let row = self.rows.get(id)?;
            Some(view(goal, Some(&row.state), self.now).status)
        }
    }

    pub fn is_locked(&self, rules: &RuleSet, goal: &CompiledGoal) -> bool {
        rules.is_locked(goal, self.status_of(rules))
    }
}

/// The challenge a request names, if it is visible now.
pub fn challenge<'a>(
    rules: &'a RuleSet,
    challenge_id: &str,
    now: DateTime<Utc>,
) -> Result<&'a engine::CompiledChallenge, Error> {
    rules
        .challenge(challenge_id)
        .filter(|c| visible(c, now))
        .ok_or_else(|| {
            Error::new(
                ErrorCode::ChallengeNotFound,
                format!("challenge `{challenge_id}` not found"),
            )
        })
}

/// The goal a request names within its challenge.
pub fn goal<'a>(
    rules: &'a RuleSet,
    challenge_id: &str,
    goal_id: &str,
    now: DateTime<Utc>,
) -> Result<&'a CompiledGoal, Error> {
    challenge(rules, challenge_id, now)?;
    // A retired goal is gone once its claim grace has passed.
    goal_in(rules, challenge_id, goal_id)
        .filter(|goal| goal.is_shown(now))
        .ok_or_else(|| {
            Error::new(
                ErrorCode::GoalNotFound,
                format!("goal `{goal_id}` not found in challenge `{challenge_id}`"),
            )
        })
}

/// Whether a challenge is visible now: inside its schedule window, or within its claim grace.
pub fn visible(challenge: &CompiledChallenge, now: DateTime<Utc>) -> bool {
    // After its end a season stays readable (and its rewards claimable) for its claim grace;
    // its events stop counting at the end (the engine's `Schedule::contains`).
    challenge.schedule.claimable(now)
}

/// The goals of a challenge that a request names, or 404.
fn goal_in<'a>(rules: &'a RuleSet, challenge_id: &str, goal_id: &str) -> Option<&'a CompiledGoal> {
    rules
        .goal(goal_id)
        .filter(|goal| goal.challenge_id.as_str() == challenge_id)
}
