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

/// The answer of one `delete_expired` statement: `next` is set only when the walk filled its limit.
pub(crate) fn expired_batch(
    deleted: i64,
    scanned: i64,
    limit: i64,
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
    user_id: Option<String>,
    goal_id: Option<String>,
) -> crate::ExpiredBatch {
    let next = match (expires_at, user_id, goal_id) {
        (Some(expires_at), Some(user_id), Some(goal_id)) if scanned >= limit => {
            Some(crate::ExpiryCursor {
                expires_at,
                user_id: engine::UserId::new(user_id),
                goal_id: engine::GoalId::new(goal_id),
            })
        }
        _ => None,
    };
    crate::ExpiredBatch {
        deleted: u64::try_from(deleted).unwrap_or(0),
        next,
    }
}
