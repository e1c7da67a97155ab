//! Load driver for the event handler over gRPC: a realistic mix (20 % logins, 80 % statistic
//! updates over many users and stat codes), flat out or at a target rate, for a duration.
//! Prints achieved events/s and latency percentiles.
//!
//! `cargo run --release -p bench --bin grpc-load -- --target http://127.0.0.1:6565 --rate 5000 --duration 20`
//!
//! At a target rate, latency is measured from each event's scheduled send time, so a stalled
//! server shows up in the percentiles instead of slowing the driver down (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bench::Latencies;
use clap::Parser;
use runtime::proto::iam::UserLoggedIn;
use runtime::proto::iam::user_authentication_user_logged_in_service_client::UserAuthenticationUserLoggedInServiceClient;
use runtime::proto::statistic::statistic_stat_item_updated_service_client::StatisticStatItemUpdatedServiceClient;
use runtime::proto::statistic::{StatItem, StatItemUpdated};
use tokio::sync::{Mutex, Semaphore};
use tonic::transport::Channel;

#[derive(Parser)]
struct Args {
    /// The handler's gRPC address.
    #[arg(long, default_value = "http://127.0.0.1:6565")]
    target: String,
    /// Events per second; 0 sends flat out.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Most calls in flight (flat out: the number of senders).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// HTTP/2 connections to spread the calls over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Distinct players.
    #[arg(long, default_value_t = 20_000)]
    users: u64,
    /// Namespace the events carry.
    #[arg(long, default_value = "demo")]
    namespace: String,
}

/// Stat codes the example challenges listen to, and some nobody listens to.
const STAT_CODES: [&str; 12] = [
    "player_level",
    "ranked_points",
    "matches_won",
    "matches_lost",
    "snowmen_killed",
    "gifts_given",
    "shots_hit",
    "match_score",
    "matches_played",
    "tutorial_completed",
    "distance_run",
    "items_crafted",
];

#[derive(Clone)]
struct Clients {
    stats: Vec<StatisticStatItemUpdatedServiceClient<Channel>>,
    logins: Vec<UserAuthenticationUserLoggedInServiceClient<Channel>>,
}

struct Totals {
    ok: AtomicU64,
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
}

/// A cheap deterministic mix: event `n` decides kind, user, stat and value.
async fn send(clients: &Clients, args: &Args, run: u64, n: u64) -> Result<(), tonic::Status> {
    let mix = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    let user = format!("load-user-{}", mix % args.users);
    let connection = (n as usize) % clients.stats.len();
    let id = format!("load-{run}-{n}");
    let timestamp = chrono::Utc::now().to_rfc3339();
    if mix.is_multiple_of(5) {
        let mut client = clients.logins[connection].clone();
        client
            .on_message(UserLoggedIn {
                id,
                namespace: args.namespace.clone(),
                user_id: user,
                timestamp,
                ..Default::default()
            })
            .await?;
    } else {
        let code = STAT_CODES[(mix / 7) as usize % STAT_CODES.len()];
        let mut fields = std::collections::BTreeMap::new();
        let mode = if mix.is_multiple_of(3) {
            "ranked"
        } else {
            "casual"
        };
        fields.insert(
            "mode".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(mode.into())),
            },
        );
        let mut client = clients.stats[connection].clone();
        client
            .on_message(StatItemUpdated {
                payload: Some(StatItem {
                    namespace: args.namespace.clone(),
                    stat_code: code.into(),
                    user_id: user.clone(),
                    latest_value: (n % 1000) as f64,
                    inc: 1.0 + (mix % 5) as f64,
                    additional_data: Some(prost_types::Struct { fields }),
                    ..Default::default()
                }),
                id,
                namespace: args.namespace.clone(),
                user_id: user,
                timestamp,
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    let mut clients = Clients {
        stats: Vec::new(),
        logins: Vec::new(),
    };
    for _ in 0..args.connections.max(1) {
        let channel = Channel::from_shared(args.target.clone())?
            .connect()
            .await
            .with_context(|| format!("connecting to {}", args.target))?;
        clients
            .stats
            .push(StatisticStatItemUpdatedServiceClient::new(channel.clone()));
        clients
            .logins
            .push(UserAuthenticationUserLoggedInServiceClient::new(channel));
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let totals = Arc::new(Totals {
        ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        latencies: Mutex::new(Vec::new()),
    });
    let duration = Duration::from_secs(args.duration);
    let started = Instant::now();

    if args.rate == 0 {
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        for _ in 0..args.concurrency {
            let (clients, args, totals, next) =
                (clients.clone(), args.clone(), totals.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while started.elapsed() < duration {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let sent = Instant::now();
                    match send(&clients, &args, run, n).await {
                        Ok(()) => {
                            totals.ok.fetch_add(1, Ordering::Relaxed);
                            mine.push(sent.elapsed());
                        }
                        Err(_) => {
                            totals.failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                totals.latencies.lock().await.extend(mine);
            }));
        }
        for task in tasks {
            task.await?;
        }
    } else {
        let permits = Arc::new(Semaphore::new(args.concurrency));
        let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
        let total = args.rate * args.duration;
        let mut tasks = Vec::with_capacity(total as usize);
        for n in 0..total {
            let scheduled = started + interval.mul_f64(n as f64);
            tokio::time::sleep_until(scheduled.into()).await;
            let permit = permits.clone().acquire_owned().await?;
            let (clients, args, totals) = (clients.clone(), args.clone(), totals.clone());
            tasks.push(tokio::spawn(async move {
                let result = send(&clients, &args, run, n).await;
                drop(permit);
                match result {
                    Ok(()) => {
                        totals.ok.fetch_add(1, Ordering::Relaxed);
                        totals.latencies.lock().await.push(scheduled.elapsed());
                    }
                    Err(_) => {
                        totals.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            task.await?;
        }
    }
    let elapsed = started.elapsed();
    let ok = totals.ok.load(Ordering::Relaxed);
    let failed = totals.failed.load(Ordering::Relaxed);
    let latencies = Latencies::of(std::mem::take(&mut *totals.latencies.lock().await));
    println!(
        "{} events OK, {} failed in {:.1} s = {:.0} events/s{}",
        ok,
        failed,
        elapsed.as_secs_f64(),
        ok as f64 / elapsed.as_secs_f64(),
        if args.rate > 0 {
            format!(" (target {}/s)", args.rate)
        } else {
            " (flat out)".into()
        }
    );
    if let Some(latencies) = latencies {
        println!("latency: {latencies}");
    }
    Ok(())
}
