//! The sustained-retention run (issue 31): events at a fixed rate for minutes under short
//! retention windows, the side tables' sizes sampled throughout. Once the first window and a
//! cleanup cadence have passed, each table must hold at most 1.2 × rate × window rows; the run
//! also reports what the cleanup cost, as the store-call time of its statements (the handler's
//! `challenge_db_query_duration_seconds`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bench::events::{EventMix, EventSender};
use bench::load::open_loop;
use bench::processes::free_port;
use bench::report::Row;
use store::Maintenance;

use super::{DATABASE_RETENTION, Run};

/// The side tables that grow with events, and how many rows (or events) each holds.
const TABLES: [(&str, &str); 2] = [
    ("applied_events", "SELECT count(*) FROM applied_events"),
    (
        "event archive (events)",
        "SELECT coalesce(sum(events), 0)::bigint FROM event_archive_batch",
    ),
];

/// The change log of the read caches: pruned by its readers, and by cleanup after the dedup
/// window and an hour (a run shorter than that shows its growth, not its bound).
const CHANGE_LOG: &str = "SELECT count(*) FROM progress_changes";

/// The store calls the cleanup job makes.
const CLEANUP_CALLS: [&str; 4] = [
    "delete_expired",
    "prune_processed_events",
    "prune_event_archive",
    "prune_audit_log",
];

/// Sizes over time: seconds since the start, then one count per [`TABLES`] entry and the log.
type Samples = Vec<(f64, Vec<i64>)>;

impl Run {
    pub(super) async fn retention(&mut self) -> Result<()> {
        let (rate, window) = (self.args.retention_rate, self.args.retention_window);
        let seconds = self.args.retention_seconds;
        let url = bench::fresh_database(&self.args.server.url, DATABASE_RETENTION).await?;
        let store = store::PgStore::connect(&url, 4).await?;
        store.migrate().await?;
        let (grpc, metrics) = (free_port()?, free_port()?);
        let mut env = self.env(&url, "challenges", grpc, 0, metrics);
        for setting in [
            "DEDUP_RETENTION",
            "EVENT_ARCHIVE_RETENTION",
            "CLEANUP_RETENTION",
        ] {
            env.push((setting, format!("{window}s")));
        }
        env.push(("EVENT_ARCHIVE_SAMPLE", "1".into()));
        let handler = self.start_handler(&env, metrics).await?;
        let mix = EventMix::examples(20_000, &format!("{}-retention", self.run));
        let sender = EventSender::connect(&format!("http://127.0.0.1:{grpc}"), 4, mix).await?;
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = tokio::spawn(sample(store.pool().clone(), stop.clone()));
        let cpu = Self::meter(&[&handler]).start();
        let outcome = open_loop(rate, Duration::from_secs(seconds), 4096, move |n| {
            let sender = sender.clone();
            async move { sender.send(n).await }
        })
        .await;
        let cpu = cpu.stop();
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.await.context("the sampler")??;
        let spent = cleanup_seconds(metrics).await?;
        let mut row = Row::new(
            &format!(
                "handler: events at {rate:.0}/s for {seconds} s, retention windows {window} s"
            ),
            &outcome,
            &cpu,
        );
        // Judged once the first window and a cadence (an eighth) have passed, with a sample's
        // slack: before that a table is still filling its first window.
        let settled = window as f64 * 1.125 + 10.0;
        let bound = outcome.rate() * window as f64;
        for (at, (table, _)) in TABLES.iter().enumerate() {
            let most = (samples.iter())
                .filter(|(t, _)| *t >= settled)
                .map(|(_, counts)| counts[at])
                .max()
                .unwrap_or(0);
            let ratio = most as f64 / bound.max(1.0);
            let verdict = if ratio <= 1.2 { "within" } else { "OVER" };
            row = row.noted(format!(
                "{table}: at most {most} after {settled:.0} s, {ratio:.2}× rate × window ({verdict} 1.2×)"
            ));
        }
        let log = samples.last().map_or(0, |(_, counts)| counts[TABLES.len()]);
        row = row.noted(format!(
            "change log: {log} rows at the end (pruned after an hour)"
        ));
        row = row.noted(format!(
            "cleanup: {:.1} s of statements in {seconds} s ({:.2} % of one core; {:.1} % of the store's time)",
            spent.cleanup,
            spent.cleanup * 100.0 / seconds as f64,
            spent.cleanup * 100.0 / spent.all.max(1e-9),
        ));
        self.report.push(row);
        handler.stop().await?;
        store.pool().close().await;
        Ok(())
    }
}

/// Samples the tables every five seconds until `stop`.
async fn sample(pool: sqlx::PgPool, stop: Arc<AtomicBool>) -> Result<Samples> {
    let started = Instant::now();
    let mut samples = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut counts = Vec::with_capacity(TABLES.len() + 1);
        for sql in TABLES.iter().map(|(_, sql)| *sql).chain([CHANGE_LOG]) {
            counts.push(sqlx::query_scalar::<_, i64>(sql).fetch_one(&pool).await?);
        }
        samples.push((started.elapsed().as_secs_f64(), counts));
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(samples)
}

/// Store-call seconds: the cleanup job's, and every call's.
struct Spent {
    cleanup: f64,
    all: f64,
}

/// Reads the handler's `/metrics`: the sums of `challenge_db_query_duration_seconds`.
async fn cleanup_seconds(metrics: u16) -> Result<Spent> {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await?
        .text()
        .await?;
    let mut spent = Spent {
        cleanup: 0.0,
        all: 0.0,
    };
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("challenge_db_query_duration_seconds_sum{operation=\"")
        else {
            continue;
        };
        let Some((operation, value)) = rest.split_once("\"} ") else {
            continue;
        };
        let seconds: f64 = value.trim().parse().unwrap_or(0.0);
        spent.all += seconds;
        if CLEANUP_CALLS.contains(&operation) {
            spent.cleanup += seconds;
        }
    }
    Ok(spent)
}
