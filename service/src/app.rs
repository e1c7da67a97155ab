//! Wiring of the REST service: store, rules (watched), writer, routes under BASE_PATH, metrics,
//! and — on the embedded database — the gRPC event services in the same process.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use axum::Router;
use runtime::metrics::{Metrics, MetricsState};
use tokio::net::TcpListener;

use crate::config::{RewardMode, ServeConfig};
use crate::rewards::{MockRewards, RewardClient};
use crate::usecases::Context;

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub context: Context,
    pub events: runtime::EventContext,
    /// Users who deleted their data within the last minute.
    pub gdpr_limiter: moka::sync::Cache<String, ()>,
    pub auth: crate::auth::Authenticator,
    /// BASE_PATH, normalized (for the OpenAPI document's server URL).
    pub base_path: String,
}

/// The sockets to serve on (bound by the caller; tests use port 0). `grpc` is used only when
/// the gRPC event services run in this process.
#[derive(Debug)]
pub struct Listeners {
    pub http: TcpListener,
    pub metrics: TcpListener,
    pub grpc: Option<TcpListener>,
}

/// Whether no database is configured, so the embedded SQLite file is used.
pub fn embedded_database(config: &ServeConfig) -> bool {
    config
        .common
        .database_url
        .as_deref()
        .is_none_or(str::is_empty)
        && std::env::var("DB_HOST").map_or(true, |h| h.is_empty())
}

/// The REST router under the base path (exposed for tests and benchmarks).
pub fn router(state: AppState, base_path: &str) -> Router {
    let routes = crate::routes::router()
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            record_latency,
        ))
        .with_state(state);
    if base_path.is_empty() {
        routes
    } else {
        // Paths outside BASE_PATH answer in the API's error shape too.
        Router::new()
            .nest(base_path, routes)
            .fallback(crate::routes::no_route)
    }
}

/// Runs the service until `shutdown` resolves; then stops accepting, lets requests in flight
/// finish, commits queued events and returns.
pub async fn run(
    config: ServeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let rewards: Arc<dyn RewardClient> = match config.reward_mode {
        RewardMode::Mock => Arc::new(MockRewards),
        RewardMode::Real => {
            if !config.auth_enabled {
                bail!(
                    "REWARD_CLIENT_MODE=real with PLUGIN_GRPC_SERVER_AUTH_ENABLED=false would let anyone \
                     claim real rewards for any player (the user comes from x-mock-user-id); turn auth on, \
                     or set REWARD_CLIENT_MODE=mock"
                );
            }
            let base = config.ab_base_url.as_deref().unwrap_or_default();
            if base.trim().is_empty()
                || config.ab_client_id.is_empty()
                || config.ab_client_secret.is_empty()
            {
                bail!(
                    "REWARD_CLIENT_MODE=real needs AB_BASE_URL, AB_CLIENT_ID and AB_CLIENT_SECRET; \
                     set REWARD_CLIENT_MODE=mock to log rewards instead"
                );
            }
            let mut platform = crate::rewards::platform::PlatformConfig::new(
                base,
                &config.ab_client_id,
                &config.ab_client_secret,
            );
            platform.mode = config.reward_delivery;
            platform.currency_items =
                crate::rewards::platform::parse_currency_items(&config.reward_currency_items)
                    .map_err(anyhow::Error::msg)?;
            Arc::new(
                crate::rewards::platform::PlatformRewards::new(platform)
                    .map_err(anyhow::Error::msg)?,
            )
        }
    };
    run_with_rewards(config, listeners, rewards, shutdown).await
}

/// `run` with a given reward client (tests count grants with their own).
pub async fn run_with_rewards(
    config: ServeConfig,
    listeners: Listeners,
    rewards: Arc<dyn RewardClient>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    run_with_clock(
        config,
        listeners,
        rewards,
        engine::Clock::system(),
        shutdown,
    )
    .await
}

/// `run` with a given reward client and clock (tests of daily and weekly goals set the time).
pub async fn run_with_clock(
    config: ServeConfig,
    listeners: Listeners,
    rewards: Arc<dyn RewardClient>,
    clock: engine::Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let auth = if config.auth_enabled {
        let Some(base) = config
            .ab_base_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
        else {
            bail!(
                "PLUGIN_GRPC_SERVER_AUTH_ENABLED=true needs AB_BASE_URL (the AGS base URL, for the IAM JWKS); \
                 set PLUGIN_GRPC_SERVER_AUTH_ENABLED=false to run with mock users (x-mock-user-id)"
            );
        };
        let namespace = config.common.namespace_filter().unwrap_or_default();
        if namespace.is_empty() {
            bail!(
                "PLUGIN_GRPC_SERVER_AUTH_ENABLED=true needs AB_NAMESPACE: tokens are checked against it"
            );
        }
        crate::auth::Authenticator::Jwt {
            verifier: crate::auth::jwt::JwtVerifier::new(base, &namespace)
                .map_err(anyhow::Error::msg)?,
            namespace,
        }
    } else {
        crate::auth::Authenticator::Mock
    };
    let embedded = embedded_database(&config);
    let url = store::database_url(config.common.database_url.as_deref())?;
    let store = store::open(&url, config.common.pool_size)
        .await
        .with_context(|| format!("cannot open the database {}", store::redacted(&url)))?;
    let metrics = Arc::new(Metrics::new().context("registering metrics")?);
    let store = store::instrument(store, metrics.clone());
    if config.common.migrate || embedded {
        // The embedded file is ours alone: bring it up to date so a first run just works.
        tracing::info!(database = %store::redacted(&url), embedded, "applying database migrations");
        store.migrate().await.context("applying migrations")?;
    }
    let rules = runtime::event_server::load_rules(&config.common.challenges)?;
    let _watcher = rules
        .watch(Duration::from_millis(config.common.reload_debounce_ms))
        .context("watching the challenge files")?;
    let cleanup_config = config.common.cleanup().map_err(anyhow::Error::msg)?;
    let claims = config.claims().map_err(anyhow::Error::msg)?;
    let writer_config = store::WriterConfig {
        clock: clock.clone(),
        ..config.common.writer().map_err(anyhow::Error::msg)?
    };
    let writer = Arc::new(store::Writer::start_observed(
        store.clone(),
        writer_config,
        metrics.clone(),
    ));
    let namespace = config.common.namespace_filter();
    let events = runtime::EventContext {
        rules: rules.clone(),
        writer: writer.clone(),
        store: store.clone(),
        namespace: namespace.clone(),
        metrics: metrics.clone(),
        clock: clock.clone(),
    };
    let state = AppState {
        context: Context {
            rules: rules.clone(),
            store: store.clone(),
            rewards,
            namespace: namespace.unwrap_or_default(),
            clock,
            claims,
            metrics: metrics.clone(),
        },
        events: events.clone(),
        auth,
        base_path: config.base_path(),
        gdpr_limiter: moka::sync::Cache::builder()
            .time_to_live(Duration::from_secs(60))
            .max_capacity(1_000_000)
            .build(),
    };
    let base_path = config.base_path();
    let serve_grpc = config.grpc_events.unwrap_or(embedded);
    tracing::info!(
        http = %listeners.http.local_addr()?,
        base_path = %base_path,
        database = %store::redacted(&url),
        rules_hash = %rules.status().content_hash,
        grpc_events = serve_grpc,
        "challenge service serving"
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = move |mut receiver: tokio::sync::watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let cleanup = cleanup_config.map(|cleanup_config| {
        tokio::spawn(runtime::cleanup::run(
            store.clone(),
            rules.clone(),
            metrics.clone(),
            cleanup_config,
            stopped.clone(),
        ))
    });
    let metrics_app = runtime::metrics::router(MetricsState {
        metrics,
        writer: writer.clone(),
        rules,
        store,
    });
    let metrics_server = tokio::spawn(
        axum::serve(listeners.metrics, metrics_app)
            .with_graceful_shutdown(wait(stopped.clone()))
            .into_future(),
    );
    let grpc_server = match (serve_grpc, listeners.grpc) {
        (true, Some(listener)) => {
            tracing::info!(grpc = %listener.local_addr()?, "gRPC event services serving in-process");
            Some(tokio::spawn(runtime::event_server::serve_grpc(
                runtime::grpc::EventServices { context: events },
                listener,
                wait(stopped.clone()),
            )))
        }
        _ => None,
    };
    let reconciler = tokio::spawn(crate::usecases::delivery::reconcile_loop(
        state.context.clone(),
        stopped.clone(),
    ));
    let http = axum::serve(listeners.http, router(state, &base_path))
        .with_graceful_shutdown(wait(stopped.clone()));
    let http_server = tokio::spawn(http.into_future());
    shutdown.await;
    let _ = stop.send(true);
    let _ = reconciler.await;
    if let Some(cleanup) = cleanup {
        let _ = cleanup.await;
    }
    let _ = http_server.await;
    if let Some(grpc) = grpc_server {
        let _ = grpc.await;
    }
    writer.shutdown().await;
    let _ = metrics_server.await;
    tracing::info!("challenge service stopped");
    Ok(())
}

/// Observes `challenge_api_request_duration_seconds` per method, route template and status.
async fn record_latency(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = request.method().as_str().to_string();
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    let metrics = &state.events.metrics;
    if response.status().is_server_error() {
        metrics
            .errors
            .with_label_values(&["api", "server_error"])
            .inc();
    }
    metrics
        .api_requests
        .with_label_values(&[method.as_str(), route.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}
