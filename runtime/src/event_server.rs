//! Wiring: open the store, load the rules (and watch them), start the writer, serve gRPC and
//! metrics until the shutdown signal, then drain: no event acknowledged is lost.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use engine::RuleSetHandle;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::config::Config;
use crate::events::EventContext;
use crate::grpc::EventServices;
use crate::metrics::{Metrics, MetricsState, router};
use crate::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_server::DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer;
use crate::proto::iam::user_authentication_user_logged_in_service_server::UserAuthenticationUserLoggedInServiceServer;
use crate::proto::statistic::statistic_stat_item_updated_service_server::StatisticStatItemUpdatedServiceServer;

/// The sockets to serve on (bound by the caller, so tests can use port 0).
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: TcpListener,
}

/// Runs the handler until `shutdown` resolves, then stops accepting calls, commits what is
/// queued and returns.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let url = store::database_url(config.database_url.as_deref())?;
    let store = store::open(&url, config.pool_size)
        .await
        .with_context(|| format!("cannot open the database {}", store::redacted(&url)))?;
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let store = store::instrument(store, metrics.clone());
    if config.migrate {
        store.migrate().await.context("applying migrations")?;
    }
    let rules = load_rules(&config.challenges)?;
    let _watcher = rules
        .watch(Duration::from_millis(config.reload_debounce_ms))
        .context("watching the challenge files")?;
    let writer_config = config.writer().map_err(anyhow::Error::msg)?;
    let cleanup_config = config.cleanup().map_err(anyhow::Error::msg)?;
    let writer = Arc::new(store::Writer::start_observed(
        store.clone(),
        writer_config,
        metrics.clone(),
    ));
    let context = EventContext {
        rules: rules.clone(),
        writer: writer.clone(),
        store: store.clone(),
        namespace: config.namespace_filter(),
        metrics: metrics.clone(),
        clock: engine::Clock::system(),
    };
    let status = rules.status();
    tracing::info!(
        grpc = %listeners.grpc.local_addr()?,
        metrics = %listeners.metrics.local_addr()?,
        database = %store::redacted(&url),
        rules_hash = %status.content_hash,
        goals = status.goals,
        namespace = config.namespace_filter().as_deref().unwrap_or("(any)"),
        "event handler serving"
    );

    let (stop_cleanup, cleanup_stopped) = tokio::sync::watch::channel(false);
    let cleanup = cleanup_config.map(|cleanup_config| {
        tokio::spawn(crate::cleanup::run(
            store.clone(),
            rules.clone(),
            metrics.clone(),
            cleanup_config,
            cleanup_stopped,
        ))
    });
    let metrics_app = router(MetricsState {
        metrics,
        writer: writer.clone(),
        rules,
        store,
    });
    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    let metrics_server = tokio::spawn(async move {
        axum::serve(listeners.metrics, metrics_app)
            .with_graceful_shutdown(async {
                let _ = metrics_stopped.await;
            })
            .await
    });

    serve_grpc(EventServices { context }, listeners.grpc, shutdown).await?;

    // In-flight calls have answered (each after its commit); commit anything still queued.
    tracing::info!(
        queued = writer.queue_depth(),
        "shutting down: draining the writer"
    );
    writer.shutdown().await;
    let _ = stop_cleanup.send(true);
    if let Some(cleanup) = cleanup {
        let _ = cleanup.await;
    }
    let _ = stop_metrics.send(());
    let _ = metrics_server.await;
    tracing::info!("event handler stopped");
    Ok(())
}

/// Serves the event services (with health and reflection) on `listener` until `shutdown`.
/// In-flight calls finish before this returns. Also used by `service` in its embedded mode.
pub async fn serve_grpc(
    services: EventServices,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<UserAuthenticationUserLoggedInServiceServer<EventServices>>()
        .await;
    health_reporter
        .set_serving::<StatisticStatItemUpdatedServiceServer<EventServices>>()
        .await;
    health_reporter
        .set_serving::<DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer<EventServices>>()
        .await;
    // Draining starts: every service (and the server as a whole) reports NOT_SERVING at once,
    // so Extend stops sending before the last calls finish.
    let draining = async move {
        shutdown.await;
        health_reporter
            .set_not_serving::<UserAuthenticationUserLoggedInServiceServer<EventServices>>()
            .await;
        health_reporter
            .set_not_serving::<StatisticStatItemUpdatedServiceServer<EventServices>>()
            .await;
        health_reporter
            .set_not_serving::<DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer<EventServices>>()
            .await;
        health_reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    };
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .context("building gRPC reflection")?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::DESCRIPTOR_SET)
        .build_v1alpha()
        .context("building gRPC reflection")?;
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(UserAuthenticationUserLoggedInServiceServer::new(
            services.clone(),
        ))
        .add_service(StatisticStatItemUpdatedServiceServer::new(services.clone()))
        .add_service(DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer::new(services))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), draining)
        .await
        .context("gRPC server")
}

/// Loads the challenge rules for a server: on errors, logs every diagnostic and fails.
pub fn load_rules(path: &std::path::Path) -> Result<Arc<RuleSetHandle>> {
    match RuleSetHandle::load(vec![path.to_path_buf()]) {
        Ok(rules) => Ok(Arc::new(rules)),
        Err(engine::reload::LoadError::Invalid(diagnostics)) => {
            for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
                tracing::error!(diagnostic = %diagnostic, "challenge rules");
            }
            anyhow::bail!(
                "the challenge files in {} have errors (run `service lint` for details)",
                path.display()
            )
        }
        Err(err) => Err(err).context("loading the challenge rules"),
    }
}
