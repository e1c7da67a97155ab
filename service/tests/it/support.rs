//! One way to run the real REST service in-process for a test: ports 0, the given reward
//! client and clock, started when `/healthz` answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use service::rewards::RewardClient;

/// A service running in this process until `stop` is sent (or dropped).
pub struct InProcess {
    /// `http://127.0.0.1:<port>/challenge`
    pub base: String,
    pub metrics_port: u16,
    /// `http://127.0.0.1:<port>` of the in-process gRPC event services, when asked for.
    pub grpc: Option<String>,
    pub stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn serve(
    config: service::config::ServeConfig,
    rewards: Arc<dyn RewardClient>,
    clock: engine::Clock,
) -> InProcess {
    serve_with_grpc(config, rewards, clock, false).await
}

/// `serve`, also listening for the in-process gRPC event services when `grpc` is set.
pub async fn serve_with_grpc(
    config: service::config::ServeConfig,
    rewards: Arc<dyn RewardClient>,
    clock: engine::Clock,
    grpc: bool,
) -> InProcess {
    let grpc = if grpc {
        Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap())
    } else {
        None
    };
    let grpc_url = grpc
        .as_ref()
        .map(|listener| format!("http://{}", listener.local_addr().unwrap()));
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/challenge", http.local_addr().unwrap());
    let metrics_port = metrics.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service::app::run_with_clock(
        config,
        service::app::Listeners {
            http,
            metrics,
            grpc,
        },
        rewards,
        clock,
        async {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the service did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    InProcess {
        base,
        metrics_port,
        grpc: grpc_url,
        stop,
    }
}

/// The example challenges shipped with the project.
pub fn example_challenges() -> String {
    format!("{}/../challenges", env!("CARGO_MANIFEST_DIR"))
}

/// A test service's settings: `db_url`, the rules in `challenges`, migrations applied, mock
/// rewards, then `extra`. Auth is off unless `extra` (or [`with_auth`]) turns it on.
pub fn config(db_url: &str, challenges: &str, extra: &[&str]) -> service::config::ServeConfig {
    let mut args = vec![
        "service",
        "--database-url",
        db_url,
        "--challenges",
        challenges,
        "--migrate",
        "--reward-mode",
        "mock",
    ];
    if !extra.contains(&"--auth-enabled") {
        args.extend(["--auth-enabled", "false"]);
    }
    args.extend_from_slice(extra);
    <service::config::ServeConfig as clap::Parser>::try_parse_from(args).expect("config")
}

/// `config` with auth on against the local IAM at `iam_url` (namespace `game`, the tests'
/// issuer and IAM client).
pub fn with_auth(db_url: &str, iam_url: &str, extra: &[&str]) -> service::config::ServeConfig {
    let mut args = vec![
        "--namespace",
        "game",
        "--auth-enabled",
        "true",
        "--ab-base-url",
        iam_url,
    ];
    args.extend(crate::jwt::IAM_SETTINGS);
    args.extend_from_slice(extra);
    config(db_url, &example_challenges(), &args)
}
