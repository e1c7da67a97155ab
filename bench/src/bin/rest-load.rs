//! Load driver for one REST route of a running service, as players (`x-mock-user-id`, the
//! service's auth off): closed loop over keep-alive connections, or open loop at a rate.
//! `bench/run` measures the routes with the processes' CPU; this one is for profiling a service
//! you started yourself.
//!
//! `cargo run --release -p bench --bin rest-load -- --target http://127.0.0.1:8000/challenge --path /v1/challenges`

use std::time::Duration;

use anyhow::Result;
use bench::http::Players;
use bench::load::at_rate;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The service's address with its base path.
    #[arg(long, default_value = "http://127.0.0.1:8000/challenge")]
    target: String,
    /// The route, called with GET.
    #[arg(long, default_value = "/v1/challenges")]
    path: String,
    /// Players `{user_prefix}0` .. `{users - 1}`, round robin.
    #[arg(long, default_value_t = 1_000)]
    users: u64,
    #[arg(long, default_value = "bench-user-")]
    user_prefix: String,
    /// Requests per second; 0 sends flat out.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Concurrent connections (flat out), or most requests in flight (at a rate).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 15)]
    duration: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let players = Players::new(&args.target);
    let (path, prefix, users) = (args.path.clone(), args.user_prefix.clone(), args.users);
    let call = move |n: u64| {
        let (players, path, user) = (
            players.clone(),
            path.clone(),
            format!("{prefix}{}", n % users),
        );
        async move {
            players
                .call("GET", &path, &user, None, &[200])
                .await
                .map(drop)
        }
    };
    let outcome = at_rate(
        args.rate,
        args.connections,
        Duration::from_secs(args.duration),
        call,
    )
    .await;
    outcome.print_summary("requests", args.rate);
    Ok(())
}
