//! The finer points of spec/progress.md that a player or designer sees: status names, which
//! fields a new rotation period clears, when an event is "no change", how a missing row reads,
//! and what a claim stamps.

use engine::progress::{claimed, current_period, is_rotated, view};
use engine::{Applied, ClaimRefusal, ProgressState, Skip, Status};

use crate::progress::{assigned, feed, shown};
use crate::support::{login, rules, stat, t};

const ALL: [(Status, &str); 4] = [
    (Status::NotStarted, "not_started"),
    (Status::InProgress, "in_progress"),
    (Status::Completed, "completed"),
    (Status::Claimed, "claimed"),
];

#[test]
fn status_names_are_the_stored_column_values_and_read_back() {
    for (status, name) in ALL {
        assert_eq!(status.as_str(), name);
        assert_eq!(Status::parse(name), Some(status), "{name}");
    }
    for unknown in ["", "done", "Completed", "claimed ", "xyzzy"] {
        assert_eq!(Status::parse(unknown), None, "{unknown:?}");
    }
}

const GOALS: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - { id: kills, name: K, on: stat, stat: kills, target: 10 }
      - { id: top, name: T, on: stat, stat: kills, count: max, target: 10 }
      - { id: logins, name: L, on: login, count: days, target: 3, rotation: { every: weekly, reset_progress: true } }
      - { id: once, name: O, on: stat, stat: kills, count: events, target: 1, rotation: { every: daily, reset_progress: true } }
  - id: plain
    name: Plain
    goals:
      - { id: absolute, name: A, on: stat, stat: kills, target: 10 }
      - { id: auto, name: U, on: stat, stat: kills, count: max, target: 10, assign: auto }
      - { id: manual, name: M, on: stat, stat: kills, target: 10, assign: manual }
      - { id: gated, name: G, on: stat, stat: kills, target: 1, requires: [absolute] }
      - { id: broken, name: B, on: stat, stat: kills, count: sum, amount: "event.inc / (event.value - 5)", target: 5 }
      - { id: broken-too, name: B2, on: stat, stat: kills, count: sum, amount: "event.value * 2305843009213693952", target: 5 }
"#;

/// A completed daily goal, read the next day, shows neither its old completion time nor its
/// old expiry: the new period starts clean.
#[test]
fn a_new_period_clears_the_completion_time_and_moves_the_expiry() {
    let r = rules(GOALS);
    let goal = r.goal("kills").expect("goal");
    let day1 = t("2026-05-01T10:00:00Z");
    let mut s = assigned(&r, "kills", day1);
    feed(&r, "kills", &mut s, &stat("kills", 20, 10, day1), day1);
    let stored = s.expect("row");
    assert_eq!(stored.completed_at, Some(day1));
    assert_eq!(stored.expires_at, Some(t("2026-05-02T00:00:00Z")));

    let day2 = t("2026-05-02T09:00:00Z");
    let v = view(goal, Some(&stored), day2);
    assert_eq!((v.status, v.completed_at), (Status::NotStarted, None));
    let current = current_period(goal, &stored, day2);
    assert_eq!(current.completed_at, None);
    assert_eq!(current.expires_at, Some(t("2026-05-03T00:00:00Z")));
    assert_eq!(current.progress, 0);
    assert_eq!(current.status, Status::NotStarted);
    // Within the same period the row reads as stored.
    assert_eq!(
        *current_period(goal, &stored, t("2026-05-01T23:59:59Z")),
        stored
    );
}

/// A login stamped late on Sunday but processed after midnight is the first login of the new
/// week: the day it carries counts again, since last week's count was reset.
#[test]
fn a_late_sunday_login_counts_in_the_new_week() {
    let r = rules(GOALS);
    let evening = t("2026-05-10T23:00:00Z");
    let mut s = assigned(&r, "logins", evening);
    assert_eq!(feed(&r, "logins", &mut s, &login(evening), evening), None);
    assert_eq!(shown(&r, "logins", &s, evening), (1, Status::InProgress));

    let late = login(t("2026-05-10T23:59:00Z"));
    let processed = t("2026-05-11T00:01:00Z");
    assert_eq!(feed(&r, "logins", &mut s, &late, processed), None);
    assert_eq!(shown(&r, "logins", &s, processed), (1, Status::InProgress));
    // The same late login again is the same day.
    assert_eq!(
        feed(&r, "logins", &mut s, &late, processed),
        Some(Skip::SameDay)
    );
}

/// A row written exactly at the period's start belongs to that period.
#[test]
fn a_row_written_at_midnight_belongs_to_the_new_day() {
    let r = rules(GOALS);
    let goal = r.goal("top").expect("goal");
    let midnight = t("2026-05-02T00:00:00Z");
    let mut s = assigned(&r, "top", midnight);
    feed(&r, "top", &mut s, &stat("kills", 4, 4, midnight), midnight);
    let later = t("2026-05-02T18:00:00Z");
    let stored = s.as_ref().expect("row");
    assert!(!is_rotated(goal, stored, later));
    assert!(!view(goal, Some(stored), later).rotated);
    assert_eq!(shown(&r, "top", &s, later), (4, Status::InProgress));
    assert!(is_rotated(goal, stored, t("2026-05-03T00:00:00Z")));
}

/// A goal without `allow_reselection` still resets in a new period when it was not claimed.
#[test]
fn an_unclaimed_goal_without_reselection_resets_in_a_new_period() {
    let r = rules(GOALS);
    let goal = r.goal("once").expect("goal");
    let day1 = t("2026-05-01T10:00:00Z");
    let day2 = t("2026-05-02T10:00:00Z");
    let mut s = assigned(&r, "once", day1);
    feed(&r, "once", &mut s, &stat("kills", 1, 1, day1), day1);
    assert_eq!(shown(&r, "once", &s, day1), (1, Status::Completed));
    assert_eq!(shown(&r, "once", &s, day2), (0, Status::NotStarted));
    assert_eq!(
        feed(&r, "once", &mut s, &stat("kills", 2, 1, day2), day2),
        None
    );
    assert_eq!(shown(&r, "once", &s, day2), (1, Status::Completed));
    assert_eq!(s.as_ref().and_then(|s| s.completed_at), Some(day2));
    // An in-progress row resets too.
    let partial = ProgressState {
        progress: 0,
        status: Status::InProgress,
        ..assigned(&r, "once", day1).expect("row")
    };
    assert_eq!(view(goal, Some(&partial), day2).status, Status::NotStarted);
}

/// A report of 0 counts nothing: the goal stays not started and nothing is written.
#[test]
fn a_zero_report_leaves_a_goal_not_started() {
    let r = rules(GOALS);
    let now = t("2026-05-01T10:00:00Z");
    let goal = r.goal("absolute").expect("goal");
    let state = assigned(&r, "absolute", now);
    assert_eq!(
        r.apply(goal, state.as_ref(), &stat("kills", 0, 0, now), now),
        Applied::Unchanged(Skip::NoChange)
    );
    assert_eq!(shown(&r, "absolute", &state, now), (0, Status::NotStarted));
}

/// The same stat value reported twice changes nothing the second time.
#[test]
fn a_repeated_report_is_no_change() {
    let r = rules(GOALS);
    let now = t("2026-05-01T10:00:00Z");
    let later = t("2026-05-01T11:00:00Z");
    let mut s = assigned(&r, "absolute", now);
    assert_eq!(
        feed(&r, "absolute", &mut s, &stat("kills", 4, 4, now), now),
        None
    );
    let before = s.clone();
    assert_eq!(
        feed(&r, "absolute", &mut s, &stat("kills", 4, 0, later), later),
        Some(Skip::NoChange)
    );
    assert_eq!(s, before, "not even updated_at moves");
}

/// The first event of a new period writes the reset row even when it counts nothing, so the
/// stored row stops belonging to the old period.
#[test]
fn the_first_event_of_a_new_period_writes_the_reset_even_if_it_counts_nothing() {
    let r = rules(GOALS);
    let goal = r.goal("top").expect("goal");
    let day1 = t("2026-05-01T10:00:00Z");
    let day2 = t("2026-05-02T10:00:00Z");
    let mut s = assigned(&r, "top", day1);
    feed(&r, "top", &mut s, &stat("kills", 6, 6, day1), day1);
    let outcome = r.apply(goal, s.as_ref(), &stat("kills", 0, 0, day2), day2);
    let Applied::Changed(next) = outcome else {
        panic!("the reset is written: {outcome:?}");
    };
    assert_eq!((next.progress, next.status), (0, Status::NotStarted));
    assert_eq!(next.updated_at, day2);
    assert!(!is_rotated(goal, &next, day2));
}

/// An `assign: auto` goal's first event creates its row even when it counts nothing yet.
#[test]
fn an_auto_goals_first_event_creates_its_row_even_if_it_counts_nothing() {
    let r = rules(GOALS);
    let goal = r.goal("auto").expect("goal");
    let now = t("2026-05-01T10:00:00Z");
    let outcome = r.apply(goal, None, &stat("kills", 0, 0, now), now);
    let Applied::Changed(row) = outcome else {
        panic!("the row is created: {outcome:?}");
    };
    assert_eq!(
        (row.progress, row.status, row.is_active),
        (0, Status::NotStarted, true)
    );
    assert_eq!(row.created_at, now);
}

/// Without a row, an `assign: auto` goal reads as active (its first event counts); a manual
/// or default goal reads as inactive until assigned.
#[test]
fn a_missing_row_reads_active_only_for_auto_goals() {
    let r = rules(GOALS);
    let now = t("2026-05-01T10:00:00Z");
    let auto = view(r.goal("auto").expect("goal"), None, now);
    assert!(auto.is_active && !auto.exists);
    assert_eq!((auto.progress, auto.status), (0, Status::NotStarted));
    assert!(!view(r.goal("manual").expect("goal"), None, now).is_active);
    assert!(!view(r.goal("absolute").expect("goal"), None, now).is_active);
}

/// A prerequisite in progress (or not started) still locks the goal; completed or claimed
/// unlocks it.
#[test]
fn a_prerequisite_in_progress_still_locks() {
    let r = rules(GOALS);
    let goal = r.goal("gated").expect("goal");
    let now = t("2026-05-01T10:00:00Z");
    let done = ProgressState {
        progress: 1,
        status: Status::Completed,
        ..assigned(&r, "gated", now).expect("row")
    };
    for (status, _) in ALL {
        let locked = !status.is_done();
        assert_eq!(r.is_locked(goal, |_| Some(status)), locked, "{status:?}");
        let expected = if locked {
            Err(ClaimRefusal::PrerequisitesNotMet)
        } else {
            Ok(())
        };
        assert_eq!(
            r.check_claim(goal, Some(&done), |_| Some(status), now),
            expected
        );
    }
    assert!(!Status::NotStarted.is_done() && !Status::InProgress.is_done());
    assert!(Status::Completed.is_done() && Status::Claimed.is_done());
}

/// A claim stamps the claim time and counts as a write of the row (its period is the claim's).
#[test]
fn a_claim_stamps_claimed_at_and_updated_at() {
    let r = rules(GOALS);
    let goal = r.goal("kills").expect("goal");
    let morning = t("2026-05-01T08:00:00Z");
    let evening = t("2026-05-01T20:00:00Z");
    let mut s = assigned(&r, "kills", morning);
    feed(
        &r,
        "kills",
        &mut s,
        &stat("kills", 30, 10, morning),
        morning,
    );
    let after = claimed(s.as_ref().expect("row"), evening);
    assert_eq!(after.status, Status::Claimed);
    assert_eq!(after.claimed_at, Some(evening));
    assert_eq!(after.updated_at, evening);
    assert_eq!(after.completed_at, Some(morning), "completion time kept");
    let v = view(goal, Some(&after), evening);
    assert_eq!((v.status, v.claimed_at), (Status::Claimed, Some(evening)));
}

/// The same failing expression fails the same way each time; a different one differs.
#[test]
fn evaluation_errors_compare_by_message() {
    let r = rules(GOALS);
    let now = t("2026-05-01T10:00:00Z");
    let event = stat("kills", 5, 5, now);
    let outcome = |id: &str| {
        let goal = r.goal(id).expect("goal");
        r.apply(goal, assigned(&r, id, now).as_ref(), &event, now)
    };
    let first = outcome("broken");
    assert!(
        matches!(first, Applied::Unchanged(Skip::Evaluation(_))),
        "{first:?}"
    );
    assert_eq!(first, outcome("broken"));
    let other = outcome("broken-too");
    assert!(
        matches!(other, Applied::Unchanged(Skip::Evaluation(_))),
        "{other:?}"
    );
    let message = |a: &Applied| match a {
        Applied::Unchanged(Skip::Evaluation(e)) => e.message.clone(),
        _ => String::new(),
    };
    assert_ne!(message(&first), message(&other));
    assert_ne!(first, other, "different failures are different outcomes");
}
