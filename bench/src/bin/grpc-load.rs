//! Load driver for the event handler over gRPC: a realistic mix (20 % logins, 80 % statistic
//! updates over many users and stat codes), flat out or at a target rate, for a duration.
//! Prints achieved events/s and latency percentiles. `bench/run` measures the same with the
//! processes' CPU; this driver is for pointing at any running handler.
//!
//! `cargo run --release -p bench --bin grpc-load -- --target http://127.0.0.1:6565 --rate 5000 --duration 20`
//!
//! At a target rate, latency is measured from each event's scheduled send time, so a stalled
//! server shows up in the percentiles instead of slowing the driver down (no coordinated omission).

use std::time::Duration;

use anyhow::Result;
use bench::events::{EventMix, EventSender};
use bench::load::at_rate;
use clap::Parser;

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

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let run = chrono::Utc::now().timestamp().to_string();
    let mix = EventMix {
        namespace: args.namespace.clone(),
        ..EventMix::examples(args.users, &run)
    };
    let sender = EventSender::connect(&args.target, args.connections, mix).await?;
    let send = move |n| {
        let sender = sender.clone();
        async move { sender.send(n).await }
    };
    let outcome = at_rate(
        args.rate,
        args.concurrency,
        Duration::from_secs(args.duration),
        send,
    )
    .await;
    outcome.print_summary("events", args.rate);
    Ok(())
}
