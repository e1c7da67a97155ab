//! Every benchmark in one run, on this machine, with the ceilings measured in the same run:
//! `bench/run` (or `cargo run --release -p bench --bin all`, after building `handler` and
//! `service` in release).
//!
//! 1. Ceilings: the raw batched upsert of the rows events write (sqlx, no engine), and the
//!    list's 50-row query alone (pgbench).
//! 2. The handler over gRPC on the example rules: flat out, then at fixed rates.
//! 3. The service over REST on 50 goals per player: list, one challenge, claim.
//! 4. The mixed load: REST classes and gRPC events together, each at its own rate, at 1,000
//!    requests/s + 2,500 events/s, then higher until a class's p99 reaches 50 ms.
//! 5. The embedded default: `service` alone on its SQLite file, the write-heavy rules, flat out
//!    and at 2,000 events/s (`embedded.rs`; `--embedded` runs it alone).
//! 6. Per-event cost as a game grows: the write-heavy rule set over 20,000 and then 1,000,000
//!    seeded players (`heavy.rs`).
//! 7. Backfill (issue 32): 100,000 archived events replayed and the goals a rule bug cost
//!    raised, with live events running; their p99 against the same rate without (`backfill.rs`).
//! 8. The sustained-retention run: events at 3,000/s for 10 minutes under 2-minute retention
//!    windows, the side tables' sizes against rate × window, and what cleanup cost.
//!
//! Each process's CPU is read from /proc around each measurement. The table goes to stdout
//! (Markdown) and, with the JSON, to `target/bench/`. docs/benchmarks.md quotes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::cpu::{CpuMeter, Watched};
use bench::events::{EventMix, EventSender};
use bench::http::Players;
use bench::load::{Outcome, closed_loop, open_loop};
use bench::mixed::{self, Rates, Targets};
use bench::processes::{Process, free_port};
use bench::report::{Report, Row};
use clap::Parser;
use sqlx::Connection;
use store::Maintenance;

mod backfill;
mod embedded;
mod handler;
mod heavy;
mod mixed_search;
mod retention;
mod service;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Where the release `handler` and `service` binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where the table, the JSON and the processes' logs go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Skip the search for the highest mixed rates.
    #[arg(long)]
    no_search: bool,
    /// Events in flight in the handler's flat-out run: enough to keep both cores busy (at 256
    /// the loop can be bound by the batch's latency instead).
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// Run one part only: `handler` (ceiling, events), `service` (ceiling, REST, mixed),
    /// `heavy` (write-heavy rules, 20,000 then 1,000,000 players), `embedded` (the service
    /// alone on its SQLite file), `backfill` (a backfill of 100,000 archived events under
    /// live events) or `retention` (the sustained-retention run).
    #[arg(long, value_parser = ["handler", "service", "heavy", "embedded", "backfill", "retention"])]
    only: Option<String>,
    /// Run the embedded database's part only (the same as `--only embedded`).
    #[arg(long, conflicts_with = "only")]
    embedded: bool,
    /// Leave out the sustained-retention run (an A/B of two builds compares the rest).
    #[arg(long)]
    no_retention: bool,
    /// Leave out the 1,000,000-player run (seeding 14 M rows takes minutes).
    #[arg(long)]
    no_heavy: bool,
    /// Events per second of the sustained-retention run.
    #[arg(long, default_value_t = 3_000.0)]
    retention_rate: f64,
    /// Seconds of the sustained-retention run.
    #[arg(long, default_value_t = 600)]
    retention_seconds: u64,
    /// The retention windows of that run, in seconds (dedup, archive, expired rows).
    #[arg(long, default_value_t = 120)]
    retention_window: u64,
}

const DATABASE_EVENTS: &str = "ce_bench_events";
const DATABASE_REST: &str = "ce_bench_rest";
const DATABASE_RETENTION: &str = "ce_bench_retention";
const DATABASE_HEAVY: &str = "ce_bench_heavy";
const DATABASE_BACKFILL: &str = "ce_bench_backfill";
const CLAIMERS: u64 = 25_000;
const FLAT_CLAIMS: u64 = 3_000;

struct Run {
    args: Args,
    report: Report,
    run: String,
}

impl Run {
    fn driver() -> (&'static str, Watched) {
        ("driver", Watched::Pid(std::process::id()))
    }

    fn meter(processes: &[&Process]) -> CpuMeter {
        let mut meter = CpuMeter::new();
        for process in processes {
            meter = meter.watch(process.name, Watched::Pid(process.pid));
        }
        let (name, me) = Self::driver();
        meter
            .watch("postgres", Watched::Named("postgres".into()))
            .watch(name, me)
    }

    /// Starts the release binary `name` with `env`, ready once `health` (a URL) answers.
    async fn start(
        &self,
        name: &'static str,
        env: &[(&'static str, String)],
        health: &str,
    ) -> Result<Process> {
        Process::start(name, &self.args.bin_dir, env, health, &self.args.out_dir).await
    }

    /// Starts the handler, ready once `/healthz` on its `metrics` port answers.
    async fn start_handler(&self, env: &[(&'static str, String)], metrics: u16) -> Result<Process> {
        let health = format!("http://127.0.0.1:{metrics}/healthz");
        self.start("handler", env, &health).await
    }

    fn seconds(&self) -> Duration {
        Duration::from_secs(self.args.seconds)
    }

    fn env(
        &self,
        url: &str,
        rules: &str,
        grpc: u16,
        http: u16,
        metrics: u16,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", url.to_string()),
            ("CHALLENGE_CONFIG_PATH", rules.to_string()),
            ("GRPC_PORT", grpc.to_string()),
            ("HTTP_PORT", http.to_string()),
            ("METRICS_PORT", metrics.to_string()),
            ("LOG_LEVEL", "warn".into()),
            ("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "false".into()),
            ("REWARD_CLIENT_MODE", "mock".into()),
            ("DB_POOL_SIZE", "16".into()),
        ]
    }
}

/// A sender of `mix`'s events to `target`, after 3 s of events (not measured) have warmed the
/// connections and the server's plans.
async fn warmed(target: &str, mix: EventMix) -> Result<EventSender> {
    let sender = EventSender::connect(target, 4, mix).await?;
    closed_loop(256, Duration::from_secs(3), None, {
        let sender = sender.clone();
        move |n| {
            let sender = sender.clone();
            async move { sender.send(u64::MAX / 2 + n).await }
        }
    })
    .await;
    Ok(sender)
}

fn ensure_all(what: &str, outcome: &Outcome) -> Result<()> {
    match &outcome.first_error {
        Some(error) => bail!(
            "{what}: {} calls failed, the first: {error}",
            outcome.failed
        ),
        None => Ok(()),
    }
}

// The driver shares the machine with what it measures: the allocator the binaries use spends
// less of the shared CPU on its many small buffers than the system one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out_dir)?;
    let mut run = Run {
        args,
        report: Report::new(),
        run: chrono::Utc::now().timestamp().to_string(),
    };
    eprintln!("{} ({} cores)", run.report.machine, run.report.cores);
    let only = match run.args.embedded {
        true => Some("embedded".to_string()),
        false => run.args.only.clone(),
    };
    let part = |name: &str| only.as_deref().is_none_or(|only| only == name);
    if part("handler") {
        run.handler().await?;
    }
    if part("service") {
        run.service().await?;
    }
    // Before the heavy part: its 14 M rows leave PostgreSQL checkpointing for minutes, and the
    // embedded file's syncs would wait behind those writes on the same disk.
    if part("embedded") {
        run.embedded().await?;
    }
    if part("backfill") {
        run.backfill().await?;
    }
    if part("heavy") && !run.args.no_heavy {
        run.heavy().await?;
    }
    if part("retention") && !run.args.no_retention {
        run.retention().await?;
    }
    let markdown = run.report.markdown();
    println!("{markdown}");
    std::fs::write(run.args.out_dir.join("all.md"), &markdown)?;
    std::fs::write(
        run.args.out_dir.join("all.json"),
        serde_json::to_string_pretty(&run.report)?,
    )?;
    eprintln!(
        "written: {}/all.md and all.json",
        run.args.out_dir.display()
    );
    for name in [
        DATABASE_EVENTS,
        DATABASE_REST,
        DATABASE_HEAVY,
        DATABASE_BACKFILL,
        DATABASE_RETENTION,
    ] {
        let mut admin = sqlx::PgConnection::connect(&run.args.server.url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    }
    Ok(())
}
