//! Load driver for reward claims through the real REST service against an instant local
//! Platform (fulfillment delivery), on PostgreSQL (database `ce_bench_claims`, recreated).
//!
//! `cargo run --release -p bench --bin claim-load -- [--database-url URL] [--claims N] [--concurrency C]`
//!
//! Completes one goal for each of N players, then C concurrent clients claim them over HTTP
//! (each claim: the checks, the intent, `sending`, the fulfillment call, `granted` and the
//! claimed row). Prints claims/s, latency percentiles and the process's CPU per claim (the
//! driver, the service and the fake Platform share the process), and checks that Platform saw
//! exactly one fulfillment per player.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bench::Latencies;
use chrono::Utc;
use clap::Parser;
use engine::{Event, EventData, EventKind, RuleSetHandle, UserId};
use service::rewards::platform::{DeliveryMode, PlatformConfig, PlatformRewards};
use store::{Writer, WriterConfig};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Players, each claiming once.
    #[arg(long, default_value_t = 5_000)]
    claims: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The service's pool size.
    #[arg(long, default_value_t = 16)]
    pool: u32,
}

const RULES: &str = r#"
version: 1
challenges:
  - id: bench
    name: Bench
    goals:
      - { id: sword, name: Sword, on: stat, stat: kills, target: 1, assign: auto, reward: { item: sword-1, quantity: 1 } }
"#;

/// CPU time (user + system) this process used so far.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name;
    // clock ticks are 100 per second on Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let url = bench::fresh_database(&args.server.url, "ce_bench_claims").await?;
    let rules_dir = std::env::temp_dir().join(format!("ce-bench-claims-{}", std::process::id()));
    std::fs::create_dir_all(&rules_dir)?;
    std::fs::write(rules_dir.join("rules.yaml"), RULES)?;

    // N completed goals, through the engine and the writer.
    let store = store::open(&url, args.pool).await?;
    store.migrate().await?;
    let rules = RuleSetHandle::load(vec![rules_dir.clone()]).context("rules")?;
    let writer = Arc::new(Writer::start(store.clone(), WriterConfig::default()));
    let now = Utc::now();
    let mut completing = tokio::task::JoinSet::new();
    for i in 0..args.claims {
        let (writer, rules) = (writer.clone(), rules.current());
        completing.spawn(async move {
            let event = Event::new(EventData {
                id: format!("kill-{i}"),
                kind: EventKind::Stat,
                user_id: UserId::new(format!("player-{i}")),
                namespace: "bench".into(),
                timestamp: now,
                sent_at: None,
                stat_code: Some("kills".into()),
                value: 1,
                inc: 1,
                additional: Default::default(),
            });
            writer.submit(rules, event).await
        });
    }
    while let Some(done) = completing.join_next().await {
        done??;
    }
    writer.shutdown().await;

    let (platform_url, fulfilled) = bench::platform::instant().await?;
    let mut platform = PlatformConfig::new(&platform_url, "bench", "bench");
    platform.mode = DeliveryMode::Fulfillment;
    let rewards = Arc::new(PlatformRewards::new(platform)?);
    let config = <service::config::ServeConfig as Parser>::try_parse_from([
        "service",
        "--database-url",
        &url,
        "--challenges",
        rules_dir.to_str().context("temp dir path")?,
        "--auth-enabled",
        "false",
        "--namespace",
        "bench",
        "--pool-size",
        &args.pool.to_string(),
        "--cleanup-interval-seconds",
        "0",
    ])?;
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/challenge", http.local_addr()?);
    tokio::spawn(service::app::run_with_rewards(
        config,
        service::app::Listeners {
            http,
            metrics,
            grpc: None,
        },
        rewards,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cpu_before = process_cpu();
    let started = Instant::now();
    let per_client = args.claims.div_ceil(args.concurrency);
    let mut tasks = Vec::new();
    for c in 0..args.concurrency {
        let (client, base, total) = (client.clone(), base.clone(), args.claims);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for k in 0..per_client {
                let i = c * per_client + k;
                if i >= total {
                    break;
                }
                let sent = Instant::now();
                let response = client
                    .post(format!("{base}/v1/challenges/bench/goals/sword/claim"))
                    .header("x-mock-user-id", format!("player-{i}"))
                    .send()
                    .await?;
                ensure!(
                    response.status() == reqwest::StatusCode::OK,
                    "claim of player-{i} answered {}",
                    response.status()
                );
                latencies.push(sent.elapsed());
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(args.claims);
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let granted = fulfilled.lock().map(|s| s.len()).unwrap_or(0);
    ensure!(
        granted == args.claims,
        "Platform saw {granted} fulfillments for {} claims",
        args.claims
    );
    println!(
        "claims   {:>6} in {:>6.2} s = {:>7.0} claims/s, {:.0} µs CPU per claim (driver + service + fake Platform)  ({})",
        args.claims,
        elapsed.as_secs_f64(),
        args.claims as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / args.claims as f64,
        Latencies::of(latencies).map_or_else(String::new, |l| l.to_string()),
    );
    let _ = std::fs::remove_dir_all(&rules_dir);
    Ok(())
}
