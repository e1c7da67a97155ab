//! Prometheus metrics of the event path, and the `/metrics` + `/healthz` HTTP endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use engine::RuleSetHandle;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use store::{Maintenance, QueryObserver, Writer, WriterObserver};

/// The handler's metrics, registered in their own registry.
pub struct Metrics {
    pub registry: Registry,
    pub received: IntCounterVec,
    pub processed: IntCounterVec,
    pub skipped: IntCounterVec,
    pub rejected: IntCounterVec,
    pub processing: HistogramVec,
    pub errors: IntCounterVec,
    /// REST request latency (the service's routes), by method, route template and status.
    pub api_requests: HistogramVec,
    /// Reward delivery attempts by outcome: granted, refused, unknown, retry.
    pub reward_grants: IntCounterVec,
    /// Open reward intents by state (pending, sending, unknown), refreshed by the reconciler.
    pub reward_intents: IntGaugeVec,
    /// Notification deliveries by sink (claims, webhook, lobby) and outcome (delivered, failed, dead).
    pub notifications: IntCounterVec,
    /// Records in the notification outbox by state (live, dead), refreshed by the notifier.
    pub notification_outbox: IntGaugeVec,
    flush_duration: Histogram,
    flush_size: Histogram,
    buffer_size: IntGauge,
    rules_info: IntGaugeVec,
    rules_loaded_at: IntGaugeVec,
    rules_reloads: IntGauge,
    rules_reload_failures: IntGauge,
    db_connections_active: IntGauge,
    db_connections_max: IntGauge,
    rule_evaluation_errors: IntCounterVec,
    db_queries: HistogramVec,
    cleanup_deleted: IntCounterVec,
    cleanup_runs: IntCounterVec,
    cleanup_duration: Histogram,
    cleanup_last_success: Gauge,
    /// The service's read cache, once started (its counters are read at each scrape).
    progress_cache: std::sync::OnceLock<Arc<store::cache::ProgressCache>>,
    cache_reads: IntCounterVec,
    cache_following: IntGauge,
    cache_players: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(metric.clone()))?;
                Ok(metric)
            };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let latency_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ];
        let processing = HistogramVec::new(
            HistogramOpts::new(
                "challenge_event_processing_seconds",
                "Time from receiving an event to answering it (after commit)",
            )
            .buckets(latency_buckets.clone()),
            &["kind"],
        )?;
        registry.register(Box::new(processing.clone()))?;
        let api_requests = HistogramVec::new(
            HistogramOpts::new(
                "challenge_api_request_duration_seconds",
                "REST request duration",
            )
            .buckets(latency_buckets.clone()),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(api_requests.clone()))?;
        let db_queries = HistogramVec::new(
            HistogramOpts::new(
                "challenge_db_query_duration_seconds",
                "Duration of one store call (a query or a transaction), by operation",
            )
            .buckets(latency_buckets.clone()),
            &["operation"],
        )?;
        registry.register(Box::new(db_queries.clone()))?;
        let cleanup_duration = Histogram::with_opts(
            HistogramOpts::new(
                "challenge_cleanup_duration_seconds",
                "Duration of one cleanup run",
            )
            .buckets(vec![0.01, 0.1, 1.0, 10.0, 60.0, 300.0]),
        )?;
        registry.register(Box::new(cleanup_duration.clone()))?;
        let cleanup_last_success = Gauge::new(
            "challenge_cleanup_last_success_timestamp_seconds",
            "Unix time of the last cleanup run that succeeded",
        )?;
        registry.register(Box::new(cleanup_last_success.clone()))?;
        let flush_duration = Histogram::with_opts(
            HistogramOpts::new(
                "challenge_flush_duration_seconds",
                "Duration of one batch transaction",
            )
            .buckets(latency_buckets),
        )?;
        registry.register(Box::new(flush_duration.clone()))?;
        let flush_size = Histogram::with_opts(
            HistogramOpts::new("challenge_flush_size", "Events per batch transaction").buckets(
                vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0],
            ),
        )?;
        registry.register(Box::new(flush_size.clone()))?;
        let rules_info = IntGaugeVec::new(
            Opts::new(
                "challenge_rules_info",
                "The loaded rule set (value 1), labelled with its content hash",
            ),
            &["content_hash"],
        )?;
        registry.register(Box::new(rules_info.clone()))?;
        let rules_loaded_at = IntGaugeVec::new(
            Opts::new(
                "challenge_rules_loaded_timestamp_seconds",
                "When the rule set in use was loaded (Unix seconds), labelled with its content hash",
            ),
            &["content_hash"],
        )?;
        registry.register(Box::new(rules_loaded_at.clone()))?;
        // Labelled by challenge and goal: bounded by the rule set, and what a designer needs to
        // find the broken rule.
        let rule_evaluation_errors = IntCounterVec::new(
            Opts::new(
                "challenge_rule_evaluation_errors_total",
                "Goal expressions (when, amount, progress) that failed on an event, text compared with a number included; the event does not count for that goal",
            ),
            &["challenge", "goal"],
        )?;
        registry.register(Box::new(rule_evaluation_errors.clone()))?;
        let reward_intents = IntGaugeVec::new(
            Opts::new(
                "challenge_reward_intents",
                "Open reward intents by state (pending, sending, unknown)",
            ),
            &["state"],
        )?;
        registry.register(Box::new(reward_intents.clone()))?;
        let notification_outbox = IntGaugeVec::new(
            Opts::new(
                "challenge_notification_outbox",
                "Records in the notification outbox by state (live: to deliver; dead: dead-lettered, for an operator)",
            ),
            &["state"],
        )?;
        registry.register(Box::new(notification_outbox.clone()))?;
        let metrics = Self {
            notifications: counter(
                "challenge_notifications_total",
                "Notification deliveries by sink (claims: claim auto; webhook, lobby) and outcome (delivered, failed: retried later, dead: dead-lettered)",
                &["sink", "outcome"],
            )?,
            notification_outbox,
            reward_grants: counter(
                "challenge_reward_grants_total",
                "Reward delivery attempts by outcome (granted, refused, unknown, retry)",
                &["outcome"],
            )?,
            reward_intents,
            received: counter(
                "challenge_events_received_total",
                "Events received",
                &["kind"],
            )?,
            processed: counter(
                "challenge_events_processed_total",
                "Events committed (or with nothing to commit)",
                &["kind", "outcome"],
            )?,
            skipped: counter(
                "challenge_events_skipped_total",
                "Events acknowledged without processing",
                &["kind", "reason"],
            )?,
            rejected: counter(
                "challenge_events_rejected_total",
                "Events answered with an error",
                &["kind", "reason"],
            )?,
            errors: counter(
                "challenge_errors_total",
                "Errors by component and kind",
                &["component", "kind"],
            )?,
            processing,
            api_requests,
            flush_duration,
            flush_size,
            buffer_size: gauge("challenge_buffer_size", "Events waiting for a flush")?,
            rules_info,
            rules_loaded_at,
            rules_reloads: gauge(
                "challenge_rules_reloads",
                "Successful rule reloads since start",
            )?,
            rules_reload_failures: gauge(
                "challenge_rules_reload_failures",
                "Rejected rule reloads since start",
            )?,
            db_connections_active: gauge(
                "challenge_db_connections_active",
                "Database connections in use",
            )?,
            db_connections_max: gauge(
                "challenge_db_connections_max",
                "Most database connections the pool opens (DB_POOL_SIZE)",
            )?,
            rule_evaluation_errors,
            db_queries,
            cleanup_deleted: counter(
                "challenge_cleanup_deleted_rows_total",
                "Rows deleted by the cleanup job, by table",
                &["table"],
            )?,
            cleanup_runs: counter(
                "challenge_cleanup_runs_total",
                "Cleanup runs, by outcome",
                &["outcome"],
            )?,
            cleanup_duration,
            cleanup_last_success,
            progress_cache: std::sync::OnceLock::new(),
            cache_reads: counter(
                "challenge_progress_cache_reads_total",
                "Players' reads through the read cache, by outcome (hit, miss)",
                &["outcome"],
            )?,
            cache_following: gauge(
                "challenge_progress_cache_following",
                "1 while the read cache follows the database's change log (and serves), else 0",
            )?,
            cache_players: gauge(
                "challenge_progress_cache_players",
                "Players whose rows the read cache holds (approximate)",
            )?,
            registry,
        };
        // Series that exist from the start (at 0), so dashboards and alerts see them at once.
        for labels in [
            ["handler", "unavailable"],
            ["handler", "internal"],
            ["writer", "flush_failed"],
            ["cleanup", "failed"],
            ["api", "server_error"],
        ] {
            metrics.errors.with_label_values(&labels);
        }
        for kind in ["login", "stat", "gdpr"] {
            metrics.received.with_label_values(&[kind]);
            metrics.processing.with_label_values(&[kind]);
            for outcome in ["applied", "duplicate", "no_match"] {
                metrics.processed.with_label_values(&[kind, outcome]);
            }
            for reason in ["invalid", "unavailable", "internal"] {
                metrics.rejected.with_label_values(&[kind, reason]);
            }
            metrics
                .skipped
                .with_label_values(&[kind, "other_namespace"]);
        }
        for table in ["user_goal_progress", "processed_events"] {
            metrics.cleanup_deleted.with_label_values(&[table]);
        }
        for outcome in ["ok", "failed"] {
            metrics.cleanup_runs.with_label_values(&[outcome]);
        }
        for outcome in ["granted", "refused", "unknown", "retry"] {
            metrics.reward_grants.with_label_values(&[outcome]);
        }
        for state in ["pending", "sending", "unknown"] {
            metrics.reward_intents.with_label_values(&[state]);
        }
        for state in ["live", "dead"] {
            metrics.notification_outbox.with_label_values(&[state]);
        }
        for sink in ["claims", "webhook", "lobby"] {
            for outcome in ["delivered", "failed", "dead"] {
                metrics.notifications.with_label_values(&[sink, outcome]);
            }
        }
        for outcome in ["hit", "miss"] {
            metrics.cache_reads.with_label_values(&[outcome]);
        }
        Ok(metrics)
    }

    /// Refreshes the gauges that mirror other components, then renders the text format.
    pub fn render(
        &self,
        writer: &Writer,
        rules: &RuleSetHandle,
        store: &dyn Maintenance,
    ) -> String {
        self.buffer_size.set(writer.queue_depth() as i64);
        let status = rules.status();
        self.rules_info.reset();
        self.rules_info
            .with_label_values(&[status.content_hash.as_str()])
            .set(1);
        self.rules_loaded_at.reset();
        self.rules_loaded_at
            .with_label_values(&[status.content_hash.as_str()])
            .set(status.loaded_at.timestamp());
        self.rules_reloads.set(status.reloads as i64);
        self.rules_reload_failures.set(status.failures as i64);
        let pool = store.pool_connections();
        self.db_connections_active
            .set(i64::from(pool.open) - pool.idle as i64);
        self.db_connections_max.set(i64::from(pool.max));
        if let Some(cache) = self.progress_cache.get() {
            let (hits, misses) = cache.hits_and_misses();
            for (outcome, total) in [("hit", hits), ("miss", misses)] {
                let counter = self.cache_reads.with_label_values(&[outcome]);
                counter.inc_by(total.saturating_sub(counter.get()));
            }
            self.cache_following.set(i64::from(cache.is_ready()));
            self.cache_players.set(cache.players() as i64);
        }
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::error!(error = %err, "encoding metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Metrics {
    /// Reports `cache`'s reads and state at each scrape from now on.
    pub fn watch_progress_cache(&self, cache: Arc<store::cache::ProgressCache>) {
        let _ = self.progress_cache.set(cache);
    }

    /// Records one run of the cleanup job.
    pub fn cleanup_ran(
        &self,
        result: &Result<crate::cleanup::Cleaned, store::StoreError>,
        elapsed: Duration,
    ) {
        self.cleanup_duration.observe(elapsed.as_secs_f64());
        match result {
            Ok(cleaned) => {
                self.cleanup_runs.with_label_values(&["ok"]).inc();
                self.cleanup_deleted
                    .with_label_values(&["user_goal_progress"])
                    .inc_by(cleaned.expired_rows);
                self.cleanup_deleted
                    .with_label_values(&["processed_events"])
                    .inc_by(cleaned.event_ids);
                self.cleanup_deleted
                    .with_label_values(&["event_archive"])
                    .inc_by(cleaned.archived_events);
                self.cleanup_deleted
                    .with_label_values(&["audit_log"])
                    .inc_by(cleaned.audit_entries);
                self.cleanup_last_success
                    .set(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
            }
            Err(_) => {
                self.cleanup_runs.with_label_values(&["failed"]).inc();
                self.errors.with_label_values(&["cleanup", "failed"]).inc();
            }
        }
    }
}

impl QueryObserver for Metrics {
    fn query(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        self.db_queries
            .with_label_values(&[operation])
            .observe(elapsed.as_secs_f64());
        if !ok {
            self.errors.with_label_values(&["db", operation]).inc();
        }
    }
}

impl WriterObserver for Metrics {
    fn flushed(&self, size: usize, elapsed: Duration, committed: bool) {
        self.flush_duration.observe(elapsed.as_secs_f64());
        self.flush_size.observe(size as f64);
        if !committed {
            self.errors
                .with_label_values(&["writer", "flush_failed"])
                .inc();
        }
    }

    fn expression_failed(&self, challenge: &engine::ChallengeId, goal: &engine::GoalId) {
        self.rule_evaluation_errors
            .with_label_values(&[challenge.as_str(), goal.as_str()])
            .inc();
    }

    fn flusher_panicked(&self) {
        self.errors
            .with_label_values(&["writer", "flusher_panic"])
            .inc();
    }
}

/// What the metrics endpoints read.
#[derive(Clone)]
pub struct MetricsState {
    pub metrics: Arc<Metrics>,
    pub writer: Arc<Writer>,
    pub rules: Arc<RuleSetHandle>,
    pub maintenance: Arc<dyn Maintenance>,
}

/// `/metrics` (Prometheus text) and `/healthz` (see [`health`]).
pub fn router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn render(State(state): State<MetricsState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state
            .metrics
            .render(&state.writer, &state.rules, state.maintenance.as_ref()),
    )
}

async fn healthz(State(state): State<MetricsState>) -> impl IntoResponse {
    health(state.maintenance.as_ref(), &state.writer).await
}

/// The `/healthz` answer of both binaries: 200 `{"status":"healthy"}` when the database
/// answers and every writer flusher runs, else 503 saying which is not.
pub async fn health(
    store: &dyn Maintenance,
    writer: &Writer,
) -> (StatusCode, Json<serde_json::Value>) {
    let problem = if let Err(err) = store.ping().await {
        Some(crate::telemetry::chain(&err))
    } else if !writer.is_healthy() {
        Some("a writer flusher is restarting after a panic".to_string())
    } else {
        None
    };
    match problem {
        None => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "healthy"})),
        ),
        Some(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unhealthy", "error": error})),
        ),
    }
}
