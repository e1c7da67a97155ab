//! Every counting mode and rotation case of spec/progress.md, through `RuleSet::apply`.

use chrono::{DateTime, Utc};
use engine::progress::{claimed, view};
use engine::{Applied, ClaimRefusal, Event, ProgressState, RuleSet, Skip, Status};
use proptest::prelude::*;

use crate::support::{login, rules, stat, t};

/// Routes `event` and applies it to the goal's state, as the store's writer will.
pub(crate) fn feed(
    rules: &RuleSet,
    goal: &str,
    state: &mut Option<ProgressState>,
    event: &Event,
    now: DateTime<Utc>,
) -> Option<Skip> {
    let goal = rules.goal(goal).expect("goal exists");
    let routed = rules.route(event);
    if !routed.matched.iter().any(|g| g.id == goal.id) {
        return Some(Skip::NoChange);
    }
    match rules.apply(goal, state.as_ref(), event, now) {
        Applied::Changed(next) => {
            *state = Some(next);
            None
        }
        Applied::Unchanged(skip) => Some(skip),
    }
}

pub(crate) fn assigned(rules: &RuleSet, goal: &str, now: DateTime<Utc>) -> Option<ProgressState> {
    Some(ProgressState::assigned(
        rules.goal(goal).expect("goal"),
        now,
    ))
}

pub(crate) fn shown(
    rules: &RuleSet,
    goal: &str,
    state: &Option<ProgressState>,
    now: DateTime<Utc>,
) -> (i64, Status) {
    let v = view(rules.goal(goal).expect("goal"), state.as_ref(), now);
    (v.progress, v.status)
}

const ONE_GOAL: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: absolute, name: A, on: stat, stat: kills, target: 10 }
      - { id: relative, name: R, on: stat, stat: kills, relative: true, target: 10 }
      - { id: events, name: E, on: stat, stat: kills, count: events, target: 3 }
      - { id: sum, name: S, on: stat, stat: kills, count: sum, target: 10 }
      - { id: sum-double, name: S2, on: stat, stat: kills, count: sum, amount: event.inc * 2, target: 10 }
      - { id: max, name: M, on: stat, stat: kills, count: max, target: 10 }
      - { id: days, name: D, on: login, count: days, target: 2 }
      - { id: expr, name: X, on: stat, stat: kills, count: expr, progress: "progress * 2 + 1", target: 7 }
      - { id: broken-amount, name: B, on: stat, stat: kills, count: sum, amount: "event.inc / (event.value - 5)", target: 5 }
"#;

#[test]
fn value_counts_the_latest_value_and_completion_is_sticky() {
    let r = rules(ONE_GOAL);
    let now = t("2026-05-01T10:00:00Z");
    let mut s = assigned(&r, "absolute", now);
    feed(&r, "absolute", &mut s, &stat("kills", 3, 3, now), now);
    assert_eq!(shown(&r, "absolute", &s, now), (3, Status::InProgress));
    feed(&r, "absolute", &mut s, &stat("kills", 12, 9, now), now);
    assert_eq!(shown(&r, "absolute", &s, now), (12, Status::Completed));
    let completed_at = s.as_ref().and_then(|s| s.completed_at);
    // A stat value that goes down later does not un-complete.
    let skip = feed(&r, "absolute", &mut s, &stat("kills", 2, -10, now), now);
    assert_eq!(skip, Some(Skip::AlreadyCompleted));
    assert_eq!(shown(&r, "absolute", &s, now), (12, Status::Completed));
    assert_eq!(s.as_ref().and_then(|s| s.completed_at), completed_at);
}

#[test]
fn relative_first_event_value_50_inc_10_target_10_completes_at_once() {
    let r = rules(ONE_GOAL);
    let now = t("2026-05-01T10:00:00Z");
    let mut s = assigned(&r, "relative", now);
    feed(&r, "relative", &mut s, &stat("kills", 50, 10, now), now);
    let state = s.clone().expect("row");
    assert_eq!(state.baseline, Some(40));
    assert_eq!(
        state.progress, 50,
        "stored progress is the stat's absolute value"
    );
    assert_eq!(shown(&r, "relative", &s, now), (10, Status::Completed));
}

#[test]
fn relative_counts_from_the_baseline() {
    let r = rules(ONE_GOAL);
    let now = t("2026-05-01T10:00:00Z");
    let mut s = assigned(&r, "relative", now);
    feed(&r, "relative", &mut s, &stat("kills", 101, 1, now), now);
    feed(&r, "relative", &mut s, &stat("kills", 104, 3, now), now);
    assert_eq!(shown(&r, "relative", &s, now), (4, Status::InProgress));
}

#[test]
fn events_sum_max_and_expr() {
    let r = rules(ONE_GOAL);
    let now = t("2026-05-01T10:00:00Z");
    let mut events = assigned(&r, "events", now);
    let mut sum = assigned(&r, "sum", now);
    let mut doubled = assigned(&r, "sum-double", now);
    let mut max = assigned(&r, "max", now);
    let mut expr = assigned(&r, "expr", now);
    for (value, inc) in [(4, 4), (7, 3), (6, -1), (9, 3)] {
        let e = stat("kills", value, inc, now);
        feed(&r, "events", &mut events, &e, now);
        feed(&r, "sum", &mut sum, &e, now);
        feed(&r, "sum-double", &mut doubled, &e, now);
        feed(&r, "max", &mut max, &e, now);
        feed(&r, "expr", &mut expr, &e, now);
    }
    assert_eq!(
        shown(&r, "events", &events, now),
        (3, Status::Completed),
        "completes at the 3rd event, then stops counting"
    );
    assert_eq!(shown(&r, "sum", &sum, now), (9, Status::InProgress));
    assert_eq!(
        shown(&r, "sum-double", &doubled, now),
        (14, Status::Completed),
        "4*2 + 3*2 = 14 completes at the second event"
    );
    assert_eq!(shown(&r, "max", &max, now), (9, Status::InProgress));
    assert_eq!(
        shown(&r, "expr", &expr, now),
        (7, Status::Completed),
        "0 → 1 → 3 → 7"
    );
}

#[test]
fn days_count_once_per_utc_day() {
    let r = rules(ONE_GOAL);
    let day1 = t("2026-05-01T10:00:00Z");
    let mut s = None;
    // `days` here is assign: default; give it a row.
    s = s.or(assigned(&r, "days", day1));
    assert_eq!(feed(&r, "days", &mut s, &login(day1), day1), None);
    let later = t("2026-05-01T23:59:59Z");
    assert_eq!(
        feed(&r, "days", &mut s, &login(later), later),
        Some(Skip::SameDay)
    );
    assert_eq!(shown(&r, "days", &s, later), (1, Status::InProgress));
    let day2 = t("2026-05-02T00:00:01Z");
    feed(&r, "days", &mut s, &login(day2), day2);
    assert_eq!(shown(&r, "days", &s, day2), (2, Status::Completed));
}

#[test]
fn an_evaluation_error_changes_nothing_and_does_not_panic() {
    let r = rules(ONE_GOAL);
    let now = t("2026-05-01T10:00:00Z");
    let goal = r.goal("broken-amount").expect("goal");
    let state = assigned(&r, "broken-amount", now);
    let outcome = r.apply(goal, state.as_ref(), &stat("kills", 5, 5, now), now);
    assert!(
        matches!(outcome, Applied::Unchanged(Skip::Evaluation(_))),
        "{outcome:?}"
    );
}

const ASSIGNMENT: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    schedule: { start: 2026-05-01T00:00:00Z, end: 2026-06-01T00:00:00Z }
    goals:
      - { id: manual, name: M, on: stat, stat: kills, target: 5, assign: manual }
      - { id: auto, name: A, on: stat, stat: kills, target: 5, assign: auto }
      - { id: locked, name: L, on: stat, stat: kills, target: 5, requires: [manual] }
"#;

#[test]
fn only_active_rows_and_auto_goals_count() {
    let r = rules(ASSIGNMENT);
    let now = t("2026-05-10T10:00:00Z");
    let e = stat("kills", 2, 2, now);
    let mut none = None;
    assert_eq!(
        feed(&r, "manual", &mut none, &e, now),
        Some(Skip::NotAssigned)
    );
    let mut auto = None;
    assert_eq!(
        feed(&r, "auto", &mut auto, &e, now),
        None,
        "auto goals create their row"
    );
    assert_eq!(shown(&r, "auto", &auto, now), (2, Status::InProgress));
    let mut inactive = assigned(&r, "manual", now).map(|s| ProgressState {
        is_active: false,
        progress: 1,
        ..s
    });
    assert_eq!(
        feed(&r, "manual", &mut inactive, &e, now),
        Some(Skip::Inactive)
    );
    assert_eq!(
        inactive.map(|s| s.progress),
        Some(1),
        "a deactivated goal keeps its progress"
    );
}

#[test]
fn events_outside_the_schedule_do_not_count() {
    let r = rules(ASSIGNMENT);
    for at in ["2026-04-30T23:59:59Z", "2026-06-01T00:00:00Z"] {
        let now = t(at);
        let mut s = assigned(&r, "auto", now);
        assert_eq!(
            feed(&r, "auto", &mut s, &stat("kills", 5, 5, now), now),
            Some(Skip::OutsideSchedule),
            "{at}"
        );
    }
}

#[test]
fn prerequisites_lock_the_claim_but_not_progress() {
    let r = rules(ASSIGNMENT);
    let now = t("2026-05-10T10:00:00Z");
    let goal = r.goal("locked").expect("goal");
    let mut s = assigned(&r, "locked", now);
    feed(&r, "locked", &mut s, &stat("kills", 5, 5, now), now);
    assert_eq!(shown(&r, "locked", &s, now), (5, Status::Completed));
    assert!(r.is_locked(goal, |_| None));
    assert_eq!(
        r.check_claim(goal, s.as_ref(), |_| None, now),
        Err(ClaimRefusal::PrerequisitesNotMet)
    );
    assert_eq!(
        r.check_claim(goal, s.as_ref(), |_| Some(Status::Completed), now),
        Ok(())
    );
    assert!(!r.is_locked(goal, |_| Some(Status::Claimed)));
}

#[test]
fn claim_checks_come_in_the_documented_order() {
    let r = rules(ASSIGNMENT);
    let now = t("2026-05-10T10:00:00Z");
    let goal = r.goal("manual").expect("goal");
    let fresh = assigned(&r, "manual", now).expect("row");
    assert_eq!(
        r.check_claim(goal, None, |_| None, now),
        Err(ClaimRefusal::NotCompleted)
    );
    assert_eq!(
        r.check_claim(goal, Some(&fresh), |_| None, now),
        Err(ClaimRefusal::NotCompleted)
    );
    let done = ProgressState {
        status: Status::Completed,
        progress: 5,
        ..fresh.clone()
    };
    let inactive = ProgressState {
        is_active: false,
        ..done.clone()
    };
    assert_eq!(
        r.check_claim(goal, Some(&inactive), |_| None, now),
        Err(ClaimRefusal::Inactive)
    );
    assert_eq!(r.check_claim(goal, Some(&done), |_| None, now), Ok(()));
    let after = claimed(&done, now);
    assert_eq!(
        r.check_claim(goal, Some(&after), |_| None, now),
        Err(ClaimRefusal::AlreadyClaimed)
    );
    // A claimed goal never progresses in the same period.
    let mut s = Some(after);
    assert_eq!(
        feed(&r, "manual", &mut s, &stat("kills", 9, 4, now), now),
        Some(Skip::AlreadyClaimed)
    );
}

proptest! {
    /// Whatever stat values arrive, progress is never negative and, once completed, the goal
    /// stays completed for the rest of the period.
    #[test]
    fn completion_is_sticky_and_progress_non_negative(values in proptest::collection::vec(-50i64..200, 1..40)) {
        let r = rules(ONE_GOAL);
        let now = t("2026-05-01T10:00:00Z");
        let mut absolute = assigned(&r, "absolute", now);
        let mut sum = assigned(&r, "sum", now);
        let mut was_completed = false;
        let mut previous = 0;
        for value in values {
            let e = stat("kills", value, value - previous, now);
            previous = value;
            feed(&r, "absolute", &mut absolute, &e, now);
            feed(&r, "sum", &mut sum, &e, now);
            let (progress, status) = shown(&r, "absolute", &absolute, now);
            prop_assert!(progress >= 0);
            prop_assert!(shown(&r, "sum", &sum, now).0 >= 0);
            if was_completed {
                prop_assert_eq!(status, Status::Completed);
            }
            was_completed = status == Status::Completed;
        }
    }
}

/// Stats beyond 32 bits and extreme `inc` values count without overflow (no panic, no wrap).
#[test]
fn huge_stat_values_count_without_overflow() {
    let rules = rules(ONE_GOAL);
    let now = t("2026-06-10T12:00:00Z");
    // A lifetime stat past 2^31, as an absolute value and relative to its first report.
    let mut absolute = assigned(&rules, "absolute", now);
    feed(
        &rules,
        "absolute",
        &mut absolute,
        &stat("kills", 5_000_000_000, 1, now),
        now,
    );
    assert_eq!(absolute.as_ref().map(|s| s.progress), Some(5_000_000_000));
    let mut relative = assigned(&rules, "relative", now);
    feed(
        &rules,
        "relative",
        &mut relative,
        &stat("kills", i64::MIN + 1, 5, now),
        now,
    );
    feed(
        &rules,
        "relative",
        &mut relative,
        &stat("kills", i64::MAX, 1, now),
        now,
    );
    let (progress, status) = shown(&rules, "relative", &relative, now);
    assert!(
        progress > 0 && status == Status::Completed,
        "{progress} {status:?}"
    );
    let mut sum = assigned(&rules, "sum", now);
    feed(
        &rules,
        "sum",
        &mut sum,
        &stat("kills", 0, i64::MAX, now),
        now,
    );
    feed(
        &rules,
        "sum",
        &mut sum,
        &stat("kills", 0, i64::MAX, now),
        now,
    );
    assert_eq!(sum.as_ref().map(|s| s.progress), Some(i64::MAX));
}

/// A retired goal stops counting at its `retired` time, is shown while its completed reward
/// can still be claimed (the claim grace after it), and not after.
#[test]
fn a_retired_goal_stops_counting_and_is_shown_through_its_claim_grace() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: c
    name: C
    schedule: { claim_grace: 2d }
    goals:
      - { id: old, name: Old, on: stat, stat: kills, count: events, target: 3, assign: auto, retired: 2026-03-10T00:00:00Z }
      - { id: new, name: New, on: stat, stat: kills, count: events, target: 3, assign: auto }
"#,
    );
    let before = t("2026-03-09T12:00:00Z");
    let after = t("2026-03-10T12:00:00Z");
    let mut old = None;
    assert_eq!(
        feed(&r, "old", &mut old, &stat("kills", 1, 1, before), before),
        None
    );
    assert_eq!(
        feed(&r, "old", &mut old, &stat("kills", 2, 1, after), after),
        Some(Skip::OutsideSchedule),
        "a retired goal counts nothing"
    );
    let mut new = None;
    assert_eq!(
        feed(&r, "new", &mut new, &stat("kills", 2, 1, after), after),
        None
    );
    let goal = r.goal("old").expect("goal");
    assert!(!goal.is_retired(before) && goal.is_retired(after));
    assert!(goal.is_shown(after), "shown within the claim grace");
    assert!(!goal.is_shown(t("2026-03-12T00:00:01Z")), "gone after it");
    assert!(
        r.goal("new")
            .expect("goal")
            .is_shown(t("2030-01-01T00:00:00Z"))
    );
}
