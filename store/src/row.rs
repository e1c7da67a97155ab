//! A stored progress row: the key columns plus the engine's `ProgressState`.

use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, GoalId, ProgressState, UserId};

/// One row of `user_goal_progress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressRow {
    pub user_id: UserId,
    pub goal_id: GoalId,
    pub challenge_id: ChallengeId,
    pub namespace: String,
    pub state: ProgressState,
}

impl ProgressRow {
    /// A freshly assigned, active, not-started row of `goal` for `user_id`.
    pub fn assigned(
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            user_id: user_id.clone(),
            goal_id: goal.id.clone(),
            challenge_id: goal.challenge_id.clone(),
            namespace: namespace.to_string(),
            state: ProgressState::assigned(goal, now),
        }
    }

    pub fn key(&self) -> (UserId, GoalId) {
        (self.user_id.clone(), self.goal_id.clone())
    }
}

/// Progress values are stored as INT (the reference schema); larger values saturate.
pub(crate) fn to_db_int(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}
