//! The embedded default (issue 31): `service` alone on its SQLite file, as a newcomer runs it
//! (no `DATABASE_URL`: the file in its working directory, `synchronous=FULL`, every player
//! archived), taking the write-heavy rule set's events over gRPC for 20,000 seeded players.
//! Flat out, then at 2,000 events/s, where the tail and the longest wait (a checkpoint on the
//! write path would show as one) are what a player would feel.

use std::path::Path;

use anyhow::{Context, Result};
use bench::events::EventMix;
use bench::load::{closed_loop, open_loop};
use bench::processes::{Process, free_port};
use bench::report::Row;
use sqlx::sqlite::SqlitePoolOptions;
use store::Maintenance;

use super::Run;
use super::heavy::{GOALS, RULES};

const PLAYERS: u64 = 20_000;

/// Targets of issue 31: CPU per event all in (µs), p99 at 2,000 events/s (ms), longest wait (ms).
const CPU_TARGET: f64 = 60.0;
const P99_TARGET: f64 = 50.0;
const STALL_TARGET: f64 = 250.0;

impl Run {
    pub(super) async fn embedded(&mut self) -> Result<()> {
        let dir = self.args.out_dir.join("embedded");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        seed(&dir).await?;
        let rules = Path::new(RULES)
            .canonicalize()
            .context("the write-heavy rules")?;
        let (grpc, http, metrics) = (free_port()?, free_port()?, free_port()?);
        // The benchmarks' settings, less the database's: the embedded default.
        let mut env = self.env("", &rules.display().to_string(), grpc, http, metrics);
        env.retain(|(name, _)| !matches!(*name, "DATABASE_URL" | "DB_POOL_SIZE"));
        let health = format!("http://127.0.0.1:{http}/challenge/healthz");
        let service = Process::start_in(
            "service",
            &self.args.bin_dir,
            &env,
            &health,
            &self.args.out_dir,
            Some(&dir),
        )
        .await?;
        let target = format!("http://127.0.0.1:{grpc}");
        let mix = EventMix::examples(PLAYERS, &format!("{}-embedded", self.run));
        let sender = super::warmed(&target, mix).await?;
        let send = move |n| {
            let sender = sender.clone();
            async move { sender.send(n).await }
        };
        let in_flight = self.args.in_flight.max(1);
        let cpu = Self::meter(&[&service]).start();
        let outcome = closed_loop(in_flight, self.seconds(), None, send.clone()).await;
        let row = Row::new(
            &format!(
                "embedded: write-heavy events flat out, service alone on SQLite ({PLAYERS} players)"
            ),
            &outcome,
            &cpu.stop(),
        );
        let offset = outcome.ok + outcome.failed;
        let row = match row.cpu("service") {
            Some(cpu) => row.noted(format!(
                "{}: {cpu:.0} µs per event all in",
                met(cpu <= CPU_TARGET, &format!("target ≤ {CPU_TARGET:.0}"))
            )),
            None => row,
        };
        self.report.push(row);
        let rate = 2_000.0;
        let cpu = Self::meter(&[&service]).start();
        let outcome = open_loop(rate, self.seconds(), 2048, move |n| send(offset + n)).await;
        let longest = outcome
            .latencies
            .iter()
            .max()
            .map_or(0.0, |at| at.as_secs_f64() * 1e3);
        let mut row = Row::new(
            &format!("embedded: write-heavy events at {rate:.0}/s, service alone on SQLite"),
            &outcome,
            &cpu.stop(),
        );
        let p99 = row.p99_ms.unwrap_or(f64::INFINITY);
        row = row
            .noted(format!(
                "{}: p99 {p99:.1} ms",
                met(p99 < P99_TARGET, &format!("target < {P99_TARGET:.0} ms"))
            ))
            .noted(format!(
                "{}: longest {longest:.0} ms",
                met(
                    longest <= STALL_TARGET,
                    &format!("target ≤ {STALL_TARGET:.0} ms")
                )
            ));
        if row.throughput < rate * 0.95 {
            row = row.noted(format!("target {rate:.0}/s not reached"));
        }
        self.report.push(row);
        service.stop().await?;
        Ok(())
    }
}

fn met(ok: bool, target: &str) -> String {
    format!("{target} {}", if ok { "met" } else { "NOT met" })
}

/// Creates the embedded file in `dir` with every player's not-started rows, as the service
/// would find it after the players' first sessions.
async fn seed(dir: &Path) -> Result<()> {
    let url = format!("sqlite://{}", dir.join("challenge.db").display());
    let store = store::SqliteStore::connect(&url).await?;
    store.migrate().await?;
    drop(store);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await?;
    let goals = serde_json::to_string(&GOALS)?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?) \
         INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, status, \
           is_active, created_at, updated_at, assigned_at) \
         SELECT 'load-user-' || i, g.value, 'grind', 'demo', 'not_started', 1, ?, ?, ? \
         FROM n, json_each(?) AS g",
    )
    .bind(PLAYERS as i64)
    .bind(chrono::Utc::now())
    .bind(chrono::Utc::now())
    .bind(chrono::Utc::now())
    .bind(goals)
    .execute(&pool)
    .await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    pool.close().await;
    Ok(())
}
