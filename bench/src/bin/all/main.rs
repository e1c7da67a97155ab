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

mod handler;
mod mixed_search;
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
    /// Run one part only: `handler` (ceiling, events) or `service` (ceiling, REST, mixed).
    #[arg(long, value_parser = ["handler", "service"])]
    only: Option<String>,
}

const DATABASE_EVENTS: &str = "ce_bench_events";
const DATABASE_REST: &str = "ce_bench_rest";
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
    let only = run.args.only.clone();
    if only.as_deref() != Some("service") {
        run.handler().await?;
    }
    if only.as_deref() != Some("handler") {
        run.service().await?;
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
    for name in [DATABASE_EVENTS, DATABASE_REST] {
        let mut admin = sqlx::PgConnection::connect(&run.args.server.url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    }
    Ok(())
}
