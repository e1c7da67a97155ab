//! Rotation periods through `RuleSet::apply` and `check_claim`: lazy resets, baselines,
//! reselection, carried-over progress, and a season's claim grace.

use engine::progress::{claimed, view};
use engine::{ClaimRefusal, ProgressState, Skip, Status};

use crate::progress::{assigned, feed, shown};
use crate::support::{rules, stat, t};

const ROTATION: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - { id: daily-kills, name: K, on: stat, stat: kills, target: 10 }
      - { id: daily-once, name: O, on: stat, stat: kills, count: events, target: 1, rotation: { every: daily, reset_progress: true } }
  - id: weekly
    name: Weekly
    rotation: { every: weekly, reset_progress: false }
    goals:
      - { id: weekly-events, name: W, on: stat, stat: kills, count: events, target: 2 }
  - id: monthly
    name: Monthly
    rotation: { every: monthly }
    goals:
      - { id: monthly-sum, name: S, on: stat, stat: kills, count: sum, target: 100 }
"#;

#[test]
fn daily_rotation_resets_lazily_with_a_new_baseline() {
    let r = rules(ROTATION);
    let day1 = t("2026-05-01T22:00:00Z");
    let mut s = assigned(&r, "daily-kills", day1);
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 100, 4, day1),
        day1,
    );
    assert_eq!(shown(&r, "daily-kills", &s, day1), (4, Status::InProgress));
    assert_eq!(
        s.as_ref().and_then(|s| s.expires_at),
        Some(t("2026-05-02T00:00:00Z"))
    );
    // Next day, before any event: reads show the reset without writing it.
    let day2 = t("2026-05-02T08:00:00Z");
    let v = view(r.goal("daily-kills").expect("goal"), s.as_ref(), day2);
    assert_eq!(
        (v.progress, v.status, v.rotated),
        (0, Status::NotStarted, true)
    );
    assert_eq!(v.expires_at, Some(t("2026-05-03T00:00:00Z")));
    // First event of the new period captures a new baseline.
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 103, 3, day2),
        day2,
    );
    assert_eq!(shown(&r, "daily-kills", &s, day2), (3, Status::InProgress));
    assert_eq!(s.as_ref().and_then(|s| s.baseline), Some(100));
}

#[test]
fn a_rotated_goal_cannot_be_claimed() {
    let r = rules(ROTATION);
    let day1 = t("2026-05-01T22:00:00Z");
    let goal = r.goal("daily-kills").expect("goal");
    let mut s = assigned(&r, "daily-kills", day1);
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 20, 10, day1),
        day1,
    );
    assert_eq!(r.check_claim(goal, s.as_ref(), |_| None, day1), Ok(()));
    let day2 = t("2026-05-02T00:00:00Z");
    assert_eq!(
        r.check_claim(goal, s.as_ref(), |_| None, day2),
        Err(ClaimRefusal::Rotated)
    );
    assert_eq!(shown(&r, "daily-kills", &s, day2), (0, Status::NotStarted));
}

#[test]
fn claimed_with_allow_reselection_resets_in_a_new_period() {
    let r = rules(ROTATION);
    let day1 = t("2026-05-01T10:00:00Z");
    let day2 = t("2026-05-02T10:00:00Z");
    let done = assigned(&r, "daily-kills", day1).map(|s| {
        claimed(
            &ProgressState {
                status: Status::Completed,
                progress: 10,
                baseline: Some(0),
                ..s
            },
            day1,
        )
    });
    assert_eq!(
        shown(&r, "daily-kills", &done, day2),
        (0, Status::NotStarted)
    );
    let mut s = done;
    feed(
        &r,
        "daily-kills",
        &mut s,
        &stat("kills", 30, 10, day2),
        day2,
    );
    assert_eq!(shown(&r, "daily-kills", &s, day2), (10, Status::Completed));
    assert_eq!(s.and_then(|s| s.claimed_at), None);
}

#[test]
fn claimed_without_reselection_stays_claimed() {
    let r = rules(ROTATION);
    let day1 = t("2026-05-01T10:00:00Z");
    let day2 = t("2026-05-02T10:00:00Z");
    let mut s = assigned(&r, "daily-once", day1);
    feed(&r, "daily-once", &mut s, &stat("kills", 1, 1, day1), day1);
    let mut s = s.map(|s| claimed(&s, day1));
    assert_eq!(shown(&r, "daily-once", &s, day2), (1, Status::Claimed));
    assert_eq!(
        feed(&r, "daily-once", &mut s, &stat("kills", 2, 1, day2), day2),
        Some(Skip::AlreadyClaimed)
    );
}

#[test]
fn weekly_without_reset_carries_completed_over() {
    let r = rules(ROTATION);
    let monday = t("2026-05-04T10:00:00Z");
    let mut s = assigned(&r, "weekly-events", monday);
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 1, 1, monday),
        monday,
    );
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 2, 1, monday),
        monday,
    );
    assert_eq!(
        shown(&r, "weekly-events", &s, monday),
        (2, Status::Completed)
    );
    let next_week = t("2026-05-11T00:00:00Z");
    assert_eq!(
        shown(&r, "weekly-events", &s, next_week),
        (2, Status::Completed)
    );
    assert_eq!(
        view(
            r.goal("weekly-events").expect("goal"),
            s.as_ref(),
            next_week
        )
        .expires_at,
        Some(t("2026-05-18T00:00:00Z"))
    );
}

#[test]
fn weekly_without_reset_carries_partial_progress_over() {
    let r = rules(ROTATION);
    let sunday = t("2026-05-10T23:00:00Z");
    let mut s = assigned(&r, "weekly-events", sunday);
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 1, 1, sunday),
        sunday,
    );
    let monday = t("2026-05-11T01:00:00Z");
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 2, 1, monday),
        monday,
    );
    assert_eq!(
        shown(&r, "weekly-events", &s, monday),
        (2, Status::Completed)
    );
}

#[test]
fn monthly_rotation_resets_on_the_first() {
    let r = rules(ROTATION);
    let may = t("2026-05-31T23:00:00Z");
    let mut s = assigned(&r, "monthly-sum", may);
    feed(&r, "monthly-sum", &mut s, &stat("kills", 60, 60, may), may);
    assert_eq!(
        shown(&r, "monthly-sum", &s, t("2026-05-31T23:59:59Z")),
        (60, Status::InProgress)
    );
    let june = t("2026-06-01T00:00:00Z");
    assert_eq!(shown(&r, "monthly-sum", &s, june), (0, Status::NotStarted));
    feed(
        &r,
        "monthly-sum",
        &mut s,
        &stat("kills", 100, 40, june),
        june,
    );
    assert_eq!(shown(&r, "monthly-sum", &s, june), (40, Status::InProgress));
}

/// A goal that carries its progress over (`reset_progress: false`) and was completed last
/// week can be claimed this week: the completion carried over with the progress.
#[test]
fn a_carried_over_completion_is_claimable_in_a_later_period() {
    let r = rules(ROTATION);
    let goal = r.goal("weekly-events").expect("goal");
    let week1 = t("2026-05-05T10:00:00Z");
    let mut s = assigned(&r, "weekly-events", week1);
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 1, 1, week1),
        week1,
    );
    feed(
        &r,
        "weekly-events",
        &mut s,
        &stat("kills", 2, 1, week1),
        week1,
    );
    assert_eq!(shown(&r, "weekly-events", &s, week1).1, Status::Completed);
    let week3 = t("2026-05-20T10:00:00Z");
    assert_eq!(shown(&r, "weekly-events", &s, week3).1, Status::Completed);
    assert_eq!(r.check_claim(goal, s.as_ref(), |_| None, week3), Ok(()));
    // Claimed, it stays claimed in later weeks.
    let after = s.as_ref().map(|s| claimed(s, week3));
    let week5 = t("2026-06-03T10:00:00Z");
    assert_eq!(
        r.check_claim(goal, after.as_ref(), |_| None, week5),
        Err(ClaimRefusal::AlreadyClaimed)
    );
}

/// After a season ends its events stop counting at once, but its rewards stay claimable for
/// the challenge's `claim_grace` (7 days unless set).
#[test]
fn a_season_stays_claimable_for_its_grace_period() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: default-grace
    name: D
    schedule: { start: 2026-12-01T00:00:00Z, end: 2027-01-15T00:00:00Z }
    goals:
      - { id: d, name: D, on: stat, stat: kills, target: 1 }
  - id: short-grace
    name: S
    schedule: { start: 2026-12-01T00:00:00Z, end: 2027-01-15T00:00:00Z, claim_grace: 12h }
    goals:
      - { id: s, name: S, on: stat, stat: kills, target: 1 }
  - id: no-grace
    name: N
    schedule: { start: 2026-12-01T00:00:00Z, end: 2027-01-15T00:00:00Z, claim_grace: 0s }
    goals:
      - { id: n, name: N, on: stat, stat: kills, target: 1 }
"#,
    );
    let schedule = |id: &str| r.challenge(id).expect("challenge").schedule;
    let ended = t("2027-01-15T06:00:00Z");
    assert!(
        !schedule("default-grace").contains(ended),
        "events stop at the end"
    );
    assert!(schedule("default-grace").claimable(ended));
    assert!(schedule("default-grace").claimable(t("2027-01-21T23:59:59Z")));
    assert!(!schedule("default-grace").claimable(t("2027-01-22T00:00:00Z")));
    assert!(schedule("short-grace").claimable(ended));
    assert!(!schedule("short-grace").claimable(t("2027-01-15T12:00:00Z")));
    assert!(!schedule("no-grace").claimable(ended));
    assert!(
        !schedule("default-grace").claimable(t("2026-11-30T23:00:00Z")),
        "not before the start"
    );
}
