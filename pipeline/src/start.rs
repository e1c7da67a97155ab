//! `Runtime`: what both binaries start the same way and stop in the same order.
//!
//! [`Runtime::start`] opens the store (migrating when asked), loads the rules and watches them,
//! starts the writer, the metrics, the event use-cases and the cleanup job. An adapter then
//! registers its front doors ([`Runtime::serve`]: the gRPC event services, the REST API) and
//! its own background jobs ([`Runtime::background`]: the reward reconciler), and hands control
//! to [`Runtime::run_until`]. Shutdown happens in one order for everyone:
//!
//! 1. every front door stops accepting and reports NOT_SERVING; background loops see the signal;
//! 2. requests and calls in flight finish (each acknowledged event is committed first);
//! 3. background jobs finish what they hold (a grant in flight, a cleanup batch);
//! 4. the writer commits what is still queued;
//! 5. the metrics endpoint stops last, so the drain itself can be scraped.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use engine::{Clock, RuleSetHandle};
use store::{ClaimLedger, EventArchive, Maintenance, PlayerProgress, Writer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::Config;
use crate::events::EventContext;
use crate::metrics::{Metrics, MetricsState};

/// How to start, beyond the configuration.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The time rotation, schedules and cleanup see (tests and the e2e tour fix it).
    pub clock: Clock,
    /// Apply migrations even when `Config::migrate` is off (the embedded database is ours alone).
    pub migrate: bool,
    /// Read players' rows through the progress cache when the configuration allows one (the
    /// service's reads; the handler only writes).
    pub cache_progress: bool,
    /// The deployment's checks of the challenge files (the service's reward delivery).
    pub compile: engine::CompileOptions,
}

impl Default for StartOptions {
    fn default() -> Self {
        Self {
            clock: Clock::system(),
            migrate: false,
            cache_progress: false,
            compile: engine::CompileOptions::default(),
        }
    }
}

/// The roles of the database only the service holds: players' reads and assignment, the claim
/// ledger, the archive's reads. [`Runtime::start`] hands them to its caller and keeps none, so
/// the handler's program (which drops them) can neither create nor deliver a reward intent.
#[derive(Clone)]
pub struct ServiceRoles {
    pub players: Arc<dyn PlayerProgress>,
    pub ledger: Arc<dyn ClaimLedger>,
    pub archive: Arc<dyn EventArchive>,
    /// Support's writes and the audit log.
    pub support: Arc<dyn store::SupportLog>,
    /// The notifications to deliver (the writer and the ledger write them).
    pub outbox: Arc<dyn store::NotificationOutbox>,
}

/// The started parts, shared by the adapters, and the tasks stopped in order at shutdown.
pub struct Runtime {
    /// Migrations, health, GDPR deletion and the cleanup job's deletions.
    pub maintenance: Arc<dyn Maintenance>,
    pub rules: Arc<RuleSetHandle>,
    pub writer: Arc<Writer>,
    pub metrics: Arc<Metrics>,
    /// The event use-cases (route, apply, count), for the gRPC and REST adapters alike.
    pub events: EventContext,
    pub clock: Clock,
    /// The database URL with its password hidden, for logs.
    pub database: String,
    stop: watch::Sender<bool>,
    front_doors: JoinSet<(&'static str, Result<()>)>,
    background: Vec<(&'static str, JoinHandle<()>)>,
    metrics_server: Option<JoinHandle<()>>,
    _watcher: engine::reload::RuleWatcher,
}

impl Runtime {
    /// Starts the shared parts. Fails, naming the setting or file, before anything is served.
    pub async fn start(config: &Config, options: StartOptions) -> Result<(Self, ServiceRoles)> {
        let writer_config = store::WriterConfig {
            clock: options.clock.clone(),
            ..config.writer()?
        };
        let cleanup_config = config.cleanup()?;
        let url = config.database.url()?;
        let database = store::redacted(&url);
        let metrics = Arc::new(Metrics::new().context("registering metrics")?);
        let cache = config
            .progress_cache()
            .filter(|_| options.cache_progress)
            .map(|size| Arc::new(store::cache::ProgressCache::new(size)));
        let probe = store::Probe::new(metrics.clone(), cache.clone());
        let store = store::open_with(&url, config.pool_size, probe)
            .await
            .with_context(|| format!("cannot open the database {database}"))?;
        let service = ServiceRoles {
            players: store.clone(),
            ledger: store.clone(),
            archive: store.clone(),
            support: store.clone(),
            outbox: store.clone(),
        };
        let maintenance: Arc<dyn Maintenance> = store.clone();
        let archive: Arc<dyn EventArchive> = store.clone();
        if config.migrate || options.migrate {
            tracing::info!(database = %database, "applying database migrations");
            maintenance.migrate().await.context("applying migrations")?;
        }
        let rules = load_rules(&config.challenges, &options.compile)?;
        rules.check_removed_goals(crate::retire::goals_in_use(maintenance.clone()));
        rules
            .follow_calendar_changes(crate::calendars::calendar_history(
                maintenance.clone(),
                options.clock.clone(),
            ))
            .map_err(|err| anyhow::anyhow!(err))
            .context("recording the rotations' calendars")?;
        let watcher = rules
            .watch(Duration::from_millis(config.reload_debounce_ms))
            .context("watching the challenge files")?;
        let writer = Arc::new(Writer::start_observed(
            store,
            writer_config,
            metrics.clone(),
        ));
        let events = EventContext {
            rules: rules.clone(),
            writer: writer.clone(),
            maintenance: maintenance.clone(),
            namespace: config.namespace_filter(),
            metrics: metrics.clone(),
            clock: options.clock.clone(),
        };
        let (stop, _) = watch::channel(false);
        let mut runtime = Self {
            maintenance,
            rules,
            writer,
            metrics,
            events,
            clock: options.clock,
            database,
            stop,
            front_doors: JoinSet::new(),
            background: Vec::new(),
            metrics_server: None,
            _watcher: watcher,
        };
        let orphaned = crate::retire::orphaned_gauge(&runtime.metrics.registry)
            .context("registering metrics")?;
        let orphans = crate::retire::warn_orphans(
            runtime.maintenance.clone(),
            runtime.rules.clone(),
            orphaned,
        );
        runtime.background("orphaned goals check", orphans);
        if let Some(cleanup) = cleanup_config {
            let job = crate::cleanup::run(
                runtime.maintenance.clone(),
                archive,
                runtime.rules.clone(),
                runtime.metrics.clone(),
                cleanup,
                runtime.stop_signal(),
            );
            runtime.background("cleanup", job);
        }
        if !config.database.is_embedded() {
            // Every process on PostgreSQL keeps the change log small, cache or not.
            let pruner = store::cache::prune_log(
                url.clone(),
                store::cache::FeedConfig::default(),
                runtime.stop_signal(),
            );
            runtime.background("progress change log pruning", pruner);
        }
        if let Some(cache) = cache {
            let feed = store::cache::follow(url, cache.clone(), runtime.stop_signal());
            runtime.background("progress change log", feed);
            runtime.metrics.watch_progress_cache(cache);
        }
        Ok((runtime, service))
    }

    /// Turns `true` when shutdown begins (for loops that check it between steps).
    pub fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Resolves when shutdown begins (for servers' graceful shutdown).
    pub fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut signal = self.stop_signal();
        async move {
            let _ = signal.wait_for(|stop| *stop).await;
        }
    }

    /// Registers a front door: a server that stops accepting at [`Self::stopping`] and returns
    /// once its requests in flight are answered. If one fails early, the whole process stops.
    pub fn serve(
        &mut self,
        name: &'static str,
        server: impl Future<Output = Result<()>> + Send + 'static,
    ) {
        self.front_doors.spawn(async move { (name, server.await) });
    }

    /// Registers a background job that returns soon after [`Self::stop_signal`] turns `true`.
    pub fn background(
        &mut self,
        name: &'static str,
        job: impl Future<Output = ()> + Send + 'static,
    ) {
        self.background.push((name, tokio::spawn(job)));
    }

    /// Serves `/metrics` and `/healthz` on `listener` until the very end of shutdown.
    pub fn serve_metrics(&mut self, listener: TcpListener) {
        let app = crate::metrics::router(MetricsState {
            metrics: self.metrics.clone(),
            writer: self.writer.clone(),
            rules: self.rules.clone(),
            maintenance: self.maintenance.clone(),
        });
        // Metrics stop last: `shutdown` aborts this task after everything else has stopped.
        self.metrics_server = Some(tokio::spawn(async move {
            let limits = crate::front_door::Limits::default();
            let served = crate::front_door::serve(listener, app, limits, std::future::pending());
            if let Err(err) = served.await {
                tracing::error!(error = %err, "metrics server failed");
            }
        }));
    }

    /// Runs until `signal` resolves (or a front door fails), then shuts down in order.
    pub async fn run_until(mut self, signal: impl Future<Output = ()> + Send) -> Result<()> {
        let failed = tokio::select! {
            () = signal => None,
            Some(ended) = self.front_doors.join_next() => Some(front_door_result(ended)),
        };
        let mut result = match failed {
            Some(Ok(name)) => Err(anyhow::anyhow!("the {name} server stopped by itself")),
            Some(Err(err)) => Err(err),
            None => Ok(()),
        };
        if let Err(err) = self.shutdown().await
            && result.is_ok()
        {
            result = Err(err);
        }
        result
    }

    /// Stops everything in the order of the module documentation. Returns the first front
    /// door's error, if one failed while draining.
    pub async fn shutdown(mut self) -> Result<()> {
        let _ = self.stop.send(true);
        tracing::info!("shutting down: answering the requests in flight");
        let mut result = Ok(());
        while let Some(ended) = self.front_doors.join_next().await {
            if let Err(err) = front_door_result(ended)
                && result.is_ok()
            {
                result = Err(err);
            }
        }
        for (name, job) in self.background.drain(..) {
            if let Err(err) = job.await {
                tracing::error!(job = name, error = %err, "background job ended abnormally");
            }
        }
        tracing::info!(
            queued = self.writer.queue_depth(),
            "shutting down: draining the writer"
        );
        self.writer.shutdown().await;
        if let Some(metrics) = self.metrics_server.take() {
            metrics.abort();
            let _ = metrics.await;
        }
        tracing::info!("stopped");
        result
    }
}

/// A front door's end: its name when it returned `Ok`, its error otherwise.
fn front_door_result(
    ended: Result<(&'static str, Result<()>), tokio::task::JoinError>,
) -> Result<&'static str> {
    match ended {
        Ok((name, Ok(()))) => Ok(name),
        Ok((name, Err(err))) => Err(err.context(format!("the {name} server failed"))),
        Err(err) => Err(anyhow::anyhow!("a server task panicked: {err}")),
    }
}

/// Loads the challenge rules for a server: on errors, logs every diagnostic and fails.
pub fn load_rules(
    path: &std::path::Path,
    options: &engine::CompileOptions,
) -> Result<Arc<RuleSetHandle>> {
    match RuleSetHandle::load_with(vec![path.to_path_buf()], options.clone()) {
        Ok(rules) => Ok(Arc::new(rules)),
        Err(engine::reload::LoadError::Invalid(diagnostics)) => {
            for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
                tracing::error!(diagnostic = %diagnostic, "challenge rules");
            }
            anyhow::bail!(
                "the challenge files in {} have errors (run `challenge-lint` for details)",
                path.display()
            )
        }
        Err(err) => Err(err).context("loading the challenge rules"),
    }
}
