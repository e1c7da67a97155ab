//! Delivering the notification outbox: every replica's notifier leases due records (a player's
//! in the order written, one at a time), sends each to the sinks that have not taken it yet,
//! and deletes it once all have; a record that keeps failing is dead-lettered after
//! `NOTIFY_MAX_ATTEMPTS`, with a metric and an error log, and stops blocking the player's later
//! records. At least once: a process killed between a sink's answer and the record's deletion
//! sends it again (under the same `id`) after its lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::claims::backoff;
use store::{NotificationOutbox, OutboxRecord, StoreError};

use crate::notify::Sink;

/// How the notifier works the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifySettings {
    /// How often it looks for due records (`NOTIFY_INTERVAL_SECONDS`).
    pub every: Duration,
    /// First wait before a failed record is tried again, doubling up to an hour
    /// (`NOTIFY_BACKOFF_SECONDS`).
    pub backoff: Duration,
    /// Deliveries tried before a record is dead-lettered (`NOTIFY_MAX_ATTEMPTS`).
    pub max_attempts: i32,
    /// Records delivered at once (`NOTIFY_CONCURRENCY`).
    pub in_flight: usize,
    /// How long a leased record is this notifier's before another may take it.
    pub lease: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(1),
            backoff: Duration::from_secs(5),
            max_attempts: 10,
            in_flight: 16,
            lease: Duration::from_secs(60),
        }
    }
}

/// The outbox, the sinks and what the notifier reports to.
#[derive(Clone)]
pub struct Notifier {
    pub outbox: Arc<dyn NotificationOutbox>,
    pub sinks: Vec<Arc<dyn Sink>>,
    pub settings: NotifySettings,
    pub metrics: Arc<pipeline::metrics::Metrics>,
    pub clock: engine::Clock,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Notified {
    pub leased: usize,
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
}

impl Notifier {
    fn lease_until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::TimeDelta::from_std(self.settings.lease)
            .unwrap_or(chrono::TimeDelta::minutes(1))
    }

    /// Leases the due records and delivers them, concurrently.
    pub async fn pass(&self) -> Result<Notified, StoreError> {
        let now = self.clock.now();
        let limit = i64::try_from(self.settings.in_flight).unwrap_or(i64::MAX);
        let leased = self
            .outbox
            .lease_notices(now, self.lease_until(now), limit)
            .await?;
        let mut report = Notified {
            leased: leased.len(),
            ..Notified::default()
        };
        let mut running = tokio::task::JoinSet::new();
        for record in leased {
            let notifier = self.clone();
            running.spawn(async move { notifier.deliver(record).await });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(Ok(Outcome::Delivered)) => report.delivered += 1,
                Ok(Ok(Outcome::Failed)) => report.failed += 1,
                Ok(Ok(Outcome::Dead)) => report.dead += 1,
                Ok(Err(err)) => tracing::warn!(error = %err, "recording a notification's delivery"),
                Err(err) => tracing::error!(error = %err, "a notification task failed"),
            }
        }
        Ok(report)
    }

    /// Sends `record` to every sink that has not taken it, then records what happened.
    async fn deliver(&self, record: OutboxRecord) -> Result<Outcome, StoreError> {
        let mut delivered = record.delivered_to.clone();
        let mut errors = Vec::new();
        for sink in &self.sinks {
            if delivered.iter().any(|name| name == sink.name()) {
                continue;
            }
            let counted = |outcome: &str| {
                self.metrics
                    .notifications
                    .with_label_values(&[sink.name(), outcome])
                    .inc();
            };
            match sink.send(&record).await {
                Ok(()) => {
                    counted("delivered");
                    delivered.push(sink.name().to_string());
                }
                Err(error) => {
                    let dead = record.attempts >= self.settings.max_attempts;
                    counted(if dead { "dead" } else { "failed" });
                    errors.push(format!("{}: {error}", sink.name()));
                }
            }
        }
        if errors.is_empty() {
            self.outbox.notice_delivered(&record).await?;
            return Ok(Outcome::Delivered);
        }
        let now = self.clock.now();
        let error = errors.join("; ");
        let dead = record.attempts >= self.settings.max_attempts;
        let retry_at = backoff(record.attempts - 1, self.settings.backoff, now);
        self.outbox
            .notice_failed(&record, &delivered, &error, retry_at, dead)
            .await?;
        if dead {
            tracing::error!(notification_id = %record.id, user_id = %record.user_id, kind = %record.kind, attempts = record.attempts, %error, "a notification was dead-lettered after its last attempt; the player's later notifications go on");
            Ok(Outcome::Dead)
        } else {
            tracing::warn!(notification_id = %record.id, user_id = %record.user_id, kind = %record.kind, attempts = record.attempts, %error, %retry_at, "a notification was not delivered; it is tried again");
            Ok(Outcome::Failed)
        }
    }

    async fn count(&self) -> Result<(), StoreError> {
        let (live, dead) = self.outbox.notice_counts().await?;
        let gauge = &self.metrics.notification_outbox;
        gauge.with_label_values(&["live"]).set(live);
        gauge.with_label_values(&["dead"]).set(dead);
        Ok(())
    }

    /// Works the outbox until `stopped`: pass after pass while passes find as many as they ask
    /// for, then every `every`.
    pub async fn run(self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        loop {
            let more = match self.pass().await {
                Ok(pass) => pass.leased >= self.settings.in_flight,
                Err(err) => {
                    tracing::warn!(
                        error = &err as &(dyn std::error::Error + 'static),
                        "delivering notifications"
                    );
                    false
                }
            };
            if more && !*stopped.borrow() {
                continue;
            }
            if let Err(err) = self.count().await {
                tracing::warn!(error = %err, "counting notifications");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.every) => {}
                _ = stopped.wait_for(|stop| *stop) => return,
            }
        }
    }
}

enum Outcome {
    Delivered,
    Failed,
    Dead,
}
