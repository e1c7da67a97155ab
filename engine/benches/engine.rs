//! Engine benchmarks: routing cost against rule-set size, cost per matching goal, compile time.
//! Run: `cargo bench -p engine --bench engine`; figures go to docs/benchmarks.md.

#![allow(clippy::expect_used)] // benchmark set-up fails loudly by design

use std::fmt::Write;
use std::hint::black_box;

use chrono::{DateTime, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use engine::{
    Applied, Event, EventData, EventKind, ProgressState, RuleSet, SourceFile, Sources, UserId,
    compile,
};

const PREDICATE: &str =
    r#"event.value > 0 && event.additional.biome == "tundra" && event.inc >= 1"#;

/// `matching` goals listen to `kills` with a 3-clause predicate; the rest of the `total` goals
/// listen to 1,000 other stat codes.
fn rule_yaml(total: usize, matching: usize) -> String {
    let mut yaml =
        String::from("version: 1\nchallenges:\n  - id: bench\n    name: Bench\n    goals:\n");
    for i in 0..total {
        if i < matching {
            let _ = writeln!(
                yaml,
                "      - {{ id: hit-{i}, name: Hit, on: stat, stat: kills, when: '{PREDICATE}', count: sum, target: 1000000 }}"
            );
        } else {
            let _ = writeln!(
                yaml,
                "      - {{ id: other-{i}, name: Other, on: stat, stat: stat-{}, when: 'event.value > {i}', target: 10 }}",
                i % 1000
            );
        }
    }
    yaml
}

fn sources(yaml: String) -> Sources {
    Sources {
        files: vec![SourceFile::new("bench.yaml", yaml)],
        unreadable: Vec::new(),
    }
}

fn rules(total: usize, matching: usize) -> RuleSet {
    let compiled = compile(&sources(rule_yaml(total, matching)));
    compiled
        .rules
        .unwrap_or_else(|| panic!("bench rules compile: {:?}", compiled.diagnostics.first()))
}

fn kill_event(now: DateTime<Utc>) -> Event {
    let additional = serde_json::json!({"biome": "tundra"});
    let additional = engine::event::payload_from_json(additional.as_object());
    Event::new(EventData {
        id: "bench".into(),
        kind: EventKind::Stat,
        user_id: UserId::new("player"),
        namespace: "bench".into(),
        timestamp: now,
        sent_at: None,
        stat_code: Some("kills".into()),
        value: 10,
        inc: 1,
        additional,
    })
}

/// [`kill_event`] in another biome: every bench predicate is false on it.
fn desert_event(now: DateTime<Utc>) -> Event {
    let mut data = (*kill_event(now)).clone();
    let additional = serde_json::json!({"biome": "desert"});
    data.additional = engine::event::payload_from_json(additional.as_object());
    Event::new(data)
}

/// Route + apply for every matching goal, as the writer does per event.
fn evaluate(rules: &RuleSet, states: &[ProgressState], event: &Event, now: DateTime<Utc>) -> usize {
    let routed = rules.route(event);
    let mut changed = 0;
    for (goal, state) in routed.matched.iter().zip(states) {
        if let Applied::Changed(next) = rules.apply(goal, Some(state), event, now) {
            changed += black_box(next).progress as usize;
        }
    }
    changed
}

fn flat_in_rule_set_size(c: &mut Criterion) {
    let now: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().expect("time");
    let event = kill_event(now);
    let mut group = c.benchmark_group("event_vs_loaded_goals");
    for total in [10, 100, 1_000, 10_000] {
        let rules = rules(total, 10);
        let states: Vec<ProgressState> = rules.goals()[..10]
            .iter()
            .map(|g| ProgressState::assigned(g, now))
            .collect();
        group.bench_with_input(BenchmarkId::from_parameter(total), &total, |b, _| {
            b.iter(|| evaluate(&rules, &states, black_box(&event), now));
        });
    }
    group.finish();
}

fn per_matching_goal(c: &mut Criterion) {
    let now: DateTime<Utc> = "2026-05-01T10:00:00Z".parse().expect("time");
    let event = kill_event(now);
    let mut group = c.benchmark_group("per_matching_goal_3_clause");
    for matching in [1, 100] {
        let rules = rules(matching, matching);
        let states: Vec<ProgressState> = rules
            .goals()
            .iter()
            .map(|g| ProgressState::assigned(g, now))
            .collect();
        group.throughput(Throughput::Elements(matching as u64));
        group.bench_with_input(
            BenchmarkId::new("route_and_apply", matching),
            &matching,
            |b, _| {
                b.iter(|| evaluate(&rules, &states, black_box(&event), now));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("predicate_only", matching),
            &matching,
            |b, _| {
                b.iter(|| rules.route(black_box(&event)).matched.len());
            },
        );
        // The predicate false (another biome): the payload's types are checked against the
        // literals it compares with (text compared with a number is an evaluation error).
        let desert = desert_event(now);
        group.bench_with_input(
            BenchmarkId::new("predicate_false", matching),
            &matching,
            |b, _| {
                b.iter(|| rules.route(black_box(&desert)).matched.len());
            },
        );
    }
    group.finish();
}

fn compile_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    let yaml = rule_yaml(10_000, 100);
    group.bench_function("10000_goals", |b| {
        b.iter(|| {
            let compiled = compile(&sources(yaml.clone()));
            assert!(compiled.rules.is_some());
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    flat_in_rule_set_size,
    per_matching_goal,
    compile_time
);
criterion_main!(benches);
