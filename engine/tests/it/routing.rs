//! Routing: an event reaches only the goals listening to its kind and stat code.

use std::fmt::Write;

use crate::support::{login, rules, stat, t};

#[test]
fn events_reach_only_listening_goals() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: kills, name: K, on: stat, stat: kills, target: 1 }
      - { id: both, name: B, on: stat, stat: [kills, deaths], count: events, target: 1 }
      - { id: deaths, name: D, on: stat, stat: deaths, target: 1 }
      - { id: logins, name: L, on: login, target: 1 }
      - { id: big-kills, name: BK, on: stat, stat: kills, when: event.value >= 100, target: 1 }
"#,
    );
    let now = t("2026-05-01T10:00:00Z");
    let ids = |event| -> Vec<String> {
        r.route(&event)
            .matched
            .iter()
            .map(|g| g.id.to_string())
            .collect()
    };
    assert_eq!(ids(stat("kills", 5, 5, now)), ["kills", "both"]);
    assert_eq!(
        ids(stat("kills", 150, 5, now)),
        ["kills", "both", "big-kills"]
    );
    assert_eq!(ids(stat("deaths", 1, 1, now)), ["both", "deaths"]);
    assert_eq!(ids(stat("unknown", 1, 1, now)), Vec::<String>::new());
    assert_eq!(ids(login(now)), ["logins"]);
}

#[test]
fn candidates_do_not_grow_with_the_rule_set() {
    let mut yaml = String::from("version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n");
    for i in 0..10_000 {
        let _ = writeln!(
            yaml,
            "      - {{ id: g{i}, name: G, on: stat, stat: s{}, target: 1 }}",
            i % 1000
        );
    }
    let r = rules(&yaml);
    let now = t("2026-05-01T10:00:00Z");
    assert_eq!(r.candidates(&stat("s7", 1, 1, now)).count(), 10);
}

/// One goal's predicate cannot change what the next goal's predicate sees: each evaluation
/// reads the event as it arrived, whatever an earlier one did to `event.additional`.
#[test]
fn a_predicate_cannot_change_the_event_for_the_next() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: thief, name: T, on: stat, stat: kills, when: 'event.value != 7 || event.additional.remove("mode") == "ranked"', target: 1 }
      - { id: deep-thief, name: D, on: stat, stat: kills, when: 'event.value != 7 || event.additional.deep.remove("map") == 1', target: 1 }
      - { id: list-thief, name: L, on: stat, stat: kills, when: 'event.value != 7 || event.additional.list.pop() == 1', target: 1 }
      - { id: ranked, name: R, on: stat, stat: kills, when: 'event.additional.mode == "ranked" && event.additional.deep.map == 1 && event.additional.list.len() == 1', target: 1 }
"#,
    );
    let now = t("2026-05-01T10:00:00Z");
    let additional = serde_json::json!({"mode": "ranked", "deep": {"map": 1}, "list": [1]});
    let event = engine::Event::new(engine::EventData {
        additional: engine::event::payload_from_json(additional.as_object()),
        ..(*stat("kills", 7, 1, now)).clone()
    });
    for _ in 0..2 {
        let routed = r.route(&event);
        let matched: Vec<String> = routed.matched.iter().map(|g| g.id.to_string()).collect();
        assert_eq!(matched, ["ranked"], "the event reached `ranked` unchanged");
        let failed: Vec<String> = routed
            .errors
            .iter()
            .map(|(g, _)| g.id.to_string())
            .collect();
        assert_eq!(
            failed,
            ["thief", "deep-thief", "list-thief"],
            "changing the event is an evaluation error"
        );
    }
}

/// String functions on a payload field the event does not carry read it as empty text, as a
/// designer expects (`mode.to_lower() == "ranked"` is false, not an evaluation error).
#[test]
fn string_functions_read_a_missing_field_as_empty_text() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: lower, name: L, on: stat, stat: wins, when: 'event.additional.mode.to_lower() == "ranked"', target: 1 }
      - { id: upper, name: U, on: stat, stat: wins, when: 'event.additional.mode.to_upper() != "CASUAL"', target: 1 }
      - { id: text, name: T, on: stat, stat: wins, when: 'event.additional.map.contains("arena") || event.additional.map.starts_with("pvp") || event.additional.map.ends_with("1v1")', target: 1 }
      - { id: empty, name: E, on: stat, stat: wins, when: 'event.additional.map.len() == 0 && event.additional.map.is_empty()', target: 1 }
      - { id: fallback, name: F, on: stat, stat: wins, when: '(event.additional.mode ?? "casual") == "casual"', target: 1 }
"#,
    );
    let now = t("2026-05-01T10:00:00Z");
    let with = |additional: serde_json::Value| {
        engine::Event::new(engine::EventData {
            additional: engine::event::payload_from_json(additional.as_object()),
            ..(*stat("wins", 1, 1, now)).clone()
        })
    };
    let reached = |event: &engine::Event| {
        let routed = r.route(event);
        assert!(routed.errors.is_empty(), "{:?}", routed.errors);
        let mut ids: Vec<String> = routed.matched.iter().map(|g| g.id.to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        reached(&with(serde_json::json!({}))),
        ["empty", "fallback", "upper"]
    );
    assert_eq!(
        reached(&with(
            serde_json::json!({"mode": "Ranked", "map": "pvp-arena"})
        )),
        ["lower", "text", "upper"]
    );
}

/// A payload field compared with a literal of another type (`"12" >= 10`): Rhai answers false
/// in silence. The event still does not count, but the routing says why, as an evaluation
/// error of that goal, so it is counted and explained.
#[test]
fn text_compared_with_a_number_is_an_evaluation_error_not_a_silent_false() {
    let r = rules(
        r#"
version: 1
challenges:
  - id: c
    name: C
    goals:
      - { id: kills-10, name: K, on: stat, stat: kills, when: event.additional.kills >= 10, target: 1 }
      - { id: ranked, name: R, on: stat, stat: kills, when: 'event.additional.mode == "ranked"', target: 1 }
      - { id: either, name: E, on: stat, stat: kills, when: 'event.additional.level >= 10 || event.additional.level == "max"', target: 1 }
"#,
    );
    let now = t("2026-05-01T10:00:00Z");
    let with = |payload: serde_json::Value| {
        let mut event = (*stat("kills", 1, 1, now)).clone();
        event.additional = engine::event::payload_from_json(payload.as_object());
        engine::Event::new(event)
    };
    let routed = |payload| {
        let event = with(payload);
        let routed = r.route(&event);
        let matched: Vec<String> = routed.matched.iter().map(|g| g.id.to_string()).collect();
        let errors: Vec<(String, String)> = (routed.errors.iter())
            .map(|(g, e)| (g.id.to_string(), e.message.clone()))
            .collect();
        (matched, errors)
    };
    let (matched, errors) = routed(serde_json::json!({"kills": "12", "mode": 3}));
    assert!(matched.is_empty());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0]
            .1
            .starts_with("compared text \"12\" with number 10"),
        "{errors:?}"
    );
    assert!(
        errors[1]
            .1
            .starts_with("compared number 3 with text \"ranked\""),
        "{errors:?}"
    );
    // Same types, or a value missing: a plain true or false.
    assert_eq!(
        routed(serde_json::json!({"kills": 12})),
        (vec!["kills-10".to_string()], vec![])
    );
    assert_eq!(
        routed(serde_json::json!({"kills": 5, "mode": "casual"})),
        (vec![], vec![])
    );
    assert_eq!(routed(serde_json::json!({})), (vec![], vec![]));
    // A field compared with a number and with text: either type is expected.
    for level in [serde_json::json!(3), serde_json::json!("min")] {
        assert_eq!(
            routed(serde_json::json!({"level": level})),
            (vec![], vec![]),
            "{level}"
        );
    }
    // Simulate (and so explain, which replays the same way) says it in those words.
    let results = engine::simulate::simulate(&r, &[with(serde_json::json!({"kills": "12"}))]);
    let reason = (results[0].goals.iter())
        .find(|g| g.goal_id == "kills-10")
        .and_then(|g| g.reason.clone())
        .unwrap_or_default();
    assert!(
        reason.contains("compared text \"12\" with number 10"),
        "{reason}"
    );
}
