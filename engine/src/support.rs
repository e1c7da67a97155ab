//! What a support action does to a player's goal (`POST /v1/admin/players/{user}/…/progress`):
//! set the progress, complete the goal, or reset it. Pure, like `progress`: the engine decides
//! the transition, the store writes it with the audit entry. A claimed goal is refused: its
//! reward went out, and changing it would let it be claimed again or hide that it was.
//!
//! A backfill (`backfill_change`) raises a goal to what replaying the archive gives, and only
//! raises.

use chrono::{DateTime, Utc};

use crate::model::{Assign, CountMode};
use crate::progress::{ProgressState, Status, current_period, shown_progress};
use crate::ruleset::CompiledGoal;

/// A support action on one goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportAction {
    /// The progress the player sees becomes this (completed at the target or above).
    Set(i64),
    /// Completed now, its progress at least the target.
    Complete,
    /// Back to not started, progress 0.
    Reset,
}

impl SupportAction {
    /// The action's name in the audit log and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SupportAction::Set(_) => "set",
            SupportAction::Complete => "complete",
            SupportAction::Reset => "reset",
        }
    }
}

/// Why a support action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupportRefusal {
    /// The goal's reward was claimed in this period.
    Claimed,
    /// `set` with a negative progress.
    Negative,
}

/// The state a support action leaves: from the row as the current period sees it (a fresh,
/// assigned row when the player has none), the progress the player sees set and the status that
/// follows from it against the target.
pub fn support_change(
    goal: &CompiledGoal,
    state: Option<&ProgressState>,
    action: SupportAction,
    now: DateTime<Utc>,
) -> Result<ProgressState, SupportRefusal> {
    let mut next = match state {
        Some(state) => current_period(goal, state, now).into_owned(),
        None => ProgressState::assigned(goal, now),
    };
    if next.status == Status::Claimed {
        return Err(SupportRefusal::Claimed);
    }
    let shown = match action {
        SupportAction::Set(progress) if progress < 0 => return Err(SupportRefusal::Negative),
        SupportAction::Set(progress) => progress,
        SupportAction::Complete => shown_progress(goal, &next).max(goal.target),
        SupportAction::Reset => 0,
    };
    // Relative counting stores the stat's value: what is shown is the value less the baseline.
    if goal.count == CountMode::Value && goal.relative {
        let baseline = next.baseline.unwrap_or(0);
        next.baseline = Some(baseline);
        next.progress = baseline.saturating_add(shown);
    } else {
        next.progress = shown;
    }
    let completed = match action {
        SupportAction::Complete => true,
        SupportAction::Reset => false,
        SupportAction::Set(progress) => progress >= goal.target,
    };
    next.status = match (completed, shown) {
        (true, _) => Status::Completed,
        (false, 0) => Status::NotStarted,
        (false, _) => Status::InProgress,
    };
    next.completed_at = match (completed, next.completed_at) {
        (true, Some(at)) => Some(at),
        (true, None) => Some(now),
        (false, _) => None,
    };
    if action == SupportAction::Reset {
        next.last_counted_day = None;
    }
    next.updated_at = now;
    next.expires_at = goal.rotation.map(|r| r.next_start(now));
    Ok(next)
}

/// What a backfill does to a player's goal: the row raised to what replaying the player's
/// archived events under the rules gives (`replayed`), as the current period sees both. Never
/// lowers, never touches a claimed or completed goal, a goal the player has not selected
/// (inactive) or one they were never assigned (no row, and not `assign: auto`): replay takes
/// every goal as assigned, production does not. `None`: nothing to do.
pub fn backfill_change(
    goal: &CompiledGoal,
    stored: Option<&ProgressState>,
    replayed: &ProgressState,
    now: DateTime<Utc>,
) -> Option<ProgressState> {
    let mut next = match stored {
        Some(state) => current_period(goal, state, now).into_owned(),
        None if goal.assign == Assign::Auto => ProgressState::assigned(goal, now),
        None => return None,
    };
    if !next.is_active || next.status.is_done() {
        return None;
    }
    let replayed = current_period(goal, replayed, now);
    let (from, to) = (shown_progress(goal, &next), shown_progress(goal, &replayed));
    if to <= from {
        return None;
    }
    if goal.count == CountMode::Value && goal.relative {
        match next.baseline {
            Some(baseline) => next.progress = baseline.saturating_add(to),
            None => {
                next.baseline = replayed.baseline;
                next.progress = replayed.progress;
            }
        }
    } else {
        next.progress = to;
    }
    next.last_counted_day = next.last_counted_day.max(replayed.last_counted_day);
    if to >= goal.target {
        next.status = Status::Completed;
        next.completed_at = Some(replayed.completed_at.unwrap_or(now).min(now));
    } else {
        next.status = Status::InProgress;
    }
    next.updated_at = now;
    next.expires_at = goal.rotation.map(|r| r.next_start(now));
    Some(next)
}
