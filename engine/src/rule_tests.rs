//! Rule tests written inside challenge files: start from `given`, feed events through the
//! same routing and `apply` production uses, on a fake clock, and compare with `expect`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::compile::{Context, Site};
use crate::diagnostic::{Code, Diagnostic, Pos};
use crate::event::{Event, EventData, payload_from_json};
use crate::ids::{GoalId, UserId};
use crate::model::{Assign, EventKind, Expectation, GivenState, TestDef, TestStep};
use crate::progress::{Applied, ProgressState, Status, view};
use crate::ruleset::{CompiledGoal, RuleSet, Schedule};
use crate::source::child;

/// The clock a test starts at when its challenge has no schedule start: a fixed Monday noon,
/// so tests give the same answer every day.
pub fn default_test_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// A test ready to run.
#[derive(Debug, Clone)]
pub(crate) struct CompiledTest {
    name: String,
    file: std::path::PathBuf,
    pos: Option<Pos>,
    start: DateTime<Utc>,
    given: Vec<(GoalId, GivenState)>,
    steps: Vec<Step>,
    expect: Vec<(GoalId, Expectation, Option<Pos>)>,
}

impl CompiledTest {
    pub(crate) fn summary(&self) -> crate::ruleset::TestSummary {
        crate::ruleset::TestSummary {
            name: self.name.clone(),
            file: self.file.clone(),
            line: self.pos.map(|p| p.line),
            goals: self
                .expect
                .iter()
                .map(|(goal, _, _)| goal.clone())
                .collect(),
        }
    }
}

#[derive(Debug, Clone)]
struct Step {
    at: Option<DateTime<Utc>>,
    advance: Duration,
    event: Option<StepEvent>,
}

#[derive(Debug, Clone)]
struct StepEvent {
    kind: EventKind,
    stat: Option<String>,
    value: i64,
    inc: i64,
    additional: crate::event::Payload,
}

pub(crate) fn compile_tests(
    ctx: &mut Context,
    rules: &RuleSet,
    declared: &std::collections::HashSet<String>,
    defs: Vec<(TestDef, Site, Schedule)>,
) -> Vec<CompiledTest> {
    let mut tests = Vec::new();
    for (def, site, schedule) in defs {
        // A test of a goal that is written but broken cannot run; the goal's own errors say
        // why, so the test does not call it unknown (no cascade). Its other mistakes are
        // reported all the same.
        let names_broken = (def.given.keys().chain(def.expect.keys()))
            .any(|goal| rules.goal(goal).is_none() && declared.contains(goal.as_str()));
        let errors_before = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
        let known_goal = |ctx: &mut Context, field: &str, goal: &str| -> Option<GoalId> {
            match rules.goal(goal) {
                Some(found) => Some(found.id.clone()),
                None if declared.contains(goal) => None,
                None => {
                    let pointer = child(&child(&site.pointer, field), goal);
                    let d = ctx.at_key(site.doc, &pointer, Code::TestUnknownGoal, format!("test `{}` names goal `{goal}`, which is not defined (or did not compile)", def.name));
                    ctx.report(d);
                    None
                }
            }
        };
        let mut given = Vec::new();
        for (goal, state) in &def.given {
            if let Some(id) = known_goal(ctx, "given", goal) {
                given.push((id, state.clone()));
            }
        }
        let mut expect = Vec::new();
        for (goal, expectation) in &def.expect {
            if let Some(id) = known_goal(ctx, "expect", goal) {
                let pos = ctx.docs[site.doc].key_pos(&child(&child(&site.pointer, "expect"), goal));
                expect.push((id, expectation.clone(), pos));
            }
        }
        let mut steps = Vec::new();
        let mut last_values: HashMap<String, i64> = HashMap::new();
        for (index, step) in def.events.iter().enumerate() {
            let pointer = child(&child(&site.pointer, "events"), &index.to_string());
            match compile_step(step, &mut last_values, schedule.calendar) {
                Ok(step) => steps.push(step),
                Err(message) => {
                    let d = ctx.at_value(
                        site.doc,
                        &pointer,
                        Code::TestInvalidStep,
                        format!("test `{}`: {message}", def.name),
                    );
                    ctx.report(d);
                }
            }
        }
        let errors_after = ctx.diagnostics.iter().filter(|d| d.is_error()).count();
        if errors_after > errors_before || names_broken {
            continue;
        }
        tests.push(CompiledTest {
            name: def.name,
            file: ctx.path_of(site.doc).to_path_buf(),
            pos: ctx.docs[site.doc].value_pos(&site.pointer),
            start: schedule.start.unwrap_or_else(default_test_start),
            given,
            steps,
            expect,
        });
    }
    tests
}

fn compile_step(
    step: &TestStep,
    last_values: &mut HashMap<String, i64>,
    calendar: crate::period::Calendar,
) -> Result<Step, String> {
    let at = step
        .at
        .as_deref()
        .map(|text| test_time(text, calendar))
        .transpose()?;
    let advance = match &step.advance {
        Some(text) => parse_duration(text)?,
        None => Duration::zero(),
    };
    let has_event_fields = step.stat.is_some()
        || step.value.is_some()
        || step.inc.is_some()
        || step.additional.is_some();
    let kind = match (step.kind, &step.stat) {
        (Some(kind), _) => Some(kind),
        (None, Some(_)) => Some(EventKind::Stat),
        (None, None) if has_event_fields => {
            return Err(
                "an event with `value`, `inc` or `additional` needs `stat` (or `kind`)".into(),
            );
        }
        (None, None) => None,
    };
    let event = match kind {
        None => None,
        Some(EventKind::Login) => Some(StepEvent {
            kind: EventKind::Login,
            stat: step.stat.clone(),
            value: step.value.map(truncate).transpose()?.unwrap_or(0),
            inc: step.inc.map(truncate).transpose()?.unwrap_or(0),
            additional: payload_from_json(step.additional.as_ref()),
        }),
        Some(EventKind::Stat) => {
            let Some(stat) = step.stat.clone() else {
                return Err("a stat event needs `stat`".into());
            };
            let last = last_values.get(&stat).copied().unwrap_or(0);
            let (value, inc) = match (
                step.value.map(truncate).transpose()?,
                step.inc.map(truncate).transpose()?,
            ) {
                (Some(value), Some(inc)) => (value, inc),
                (Some(value), None) => (value, value.saturating_sub(last)),
                (None, Some(inc)) => (last + inc, inc),
                (None, None) => return Err("a stat event needs `value` or `inc`".into()),
            };
            last_values.insert(stat.clone(), value);
            Some(StepEvent {
                kind: EventKind::Stat,
                stat: Some(stat),
                value,
                inc,
                additional: payload_from_json(step.additional.as_ref()),
            })
        }
    };
    Ok(Step { at, advance, event })
}

/// A test step's `at`: an instant with its offset (RFC 3339), or a local time of the
/// challenge's time zone (a time the clocks pass twice is the first one).
fn test_time(text: &str, calendar: crate::period::Calendar) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let zone = calendar.timezone();
    let local = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            format!("`at: {text}` is not a time: write a local time of the challenge's time zone ({zone}), `2026-05-09T04:00:00`, or an instant with its offset, `2026-05-09T08:00:00Z`")
        })?;
    match calendar.tz.from_local_datetime(&local).earliest() {
        Some(at) => Ok(at.with_timezone(&Utc)),
        None => Err(format!(
            "`at: {text}` does not exist in {zone}: the clocks skip it (daylight saving); pick a time after the jump, or write it with an offset"
        )),
    }
}

fn truncate(number: f64) -> Result<i64, String> {
    if number.is_finite() {
        Ok(number.trunc() as i64)
    } else {
        Err(format!("{number} is not a finite number"))
    }
}

/// Parses `30s`, `15m`, `12h`, `1d`, `2w`, or a sum like `1d12h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut total = Duration::zero();
    let mut digits = String::new();
    let bad = || format!("`{text}` is not a duration; write e.g. `30m`, `12h`, `1d` or `1w`");
    for ch in text.trim().chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let amount: i64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        total += match ch {
            's' => Duration::seconds(amount),
            'm' => Duration::minutes(amount),
            'h' => Duration::hours(amount),
            'd' => Duration::days(amount),
            'w' => Duration::weeks(amount),
            _ => return Err(bad()),
        };
    }
    if !digits.is_empty() || total.is_zero() {
        return Err(bad());
    }
    Ok(total)
}

fn given_state(goal: &CompiledGoal, given: &GivenState, start: DateTime<Utc>) -> ProgressState {
    let (status, progress, active) = match given {
        GivenState::Status(status) => (Some(*status), None, None),
        GivenState::Detailed(detail) => (detail.status, detail.progress, detail.active),
    };
    let mut state = ProgressState::assigned(goal, start);
    let status = status.unwrap_or(match progress {
        Some(p) if p >= goal.target => Status::Completed,
        Some(p) if p > 0 => Status::InProgress,
        _ => Status::NotStarted,
    });
    state.status = status;
    state.progress = progress.unwrap_or(if status.is_done() { goal.target } else { 0 });
    // Relative counting: a goal with progress has a baseline (the stat stood at `progress`
    // above 0); one without has not seen this period's first event yet.
    if goal.relative && state.progress > 0 {
        state.baseline = Some(0);
    }
    state.is_active = active.unwrap_or(true);
    if status.is_done() {
        state.completed_at = Some(start);
    }
    if status == Status::Claimed {
        state.claimed_at = Some(start);
    }
    state
}

/// `at` as the goal's challenge reads it: UTC, or local time with its offset and the day of
/// the week it counts for, e.g. `2026-11-01T03:30:00-05:00 (Sat)` after a Saturday at 04:00.
fn local_time(goal: &CompiledGoal, at: DateTime<Utc>) -> String {
    let calendar = goal.schedule.calendar;
    let utc = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if calendar == crate::period::Calendar::UTC {
        return utc;
    }
    let local = at
        .with_timezone(&calendar.tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    format!("{local} ({})", calendar.day_of(at).format("%a"))
}

/// Runs every test, reporting each failed expectation at its line.
pub(crate) fn run_tests(ctx: &mut Context, rules: &RuleSet, tests: &[CompiledTest]) {
    for test in tests {
        ctx.diagnostics.extend(run_test(rules, test));
    }
}

fn run_test(rules: &RuleSet, test: &CompiledTest) -> Vec<Diagnostic> {
    let user = UserId::new("test-user");
    let mut clock = test.start;
    let mut states: HashMap<GoalId, ProgressState> = HashMap::new();
    for goal in rules.goals() {
        if goal.assign == Assign::Default {
            states.insert(goal.id.clone(), ProgressState::assigned(goal, clock));
        }
    }
    for (id, given) in &test.given {
        if let Some(goal) = rules.goal(id.as_str()) {
            states.insert(id.clone(), given_state(goal, given, clock));
        }
    }
    // How each event moved each expected goal, for a failure's hint.
    let mut traces: HashMap<GoalId, Vec<String>> = HashMap::new();
    for (index, step) in test.steps.iter().enumerate() {
        if let Some(at) = step.at {
            clock = at;
        }
        clock += step.advance;
        let Some(spec) = &step.event else {
            continue;
        };
        let event = Event::new(EventData {
            id: format!("test-event-{index}"),
            kind: spec.kind,
            user_id: user.clone(),
            namespace: "test".into(),
            timestamp: clock,
            sent_at: None,
            stat_code: spec.stat.clone(),
            value: spec.value,
            inc: spec.inc,
            additional: spec.additional.clone(),
        });
        let routed = rules.route(&event);
        let before: Vec<_> = (test.expect.iter())
            .filter_map(|(id, _, _)| rules.goal(id.as_str()))
            .map(|goal| (goal, view(goal, states.get(&goal.id), clock)))
            .collect();
        let mut skipped = HashMap::new();
        for goal in &routed.matched {
            match rules.apply(goal, states.get(&goal.id), &event, clock) {
                Applied::Changed(next) => {
                    states.insert(goal.id.clone(), next);
                }
                Applied::Unchanged(skip) => {
                    skipped.insert(goal.id.clone(), skip);
                }
            }
        }
        for (goal, was) in before {
            if !rules.candidates(&event).any(|g| g.id == goal.id) {
                continue;
            }
            let now = view(goal, states.get(&goal.id), clock);
            let matched = routed.matched.iter().any(|g| g.id == goal.id);
            let outcome = match skipped.get(&goal.id) {
                _ if !matched => "not counted: `when` is false".to_string(),
                Some(skip) => format!("unchanged: {}", crate::simulate::describe(skip)),
                None => format!(
                    "{} {} → {} {}",
                    was.progress,
                    was.status.as_str(),
                    now.progress,
                    now.status.as_str()
                ),
            };
            let fields: Vec<String> = (crate::simulate::fields_read(goal).iter())
                .map(|path| format!("{path} = {}", crate::simulate::field_value(&event, path)))
                .collect();
            let line = format!(
                "step {} at {}: {}{}{}: {outcome}",
                index + 1,
                local_time(goal, clock),
                describe_event(spec),
                if fields.is_empty() { "" } else { ", " },
                fields.join(", ")
            );
            traces.entry(goal.id.clone()).or_default().push(line);
        }
    }

    let status_of = |id: &GoalId| -> Option<Status> {
        let goal = rules.goal(id.as_str())?;
        let state = states.get(id)?;
        Some(view(goal, Some(state), clock).status)
    };
    let mut failures = Vec::new();
    for (id, expected, pos) in &test.expect {
        let Some(goal) = rules.goal(id.as_str()) else {
            continue;
        };
        let actual = view(goal, states.get(id), clock);
        let locked = rules.is_locked(goal, status_of);
        let mut problems = Vec::new();
        if let Some(status) = expected.status
            && status != actual.status
        {
            problems.push(format!(
                "status {} expected, got {}",
                status.as_str(),
                actual.status.as_str()
            ));
        }
        if let Some(progress) = expected.progress
            && progress != actual.progress
        {
            problems.push(format!(
                "progress {progress} expected, got {}",
                actual.progress
            ));
        }
        if let Some(active) = expected.active
            && active != actual.is_active
        {
            problems.push(format!(
                "active {active} expected, got {}",
                actual.is_active
            ));
        }
        if let Some(expected_locked) = expected.locked
            && expected_locked != locked
        {
            problems.push(format!("locked {expected_locked} expected, got {locked}"));
        }
        if !problems.is_empty() {
            failures.push(
                Diagnostic::new(
                    Code::TestFailed,
                    format!(
                        "test `{}` failed for goal `{id}`: {} (now {}/{} {})",
                        test.name,
                        problems.join("; "),
                        actual.progress,
                        goal.target,
                        actual.status.as_str()
                    ),
                )
                .at(test.file.clone(), pos.or(test.pos))
                .with_hint(match traces.get(id) {
                    Some(lines) => format!("how each event moved it: {}", lines.join("; ")),
                    None => "no event of the test reached it (its kind and stat code)".to_string(),
                }),
            );
        }
    }
    failures
}

/// A test step's event, as a designer wrote it (the payload's fields a goal reads are listed
/// with the goal).
fn describe_event(spec: &StepEvent) -> String {
    match &spec.stat {
        Some(stat) => format!("stat {stat} value {} inc {}", spec.value, spec.inc),
        None => spec.kind.as_str().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1d"), Ok(Duration::days(1)));
        assert_eq!(parse_duration("1d12h"), Ok(Duration::hours(36)));
        assert_eq!(parse_duration("2w"), Ok(Duration::days(14)));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("12").is_err());
    }
}
