//! `handler`: the AccelByte Extend event handler binary.

use anyhow::{Context, Result};
use clap::Parser;
use handler::{Config, Listeners};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<()> {
    let config = Config::parse();
    init_logging(&config.log_level);
    let grpc = TcpListener::bind(("0.0.0.0", config.grpc_port))
        .await
        .with_context(|| format!("cannot listen on GRPC_PORT {}", config.grpc_port))?;
    let metrics = TcpListener::bind(("0.0.0.0", config.metrics_port))
        .await
        .with_context(|| format!("cannot listen on METRICS_PORT {}", config.metrics_port))?;
    let result = handler::run(config, Listeners { grpc, metrics }, shutdown_signal()).await;
    if let Err(err) = &result {
        tracing::error!(error = format!("{err:#}"), "event handler failed");
    }
    result
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .init();
}

/// SIGTERM (Kubernetes, Extend) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
