//! The progress state machine: the ONE implementation of how an event changes a player's goal
//! (`RuleSet::apply`), how a stored row reads in the current rotation period (`view`), and
//! whether a claim may proceed (`check_claim`). Pure: no I/O, the clock is an argument.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, Utc};

use crate::event::Event;
use crate::ids::GoalId;
use crate::model::{Assign, CountMode};
use crate::rhai_env::{EvalError, ExprScope};
use crate::ruleset::{CompiledGoal, RuleSet};

pub use crate::model::StatusName as Status;

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "not_started",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Claimed => "claimed",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Some(match text {
            "not_started" => Status::NotStarted,
            "in_progress" => Status::InProgress,
            "completed" => Status::Completed,
            "claimed" => Status::Claimed,
            _ => return None,
        })
    }

    /// Completed or claimed: what a prerequisite needs to be.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Completed | Status::Claimed)
    }
}

/// One player's state of one goal: what `user_goal_progress` stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressState {
    /// Stored progress; for relative counting the stat's absolute value (see `baseline`).
    pub progress: i64,
    /// Relative counting: the stat value at the start of the period.
    pub baseline: Option<i64>,
    pub status: Status,
    pub is_active: bool,
    pub assigned_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Start of the next rotation period (rotating goals only).
    pub expires_at: Option<DateTime<Utc>>,
    /// `count: days` and `streak`: the last day that counted (a day of the challenge's
    /// calendar: its time zone, from its reset time).
    pub last_counted_day: Option<NaiveDate>,
}

impl ProgressState {
    /// A freshly assigned, active row.
    pub fn assigned(goal: &CompiledGoal, now: DateTime<Utc>) -> Self {
        Self {
            progress: 0,
            baseline: None,
            status: Status::NotStarted,
            is_active: true,
            assigned_at: Some(now),
            completed_at: None,
            claimed_at: None,
            created_at: now,
            updated_at: now,
            expires_at: goal.rotation.map(|r| r.next_start(now)),
            last_counted_day: None,
        }
    }
}

/// Why an event left a goal as it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// The challenge's schedule window does not contain the event.
    OutsideSchedule,
    /// No row, and the goal is not `assign: auto`.
    NotAssigned,
    Inactive,
    AlreadyClaimed,
    /// Completion is sticky within a period; nothing more to count.
    AlreadyCompleted,
    /// `count: days` or `streak` already counted this day (a streak: or a later one).
    SameDay,
    /// The event computed the same state.
    NoChange,
    /// An `amount`/`progress` expression failed: no change for this goal, logged by the caller.
    Evaluation(EvalError),
}

/// What `apply` decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Persist this state.
    Changed(ProgressState),
    Unchanged(Skip),
}

impl PartialEq for EvalError {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

/// A stored row as it reads now: in a new rotation period, reset (without being written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalView {
    /// Progress to show against the target (relative counting applied).
    pub progress: i64,
    pub status: Status,
    pub is_active: bool,
    pub assigned_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When events count again, while `schedule.days` leaves today out.
    pub opens_at: Option<DateTime<Utc>>,
    /// A row exists for this goal.
    pub exists: bool,
    /// The row belongs to an earlier rotation period than `now`.
    pub rotated: bool,
}

/// Why a claim is refused, in the order progress.md checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRefusal {
    NotCompleted,
    Inactive,
    Rotated,
    AlreadyClaimed,
    PrerequisitesNotMet,
}

/// Whether `state` was last written in an earlier rotation period than `now`.
pub fn is_rotated(goal: &CompiledGoal, state: &ProgressState, now: DateTime<Utc>) -> bool {
    goal.rotation
        .is_some_and(|rotation| state.updated_at < rotation.start_of(now))
}

/// The row as the current period sees it: reset when it belongs to an earlier period and the
/// rotation resets (a claimed row only when reselection is allowed); otherwise unchanged.
pub fn current_period<'s>(
    goal: &CompiledGoal,
    state: &'s ProgressState,
    now: DateTime<Utc>,
) -> Cow<'s, ProgressState> {
    let Some(rotation) = goal.rotation else {
        return Cow::Borrowed(state);
    };
    if !is_rotated(goal, state, now) || !rotation.reset_progress {
        return Cow::Borrowed(state);
    }
    if state.status == Status::Claimed && !rotation.allow_reselection {
        return Cow::Borrowed(state);
    }
    Cow::Owned(ProgressState {
        progress: 0,
        baseline: None,
        status: Status::NotStarted,
        completed_at: None,
        claimed_at: None,
        last_counted_day: None,
        expires_at: Some(rotation.next_start(now)),
        ..state.clone()
    })
}

/// Progress to show against the target.
pub fn shown_progress(goal: &CompiledGoal, state: &ProgressState) -> i64 {
    if goal.count == CountMode::Value && goal.relative {
        match state.baseline {
            Some(baseline) => state.progress.saturating_sub(baseline).max(0),
            None => 0,
        }
    } else {
        state.progress
    }
}

/// A `count: streak` goal not completed whose next day to count (the day after the last
/// counted one, skipping days outside `schedule.days`) is over: a whole day passed without a
/// matching event, so the streak reads 0 until the next one starts it again at 1.
fn streak_broken(goal: &CompiledGoal, state: &ProgressState, now: DateTime<Utc>) -> bool {
    goal.count == CountMode::Streak
        && state.status == Status::InProgress
        && state
            .last_counted_day
            .and_then(|last| goal.schedule.next_day_after(last))
            .is_some_and(|next| next < goal.schedule.day_of(now))
}

/// How a goal reads for a player now.
pub fn view(goal: &CompiledGoal, state: Option<&ProgressState>, now: DateTime<Utc>) -> GoalView {
    // What the player sees end first: the rotation period's end, the schedule's, or today's
    // run of `schedule.days`.
    let period_end = goal.rotation.map(|r| r.next_start(now));
    let expires_at = [period_end, goal.schedule.end, goal.schedule.window_end(now)]
        .into_iter()
        .flatten()
        .min();
    let opens_at = goal.schedule.opens_at(now);
    match state {
        None => GoalView {
            progress: 0,
            status: Status::NotStarted,
            is_active: goal.assign == Assign::Auto,
            assigned_at: None,
            completed_at: None,
            claimed_at: None,
            expires_at,
            opens_at,
            exists: false,
            rotated: false,
        },
        Some(stored) => {
            let current = current_period(goal, stored, now);
            let broken = streak_broken(goal, &current, now);
            GoalView {
                progress: if broken {
                    0
                } else {
                    shown_progress(goal, &current)
                },
                status: if broken {
                    Status::NotStarted
                } else {
                    current.status
                },
                is_active: current.is_active,
                assigned_at: current.assigned_at,
                completed_at: current.completed_at,
                claimed_at: current.claimed_at,
                expires_at: expires_at.or(current.expires_at),
                opens_at,
                exists: true,
                rotated: is_rotated(goal, stored, now),
            }
        }
    }
}

impl RuleSet {
    /// Applies one event (already routed to `goal`) to the player's state of that goal.
    /// `now` is the processing time: it decides the rotation period and stamps the row.
    pub fn apply(
        &self,
        goal: &CompiledGoal,
        state: Option<&ProgressState>,
        event: &Event,
        now: DateTime<Utc>,
    ) -> Applied {
        // An event cannot come from the future; a skewed producer clock must not open a window early.
        let at = event.timestamp.min(now);
        if !goal.schedule.contains(at) {
            return Applied::Unchanged(Skip::OutsideSchedule);
        }
        let fresh;
        let (before, rolled_over) = match state {
            Some(stored) => {
                let current = current_period(goal, stored, now);
                let rolled = matches!(current, Cow::Owned(_));
                (current, rolled)
            }
            None if goal.assign == Assign::Auto => {
                fresh = ProgressState::assigned(goal, now);
                (Cow::Borrowed(&fresh), true)
            }
            None => return Applied::Unchanged(Skip::NotAssigned),
        };
        if !before.is_active {
            return Applied::Unchanged(Skip::Inactive);
        }
        match before.status {
            Status::Claimed => return Applied::Unchanged(Skip::AlreadyClaimed),
            Status::Completed => return Applied::Unchanged(Skip::AlreadyCompleted),
            Status::NotStarted | Status::InProgress => {}
        }

        let mut next = before.clone().into_owned();
        match goal.count {
            CountMode::Value => {
                if goal.relative && next.baseline.is_none() {
                    // The stat before this report; bounded, so extreme values cannot overflow.
                    next.baseline = Some(event.value.saturating_sub(event.inc));
                }
                next.progress = event.value.max(0);
            }
            CountMode::Events => next.progress = next.progress.saturating_add(1),
            CountMode::Sum => {
                let amount = match &goal.amount {
                    Some(expr) => {
                        match self.eval_number(expr, ExprScope::Event, event, next.progress) {
                            Ok(amount) => amount,
                            Err(err) => return Applied::Unchanged(Skip::Evaluation(err)),
                        }
                    }
                    None => event.inc,
                };
                next.progress = next.progress.saturating_add(amount).max(0);
            }
            CountMode::Max => {
                let amount = match &goal.amount {
                    Some(expr) => {
                        match self.eval_number(expr, ExprScope::Event, event, next.progress) {
                            Ok(amount) => amount,
                            Err(err) => return Applied::Unchanged(Skip::Evaluation(err)),
                        }
                    }
                    None => event.value,
                };
                next.progress = next.progress.max(amount);
            }
            CountMode::Days => {
                let day = goal.schedule.day_of(at);
                if next.last_counted_day == Some(day) {
                    return Applied::Unchanged(Skip::SameDay);
                }
                next.last_counted_day = Some(day);
                next.progress = next.progress.saturating_add(1);
            }
            CountMode::Streak => {
                let day = goal.schedule.day_of(at);
                next.progress = match next.last_counted_day {
                    // This day, or an event sent late from an earlier one: counted already.
                    Some(last) if last >= day => return Applied::Unchanged(Skip::SameDay),
                    Some(last) if goal.schedule.next_day_after(last) == Some(day) => {
                        next.progress.saturating_add(1)
                    }
                    _ => 1,
                };
                next.last_counted_day = Some(day);
            }
            CountMode::Expr => {
                let Some(expr) = &goal.progress else {
                    return Applied::Unchanged(Skip::NoChange);
                };
                match self.eval_number(expr, ExprScope::EventAndProgress, event, next.progress) {
                    Ok(progress) => next.progress = progress.max(0),
                    Err(err) => return Applied::Unchanged(Skip::Evaluation(err)),
                }
            }
        }

        let shown = shown_progress(goal, &next);
        if shown >= goal.target {
            next.status = Status::Completed;
            next.completed_at = Some(now);
        } else if shown > 0 {
            next.status = Status::InProgress;
        }
        if !rolled_over && state.is_some() && next == *before {
            return Applied::Unchanged(Skip::NoChange);
        }
        next.updated_at = now;
        next.expires_at = goal.rotation.map(|r| r.next_start(now));
        Applied::Changed(next)
    }

    /// Whether a player's prerequisites for `goal` are not yet all completed or claimed.
    /// `status_of` gives the current-period status of another goal (None: no row).
    pub fn is_locked(
        &self,
        goal: &CompiledGoal,
        status_of: impl Fn(&GoalId) -> Option<Status>,
    ) -> bool {
        goal.requires
            .iter()
            .any(|required| !status_of(required).is_some_and(Status::is_done))
    }

    /// Checks a claim in the order progress.md gives; `Ok` means: mark it claimed and grant.
    pub fn check_claim(
        &self,
        goal: &CompiledGoal,
        state: Option<&ProgressState>,
        status_of: impl Fn(&GoalId) -> Option<Status>,
        now: DateTime<Utc>,
    ) -> Result<(), ClaimRefusal> {
        let Some(state) = state else {
            return Err(ClaimRefusal::NotCompleted);
        };
        if matches!(state.status, Status::NotStarted | Status::InProgress) {
            return Err(ClaimRefusal::NotCompleted);
        }
        if !state.is_active && goal.assign != Assign::Auto {
            return Err(ClaimRefusal::Inactive);
        }
        // A row of an earlier period is over only when the rotation resets; without a reset
        // the completion carried over with the progress and is claimable now.
        let resets = goal.rotation.is_some_and(|r| r.reset_progress);
        if resets && is_rotated(goal, state, now) {
            return Err(ClaimRefusal::Rotated);
        }
        if state.status == Status::Claimed {
            return Err(ClaimRefusal::AlreadyClaimed);
        }
        if self.is_locked(goal, status_of) {
            return Err(ClaimRefusal::PrerequisitesNotMet);
        }
        Ok(())
    }
}

/// A status change made outside [`RuleSet::apply`]. A store persists it as a compare-and-set,
/// binding both statuses: it writes `to` only on a row still in `from`, so a row that moved on
/// since (rolled over, cleaned up, claimed already) is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
}

/// A granted reward: the period's completed row becomes claimed ([`claimed`] is the whole state
/// after it).
pub const CLAIM: Transition = Transition {
    from: Status::Completed,
    to: Status::Claimed,
};

/// The state after a successful claim.
pub fn claimed(state: &ProgressState, now: DateTime<Utc>) -> ProgressState {
    ProgressState {
        status: CLAIM.to,
        claimed_at: Some(now),
        updated_at: now,
        ..state.clone()
    }
}
