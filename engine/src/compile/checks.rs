//! Checks on compiled goals: smoke evaluation of every expression against a sample event of
//! the goal's kind, and goals that can never complete.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rhai::Engine;

use super::{Context, Site};
use crate::diagnostic::{Code, Diagnostic};
use crate::event::{Event, EventData};
use crate::ids::UserId;
use crate::model::{CountMode, EventKind, Period};
use crate::rhai_env::{self, EvalError, ExprScope};
use crate::ruleset::CompiledGoal;
use crate::source::child;

/// A plausible event of the goal's kind: its first stat code, value 1, inc 1, and `additional`
/// (the declared payload of its stat, else none).
fn sample_event(
    goal: &CompiledGoal,
    additional: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Event {
    Event::new(EventData {
        id: "lint-sample".into(),
        kind: goal.on,
        user_id: UserId::new("lint-user"),
        namespace: "lint".into(),
        timestamp: DateTime::<Utc>::UNIX_EPOCH,
        sent_at: None,
        stat_code: match goal.on {
            EventKind::Stat => goal.stats.first().cloned(),
            EventKind::Login => None,
        },
        value: 1,
        inc: 1,
        additional: crate::event::payload_from_json(additional),
    })
}

/// Evaluates every goal's expressions on a sample event, carrying the declared payload of its
/// stat when its file declares one (`samples`, by goal id).
pub(super) fn smoke_evaluate(
    ctx: &mut Context,
    engine: &Engine,
    goals: &[CompiledGoal],
    sites: &[Site],
    samples: &std::collections::HashMap<String, serde_json::Map<String, serde_json::Value>>,
    misread: &HashSet<String>,
) {
    for (goal, site) in goals.iter().zip(sites) {
        // A read lint already refused (E024) would only fail again here.
        if misread.contains(goal.id.as_str()) {
            continue;
        }
        let sample = samples.get(goal.id.as_str());
        let event = sample_event(goal, sample);
        if let Some(expr) = &goal.when
            && let Err(err) = rhai_env::eval_bool(engine, &expr.ast, &event)
        {
            report(ctx, goal, site, "when", &err, sample.is_some());
        }
        if let Some(expr) = &goal.amount
            && let Err(err) = rhai_env::eval_int(engine, &expr.ast, ExprScope::Event, &event, 0)
        {
            report(ctx, goal, site, "amount", &err, sample.is_some());
        }
        if let Some(expr) = &goal.progress
            && let Err(err) =
                rhai_env::eval_int(engine, &expr.ast, ExprScope::EventAndProgress, &event, 0)
        {
            report(ctx, goal, site, "progress", &err, sample.is_some());
        }
    }
}

fn report(
    ctx: &mut Context,
    goal: &CompiledGoal,
    site: &Site,
    field: &str,
    err: &EvalError,
    declared: bool,
) {
    let pointer = child(&site.pointer, field);
    let pos = ctx.expr_pos(site.doc, &pointer, err.position);
    let code = if err.position.is_none() {
        Code::RhaiResultType
    } else {
        Code::RhaiEvaluation
    };
    let d = Diagnostic::new(
        code,
        format!(
            "`{field}` fails on a sample {} event: {}",
            goal.on.as_str(),
            err.message
        ),
    )
    .at(ctx.path_of(site.doc).to_path_buf(), pos)
    .with_hint(if declared {
        "the sample event has value 1, inc 1 and the `additional` fields `stats:` declares (text \"\", number 1, false, [], {})"
    } else {
        "the sample event has value 1, inc 1 and an empty `additional` map"
    });
    ctx.report(d);
}

/// Warns about goals that can never complete, and goals whose prerequisites never complete.
/// Goals in `unsure` (of a challenge whose own keys are wrong) are not judged: what those keys
/// decide for them is not known.
pub(super) fn never_completes(
    ctx: &mut Context,
    goals: &[CompiledGoal],
    sites: &[Site],
    unsure: &HashSet<crate::ids::GoalId>,
) {
    let mut hopeless: HashSet<&str> = HashSet::new();
    for (goal, site) in goals.iter().zip(sites) {
        if unsure.contains(&goal.id) {
            continue;
        }
        if let Some((reason, hint)) = never_completes_reason(goal) {
            hopeless.insert(goal.id.as_str());
            let d = ctx
                .at_key(
                    site.doc,
                    &site.pointer,
                    Code::NeverCompletes,
                    format!("goal `{}` can never complete: {reason}", goal.id),
                )
                .with_hint(hint);
            ctx.report(d);
        }
    }
    for (goal, site) in goals.iter().zip(sites) {
        if unsure.contains(&goal.id) {
            continue;
        }
        if let Some(required) = goal.requires.iter().find(|r| hopeless.contains(r.as_str())) {
            let d = ctx.at_key(
                site.doc,
                &child(&site.pointer, "requires"),
                Code::PrerequisiteNeverCompletes,
                format!("goal `{}` can never be claimed: its prerequisite `{required}` can never complete", goal.id),
            );
            ctx.report(d);
        }
    }
}

/// Why `goal` can never complete, and what would let it.
fn never_completes_reason(goal: &CompiledGoal) -> Option<(String, String)> {
    if let Some(when) = &goal.when {
        let mentions_event = when.text.contains("event");
        if !mentions_event && when.text.trim() == "false" {
            return Some((
                "its `when` is always false".to_string(),
                "write the condition on the event, or drop `when` to count every event".to_string(),
            ));
        }
    }
    if matches!(goal.count, CountMode::Days | CountMode::Streak) {
        let week_days = i64::try_from(goal.schedule.days.iter().count()).unwrap_or(7);
        if let Some(rotation) = goal.rotation.filter(|r| r.reset_progress) {
            let most = match rotation.every {
                Period::Daily => 1,
                Period::Weekly => week_days,
                // Five of each weekday at most in a month.
                Period::Monthly => (week_days * 5).min(31),
            };
            if goal.target > most {
                let on = if goal.schedule.days.is_all() {
                    String::new()
                } else {
                    " on its `schedule.days`".to_string()
                };
                return Some((
                    format!(
                        "it counts days toward {} but its {} rotation resets after at most {most} day(s){on}",
                        goal.target,
                        rotation.every.as_str(),
                    ),
                    format!(
                        "lower `target` to {most} or less, rotate less often, or keep progress across periods (`reset_progress: false`)"
                    ),
                ));
            }
        }
        if let (Some(start), Some(end)) = (goal.schedule.start, goal.schedule.end) {
            let calendar = goal.schedule.calendar;
            let days = (calendar.day_of(end) - calendar.day_of(start)).num_days() + 1;
            if goal.target > days {
                return Some((
                    format!(
                        "it counts days toward {} but its schedule spans {days} day(s)",
                        goal.target
                    ),
                    format!("lower `target` to {days} or less, or lengthen the schedule"),
                ));
            }
        }
    }
    None
}
