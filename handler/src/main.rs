//! `handler`: the AccelByte Extend event handler binary.

use anyhow::{Context, Result};
use clap::Parser;
use pipeline::{Config, Listeners};
use tokio::net::TcpListener;

// The event path allocates many small buffers (HTTP/2 frames, protobuf strings, the batch's
// rows); mimalloc serves them with less CPU than the system allocator (docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<()> {
    let config = Config::parse().with_env_aliases(|name| std::env::var(name).ok());
    pipeline::telemetry::init_logging(&config.log_level);
    let grpc = TcpListener::bind((config.grpc_bind, config.grpc_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on GRPC_BIND {} GRPC_PORT {}",
                config.grpc_bind, config.grpc_port
            )
        })?;
    let metrics = TcpListener::bind((config.metrics_bind, config.metrics_port))
        .await
        .with_context(|| {
            format!(
                "cannot listen on METRICS_BIND {} METRICS_PORT {}",
                config.metrics_bind, config.metrics_port
            )
        })?;
    let result = pipeline::run(
        config,
        Listeners { grpc, metrics },
        pipeline::telemetry::shutdown_signal(),
    )
    .await;
    if let Err(err) = &result {
        tracing::error!(error = format!("{err:#}"), "event handler failed");
    }
    result
}
