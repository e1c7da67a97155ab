//! How fast a backlog of rewards drains after a Platform outage: N intents left pending (due
//! now, as after an outage once Platform grants again), two reconcilers (two replicas: each its
//! own pool, context and loop, in this process) against an instant local Platform, on
//! PostgreSQL (database `ce_bench_drain`, recreated).
//!
//! `cargo run --release -p bench --bin drain-load -- [--database-url URL] [--intents N] [--replicas R] [--concurrency C]`
//!
//! Prints the seconds until no intent is open, intents/s, this process's CPU and PostgreSQL's
//! per intent, and checks that Platform saw exactly one fulfillment per intent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use clap::Parser;
use engine::RuleSetHandle;
use service::rewards::platform::{DeliveryMode, PlatformConfig, PlatformRewards};
use service::usecases::Context;
use service::usecases::delivery::ClaimSettings;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Pending intents.
    #[arg(long, default_value_t = 10_000)]
    intents: usize,
    /// Reconcilers (replicas).
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// Intents each reconciler delivers at once (`RECONCILE_CONCURRENCY`).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Each replica's pool size.
    #[arg(long, default_value_t = 10)]
    pool: u32,
}

const RULES: &str = r#"
version: 1
challenges:
  - id: bench
    name: Bench
    goals:
      - { id: sword, name: Sword, on: stat, stat: kills, target: 1, reward: { item: sword-1, quantity: 1 } }
"#;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let url = bench::fresh_database(&args.server.url, "ce_bench_drain").await?;
    let rules_dir = std::env::temp_dir().join(format!("ce-bench-drain-{}", std::process::id()));
    std::fs::create_dir_all(&rules_dir)?;
    std::fs::write(rules_dir.join("rules.yaml"), RULES)?;
    let store = store::open(&url, args.pool).await?;
    store.migrate().await?;

    // N completed goals and their intents, left pending by an outage and due now.
    let pool = sqlx::PgPool::connect(&url).await?;
    sqlx::query(
        "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, progress, status, completed_at) \
         SELECT 'player-' || g, 'sword', 'bench', 'bench', 1, 'completed', now() FROM generate_series(1, $1) g",
    )
    .bind(i64::try_from(args.intents)?)
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO reward_grants (user_id, goal_id, period_start, state, reward, attempts, namespace, \
                                    transaction_id, delivery, next_attempt_at) \
         SELECT 'player-' || g, 'sword', 'epoch', 'pending', \
                '{\"type\":\"ITEM\",\"rewardId\":\"sword-1\",\"quantity\":1}', 3, 'bench', \
                'bench-tx-' || g, 'fulfillment', now() FROM generate_series(1, $1) g",
    )
    .bind(i64::try_from(args.intents)?)
    .execute(&pool)
    .await?;

    let (platform_url, fulfilled) = bench::platform::instant().await?;
    let rules = Arc::new(RuleSetHandle::load(vec![rules_dir.clone()]).context("rules")?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let postgres_before = bench::cpu::pids_named("postgres")
        .into_iter()
        .filter_map(bench::cpu::process_cpu)
        .sum::<Duration>();
    let cpu_before = bench::cpu::process_cpu(std::process::id()).unwrap_or_default();
    let started = Instant::now();
    let mut loops = Vec::new();
    for _ in 0..args.replicas {
        let mut platform = PlatformConfig::new(&platform_url, "bench", "bench");
        platform.mode = DeliveryMode::Fulfillment;
        let opened = store::open(&url, args.pool).await?;
        let context = Context {
            rules: rules.clone(),
            players: opened.clone(),
            ledger: opened.clone(),
            archive: opened.clone(),
            support: opened,
            rewards: Arc::new(PlatformRewards::new(platform)?),
            namespace: "bench".into(),
            clock: engine::Clock::system(),
            claims: ClaimSettings {
                in_flight: args.concurrency,
                ..ClaimSettings::default()
            }
            .checked()?,
            metrics: Arc::new(pipeline::metrics::Metrics::new()?),
            expedite: Default::default(),
            exclusive: Default::default(),
        };
        loops.push(tokio::spawn(service::usecases::delivery::reconcile_loop(
            context,
            stopped.clone(),
        )));
    }
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM reward_grants WHERE state IN ('pending', 'sending')",
        )
        .fetch_one(&pool)
        .await?;
        if open == 0 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "{open} intents still open after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let cpu = bench::cpu::process_cpu(std::process::id())
        .unwrap_or_default()
        .saturating_sub(cpu_before);
    let postgres = bench::cpu::pids_named("postgres")
        .into_iter()
        .filter_map(bench::cpu::process_cpu)
        .sum::<Duration>()
        .saturating_sub(postgres_before);
    let _ = stop.send(true);
    for running in loops {
        running.await?;
    }
    let granted: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reward_grants WHERE state = 'granted'")
            .fetch_one(&pool)
            .await?;
    let seen = fulfilled.lock().map(|s| s.len()).unwrap_or_default();
    ensure!(
        granted == i64::try_from(args.intents)? && seen == args.intents,
        "granted {granted}, Platform saw {seen} fulfillments, for {} intents",
        args.intents
    );
    let n = args.intents as f64;
    println!(
        "drained {} pending intents with {} reconciler(s) x {} in flight in {:.1} s: {:.0} intents/s; \
         CPU per intent: driver+reconcilers+Platform {:.0} us, PostgreSQL {:.0} us",
        args.intents,
        args.replicas,
        args.concurrency,
        elapsed.as_secs_f64(),
        n / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n,
        postgres.as_secs_f64() * 1e6 / n,
    );
    let _ = std::fs::remove_dir_all(&rules_dir);
    Ok(())
}
