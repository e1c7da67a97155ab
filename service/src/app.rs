//! Wiring of the REST service: store, rules (watched), writer, routes under BASE_PATH, metrics,
//! and — on the embedded database — the gRPC event services in the same process.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use axum::Router;
use pipeline::config::ConfigError;
use pipeline::{Runtime, StartOptions};
use tokio::net::TcpListener;

use crate::config::{RewardMode, ServeConfig};
use crate::rewards::{MockRewards, RewardClient};
use crate::usecases::Context;

/// Shared by every request: one `Arc`, so the copy axum hands each request costs one counter
/// increment rather than a clone of every part (which was 2 % of the list route's CPU).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub context: Context,
    pub events: pipeline::EventContext,
    /// The rules' parts of the list answers, rendered once per rule set.
    pub render: Arc<crate::json::prerendered::RenderCache>,
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
    config.common.database.is_embedded()
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
/// finish, commits queued events and returns (the order of [`pipeline::Runtime::shutdown`]).
pub async fn run(
    config: ServeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let rewards: Arc<dyn RewardClient> = match config.reward_mode {
        RewardMode::Mock => Arc::new(MockRewards),
        RewardMode::Real => {
            if !config.auth_enabled {
                return Err(ConfigError::Invalid {
                    setting: "REWARD_CLIENT_MODE",
                    reason: "`real` with PLUGIN_GRPC_SERVER_AUTH_ENABLED=false would let anyone claim \
                             real rewards for any player (the user comes from x-mock-user-id); turn \
                             auth on, or set REWARD_CLIENT_MODE=mock"
                        .into(),
                }
                .into());
            }
            let base = config.ab_base_url.as_deref().unwrap_or_default();
            for (setting, value) in [
                ("AB_BASE_URL", base),
                ("AB_CLIENT_ID", config.ab_client_id.as_str()),
                ("AB_CLIENT_SECRET", config.ab_client_secret.as_str()),
            ] {
                if value.trim().is_empty() {
                    return Err(ConfigError::Missing {
                        setting,
                        why: "REWARD_CLIENT_MODE=real grants through AGS Platform \
                              (set REWARD_CLIENT_MODE=mock to log rewards instead)",
                    }
                    .into());
                }
            }
            let mut platform = crate::rewards::platform::PlatformConfig::new(
                base,
                &config.ab_client_id,
                &config.ab_client_secret,
            );
            platform.mode = config.reward_delivery;
            platform.currency_items =
                crate::rewards::platform::parse_currency_items(&config.reward_currency_items)?;
            Arc::new(
                crate::rewards::platform::PlatformRewards::new(platform)
                    .context("building the Platform HTTP client")?,
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

/// The authenticator the settings ask for.
fn authenticator(config: &ServeConfig) -> Result<crate::auth::Authenticator> {
    if !config.auth_enabled {
        return Ok(crate::auth::Authenticator::Mock);
    }
    let Some(base) = config
        .ab_base_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    else {
        return Err(ConfigError::Missing {
            setting: "AB_BASE_URL",
            why: "PLUGIN_GRPC_SERVER_AUTH_ENABLED=true checks tokens against IAM's JWKS; set \
                  PLUGIN_GRPC_SERVER_AUTH_ENABLED=false to run with mock users (x-mock-user-id)",
        }
        .into());
    };
    let namespace = config.common.namespace_filter().unwrap_or_default();
    if namespace.is_empty() {
        return Err(ConfigError::Missing {
            setting: "AB_NAMESPACE",
            why: "PLUGIN_GRPC_SERVER_AUTH_ENABLED=true checks tokens against it",
        }
        .into());
    }
    for (setting, value) in [
        ("AB_CLIENT_ID", config.ab_client_id.as_str()),
        ("AB_CLIENT_SECRET", config.ab_client_secret.as_str()),
    ] {
        if value.trim().is_empty() {
            return Err(ConfigError::Missing {
                setting,
                why: "PLUGIN_GRPC_SERVER_AUTH_ENABLED=true reads IAM's revocation list (banned \
                      players, revoked tokens) with the service's IAM client; set \
                      PLUGIN_GRPC_SERVER_AUTH_ENABLED=false to run with mock users (x-mock-user-id)",
            }
            .into());
        }
    }
    let revocations = crate::auth::revocation::Revocations::new(
        base,
        &config.ab_client_id,
        &config.ab_client_secret,
    )
    .context("building the IAM HTTP client")?;
    let roles = crate::auth::roles::RolePermissions::new(
        base,
        &config.ab_client_id,
        &config.ab_client_secret,
    )
    .context("building the IAM HTTP client")?;
    let issuer = config
        .iam_issuer
        .as_deref()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or(base);
    Ok(crate::auth::Authenticator::Jwt {
        verifier: crate::auth::jwt::JwtVerifier::build(
            base,
            &namespace,
            issuer,
            Some(revocations),
            crate::auth::jwt::KEYS_TTL,
        )
        .context("building the IAM HTTP client")?,
        namespace,
        roles: Some(Arc::new(roles)),
    })
}

/// Reads IAM's revocation list now and then every `IAM_REVOCATION_REFRESH_SECONDS`, with its
/// metrics on the service's registry.
async fn watch_revocations(
    auth: &crate::auth::Authenticator,
    runtime: &mut Runtime,
    every: Duration,
) -> Result<()> {
    let registry = &runtime.metrics.registry;
    let revocations = match auth {
        crate::auth::Authenticator::Jwt { verifier, .. } => verifier.revocations().cloned(),
        crate::auth::Authenticator::Mock => None,
    };
    let Some(revocations) = revocations else {
        // No list to read (auth off): the gauges are served at 0, for dashboards and alerts.
        let (stale, last_success) = crate::auth::revocation::gauges()?;
        registry.register(Box::new(stale))?;
        registry.register(Box::new(last_success))?;
        return Ok(());
    };
    registry.register(Box::new(revocations.stale.clone()))?;
    registry.register(Box::new(revocations.last_success.clone()))?;
    match revocations.refresh().await {
        Ok(()) => tracing::info!("IAM revocation list read"),
        Err(error) => tracing::error!(
            %error,
            "cannot read IAM's revocation list; revoked tokens and banned players are not refused until it can be read (retrying)"
        ),
    }
    let stopped = runtime.stop_signal();
    runtime.background("IAM revocation list", revocations.run(every, stopped));
    Ok(())
}

/// Where notifications go: the webhook when `NOTIFY_WEBHOOK_URL` is set, AGS Lobby with
/// `NOTIFY_LOBBY=true`. With neither, the notifier only empties the outbox.
fn sinks(config: &ServeConfig) -> Result<Vec<Arc<dyn crate::notify::Sink>>> {
    let timeout = Duration::from_secs(5);
    let mut sinks: Vec<Arc<dyn crate::notify::Sink>> = Vec::new();
    let url = config.notify_webhook_url.trim();
    if !url.is_empty() {
        let webhook =
            crate::notify::webhook::Webhook::new(url, &config.notify_webhook_secret, timeout)
                .context("building the webhook's HTTP client")?;
        sinks.push(Arc::new(webhook));
    }
    if config.notify_lobby {
        let base = config.ab_base_url.as_deref().unwrap_or_default();
        let namespace = config.common.namespace_filter().unwrap_or_default();
        for (setting, value) in [
            ("AB_NAMESPACE", namespace.as_str()),
            ("AB_BASE_URL", base),
            ("AB_CLIENT_ID", config.ab_client_id.as_str()),
            ("AB_CLIENT_SECRET", config.ab_client_secret.as_str()),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::Missing {
                    setting,
                    why: "NOTIFY_LOBBY=true sends notifications through AGS Lobby with the service's IAM client",
                }
                .into());
            }
        }
        let lobby = crate::notify::lobby::Lobby::new(
            base,
            &config.ab_client_id,
            &config.ab_client_secret,
            &namespace,
            &config.notify_lobby_topic,
            timeout,
        )
        .context("building Lobby's HTTP client")?;
        sinks.push(Arc::new(lobby));
    }
    Ok(sinks)
}

/// The checks the deployment adds to the challenge files: granting through Platform by
/// fulfillment, a bundle must be one fulfillment (E025), so each currency it may credit needs
/// its coins item in `REWARD_CURRENCY_ITEMS`.
fn compile_options(config: &ServeConfig) -> Result<engine::CompileOptions> {
    let fulfillment = config.reward_mode == RewardMode::Real
        && config.reward_delivery == crate::rewards::platform::DeliveryMode::Fulfillment;
    let fulfillment_currencies = if fulfillment {
        let items = crate::rewards::platform::parse_currency_items(&config.reward_currency_items)?;
        Some(items.into_keys().collect())
    } else {
        None
    };
    Ok(engine::CompileOptions {
        fulfillment_currencies,
    })
}

/// `run` with a given reward client and clock (tests of daily and weekly goals set the time).
pub async fn run_with_clock(
    config: ServeConfig,
    listeners: Listeners,
    rewards: Arc<dyn RewardClient>,
    clock: engine::Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let auth = authenticator(&config)?;
    let claims = config.claims()?;
    let embedded = embedded_database(&config);
    // The embedded file is ours alone: bring it up to date so a first run just works.
    let options = StartOptions {
        clock,
        migrate: embedded,
        cache_progress: true,
        compile: compile_options(&config)?,
    };
    let (mut runtime, roles) = Runtime::start(&config.common, options).await?;
    watch_revocations(
        &auth,
        &mut runtime,
        Duration::from_secs(config.iam_revocation_refresh_seconds),
    )
    .await?;
    let state = AppState(Arc::new(Shared {
        context: Context {
            rules: runtime.rules.clone(),
            players: roles.players,
            ledger: roles.ledger,
            archive: roles.archive,
            support: roles.support,
            rewards,
            namespace: config.common.namespace_filter().unwrap_or_default(),
            clock: runtime.clock.clone(),
            claims,
            metrics: runtime.metrics.clone(),
            expedite: Default::default(),
            exclusive: Default::default(),
        },
        events: runtime.events.clone(),
        render: Default::default(),
        auth,
        base_path: config.base_path(),
        gdpr_limiter: moka::sync::Cache::builder()
            .time_to_live(Duration::from_secs(60))
            .max_capacity(1_000_000)
            .build(),
    }));
    let base_path = config.base_path();
    let serve_grpc = config.grpc_events.unwrap_or(embedded);
    tracing::info!(
        http = %listeners.http.local_addr()?,
        base_path = %base_path,
        database = %runtime.database,
        rules_hash = %runtime.rules.status().content_hash,
        grpc_events = serve_grpc,
        "challenge service serving"
    );
    runtime.serve_metrics(listeners.metrics);
    if let (true, Some(listener)) = (serve_grpc, listeners.grpc) {
        tracing::info!(grpc = %listener.local_addr()?, "gRPC event services serving in-process");
        let services = pipeline::grpc::EventServices {
            context: runtime.events.clone(),
            callers: Some(Arc::new(crate::auth::GrpcCallers(state.auth.clone()))),
        };
        let stopping = runtime.stopping();
        runtime.serve("gRPC", pipeline::grpc::serve(services, listener, stopping));
    }
    let reconciler =
        crate::usecases::delivery::reconcile_loop(state.context.clone(), runtime.stop_signal());
    runtime.background("reward reconciler", reconciler);
    let notifier = crate::usecases::notifications::Notifier {
        outbox: roles.outbox.clone(),
        // `claim: auto` first: a completion is claimed whatever the other sinks answer.
        sinks: std::iter::once(Arc::new(crate::usecases::auto_claim::AutoClaim {
            ctx: state.context.clone(),
        }) as Arc<dyn crate::notify::Sink>)
        .chain(sinks(&config)?)
        .collect(),
        settings: config.notify()?,
        metrics: runtime.metrics.clone(),
        clock: runtime.clock.clone(),
    };
    runtime.background("notifier", notifier.run(runtime.stop_signal()));
    let http = pipeline::front_door::serve(
        listeners.http,
        router(state, &base_path),
        config.front_door(),
        runtime.stopping(),
    );
    runtime.serve("HTTP", async move { http.await.context("HTTP server") });
    runtime.run_until(shutdown).await
}

/// Observes `challenge_api_request_duration_seconds` per method, route template and status.
async fn record_latency(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
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
        .with_label_values(&[method, route.as_str(), response.status().as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The `method` label: the standard methods by name, anything else as `other`, so a caller
/// cannot grow the label set with made-up methods.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
