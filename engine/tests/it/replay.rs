//! Replay through `route` + `apply` at the events' own times, and the comparison of two rule sets.

use engine::replay::{Median, ReplayReport, Replayer, Tally};
use engine::{Event, RuleSet, Status};

use crate::support::{rules, stat, t};

const DEPLOYED: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - { id: play-3, name: P, on: stat, stat: matches, count: events, target: 3, assign: manual }
      - { id: gone, name: G, on: stat, stat: matches, count: events, target: 1 }
  - id: forever
    name: Forever
    goals:
      - { id: big-sum, name: S, on: stat, stat: kills, count: sum, target: 10, assign: auto, when: event.inc > 0 }
"#;

const EDIT: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - { id: play-3, name: P, on: stat, stat: matches, count: events, target: 2, assign: manual }
  - id: forever
    name: Forever
    goals:
      - { id: big-sum, name: S, on: stat, stat: kills, count: sum, target: 1000, assign: auto }
      - { id: new-goal, name: N, on: stat, stat: kills, count: events, target: 2, assign: auto }
"#;

fn replay(rules: &RuleSet, players: &[Vec<Event>]) -> Tally {
    let mut tally = Tally::new(rules);
    let mut replayer = Replayer::new(rules);
    for events in players {
        for event in events {
            replayer.apply(event, &mut tally);
        }
        replayer.finish_player(&mut tally);
    }
    tally
}

#[test]
fn daily_goals_rotate_at_the_events_own_times() {
    let r = rules(DEPLOYED);
    let mut tally = Tally::new(&r);
    let mut replayer = Replayer::new(&r);
    // Two matches on day 1 (not enough), three on day 2: progress resets at midnight of the
    // events' time, not of the replay's.
    for at in [
        "2026-03-01T10:00:00Z",
        "2026-03-01T11:00:00Z",
        "2026-03-02T09:00:00Z",
        "2026-03-02T10:00:00Z",
    ] {
        replayer.apply(&stat("matches", 0, 1, t(at)), &mut tally);
    }
    let state = replayer.state(&"play-3".into()).expect("reached");
    assert_eq!((state.progress, state.status), (2, Status::InProgress));
    replayer.apply(
        &stat("matches", 0, 1, t("2026-03-02T11:00:00Z")),
        &mut tally,
    );
    replayer.finish_player(&mut tally);
    let play = &tally.goals[r.position("play-3").expect("goal")];
    assert_eq!(play.completed, 1);
    // Three events of day 2 completed it; day 1's two belong to an earlier period.
    assert_eq!(play.events_to_completion, vec![3]);
    assert_eq!((tally.players, tally.events), (1, 5));
}

#[test]
fn a_predicate_decides_what_reaches_a_goal() {
    let r = rules(DEPLOYED);
    let at = t("2026-03-01T10:00:00Z");
    let events = vec![stat("kills", 20, 0, at), stat("kills", 25, 5, at)];
    let tally = replay(&r, &[events]);
    let sum = &tally.goals[r.position("big-sum").expect("goal")];
    // The first update (inc 0) fails `when`; the second brings 5 of 10.
    assert_eq!(sum.completed, 0);
}

#[test]
fn comparing_two_rule_sets_names_added_removed_and_unreached_goals() {
    let before = rules(DEPLOYED);
    let after = rules(EDIT);
    let at = |h: u32| t(&format!("2026-03-01T{h:02}:00:00Z"));
    let players = vec![
        // Plays 2 matches and kills 12.
        vec![
            stat("matches", 0, 1, at(1)),
            stat("matches", 0, 1, at(2)),
            stat("kills", 12, 12, at(3)),
        ],
        // Plays 3 matches.
        vec![
            stat("matches", 0, 1, at(1)),
            stat("matches", 0, 1, at(2)),
            stat("matches", 0, 1, at(3)),
        ],
    ];
    let report = ReplayReport::compare(
        &before,
        replay(&before, &players),
        &after,
        replay(&after, &players),
    );
    assert_eq!((report.players, report.events), (2, 6));
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "players": 2, "events": 6, "days": 1.0, "rewards": [],
            "goals": [
                {"challengeId": "daily", "goalId": "play-3", "completedBefore": 1, "completedAfter": 2,
                 "medianEventsBefore": 3, "medianEventsAfter": 2,
                 "completionsBefore": 1, "completionsAfter": 2, "rewardsBefore": [], "rewardsAfter": []},
                {"challengeId": "forever", "goalId": "big-sum", "completedBefore": 1, "completedAfter": 0,
                 "medianEventsBefore": 1, "medianEventsAfter": null,
                 "completionsBefore": 1, "completionsAfter": 0, "rewardsBefore": [], "rewardsAfter": []},
                {"challengeId": "forever", "goalId": "new-goal", "completedBefore": null, "completedAfter": 0,
                 "medianEventsBefore": null, "medianEventsAfter": null,
                 "completionsBefore": null, "completionsAfter": 0, "rewardsBefore": [], "rewardsAfter": []},
                {"challengeId": "daily", "goalId": "gone", "completedBefore": 2, "completedAfter": null,
                 "medianEventsBefore": 1, "medianEventsAfter": null,
                 "completionsBefore": 2, "completionsAfter": null, "rewardsBefore": [], "rewardsAfter": []},
            ]
        })
    );
    assert!(report.goals[2].is_added() && report.goals[3].is_removed());
}

#[test]
fn medians_of_even_counts_are_halves() {
    assert_eq!(Median::of(&mut []), None);
    assert_eq!(Median::of(&mut [5, 1, 3]), Some(Median(3.0)));
    assert_eq!(Median::of(&mut [4, 1, 3, 2]), Some(Median(2.5)));
    assert_eq!(serde_json::to_string(&Median(2.5)).expect("json"), "2.5");
    assert_eq!(serde_json::to_string(&Median(3.0)).expect("json"), "3");
    assert_eq!(Median(2.5).to_string(), "2.5");
}

#[test]
fn simulate_traces_each_listening_goal() {
    use engine::simulate::simulate;
    let r = rules(DEPLOYED);
    let at = t("2026-03-01T10:00:00Z");
    let with = |event: Event, id: &str| {
        Event::new(engine::EventData {
            id: id.into(),
            ..(*event).clone()
        })
    };
    let results = simulate(
        &r,
        &[
            with(stat("kills", 5, 0, at), "k0"),
            with(stat("kills", 15, 10, at), "k1"),
            with(stat("matches", 1, 1, at), "m1"),
        ],
    );
    let json = serde_json::to_value(&results).expect("json");
    assert_eq!(
        json[0]["goals"][0],
        serde_json::json!({"challengeId": "forever", "goalId": "big-sum", "matched": false,
            "when": false, "fields": {"event.inc": 0}, "progressBefore": 0, "progressAfter": 0,
            "statusBefore": "not_started", "statusAfter": "not_started",
            "reason": "the predicate (`when`) is false for this event"})
    );
    assert_eq!(
        json[1]["goals"][0],
        serde_json::json!({"challengeId": "forever", "goalId": "big-sum", "matched": true,
            "when": true, "fields": {"event.inc": 10}, "progressBefore": 0, "progressAfter": 10,
            "statusBefore": "not_started", "statusAfter": "completed", "reason": null})
    );
    // Two goals listen to `matches`; neither has a predicate.
    let goals: Vec<_> = json[2]["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .map(|g| {
            (
                g["goalId"].clone(),
                g["when"].clone(),
                g["statusAfter"].clone(),
            )
        })
        .collect();
    assert_eq!(
        goals,
        vec![
            (
                "play-3".into(),
                serde_json::Value::Null,
                "in_progress".into()
            ),
            ("gone".into(), serde_json::Value::Null, "completed".into()),
        ]
    );
}

#[test]
fn simulate_stops_at_its_deadline() {
    use engine::simulate::{OutOfTime, simulate_until};
    let r = rules(DEPLOYED);
    let at = t("2026-03-01T10:00:00Z");
    let events = vec![stat("kills", 1, 1, at); 3];
    let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
    assert_eq!(simulate_until(&r, &events, far).map(|r| r.len()), Ok(3));
    let passed = std::time::Instant::now();
    assert_eq!(
        simulate_until(&r, &events, passed).map(|r| r.len()),
        Err(OutOfTime {
            applied: 0,
            total: 3
        })
    );
}
