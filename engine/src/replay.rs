//! Replay: a player's archived events, in the order they were applied, through the same
//! [`RuleSet::route`] and [`RuleSet::apply`] production uses, from empty progress, with each
//! event's own time as the clock (so a week of daily goals rotates as it did). Pure: the caller
//! reads the archive and hands each player's events here.
//!
//! The archive records events, not who initialized or selected what. So a goal that needs an
//! assignment (`assign: default` or `manual`) is taken as assigned when the player's first
//! event reaches it: replay answers "what do these rules make of this traffic".

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::event::Event;
use crate::ids::GoalId;
use crate::model::Assign;
use crate::progress::{Applied, GoalView, ProgressState, Skip, Status, is_rotated, view};
use crate::rewards::{ExpectedReward, round};
use crate::ruleset::{CompiledGoal, RuleSet};

/// Replays players one after another under one rule set, adding what they did to a [`Tally`].
pub struct Replayer<'r> {
    rules: &'r RuleSet,
    /// The current player's goals, by position in the rule set.
    runs: Vec<Option<Run>>,
    /// Positions in `runs` the current player has reached.
    touched: Vec<usize>,
}

struct Run {
    state: Option<ProgressState>,
    /// Events that reached the goal in the current period.
    events: u32,
    /// `events` when the goal first completed.
    completed_after: Option<u32>,
}

impl<'r> Replayer<'r> {
    pub fn new(rules: &'r RuleSet) -> Self {
        Self {
            rules,
            runs: (0..rules.goals().len()).map(|_| None).collect(),
            touched: Vec::new(),
        }
    }

    /// Applies one event of the current player, at the event's own time.
    pub fn apply(&mut self, event: &Event, tally: &mut Tally) {
        self.step(event, tally, None);
    }

    /// Applies one event as `apply` does, and says for each goal listening to it whether its
    /// predicate held and what the event did to it (simulate shows this).
    pub fn trace(&mut self, event: &Event, tally: &mut Tally) -> Vec<GoalStep> {
        let mut steps = Vec::new();
        self.step(event, tally, Some(&mut steps));
        steps
    }

    /// `route` (candidates, then each one's predicate) and `apply`, recording when asked.
    fn step(&mut self, event: &Event, tally: &mut Tally, mut trace: Option<&mut Vec<GoalStep>>) {
        let now = event.timestamp;
        tally.events += 1;
        tally.first_at = earliest(tally.first_at, Some(now));
        tally.last_at = tally.last_at.max(Some(now));
        for (index, goal) in self.rules.positioned_candidates(event) {
            let when = self.rules.matches(goal, event);
            let before = trace.as_ref().map(|_| {
                let state = self.runs[index].as_ref().and_then(|run| run.state.as_ref());
                view(goal, state, now)
            });
            let applied = match &when {
                Ok(true) => Some(self.reach(index, goal, event, now, tally)),
                Ok(false) => None,
                Err(_) => {
                    tally.failed_expressions += 1;
                    None
                }
            };
            if let (Some(steps), Some(before)) = (trace.as_deref_mut(), before) {
                let state = self.runs[index].as_ref().and_then(|run| run.state.as_ref());
                steps.push(GoalStep {
                    goal: index,
                    when: if goal.when.is_some() {
                        when.as_ref().ok().copied()
                    } else {
                        None
                    },
                    matched: matches!(when, Ok(true)),
                    before,
                    after: view(goal, state, now),
                    why: match (when, applied) {
                        (Err(err), _) => Some(Skip::Evaluation(err)),
                        (_, Some(Applied::Unchanged(skip))) => Some(skip),
                        _ => None,
                    },
                });
            }
        }
    }

    /// An event that matched `goal` (at `index`): assign it if needed, then `apply`.
    fn reach(
        &mut self,
        index: usize,
        goal: &CompiledGoal,
        event: &Event,
        now: DateTime<Utc>,
        tally: &mut Tally,
    ) -> Applied {
        let run = self.runs[index].get_or_insert_with(|| {
            self.touched.push(index);
            Run {
                state: assigned(goal, now),
                events: 0,
                completed_after: None,
            }
        });
        let new_period = run
            .state
            .as_ref()
            .is_some_and(|state| is_rotated(goal, state, now));
        let was_completed = !new_period
            && run
                .state
                .as_ref()
                .is_some_and(|state| state.status == Status::Completed);
        let applied = self.rules.apply(goal, run.state.as_ref(), event, now);
        match &applied {
            Applied::Changed(next) => {
                if next.status == Status::Completed && !was_completed {
                    tally.goals[index].completions += 1;
                }
                run.events = if new_period { 1 } else { run.events + 1 };
                if next.status == Status::Completed && run.completed_after.is_none() {
                    run.completed_after = Some(run.events);
                }
                run.state = Some(next.clone());
            }
            Applied::Unchanged(Skip::OutsideSchedule | Skip::NotAssigned) => {}
            Applied::Unchanged(skip) => {
                if matches!(skip, Skip::Evaluation(_)) {
                    tally.failed_expressions += 1;
                }
                run.events += 1;
            }
        }
        applied
    }

    /// The current player's state of a goal (None: no event reached it).
    pub fn state(&self, goal: &GoalId) -> Option<&ProgressState> {
        let index = self.rules.position(goal.as_str())?;
        self.runs[index].as_ref()?.state.as_ref()
    }

    /// The current player's goals that events reached, with the state replay left them in
    /// (before [`Self::finish_player`]): what a backfill compares with the stored rows.
    pub fn reached(&self) -> impl Iterator<Item = (&'r CompiledGoal, &ProgressState)> + '_ {
        self.touched.iter().filter_map(|&index| {
            let state = self.runs[index].as_ref()?.state.as_ref()?;
            Some((&self.rules.goals()[index], state))
        })
    }

    /// Ends the current player: adds the goals they completed to `tally` and starts afresh.
    pub fn finish_player(&mut self, tally: &mut Tally) {
        tally.players += 1;
        for index in self.touched.drain(..) {
            if let Some(events) = self.runs[index].take().and_then(|run| run.completed_after) {
                let goal = &mut tally.goals[index];
                goal.completed += 1;
                goal.events_to_completion.push(events);
            }
        }
    }
}

/// What one event did to one goal listening to it.
#[derive(Debug, Clone)]
pub struct GoalStep {
    /// The goal's position in [`RuleSet::goals`].
    pub goal: usize,
    /// The predicate's result (`None`: the goal has none, or it failed to evaluate).
    pub when: Option<bool>,
    /// The goal's predicate held (or it has none); `why`/`reason` says when it still did not move.
    pub matched: bool,
    /// The goal as the player saw it just before and just after, at the event's time.
    pub before: GoalView,
    pub after: GoalView,
    /// Why the goal did not move: a skip, or the predicate's evaluation error.
    pub why: Option<Skip>,
}

/// The starting state of a goal an event reached first: none for `assign: auto` (`apply`
/// creates it), else assigned now.
fn assigned(goal: &CompiledGoal, now: DateTime<Utc>) -> Option<ProgressState> {
    (goal.assign != Assign::Auto).then(|| ProgressState::assigned(goal, now))
}

/// What replaying players under one rule set found.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub players: u64,
    pub events: u64,
    /// Predicates, `amount` and `progress` expressions that failed to evaluate.
    pub failed_expressions: u64,
    /// Per goal, in the rule set's goal order.
    pub goals: Vec<GoalTally>,
    /// The first and the last event's time: the stretch of traffic replayed.
    pub first_at: Option<DateTime<Utc>>,
    pub last_at: Option<DateTime<Utc>>,
}

/// One goal's completions.
#[derive(Debug, Clone, Default)]
pub struct GoalTally {
    /// Players who completed it at least once.
    pub completed: u64,
    /// For each of them, the events that reached the goal in the period it first completed
    /// in, up to and including the one that completed it.
    pub events_to_completion: Vec<u32>,
    /// Completions, every period's counted: the claims, and so the rewards, they lead to.
    pub completions: u64,
}

impl Tally {
    pub fn new(rules: &RuleSet) -> Self {
        Self {
            goals: vec![GoalTally::default(); rules.goals().len()],
            ..Self::default()
        }
    }

    /// Adds another tally of the same rule set (players replayed elsewhere).
    pub fn merge(&mut self, other: Tally) {
        self.players += other.players;
        self.events += other.events;
        self.failed_expressions += other.failed_expressions;
        self.first_at = earliest(self.first_at, other.first_at);
        self.last_at = self.last_at.max(other.last_at);
        for (mine, theirs) in self.goals.iter_mut().zip(other.goals) {
            mine.completed += theirs.completed;
            mine.completions += theirs.completions;
            mine.events_to_completion
                .extend(theirs.events_to_completion);
        }
    }
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The comparison of two rule sets over the same players: `replay --format json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    pub players: u64,
    pub events: u64,
    pub goals: Vec<GoalComparison>,
    /// Days of traffic replayed (from the first event to the last, at least 1).
    pub days: f64,
    /// What the completions would grant once claimed, per reward id, under both rule sets
    /// (tables at their expected value), and the change per day of traffic.
    pub rewards: Vec<RewardChange>,
}

/// One reward id's total under both rule sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RewardChange {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub reward_id: String,
    pub before: f64,
    pub after: f64,
    /// `after - before`.
    pub change: f64,
    /// `change` over the days replayed: what the edit grants more (or less) per day.
    pub per_day: f64,
}

/// One goal under both rule sets. A side is `None` where the goal does not exist.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalComparison {
    pub challenge_id: String,
    pub goal_id: String,
    pub completed_before: Option<u64>,
    pub completed_after: Option<u64>,
    /// `None` also when no player completed it.
    pub median_events_before: Option<Median>,
    pub median_events_after: Option<Median>,
    /// Completions, every period's counted (`None` where the goal does not exist).
    pub completions_before: Option<u64>,
    pub completions_after: Option<u64>,
    /// What they grant once claimed (tables at their expected value).
    pub rewards_before: Vec<ExpectedReward>,
    pub rewards_after: Vec<ExpectedReward>,
}

impl GoalComparison {
    /// In the edit only.
    pub fn is_added(&self) -> bool {
        self.completed_before.is_none()
    }

    /// In the deployed rules only.
    pub fn is_removed(&self) -> bool {
        self.completed_after.is_none()
    }
}

/// A median: whole numbers print as integers (`3`, not `3.0`), halves as `3.5`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Median(pub f64);

impl Median {
    /// The median of `values` (None when empty). Sorts them.
    pub fn of(values: &mut [u32]) -> Option<Median> {
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let mid = values.len() / 2;
        Some(Median(if values.len() % 2 == 1 {
            f64::from(values[mid])
        } else {
            (f64::from(values[mid - 1]) + f64::from(values[mid])) / 2.0
        }))
    }
}

impl std::fmt::Display for Median {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{:.1}", self.0)
        }
    }
}

impl Serialize for Median {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 {
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl ReplayReport {
    /// Compares the tallies of the same players under `before` (deployed) and `after` (the
    /// edit). Goals in the edit's order, then those the edit removed.
    pub fn compare(
        before: &RuleSet,
        before_tally: Tally,
        after: &RuleSet,
        after_tally: Tally,
    ) -> Self {
        let mut before_goals: Vec<Option<GoalTally>> =
            before_tally.goals.into_iter().map(Some).collect();
        let mut goals = Vec::with_capacity(after.goals().len());
        for (goal, mut tally) in after.goals().iter().zip(after_tally.goals) {
            let mut old = before
                .position(goal.id.as_str())
                .and_then(|index| before_goals[index].take());
            goals.push(GoalComparison {
                challenge_id: goal.challenge_id.to_string(),
                goal_id: goal.id.to_string(),
                completed_before: old.as_ref().map(|t| t.completed),
                completed_after: Some(tally.completed),
                median_events_before: old
                    .as_mut()
                    .and_then(|t| Median::of(&mut t.events_to_completion)),
                median_events_after: Median::of(&mut tally.events_to_completion),
                completions_before: old.as_ref().map(|t| t.completions),
                completions_after: Some(tally.completions),
                rewards_before: match (&old, before.goal(goal.id.as_str())) {
                    (Some(t), Some(was)) => was.rewards.expected_for(t.completions),
                    _ => Vec::new(),
                },
                rewards_after: goal.rewards.expected_for(tally.completions),
            });
        }
        for (goal, old) in before.goals().iter().zip(before_goals) {
            if let Some(mut old) = old {
                goals.push(GoalComparison {
                    challenge_id: goal.challenge_id.to_string(),
                    goal_id: goal.id.to_string(),
                    completed_before: Some(old.completed),
                    completed_after: None,
                    median_events_before: Median::of(&mut old.events_to_completion),
                    median_events_after: None,
                    completions_before: Some(old.completions),
                    completions_after: None,
                    rewards_before: goal.rewards.expected_for(old.completions),
                    rewards_after: Vec::new(),
                });
            }
        }
        let first = earliest(before_tally.first_at, after_tally.first_at);
        let last = before_tally.last_at.max(after_tally.last_at);
        let days = match (first, last) {
            (Some(first), Some(last)) => ((last - first).num_seconds() as f64 / 86_400.0).max(1.0),
            _ => 1.0,
        };
        let rewards = reward_changes(&goals, days);
        Self {
            players: after_tally.players.max(before_tally.players),
            events: after_tally.events.max(before_tally.events),
            goals,
            days: crate::rewards::round(days),
            rewards,
        }
    }
}

/// Every goal's rewards summed per reward id, under both rule sets, in the order first met.
fn reward_changes(goals: &[GoalComparison], days: f64) -> Vec<RewardChange> {
    let mut changes: Vec<RewardChange> = Vec::new();
    let mut add = |reward: &ExpectedReward, after: bool| {
        let index = match changes
            .iter()
            .position(|c| c.kind == reward.kind && c.reward_id == reward.reward_id)
        {
            Some(index) => index,
            None => {
                changes.push(RewardChange {
                    kind: reward.kind,
                    reward_id: reward.reward_id.clone(),
                    before: 0.0,
                    after: 0.0,
                    change: 0.0,
                    per_day: 0.0,
                });
                changes.len() - 1
            }
        };
        let change = &mut changes[index];
        if after {
            change.after += reward.amount;
        } else {
            change.before += reward.amount;
        }
    };
    for goal in goals {
        goal.rewards_before.iter().for_each(|r| add(r, false));
        goal.rewards_after.iter().for_each(|r| add(r, true));
    }
    changes.retain(|c| c.before != 0.0 || c.after != 0.0);
    for change in &mut changes {
        change.before = round(change.before);
        change.after = round(change.after);
        change.change = round(change.after - change.before);
        change.per_day = round(change.change / days);
    }
    changes
}
