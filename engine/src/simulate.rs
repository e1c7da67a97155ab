//! Simulate: events applied in order to one fresh player per user id, through the replayer
//! (the same `route` + `apply` as production, at each event's own time), with what each goal
//! listening to an event made of it: whether its predicate held, on which event fields, and
//! the progress and status before and after. Pure: nothing is written anywhere.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

use crate::event::Event;
use crate::progress::Skip;
use crate::replay::{GoalStep, Replayer, Tally};
use crate::ruleset::{CompiledGoal, RuleSet};

/// One event's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventResult {
    pub event_id: String,
    pub user_id: String,
    /// Every goal listening to the event's kind and stat code, in file order.
    pub goals: Vec<GoalResult>,
}

/// What one event did to one goal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GoalResult {
    pub challenge_id: String,
    pub goal_id: String,
    /// The goal's predicate held (or it has none); `why`/`reason` says when it still did not move.
    pub matched: bool,
    /// The predicate's result; `null` when the goal has none or it failed to evaluate.
    pub when: Option<bool>,
    /// The event fields the goal's expressions read, with this event's values.
    pub fields: serde_json::Map<String, Value>,
    pub progress_before: i64,
    pub progress_after: i64,
    pub status_before: &'static str,
    pub status_after: &'static str,
    /// Why the goal did not move (`null` when it did).
    pub reason: Option<String>,
    /// What claiming it grants, when this event completed it (a table at its expected value;
    /// absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewards: Vec<crate::rewards::ExpectedReward>,
}

/// What the completions of a simulation would grant once claimed, per reward id.
pub fn rewards_granted(results: &[EventResult]) -> Vec<crate::rewards::ExpectedReward> {
    let mut totals: Vec<crate::rewards::ExpectedReward> = Vec::new();
    for reward in results
        .iter()
        .flat_map(|r| &r.goals)
        .flat_map(|g| &g.rewards)
    {
        match totals
            .iter_mut()
            .find(|t| t.kind == reward.kind && t.reward_id == reward.reward_id)
        {
            Some(total) => total.amount = crate::rewards::round(total.amount + reward.amount),
            None => totals.push(reward.clone()),
        }
    }
    totals
}

/// A simulation ran out of time after this many events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the simulation ran out of time after {applied} of {total} events")]
pub struct OutOfTime {
    pub applied: usize,
    pub total: usize,
}

/// `simulate`, stopping at `deadline` (checked between events; each event's expressions are
/// bounded by the Rhai limits).
pub fn simulate_until(
    rules: &RuleSet,
    events: &[Event],
    deadline: std::time::Instant,
) -> Result<Vec<EventResult>, OutOfTime> {
    run(rules, events, Some(deadline))
}

/// Applies `events` in order, one fresh player per user id. Goals that need an assignment are
/// taken as assigned when an event first reaches them, as in replay.
pub fn simulate(rules: &RuleSet, events: &[Event]) -> Vec<EventResult> {
    run(rules, events, None).unwrap_or_default()
}

fn run(
    rules: &RuleSet,
    events: &[Event],
    deadline: Option<std::time::Instant>,
) -> Result<Vec<EventResult>, OutOfTime> {
    let mut results = Vec::with_capacity(events.len());
    let mut players: HashMap<&str, Replayer<'_>> = HashMap::new();
    let mut tally = Tally::new(rules);
    // The fields each goal's expressions read, found once per goal rather than per event.
    let mut paths: Vec<Option<Vec<String>>> = vec![None; rules.goals().len()];
    for event in events {
        if deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            return Err(OutOfTime {
                applied: results.len(),
                total: events.len(),
            });
        }
        results.push(simulate_one(
            rules,
            &mut players,
            &mut tally,
            &mut paths,
            event,
        ));
    }
    Ok(results)
}

fn simulate_one<'r, 'e>(
    rules: &'r RuleSet,
    players: &mut HashMap<&'e str, Replayer<'r>>,
    tally: &mut Tally,
    paths: &mut [Option<Vec<String>>],
    event: &'e Event,
) -> EventResult {
    let replayer = players
        .entry(event.user_id.as_str())
        .or_insert_with(|| Replayer::new(rules));
    let steps = replayer.trace(event, tally);
    EventResult {
        event_id: event.id.clone(),
        user_id: event.user_id.to_string(),
        goals: steps
            .into_iter()
            .map(|step| {
                let goal = &rules.goals()[step.goal];
                let read = paths[step.goal].get_or_insert_with(|| fields_read(goal));
                goal_result(goal, event, read, step)
            })
            .collect(),
    }
}

fn goal_result(goal: &CompiledGoal, event: &Event, read: &[String], step: GoalStep) -> GoalResult {
    let moved =
        step.before.progress != step.after.progress || step.before.status != step.after.status;
    let reason = match (&step.why, step.matched) {
        (Some(skip), _) => Some(describe(skip)),
        (None, false) => Some("the predicate (`when`) is false for this event".to_string()),
        (None, true) if !moved => Some("no change".to_string()),
        (None, true) => None,
    };
    let completed = step.after.status == crate::progress::Status::Completed
        && step.before.status != crate::progress::Status::Completed;
    GoalResult {
        challenge_id: goal.challenge_id.to_string(),
        goal_id: goal.id.to_string(),
        matched: step.matched,
        when: step.when,
        fields: read
            .iter()
            .map(|path| (path.clone(), field_value(event, path)))
            .collect(),
        progress_before: step.before.progress,
        progress_after: step.after.progress,
        status_before: step.before.status.as_str(),
        status_after: step.after.status.as_str(),
        reason,
        rewards: if completed {
            goal.rewards.expected_for(1)
        } else {
            Vec::new()
        },
    }
}

pub(crate) fn describe(skip: &Skip) -> String {
    match skip {
        Skip::OutsideSchedule => {
            "the event is outside the challenge's schedule (its start, end or `days`)".into()
        }
        Skip::NotAssigned => "the goal is not assigned to the player".into(),
        Skip::Inactive => "the goal is not active for the player".into(),
        Skip::AlreadyClaimed => "already claimed".into(),
        Skip::AlreadyCompleted => "already completed in this period".into(),
        Skip::SameDay => {
            "already counted this day, or a later one (`count: days`, `count: streak`)".into()
        }
        Skip::NoChange => "no change".into(),
        Skip::Evaluation(err) => format!("an expression failed: {}", err.message),
    }
}

/// The event fields `goal`'s expressions read (`when`, `amount`, `progress`), each once.
pub(crate) fn fields_read(goal: &CompiledGoal) -> Vec<String> {
    let mut paths = Vec::new();
    let expressions = [&goal.when, &goal.amount, &goal.progress];
    for expr in expressions.into_iter().flatten() {
        for path in crate::rhai_env::event_fields_read(&expr.text) {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// The value of `event.a.b…` as the expression sees it (`null` when missing).
pub(crate) fn field_value(event: &Event, path: &str) -> Value {
    let mut parts = path.split('.').skip(1);
    let top = match parts.next() {
        Some("kind") => Value::from(event.kind.as_str()),
        Some("id") => Value::from(event.id.as_str()),
        Some("user_id") => Value::from(event.user_id.as_str()),
        Some("namespace") => Value::from(event.namespace.as_str()),
        Some("timestamp") => Value::from(event.timestamp.timestamp()),
        Some("stat_code") => event.stat_code.as_deref().map_or(Value::Null, Value::from),
        Some("value") => Value::from(event.value),
        Some("inc") => Value::from(event.inc),
        Some("additional") => event.additional_json(),
        _ => Value::Null,
    };
    parts.fold(top, |value, key| match value {
        Value::Object(mut map) => map.remove(key).unwrap_or(Value::Null),
        _ => Value::Null,
    })
}
