//! A backfill's decision (`engine::support::backfill_change`): it raises a goal to what replay
//! gives and nothing else. It never lowers, never touches a claimed, completed or unselected
//! goal, and it compares both rows as the current period sees them.

use engine::Status;
use engine::progress::claimed;
use engine::support::backfill_change;
use engine::{ProgressState, RuleSet};

use crate::support::{rules, t};

const RULES: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: kills, name: K, on: stat, stat: kills, count: sum, target: 10, assign: auto }
      - { id: picked, name: P, on: stat, stat: kills, count: sum, target: 10, assign: manual }
      - { id: level, name: L, on: stat, stat: level, count: value, relative: true, target: 5, assign: auto }
  - id: d
    name: D
    rotation: { every: daily }
    goals:
      - { id: daily, name: D, on: stat, stat: kills, count: sum, target: 5, assign: auto }
"#;

fn at(rules: &RuleSet, goal: &str, progress: i64, when: &str) -> ProgressState {
    let goal = rules.goal(goal).unwrap();
    let mut state = ProgressState::assigned(goal, t(when));
    state.progress = progress;
    state.status = if progress >= goal.target {
        Status::Completed
    } else if progress > 0 {
        Status::InProgress
    } else {
        Status::NotStarted
    };
    state.completed_at = (progress >= goal.target).then(|| t(when));
    state
}

#[test]
fn raises_to_the_replay_and_completes_at_the_target() {
    let rules = rules(RULES);
    let kills = rules.goal("kills").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    let stored = at(&rules, "kills", 3, "2026-06-10T09:00:00Z");
    let replayed = at(&rules, "kills", 7, "2026-06-10T09:00:00Z");
    let next = backfill_change(kills, Some(&stored), &replayed, now).unwrap();
    assert_eq!((next.progress, next.status), (7, Status::InProgress));
    assert_eq!(
        next.created_at, stored.created_at,
        "the row stays the player's"
    );
    let replayed = at(&rules, "kills", 12, "2026-06-10T09:00:00Z");
    let next = backfill_change(kills, Some(&stored), &replayed, now).unwrap();
    assert_eq!((next.progress, next.status), (12, Status::Completed));
    assert_eq!(next.completed_at, Some(t("2026-06-10T09:00:00Z")));
    // Applied, it finds nothing more: a second run changes nothing.
    assert_eq!(backfill_change(kills, Some(&next), &replayed, now), None);
}

#[test]
fn never_lowers_and_leaves_done_goals_alone() {
    let rules = rules(RULES);
    let kills = rules.goal("kills").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    let replayed = at(&rules, "kills", 4, "2026-06-10T09:00:00Z");
    for stored in [4, 6] {
        let stored = at(&rules, "kills", stored, "2026-06-10T09:00:00Z");
        assert_eq!(backfill_change(kills, Some(&stored), &replayed, now), None);
    }
    let replayed = at(&rules, "kills", 20, "2026-06-10T09:00:00Z");
    let done = at(&rules, "kills", 10, "2026-06-10T09:00:00Z");
    assert_eq!(backfill_change(kills, Some(&done), &replayed, now), None);
    let taken = claimed(&done, t("2026-06-10T10:00:00Z"));
    assert_eq!(backfill_change(kills, Some(&taken), &replayed, now), None);
}

#[test]
fn only_goals_the_player_holds_unless_automatic() {
    let rules = rules(RULES);
    let now = t("2026-06-10T12:00:00Z");
    let replayed = at(&rules, "picked", 4, "2026-06-10T09:00:00Z");
    let picked = rules.goal("picked").unwrap();
    // Replay takes a manual goal as picked; the player never picked it: no row, no credit.
    assert_eq!(backfill_change(picked, None, &replayed, now), None);
    let mut unselected = at(&rules, "picked", 1, "2026-06-10T09:00:00Z");
    unselected.is_active = false;
    assert_eq!(
        backfill_change(picked, Some(&unselected), &replayed, now),
        None
    );
    // An automatic goal with no row gets one.
    let kills = rules.goal("kills").unwrap();
    let replayed = at(&rules, "kills", 4, "2026-06-10T09:00:00Z");
    let next = backfill_change(kills, None, &replayed, now).unwrap();
    assert_eq!((next.progress, next.is_active), (4, true));
}

#[test]
fn compares_in_the_current_period() {
    let rules = rules(RULES);
    let daily = rules.goal("daily").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    // Yesterday's replayed progress is gone today: nothing to credit.
    let yesterday = at(&rules, "daily", 4, "2026-06-09T20:00:00Z");
    assert_eq!(backfill_change(daily, None, &yesterday, now), None);
    // Today's counts against a row last written yesterday, which reads as 0 today.
    let stored = at(&rules, "daily", 3, "2026-06-09T20:00:00Z");
    let today = at(&rules, "daily", 2, "2026-06-10T08:00:00Z");
    let next = backfill_change(daily, Some(&stored), &today, now).unwrap();
    assert_eq!((next.progress, next.status), (2, Status::InProgress));
    assert_eq!(next.expires_at, Some(t("2026-06-11T00:00:00Z")));
}

#[test]
fn a_relative_goal_keeps_the_players_baseline() {
    let rules = rules(RULES);
    let level = rules.goal("level").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    let mut stored = at(&rules, "level", 11, "2026-06-10T09:00:00Z");
    stored.baseline = Some(10); // shows 1
    (stored.status, stored.completed_at) = (Status::InProgress, None);
    let mut replayed = at(&rules, "level", 13, "2026-06-10T09:00:00Z");
    replayed.baseline = Some(9); // shows 4
    (replayed.status, replayed.completed_at) = (Status::InProgress, None);
    let next = backfill_change(level, Some(&stored), &replayed, now).unwrap();
    assert_eq!((next.baseline, next.progress), (Some(10), 14));
    assert_eq!(engine::progress::shown_progress(level, &next), 4);
}
