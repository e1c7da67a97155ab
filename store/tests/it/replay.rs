//! The property replay rests on: replaying a player's archived events through `route` +
//! `apply` (engine::replay) gives the progress the store holds for them, for the same rules,
//! whatever the events, their batching, their redeliveries and their days. Both stores.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use engine::replay::{Replayer, Tally};
use engine::{
    Event, EventData, EventKind, GoalId, RuleSet, SourceFile, Sources, Status, UserId, compile,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use store::{ArchiveWindow, PendingEvent, Store};

use crate::support::{TestDb, test_now};

const RULES: &str = r#"
version: 1
challenges:
  - id: season
    name: Season
    goals:
      - { id: ranked-kills, name: K, on: stat, stat: kills, count: sum, target: 30, when: 'event.additional.mode == "ranked"' }
      - { id: best-kills, name: M, on: stat, stat: kills, count: max, target: 40, assign: auto }
      - { id: level, name: L, on: stat, stat: level, target: 25 }
      - { id: doubled, name: D, on: stat, stat: [kills, wins], count: sum, amount: 'event.inc * 2', target: 50, assign: auto }
      - { id: days-played, name: P, on: stat, stat: wins, count: days, target: 3, assign: auto }
      - { id: logins, name: I, on: login, count: events, target: 4 }
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true }
    goals:
      - { id: daily-wins, name: W, on: stat, stat: wins, count: events, target: 3 }
      - { id: daily-level, name: DL, on: stat, stat: level, target: 5 }
  - id: weekly
    name: Weekly
    rotation: { every: weekly, reset_progress: false }
    goals:
      - { id: weekly-kills, name: WK, on: stat, stat: kills, count: sum, target: 60, assign: auto }
"#;

/// One generated event: (player, what, value, inc, ranked, minutes after the previous one
/// (0: same batch), a redelivery of the previous event).
type Step = (usize, usize, i64, i64, bool, i64, bool);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..3_usize,
            0..5_usize,
            0..60_i64,
            -3..12_i64,
            any::<bool>(),
            prop_oneof![Just(0_i64), 1..900_i64],
            prop::bool::weighted(0.1),
        ),
        1..40,
    )
}

fn event(case: usize, n: usize, step: &Step, at: DateTime<Utc>) -> Event {
    let (player, what, value, inc, ranked, _, _) = *step;
    let (kind, code) = match what {
        0 => (EventKind::Stat, Some("kills")),
        1 => (EventKind::Stat, Some("wins")),
        2 => (EventKind::Stat, Some("level")),
        3 => (EventKind::Stat, Some("deaths")),
        _ => (EventKind::Login, None),
    };
    let mode = if ranked { "ranked" } else { "casual" };
    let additional = serde_json::json!({ "mode": mode });
    let additional = engine::event::payload_from_json(additional.as_object());
    Event::new(EventData {
        id: format!("c{case}-e{n}"),
        kind,
        user_id: UserId::new(format!("c{case}-p{player}")),
        namespace: "test".into(),
        timestamp: at,
        sent_at: None,
        stat_code: code.map(str::to_string),
        value,
        inc,
        additional,
    })
}

/// Applies the steps through the store, a batch per instant, archived; then checks that
/// replaying the archive gives each player's stored progress.
async fn check(store: &dyn Store, rules: &Arc<RuleSet>, case: usize, steps: &[Step]) {
    let players: Vec<UserId> = (0..3)
        .map(|p| UserId::new(format!("c{case}-p{p}")))
        .collect();
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    for player in &players {
        store
            .initialize_for_user(player, "test", &defaults, test_now())
            .await
            .expect("initialize");
    }
    let mut at = test_now() + Duration::minutes(1);
    let mut batch: Vec<PendingEvent> = Vec::new();
    let mut previous: Option<Event> = None;
    for (n, step) in steps.iter().enumerate() {
        if step.5 > 0 && !batch.is_empty() {
            store.apply_events(&batch, at).await.expect("batch");
            batch.clear();
        }
        at += Duration::minutes(step.5);
        let event = match (&previous, step.6) {
            (Some(previous), true) => previous.clone(),
            _ => event(case, n, step, at),
        };
        let goals = rules
            .route(&event)
            .matched
            .iter()
            .map(|g| g.id.clone())
            .collect();
        batch.push(PendingEvent {
            rules: rules.clone(),
            event: event.clone(),
            goals,
            archive: true,
        });
        previous = Some(event);
    }
    store.apply_events(&batch, at).await.expect("batch");

    let mut archived: HashMap<String, Vec<Event>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store
            .read_archive(&ArchiveWindow::default(), after, 1000)
            .await
            .expect("read the archive");
        let Some(last) = page.last() else { break };
        after = last.seq;
        for row in page {
            archived
                .entry(row.user_id.clone())
                .or_default()
                .push(row.to_event().expect("readable"));
        }
    }
    for player in &players {
        let mut replayer = Replayer::new(rules);
        let mut tally = Tally::new(rules);
        for event in archived.get(player.as_str()).into_iter().flatten() {
            replayer.apply(event, &mut tally);
        }
        let stored = store
            .progress_for_user(player, false)
            .await
            .expect("progress");
        let stored: HashMap<GoalId, _> = stored
            .into_iter()
            .map(|row| (row.goal_id.clone(), row))
            .collect();
        for goal in rules.goals() {
            let row = stored.get(&goal.id).map(|row| &row.state);
            match (replayer.state(&goal.id), row) {
                (Some(replayed), Some(row)) => assert_eq!(
                    (
                        replayed.progress,
                        replayed.baseline,
                        replayed.status,
                        replayed.completed_at,
                        replayed.last_counted_day,
                    ),
                    (
                        row.progress,
                        row.baseline,
                        row.status,
                        row.completed_at,
                        row.last_counted_day,
                    ),
                    "{player} {}: replayed vs stored",
                    goal.id
                ),
                // Nothing reached the goal: the stored row is as initialized, if any.
                (None, row) => assert!(
                    row.is_none_or(|row| row.progress == 0 && row.status == Status::NotStarted),
                    "{player} {}: stored {row:?}, nothing replayed",
                    goal.id
                ),
                (Some(replayed), None) => {
                    panic!(
                        "{player} {}: replayed {replayed:?}, nothing stored",
                        goal.id
                    )
                }
            }
        }
    }
}

fn replay_gives_the_stored_progress(db: TestDb) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store = runtime.block_on(db.store());
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("rules.yaml", RULES)],
        unreadable: Vec::new(),
    });
    let rules = Arc::new(compiled.rules.expect("rules compile"));
    let case = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&steps(), |steps| {
        // Each case (shrinking included) plays new players with new event ids.
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.block_on(check(store.as_ref(), &rules, case, &steps));
        Ok(())
    });
    if let Err(err) = result {
        panic!("{err}");
    }
}

#[test]
fn replay_gives_the_stored_progress_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDb::postgres());
    replay_gives_the_stored_progress(db);
}

#[test]
fn replay_gives_the_stored_progress_on_sqlite() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDb::sqlite());
    replay_gives_the_stored_progress(db);
}
