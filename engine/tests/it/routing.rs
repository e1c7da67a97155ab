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
