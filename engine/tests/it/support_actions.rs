//! Support actions (`engine::support`): set, complete and reset decide the status from the
//! target, keep a relative goal's baseline, start the period's row when there is none, and
//! refuse a claimed goal.

use engine::progress::claimed;
use engine::support::{SupportAction, SupportRefusal, support_change};
use engine::{ProgressState, Status};

use crate::support::{rules, t};

const RULES: &str = r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: kills, name: K, on: stat, stat: kills, count: sum, target: 10 }
      - { id: wins, name: W, on: stat, stat: wins, count: value, relative: true, target: 3 }
  - id: d
    name: D
    rotation: { every: daily, allow_reselection: true }
    goals:
      - { id: daily, name: D, on: stat, stat: kills, count: sum, target: 5 }
  - id: e
    name: E
    rotation: { every: daily }
    goals:
      - { id: once, name: O, on: stat, stat: kills, count: sum, target: 5 }
"#;

#[test]
fn set_complete_and_reset_follow_the_target() {
    let rules = rules(RULES);
    let kills = rules.goal("kills").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    // No row: the action starts one, assigned now.
    let set = support_change(kills, None, SupportAction::Set(4), now).unwrap();
    assert_eq!(
        (set.progress, set.status, set.assigned_at),
        (4, Status::InProgress, Some(now))
    );
    let done = support_change(kills, Some(&set), SupportAction::Set(12), now).unwrap();
    assert_eq!(
        (done.progress, done.status, done.completed_at),
        (12, Status::Completed, Some(now))
    );
    let back = support_change(kills, Some(&done), SupportAction::Set(9), now).unwrap();
    assert_eq!((back.status, back.completed_at), (Status::InProgress, None));
    let completed = support_change(kills, Some(&set), SupportAction::Complete, now).unwrap();
    assert_eq!(
        (completed.progress, completed.status),
        (10, Status::Completed)
    );
    let reset = support_change(kills, Some(&completed), SupportAction::Reset, now).unwrap();
    assert_eq!(
        (reset.progress, reset.status, reset.completed_at),
        (0, Status::NotStarted, None)
    );
    assert_eq!(
        support_change(kills, Some(&set), SupportAction::Set(-1), now),
        Err(SupportRefusal::Negative)
    );
}

#[test]
fn a_claimed_goal_is_refused_while_its_claim_stands() {
    let rules = rules(RULES);
    let now = t("2026-06-10T12:00:00Z");
    let kills = rules.goal("kills").unwrap();
    let done = support_change(kills, None, SupportAction::Complete, now).unwrap();
    let taken = claimed(&done, now);
    for action in [
        SupportAction::Set(3),
        SupportAction::Complete,
        SupportAction::Reset,
    ] {
        assert_eq!(
            support_change(kills, Some(&taken), action, now),
            Err(SupportRefusal::Claimed),
            "{action:?}"
        );
    }
    // A daily goal without reselection stays claimed; with it, yesterday's claim is over.
    let once = rules.goal("once").unwrap();
    let yesterday = t("2026-06-09T12:00:00Z");
    let taken = claimed(
        &support_change(once, None, SupportAction::Complete, yesterday).unwrap(),
        yesterday,
    );
    assert_eq!(
        support_change(once, Some(&taken), SupportAction::Set(2), now),
        Err(SupportRefusal::Claimed)
    );
    let daily = rules.goal("daily").unwrap();
    let taken = claimed(
        &support_change(daily, None, SupportAction::Complete, yesterday).unwrap(),
        yesterday,
    );
    let today = support_change(daily, Some(&taken), SupportAction::Set(2), now).unwrap();
    assert_eq!((today.progress, today.status), (2, Status::InProgress));
    assert_eq!(today.expires_at, Some(t("2026-06-11T00:00:00Z")));
}

#[test]
fn a_relative_goal_keeps_its_baseline() {
    let rules = rules(RULES);
    let wins = rules.goal("wins").unwrap();
    let now = t("2026-06-10T12:00:00Z");
    let state = ProgressState {
        progress: 50,
        baseline: Some(48),
        status: Status::InProgress,
        ..ProgressState::assigned(wins, now)
    };
    let done = support_change(wins, Some(&state), SupportAction::Complete, now).unwrap();
    assert_eq!(
        (done.progress, done.baseline, done.status),
        (51, Some(48), Status::Completed)
    );
    let set = support_change(wins, Some(&state), SupportAction::Set(1), now).unwrap();
    assert_eq!((set.progress, set.baseline), (49, Some(48)));
}
