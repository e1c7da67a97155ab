//! Load driver for the cleanup job against a real PostgreSQL (database `ce_cleanup_bench`,
//! recreated and dropped).
//!
//! `cargo run --release -p bench --bin cleanup-load -- [--rows N]`
//!
//! Seeds `N` expired rows the job may delete, `N` expired rows it must keep (manual selections,
//! claimed-for-good rows), `N` live rows, and `N` old event ids; then runs `clean_once` with the
//! default knobs until nothing is left and prints rows/s, the duration of a run and of one
//! statement. Finally checks the kept rows are all still there.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use chrono::{Duration, Utc};
use clap::Parser;
use engine::RuleSetHandle;
use pipeline::cleanup::{CleanupConfig, clean_once};
use store::{Maintenance, PgStore, Store};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Rows of each kind (deletable, kept, live) and old event ids.
    #[arg(long, default_value_t = 500_000)]
    rows: i64,
    /// Rows per statement (CLEANUP_BATCH_SIZE).
    #[arg(long, default_value_t = 1000)]
    batch_size: u32,
    /// Rows per run and table (CLEANUP_MAX_ROWS_PER_RUN).
    #[arg(long, default_value_t = 100_000)]
    max_rows_per_run: u64,
}

const RULES: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily }
    goals:
      - { id: daily-default, name: D, on: stat, stat: wins, count: events, target: 3 }
      - { id: daily-manual, name: M, on: stat, stat: wins, count: events, target: 3, assign: manual }
"#;

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let url = bench::fresh_database(&args.server.url, "ce_cleanup_bench").await?;
    let pg = PgStore::connect(&url, 4).await?;
    pg.migrate().await?;
    let store: Arc<dyn Store> = Arc::new(pg);
    let dir = std::env::temp_dir().join(format!("ce-cleanup-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("rules.yaml"), RULES)?;
    let rules = RuleSetHandle::load(vec![dir.clone()]).context("rules")?;

    let seed = Instant::now();
    let pool = sqlx::PgPool::connect(&url).await?;
    let insert = |goal: &str, active: bool, status: &str, expires: &str| {
        format!(
            "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, status, \
             is_active, progress, completed_at, claimed_at, assigned_at, updated_at, expires_at) \
             SELECT 'u' || i || '-{goal}-{status}-{active}', '{goal}', 'daily', 'bench', '{status}', {active}, \
                    CASE WHEN '{status}' = 'claimed' THEN 3 ELSE 1 END, \
                    CASE WHEN '{status}' = 'claimed' THEN now() END, \
                    CASE WHEN '{status}' = 'claimed' THEN now() END, \
                    now(), now(), {expires} \
             FROM generate_series(1, $1) AS i"
        )
    };
    let old = "now() - interval '30 days' + (i % 1000) * interval '1 second'";
    for (sql, rows) in [
        // deletable: default goal, active, in progress
        (insert("daily-default", true, "in_progress", old), args.rows),
        // kept: a manual selection, and a claim without reselection
        (
            insert("daily-manual", true, "in_progress", old),
            args.rows / 2,
        ),
        (insert("daily-default", true, "claimed", old), args.rows / 2),
        // live: this period
        (
            insert(
                "daily-manual",
                false,
                "not_started",
                "now() + interval '1 day'",
            ),
            args.rows,
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(rows)
            .execute(&pool)
            .await?;
    }
    sqlx::query(
        "INSERT INTO processed_events (event_id, user_id, processed_at) \
         SELECT 'e' || i, 'u' || i, now() - interval '30 days' FROM generate_series(1, $1) AS i",
    )
    .bind(args.rows)
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!(
        "seeded {} progress rows and {} event ids in {:.1} s",
        args.rows * 3,
        args.rows,
        seed.elapsed().as_secs_f64()
    );

    let config = CleanupConfig {
        interval: std::time::Duration::from_secs(3600),
        row_retention: Duration::days(7),
        dedup_retention: Duration::days(7),
        batch_size: args.batch_size,
        max_rows_per_run: args.max_rows_per_run,
        archive_retention: chrono::TimeDelta::days(30),
        audit_retention: chrono::TimeDelta::days(400),
    };
    let started = Instant::now();
    let (mut rows, mut ids, mut runs) = (0, 0, 0);
    let mut slowest_run = std::time::Duration::ZERO;
    let mut cursor = None;
    loop {
        let run = Instant::now();
        let cleaned = clean_once(
            store.as_ref(),
            store.as_ref(),
            &rules,
            &config,
            Utc::now(),
            &mut cursor,
        )
        .await?;
        let took = run.elapsed();
        if cleaned.expired_rows == 0 && cleaned.event_ids == 0 {
            break;
        }
        runs += 1;
        slowest_run = slowest_run.max(took);
        rows += cleaned.expired_rows;
        ids += cleaned.event_ids;
        println!(
            "run {runs}: {} rows, {} event ids in {:.2} s",
            cleaned.expired_rows,
            cleaned.event_ids,
            took.as_secs_f64()
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let statements = (rows + ids).div_ceil(u64::from(args.batch_size));
    println!(
        "deleted {rows} rows and {ids} event ids in {runs} runs, {elapsed:.1} s: {:.0} deletions/s \
         (pauses included), slowest run {:.2} s, {:.1} ms per statement on average",
        (rows + ids) as f64 / elapsed,
        slowest_run.as_secs_f64(),
        elapsed * 1e3 / statements as f64
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM user_goal_progress")
        .fetch_one(&pool)
        .await?;
    ensure!(
        left == args.rows * 2,
        "{left} rows left; the kept and live rows ({}) must all stay",
        args.rows * 2
    );
    ensure!(
        rows == args.rows as u64,
        "{rows} deleted, {} expected",
        args.rows
    );
    println!("kept rows intact: {left}");
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
