//! `service`: the player REST service (the default command), and the designers' tools.

use std::process::ExitCode;

// The request and event paths allocate many small strings; mimalloc serves them faster than
// the system allocator (measured in docs/benchmarks.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use challenge_lint::{LintArgs, run_lint};
use clap::{Parser, Subcommand};
use service::cli::migrate::MigrateArgs;
use service::config::ServeConfig;

#[derive(Parser)]
#[command(
    name = "service",
    version,
    about = "Challenge Engine: player REST service and challenge tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeConfig,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST API (the default).
    Serve,
    /// Check challenge files: schema, ids, prerequisites, Rhai expressions, rule tests.
    Lint(LintArgs),
    /// Print the JSON Schema of challenge files (for editor autocompletion).
    Schema,
    /// Apply the database migrations (or revert the last N with --down N).
    Migrate(MigrateArgs),
    /// Reward intents: list them, and resolve those whose outcome is unknown.
    Claims(service::cli::claims::ClaimsArgs),
    /// Replay the event archive under the deployed rules and an edit, and compare each goal.
    Replay(service::cli::replay::ReplayArgs),
    /// Raise every player's progress that is below a replay of the event archive under the
    /// deployed rules (a rule fix), each change with a reason in the audit log.
    Backfill(service::cli::backfill::BackfillArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None | Some(Command::Serve) => run_async(serve(
            cli.serve.with_env_aliases(|name| std::env::var(name).ok()),
        )),
        Some(Command::Lint(args)) => run_lint(&args, &mut std::io::stdout().lock()),
        Some(Command::Migrate(args)) => run_async(service::cli::migrate::run(
            &args,
            &cli.serve.common.database,
        )),
        Some(Command::Claims(args)) => {
            run_async(service::cli::claims::run(&args, &cli.serve.common.database))
        }
        Some(Command::Replay(args)) => run_async(service::cli::replay::run(
            &args,
            &cli.serve.common.database,
            &cli.serve.common.challenges,
        )),
        Some(Command::Backfill(args)) => {
            let serve = cli.serve.with_env_aliases(|name| std::env::var(name).ok());
            run_async(service::cli::backfill::run(
                &args,
                &serve.common.database,
                &serve.common.challenges,
                serve.common.namespace.as_deref().unwrap_or_default(),
            ))
        }
        Some(Command::Schema) => {
            match serde_json::to_string_pretty(&engine::model::json_schema()) {
                Ok(schema) => {
                    println!("{schema}");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("error: cannot print the schema: {err}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

fn run_async(future: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    pipeline::telemetry::init_logging(&config.common.log_level);
    let bind = |address: std::net::IpAddr, port: u16, name: &'static str| async move {
        tokio::net::TcpListener::bind((address, port))
            .await
            .map_err(|err| anyhow::anyhow!("cannot listen on {name}: {address} port {port}: {err}"))
    };
    let http = bind(config.http_bind, config.http_port, "HTTP_BIND/HTTP_PORT").await?;
    let metrics = bind(
        config.common.metrics_bind,
        config.common.metrics_port,
        "METRICS_BIND/METRICS_PORT",
    )
    .await?;
    let grpc = if config
        .grpc_events
        .unwrap_or_else(|| service::app::embedded_database(&config))
    {
        Some(
            bind(
                config.common.grpc_bind,
                config.common.grpc_port,
                "GRPC_BIND/GRPC_PORT",
            )
            .await?,
        )
    } else {
        None
    };
    service::app::run(
        config,
        service::app::Listeners {
            http,
            metrics,
            grpc,
        },
        pipeline::telemetry::shutdown_signal(),
    )
    .await
}
