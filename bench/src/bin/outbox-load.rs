//! What the notification outbox costs a completing event, against a real PostgreSQL
//! (`ce_bench_outbox`, recreated and dropped).
//!
//! `cargo run --release -p bench --bin outbox-load -- [--database-url URL] [--events N]`
//!
//! Two runs of the group-commit writer, each event a new player's first (so each writes one
//! progress row): `progress`, where the event moves a goal of target 2 (no completion), and
//! `complete`, where it completes a goal of target 1 and so also writes its `goal.completed`
//! record in the batch's transaction. Both print events/s and the CPU per event of this
//! process and of PostgreSQL (from /proc); the difference is the outbox's cost. Then the
//! notifier's side: leasing and deleting every record (no sink), CPU per record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bench::cpu::{CpuMeter, Watched};
use chrono::Utc;
use clap::Parser;
use engine::{Event, EventData, EventKind, RuleSet, SourceFile, Sources, UserId, compile};
use sqlx::Connection;
use store::{Maintenance, PgStore, Store, Writer, WriterConfig};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Events per run.
    #[arg(long, default_value_t = 50_000)]
    events: usize,
    /// Concurrent submitters (each waits for its commit, like a gRPC call).
    #[arg(long, default_value_t = 500)]
    concurrency: usize,
}

fn rules(target: i64) -> Result<Arc<RuleSet>> {
    let text = format!(
        "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      - {{ id: g, name: G, on: stat, stat: kills, count: events, target: {target}, assign: auto, reward: {{ wallet: GOLD, amount: 10 }} }}\n"
    );
    let compiled = compile(&Sources {
        files: vec![SourceFile::new("bench.yaml", text)],
        unreadable: Vec::new(),
    });
    Ok(Arc::new(compiled.rules.context("bench rules")?))
}

fn event(run: &str, i: usize) -> Event {
    Event::new(EventData {
        id: format!("{run}-{i}"),
        kind: EventKind::Stat,
        user_id: UserId::new(format!("{run}-{i}")),
        namespace: "bench".into(),
        timestamp: Utc::now(),
        sent_at: None,
        stat_code: Some("kills".into()),
        value: 1,
        inc: 1,
        additional: Default::default(),
    })
}

fn meter() -> CpuMeter {
    CpuMeter::new()
        .watch("driver", Watched::Pid(std::process::id()))
        .watch("postgres", Watched::Named("postgres".into()))
}

fn per_event(spent: &[(String, Duration)], events: usize) -> Vec<(String, f64)> {
    spent
        .iter()
        .map(|(label, cpu)| (label.clone(), cpu.as_secs_f64() * 1e6 / events as f64))
        .collect()
}

async fn run(
    name: &'static str,
    args: &Args,
    store: Arc<dyn Store>,
    rules: Arc<RuleSet>,
) -> Result<Vec<(String, f64)>> {
    let writer = Arc::new(Writer::start(store, WriterConfig::default()));
    let cpu = meter().start();
    let started = Instant::now();
    let per_task = args.events.div_ceil(args.concurrency);
    let mut tasks = Vec::new();
    for t in 0..args.concurrency {
        let (writer, rules, total) = (writer.clone(), rules.clone(), args.events);
        tasks.push(tokio::spawn(async move {
            for i in (t * per_task..(t + 1) * per_task).take_while(|i| *i < total) {
                writer.submit(rules.clone(), event(name, i)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let elapsed = started.elapsed();
    writer.shutdown().await;
    let spent = per_event(&cpu.stop(), args.events);
    println!(
        "{name:<9} {} events in {:.2} s = {:.0} events/s; CPU per event: {}",
        args.events,
        elapsed.as_secs_f64(),
        args.events as f64 / elapsed.as_secs_f64(),
        spent
            .iter()
            .map(|(label, us)| format!("{label} {us:.1} µs"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(spent)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let url = bench::fresh_database(&args.server.url, "ce_bench_outbox").await?;
    let store = PgStore::connect(&url, 16).await?;
    store.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(store);
    println!(
        "{} events per run, {} concurrent submitters, each event a new player's first",
        args.events, args.concurrency
    );
    let progress = run("progress", &args, store.clone(), rules(2)?).await?;
    let complete = run("complete", &args, store.clone(), rules(1)?).await?;
    let total = |spent: &[(String, f64)]| spent.iter().map(|(_, us)| us).sum::<f64>();
    let (before, after) = (total(&progress), total(&complete));
    println!(
        "the outbox record costs a completing event {:.1} µs of CPU (driver + PostgreSQL): {:.1} → {:.1} µs, {:+.0} %",
        after - before,
        before,
        after,
        (after - before) * 100.0 / before
    );

    // The notifier's side with no sink: lease, then delete, each record.
    let (live, _) = store.notice_counts().await?;
    let cpu = meter().start();
    let started = Instant::now();
    let mut drained = 0usize;
    loop {
        let now = Utc::now();
        let leased = store
            .lease_notices(now, now + chrono::TimeDelta::minutes(1), 500)
            .await?;
        if leased.is_empty() {
            break;
        }
        for record in &leased {
            store.notice_delivered(record).await?;
        }
        drained += leased.len();
    }
    let spent = per_event(&cpu.stop(), drained.max(1));
    println!(
        "notifier  {drained} of {live} records leased and deleted in {:.2} s; CPU per record: {}",
        started.elapsed().as_secs_f64(),
        spent
            .iter()
            .map(|(label, us)| format!("{label} {us:.1} µs"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut admin = sqlx::PgConnection::connect(&args.server.url).await?;
    sqlx::query("DROP DATABASE IF EXISTS ce_bench_outbox WITH (FORCE)")
        .execute(&mut admin)
        .await?;
    Ok(())
}
