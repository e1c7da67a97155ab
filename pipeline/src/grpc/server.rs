//! The gRPC front door: the event services with health and reflection, and the `handler`
//! binary's whole run (the shared [`Runtime`] plus this server).

use std::future::Future;

use anyhow::{Context as _, Result};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use tonic_health::pb::health_server::HealthServer;

use super::EventServices;
use super::health::EventHealth;
use crate::config::Config;
use crate::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_server::DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer;
use crate::proto::iam::user_authentication_user_logged_in_service_server::UserAuthenticationUserLoggedInServiceServer;
use crate::proto::statistic::statistic_stat_item_updated_service_server::StatisticStatItemUpdatedServiceServer;
use crate::start::{Runtime, StartOptions};

/// The handler's sockets (bound by the caller, so tests can use port 0).
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub metrics: TcpListener,
}

/// Runs the event handler until `shutdown` resolves, then stops in the runtime's order: no
/// event acknowledged is lost.
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    // The service roles (players, the claim ledger, the archive's reads) are dropped here: the
    // handler can neither create nor deliver a reward intent.
    let (mut runtime, _) = Runtime::start(&config, StartOptions::default()).await?;
    let status = runtime.rules.status();
    tracing::info!(
        grpc = %listeners.grpc.local_addr()?,
        metrics = %listeners.metrics.local_addr()?,
        database = %runtime.database,
        rules_hash = %status.content_hash,
        goals = status.goals,
        namespace = config.namespace_filter().as_deref().unwrap_or("(any)"),
        "event handler serving"
    );
    runtime.serve_metrics(listeners.metrics);
    let services = EventServices::open(runtime.events.clone());
    let stopping = runtime.stopping();
    runtime.serve("gRPC", serve(services, listeners.grpc, stopping));
    runtime.run_until(shutdown).await
}

/// Serves the event services (with health and reflection) on `listener` until `shutdown`.
/// In-flight calls finish before this returns. Also used by `service` in its embedded mode.
pub async fn serve(
    services: EventServices,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    use tonic::server::NamedService;
    // Draining starts: every service (and the server as a whole) reports NOT_SERVING at once,
    // so Extend stops sending before the last calls finish.
    let (drain, draining_now) = tokio::sync::watch::channel(false);
    let health = HealthServer::new(EventHealth::new(
        &[
            UserAuthenticationUserLoggedInServiceServer::<EventServices>::NAME,
            StatisticStatItemUpdatedServiceServer::<EventServices>::NAME,
            DeletionAccountGdprGdprRequestDataDeletionResponseServiceServer::<EventServices>::NAME,
        ],
        draining_now,
    ));
    let draining = async move {
        shutdown.await;
        let _ = drain.send(true);
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
        .add_service(health)
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
