//! A stored progress row: the key columns plus the engine's `ProgressState`.

use engine::{ChallengeId, GoalId, ProgressState, UserId};

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
    pub fn key(&self) -> (UserId, GoalId) {
        (self.user_id.clone(), self.goal_id.clone())
    }
}

/// Progress values are stored as INT (the reference schema); larger values saturate.
pub(crate) fn to_db_int(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}
