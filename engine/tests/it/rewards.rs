//! Bundles and weighted tables as the engine compiles them: what a goal grants, the draw a
//! claim makes from its seed (the same after a restart), and the deployment's check that a
//! bundle can be one Platform fulfillment (E025).

use engine::{CompileOptions, Reward, RewardPart, SourceFile, Sources, compile, compile_with};

const FILE: &str = r#"
version: 1
challenges:
  - id: loot
    name: Loot
    goals:
      - id: chest
        name: Open a chest
        on: login
        target: 1
        rewards:
          - { item: chest-key, quantity: 1 }
          - { wallet: GOLD, amount: 100 }
          - one_of:
              - { weight: 80, wallet: GEMS, amount: 5 }
              - { weight: 20, item: rare-skin }
"#;

fn sources() -> Sources {
    Sources {
        files: vec![SourceFile::new("loot.yaml", FILE.to_string())],
        unreadable: Vec::new(),
    }
}

#[test]
fn a_bundle_lists_every_part_and_a_table_its_entries() {
    let rules = compile(&sources()).rules.expect("compiles");
    let goal = rules.goal("chest").expect("goal");
    let parts = goal.rewards.parts();
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts[0],
        RewardPart::Fixed(Reward::Item {
            item_id: "chest-key".into(),
            quantity: 1
        })
    );
    let odds: Vec<f64> = parts[2].odds().iter().map(|(_, p)| *p).collect();
    assert_eq!(odds, vec![0.8, 0.2]);
    assert_eq!(
        goal.rewards.headline(),
        Some(&Reward::Item {
            item_id: "chest-key".into(),
            quantity: 1
        })
    );
}

/// A restart compiles the files again: the same transaction id draws the same entry. Pinned,
/// so a change of the draw itself is a reviewed change.
#[test]
fn the_same_seed_draws_the_same_after_a_restart() {
    let seeds = [
        "ce-0000", "ce-0001", "ce-0002", "ce-0003", "ce-0004", "ce-0005",
    ];
    let draws = |rules: &engine::RuleSet| -> Vec<String> {
        let goal = rules.goal("chest").expect("goal");
        seeds
            .iter()
            .map(|seed| goal.rewards.draw(seed)[2].id().to_string())
            .collect()
    };
    let first = draws(&compile(&sources()).rules.expect("compiles"));
    let restarted = draws(&compile(&sources()).rules.expect("compiles"));
    assert_eq!(first, restarted);
    insta::assert_snapshot!(first.join(" "), @"GEMS rare-skin GEMS GEMS GEMS GEMS");
}

#[test]
fn in_fulfillment_mode_a_bundle_needs_a_coins_item_for_each_currency() {
    let options = |mapped: &[&str]| CompileOptions {
        fulfillment_currencies: Some(mapped.iter().map(|c| c.to_string()).collect()),
    };
    let refused = compile_with(&sources(), &options(&["GOLD"]));
    assert!(refused.rules.is_none());
    let message = refused
        .diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        message.contains("E025")
            && message.contains("`GEMS`")
            && message.contains("loot.yaml:12:")
            && message.contains("GEMS=<coins item id>"),
        "{message}"
    );
    assert!(
        compile_with(&sources(), &options(&["GOLD", "GEMS"]))
            .rules
            .is_some()
    );
    // Direct delivery or the mock: each part goes on its own, nothing to check.
    assert!(compile(&sources()).rules.is_some());
}

const DAILY_GOLD: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - { id: win-2, name: W, on: stat, stat: wins, count: events, target: 2, assign: auto, reward: { wallet: GOLD, amount: 100 } }
"#;

const DAILY_EDIT: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true, allow_reselection: true }
    goals:
      - id: win-2
        name: W
        on: stat
        stat: wins
        count: events
        target: 1
        assign: auto
        rewards:
          - { wallet: GOLD, amount: 100 }
          - one_of: [ { weight: 3, wallet: GOLD, amount: 20 }, { weight: 1, item: rare } ]
"#;

/// Replay counts every period's completion (a daily goal done on four days grants four
/// times), and says what the edit grants more per reward id and per day, tables at their
/// expected value.
#[test]
fn replay_reports_the_rewards_an_edit_grants_per_day() {
    use engine::replay::{ReplayReport, Replayer, Tally};
    let deployed = crate::support::rules(DAILY_GOLD);
    let edit = crate::support::rules(DAILY_EDIT);
    // One win a day for four days, a second one on two of them.
    let mut events = Vec::new();
    for day in 1..=4 {
        events.push(crate::support::stat(
            "wins",
            1,
            1,
            crate::support::t(&format!("2026-03-0{day}T10:00:00Z")),
        ));
        if day % 2 == 0 {
            events.push(crate::support::stat(
                "wins",
                2,
                1,
                crate::support::t(&format!("2026-03-0{day}T11:00:00Z")),
            ));
        }
    }
    let tally = |rules: &engine::RuleSet| {
        let mut tally = Tally::new(rules);
        let mut replayer = Replayer::new(rules);
        for event in &events {
            replayer.apply(event, &mut tally);
        }
        replayer.finish_player(&mut tally);
        tally
    };
    let report = ReplayReport::compare(&deployed, tally(&deployed), &edit, tally(&edit));
    let goal = &report.goals[0];
    assert_eq!(
        (goal.completed_before, goal.completed_after),
        (Some(1), Some(1))
    );
    assert_eq!(
        (goal.completions_before, goal.completions_after),
        (Some(2), Some(4))
    );
    // Three days from the first event to the last.
    assert_eq!(report.days, 3.04);
    let gold = report
        .rewards
        .iter()
        .find(|r| r.reward_id == "GOLD")
        .expect("GOLD");
    // Deployed: 2 × 100. Edit: 4 × (100 + ¾ × 20).
    assert_eq!(
        (gold.before, gold.after, gold.change),
        (200.0, 460.0, 260.0)
    );
    assert_eq!(gold.per_day, 85.48);
    let rare = report
        .rewards
        .iter()
        .find(|r| r.reward_id == "rare")
        .expect("rare");
    assert_eq!((rare.before, rare.after), (0.0, 1.0));
}

/// Simulate says what the event that completes a goal makes it grant, a table at its
/// expected value, and the totals of the simulation.
#[test]
fn simulate_says_what_a_completion_grants() {
    let rules = compile(&sources()).rules.expect("compiles");
    let login = |id: &str| {
        engine::Event::new(engine::EventData {
            id: id.into(),
            kind: engine::EventKind::Login,
            ..(*crate::support::stat("x", 0, 0, crate::support::t("2026-03-01T10:00:00Z"))).clone()
        })
    };
    let results = engine::simulate::simulate(&rules, &[login("a"), login("b")]);
    let first = &results[0].goals[0];
    let shown: Vec<(String, f64)> = first
        .rewards
        .iter()
        .map(|r| (r.reward_id.clone(), r.amount))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("chest-key".to_string(), 1.0),
            ("GOLD".into(), 100.0),
            ("GEMS".into(), 4.0),
            ("rare-skin".into(), 0.2)
        ]
    );
    assert!(results[1].goals[0].rewards.is_empty(), "completed once");
    assert_eq!(engine::simulate::rewards_granted(&results).len(), 4);
}
