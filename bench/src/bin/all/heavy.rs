//! Per-event cost as a game grows (issue 31): the write-heavy rule set (`bench/heavy/`, about
//! 1.3 progress rows written per event) flat out over 20,000 seeded players, then over
//! 1,000,000 (14 rows each, seeded with SQL), in the same run. Each row notes what PostgreSQL
//! did per event: the share of updates that were HOT (no index touched), and the WAL bytes and
//! full-page images written. A last run repeats the 1,000,000-player one with every player's
//! events archived.

use std::time::Instant;

use anyhow::Result;
use bench::events::EventMix;
use bench::load::closed_loop;
use bench::processes::free_port;
use bench::report::Row;
use store::Maintenance;

use super::{DATABASE_HEAVY, Run};

pub(super) const RULES: &str = "bench/heavy/challenges";

/// The goals of `bench/heavy/challenges`, each seeded player's rows.
pub(super) const GOALS: [&str; 14] = [
    "logins",
    "matches",
    "player-level",
    "ranked-points",
    "matches-won",
    "matches-lost",
    "snowmen-killed",
    "gifts-given",
    "shots-hit",
    "match-score",
    "matches-played",
    "tutorial-completed",
    "distance-run",
    "items-crafted",
];

/// Players seeded per statement.
const SEED_CHUNK: u64 = 100_000;

/// What PostgreSQL has done so far: progress updates, the HOT ones, WAL bytes, full-page images.
#[derive(Clone, Copy)]
struct Work {
    updates: i64,
    hot: i64,
    wal_bytes: f64,
    full_pages: i64,
}

impl Work {
    async fn now(pool: &sqlx::PgPool) -> Result<Self> {
        let (updates, hot): (i64, i64) = sqlx::query_as(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables \
             WHERE relname = 'user_goal_progress'",
        )
        .fetch_one(pool)
        .await?;
        let (wal_bytes, full_pages): (f64, i64) =
            sqlx::query_as("SELECT wal_bytes::float8, wal_fpi FROM pg_stat_wal")
                .fetch_one(pool)
                .await?;
        Ok(Self {
            updates,
            hot,
            wal_bytes,
            full_pages,
        })
    }

    /// The note of the work done since `before`, per event of `events`.
    fn since(&self, before: &Self, events: u64) -> String {
        let events = events.max(1) as f64;
        let updates = (self.updates - before.updates).max(1) as f64;
        format!(
            "{:.0} % of updates HOT; WAL {:.0} bytes and {:.2} full-page images per event",
            (self.hot - before.hot) as f64 * 100.0 / updates,
            (self.wal_bytes - before.wal_bytes) / events,
            (self.full_pages - before.full_pages) as f64 / events,
        )
    }
}

impl Run {
    pub(super) async fn heavy(&mut self) -> Result<()> {
        let url = bench::fresh_database(&self.args.server.url, DATABASE_HEAVY).await?;
        let store = store::PgStore::connect(&url, 4).await?;
        store.migrate().await?;
        let pool = store.pool().clone();
        let (grpc, metrics) = (free_port()?, free_port()?);
        let env = self.env(&url, RULES, grpc, 0, metrics);
        let mut handler = self.start_handler(&env, metrics).await?;
        let target = format!("http://127.0.0.1:{grpc}");
        let mut seeded = 0;
        let mut small_cost = None;
        let mut large_cost = None;
        // The last run archives every player's events (EVENT_ARCHIVE_SAMPLE=1, what the
        // support issue makes the default so that a backfill can reach everyone).
        for (players, archive_all) in [(20_000, false), (1_000_000, false), (1_000_000, true)] {
            if players > seeded {
                let started = Instant::now();
                seed(&pool, seeded, players).await?;
                seeded = players;
                eprintln!(
                    "  seeded {players} players ({} rows) in {:.0} s",
                    players * GOALS.len() as u64,
                    started.elapsed().as_secs_f64()
                );
            }
            if archive_all {
                handler.stop().await?;
                let mut env = env.clone();
                env.push(("EVENT_ARCHIVE_SAMPLE", "1".into()));
                handler = self.start_handler(&env, metrics).await?;
            }
            let run = format!("{}-heavy-{players}-{archive_all}", self.run);
            let mix = EventMix::examples(players, &run);
            let sender = super::warmed(&target, mix).await?;
            let send = move |n| {
                let sender = sender.clone();
                async move { sender.send(n).await }
            };
            let mut rows = Self::rows_written(&pool).await?;
            let before = Work::now(&pool).await?;
            let cpu = Self::meter(&[&handler]).start();
            let in_flight = self.args.in_flight.max(1);
            let outcome = closed_loop(in_flight, self.seconds(), None, send).await;
            let cpu = cpu.stop();
            let archived = if archive_all {
                ", every player archived"
            } else {
                ""
            };
            let row = Row::new(
                &format!(
                    "handler: write-heavy events flat out, {players} players ({} rows){archived}",
                    players * GOALS.len() as u64
                ),
                &outcome,
                &cpu,
            );
            let row = Self::rows_per_event(row, &outcome, &pool, &mut rows).await?;
            let mut row = row.noted(Work::now(&pool).await?.since(&before, outcome.ok));
            if let Some(postgres) = row.cpu("postgres") {
                match (small_cost, large_cost) {
                    (None, _) => small_cost = Some(postgres),
                    (Some(small), None) => {
                        large_cost = Some(postgres);
                        row = row.noted(format!(
                            "PostgreSQL {:.2}× its µs/event at 20,000 players (target ≤ 1.5×)",
                            postgres / small
                        ));
                    }
                    (Some(_), Some(large)) => {
                        row = row.noted(format!(
                            "PostgreSQL {:.2}× its µs/event with the default archive sample",
                            postgres / large
                        ));
                    }
                }
            }
            self.report.push(row);
        }
        handler.stop().await?;
        pool.close().await;
        Ok(())
    }
}

/// Seeds players `from`..`to` with a not-started row of every goal, then brings the statistics
/// and the checkpoint up to date so the measurement starts from a settled database.
async fn seed(pool: &sqlx::PgPool, from: u64, to: u64) -> Result<()> {
    let goals: Vec<&str> = GOALS.to_vec();
    let mut at = from;
    while at < to {
        let end = (at + SEED_CHUNK).min(to);
        sqlx::query(
            "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, status, \
               is_active, assigned_at) \
             SELECT 'load-user-' || i, g, 'grind', 'demo', 'not_started', true, now() \
             FROM generate_series($1::bigint, $2::bigint - 1) AS i CROSS JOIN unnest($3::varchar[]) AS g",
        )
        .bind(at as i64)
        .bind(end as i64)
        .bind(&goals)
        .execute(pool)
        .await?;
        at = end;
    }
    sqlx::query("VACUUM ANALYZE user_goal_progress")
        .execute(pool)
        .await?;
    sqlx::query("CHECKPOINT").execute(pool).await?;
    Ok(())
}
