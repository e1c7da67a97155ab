//! Shared helpers of the load drivers: latency statistics, a fresh database, CPU from /proc,
//! closed- and open-loop runners, the gRPC and REST clients, the mixed load and the report.

pub mod cpu;
pub mod events;
pub mod http;
pub mod load;
pub mod mixed;
pub mod platform;
pub mod processes;
pub mod report;

use std::time::Duration;

/// Latency percentiles of a run.
#[derive(Debug, Clone, Copy)]
pub struct Latencies {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latencies {
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

impl std::fmt::Display for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.max)
        )
    }
}

// `--database-url`, shared by the drivers: the admin URL of the PostgreSQL server they run
// against. Each creates (and drops) databases of its own there, named in its documentation.
// (A plain comment: a doc comment here would become every driver's `--help` description.)
#[derive(Debug, Clone, clap::Args)]
pub struct AdminUrl {
    /// Admin URL of the PostgreSQL server; the driver creates and drops its own databases.
    #[arg(
        long = "database-url",
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub url: String,
}

/// Drops and creates the database `name` on the server of `admin_url`; returns its URL.
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    use anyhow::Context;
    use sqlx::Connection;
    anyhow::ensure!(
        admin_url.contains('/'),
        "database URL without a database name"
    );
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connecting to PostgreSQL")?;
    store::testing::recreate_database(&mut admin, name).await?;
    Ok(store::testing::database_on(admin_url, name))
}

/// One batch of the raw upsert ceiling: events `b·batch` .. `(b+1)·batch`, event `n` belonging to
/// player `ceiling-{n·7919 mod users}`, each adding 1 to its player's row of every goal in
/// `goals`, as one `INSERT … ON CONFLICT DO UPDATE` (aggregated first: one statement may not
/// update a row twice). The same row writes as the event path's, without the engine.
pub async fn raw_upsert_batch(
    pool: &sqlx::PgPool,
    b: u64,
    batch: u64,
    users: u64,
    goals: &[&str],
) -> Result<(), sqlx::Error> {
    let rows = (batch as usize) * goals.len();
    let mut user_ids = Vec::with_capacity(rows);
    let mut goal_ids = Vec::with_capacity(rows);
    for k in 0..batch {
        let user = format!("ceiling-{}", ((b * batch + k) * 7919) % users);
        for goal in goals {
            user_ids.push(user.clone());
            goal_ids.push(*goal);
        }
    }
    sqlx::query(
        "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, progress, status, created_at, updated_at) \
         SELECT u, g, 'ceiling', 'bench', count(*), 'in_progress', now(), now() \
         FROM UNNEST($1::varchar[], $2::varchar[]) AS t(u, g) GROUP BY u, g ORDER BY u, g \
         ON CONFLICT (user_id, goal_id) DO UPDATE SET progress = user_goal_progress.progress + EXCLUDED.progress, \
           status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
    )
    .bind(&user_ids)
    .bind(&goal_ids)
    .execute(pool)
    .await?;
    Ok(())
}
