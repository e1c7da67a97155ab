//! Every benchmark in one run, on this machine, with the ceilings measured in the same run:
//! `bench/run` (or `cargo run --release -p bench --bin all`, after building `handler` and
//! `service` in release).
//!
//! 1. Ceilings: the raw batched upsert of the rows events write (sqlx, no engine), and the
//!    list's 50-row query alone (pgbench).
//! 2. The handler over gRPC on the example rules: flat out, then at fixed rates.
//! 3. The service over REST on 50 goals per player: list, one challenge, claim.
//! 4. The mixed load: REST classes and gRPC events together, each at its own rate, at 1,000
//!    requests/s + 2,500 events/s, then higher until a class's p99 reaches 50 ms.
//!
//! Each process's CPU is read from /proc around each measurement. The table goes to stdout
//! (Markdown) and, with the JSON, to `target/bench/`. docs/benchmarks.md quotes it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::cpu::{CpuMeter, Watched};
use bench::events::{EventMix, EventSender};
use bench::http::Players;
use bench::load::{Outcome, closed_loop, open_loop};
use bench::mixed::{self, Rates, Targets};
use bench::processes::{Process, free_port};
use bench::report::{Report, Row};
use clap::Parser;
use sqlx::Connection;
use store::ProgressStore;

#[derive(Parser)]
struct Args {
    /// Admin URL of the PostgreSQL server; the run creates and drops its own databases.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Where the release `handler` and `service` binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where the table, the JSON and the processes' logs go.
    #[arg(long, default_value = "target/bench")]
    out_dir: PathBuf,
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Skip the search for the highest mixed rates.
    #[arg(long)]
    no_search: bool,
    /// Run one part only: `handler` (ceiling, events) or `service` (ceiling, REST, mixed).
    #[arg(long, value_parser = ["handler", "service"])]
    only: Option<String>,
}

const DATABASE_EVENTS: &str = "ce_bench_events";
const DATABASE_REST: &str = "ce_bench_rest";
const CLAIMERS: u64 = 25_000;
const FLAT_CLAIMS: u64 = 3_000;

struct Run {
    args: Args,
    report: Report,
    run: String,
}

impl Run {
    fn driver() -> (&'static str, Watched) {
        ("driver", Watched::Pid(std::process::id()))
    }

    fn meter(processes: &[&Process]) -> CpuMeter {
        let mut meter = CpuMeter::new();
        for process in processes {
            meter = meter.watch(process.name, Watched::Pid(process.pid));
        }
        let (name, me) = Self::driver();
        meter
            .watch("postgres", Watched::Named("postgres".into()))
            .watch(name, me)
    }

    fn seconds(&self) -> Duration {
        Duration::from_secs(self.args.seconds)
    }

    fn env(
        &self,
        url: &str,
        rules: &str,
        grpc: u16,
        http: u16,
        metrics: u16,
    ) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", url.to_string()),
            ("CHALLENGE_CONFIG_PATH", rules.to_string()),
            ("GRPC_PORT", grpc.to_string()),
            ("HTTP_PORT", http.to_string()),
            ("METRICS_PORT", metrics.to_string()),
            ("LOG_LEVEL", "warn".into()),
            ("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "false".into()),
            ("REWARD_CLIENT_MODE", "mock".into()),
            ("DB_POOL_SIZE", "16".into()),
        ]
    }

    /// The raw ceiling of the event path's writes: the rows three goals per event touch, as
    /// plain `INSERT … ON CONFLICT DO UPDATE` batches of 500 events, 2 statements in flight.
    async fn upsert_ceiling(&mut self, pool: &sqlx::PgPool) -> Result<f64> {
        let events: u64 = 100_000;
        let pool_for_calls = pool.clone();
        let batch = 500u64;
        let next = Arc::new(AtomicU64::new(0));
        let cpu = Self::meter(&[]).start();
        let batches = events / batch;
        let outcome = closed_loop(2, Duration::from_secs(600), Some(batches), move |_| {
            let (pool, next) = (pool_for_calls.clone(), next.clone());
            async move {
                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let mut users = Vec::with_capacity(batch as usize * 3);
                let mut goals = Vec::with_capacity(batch as usize * 3);
                for k in 0..batch {
                    let user = format!("ceiling-{}", ((b * batch + k) * 7919) % 10_000);
                    for goal in ["total", "sum", "filtered"] {
                        users.push(user.clone());
                        goals.push(goal);
                    }
                }
                sqlx::query(
                    "INSERT INTO user_goal_progress (user_id, goal_id, challenge_id, namespace, progress, status, created_at, updated_at) \
                     SELECT u, g, 'ceiling', 'demo', count(*), 'in_progress', now(), now() \
                     FROM UNNEST($1::varchar[], $2::varchar[]) AS t(u, g) GROUP BY u, g ORDER BY u, g \
                     ON CONFLICT (user_id, goal_id) DO UPDATE SET progress = user_goal_progress.progress + EXCLUDED.progress, \
                       status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
                )
                .bind(&users)
                .bind(&goals)
                .execute(&pool)
                .await
                .map(drop)
                .map_err(|err| err.to_string())
            }
        })
        .await;
        // Each successful call wrote one batch; the table counts events.
        let outcome = Outcome {
            ok: outcome.ok * batch,
            failed: 0,
            first_error: None,
            latencies: Vec::new(),
            ..outcome
        };
        let row = Row::new(
            "ceiling: raw batched upsert, 3 rows per event (sqlx, 500 events per statement)",
            &outcome,
            &cpu.stop(),
        );
        let rate = row.throughput;
        self.report.push(row);
        sqlx::query("TRUNCATE user_goal_progress")
            .execute(pool)
            .await?;
        Ok(rate)
    }

    async fn handler(&mut self, ceiling: f64) -> Result<()> {
        let url = bench::fresh_database(&self.args.database_url, DATABASE_EVENTS).await?;
        let store = store::PgStore::connect(&url, 4).await?;
        store.migrate().await?;
        let ceiling = match ceiling {
            0.0 => self.upsert_ceiling(store.pool()).await?,
            known => known,
        };
        let (grpc, metrics) = (free_port()?, free_port()?);
        let env = self.env(&url, "challenges", grpc, 0, metrics);
        let handler = Process::start(
            "handler",
            &self.args.bin_dir,
            &env,
            &format!("http://127.0.0.1:{metrics}/healthz"),
            &self.args.out_dir,
        )
        .await?;
        let target = format!("http://127.0.0.1:{grpc}");
        let sender =
            EventSender::connect(&target, 4, EventMix::examples(20_000, &self.run)).await?;
        let send = {
            let sender = sender.clone();
            move |n| {
                let sender = sender.clone();
                async move { sender.send(n).await }
            }
        };
        // Warm-up: connections, caches, the database's plans (not measured).
        closed_loop(256, Duration::from_secs(3), None, {
            let send = send.clone();
            move |n| send(u64::MAX / 2 + n)
        })
        .await;
        let mut offset = 0;
        let cpu = Self::meter(&[&handler]).start();
        let outcome = closed_loop(256, self.seconds(), None, {
            let send = send.clone();
            move |n| send(n)
        })
        .await;
        offset += outcome.ok + outcome.failed;
        let row = Row::new(
            "handler: events flat out (gRPC, 256 in flight)",
            &outcome,
            &cpu.stop(),
        )
        .against("raw upsert", ceiling);
        self.report.push(row);
        for rate in [2_500.0, 5_000.0] {
            let cpu = Self::meter(&[&handler]).start();
            let base = offset;
            let outcome = open_loop(rate, self.seconds(), 2048, {
                let send = send.clone();
                move |n| send(base + n)
            })
            .await;
            offset += outcome.ok + outcome.failed;
            let mut row = Row::new(
                &format!("handler: events at {rate:.0}/s"),
                &outcome,
                &cpu.stop(),
            );
            if row.throughput < rate * 0.95 {
                row = row.noted(format!("target {rate:.0}/s not reached"));
            }
            self.report.push(row);
        }
        handler.stop().await?;
        store.pool().close().await;
        Ok(())
    }

    /// pgbench running the list's query alone, over the seeded players.
    async fn read_ceiling(&mut self, url: &str) -> Result<f64> {
        let script = self.args.out_dir.join("list-query.sql");
        std::fs::write(
            &script,
            "\\set u random(0, 999)\n\
             SELECT user_id, goal_id, challenge_id, namespace, progress, status, completed_at, claimed_at, \
             created_at, updated_at, is_active, assigned_at, expires_at, baseline_value, last_counted_day \
             FROM user_goal_progress WHERE user_id = 'bench-user-' || :u ORDER BY goal_id;\n",
        )?;
        // pgbench is this process's child: its CPU counts here once it has been waited for.
        let cpu = Self::meter(&[]).start();
        let started = Instant::now();
        let output = tokio::process::Command::new("pgbench")
            .args(["-n", "-M", "prepared", "-c", "16", "-j", "2", "-T"])
            .arg(self.args.seconds.to_string())
            .arg("-f")
            .arg(&script)
            .arg(url)
            .output()
            .await
            .context("running pgbench (Debian package postgresql-client)")?;
        let spent = cpu.stop();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(tps) = stdout
            .lines()
            .find(|l| l.starts_with("tps = "))
            .and_then(|l| l[6..].split_whitespace().next())
            .and_then(|t| t.parse::<f64>().ok())
        else {
            bail!(
                "pgbench printed no rate: {}{}",
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let outcome = Outcome {
            ok: (tps * self.args.seconds as f64) as u64,
            elapsed: started.elapsed().min(self.seconds()),
            ..Outcome::default()
        };
        let mut row = Row::new(
            "ceiling: the list's 50-row query alone (pgbench, 16 clients)",
            &outcome,
            &spent,
        );
        row.throughput = tps;
        self.report.push(row);
        Ok(tps)
    }
}

impl Run {
    async fn service(&mut self) -> Result<()> {
        let url = bench::fresh_database(&self.args.database_url, DATABASE_REST).await?;
        let rules = "bench/rest/challenges";
        let (http, grpc, service_metrics, handler_metrics) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let mut env = self.env(&url, rules, grpc, http, service_metrics);
        env.push(("MIGRATE_ON_START", "true".into()));
        let service = Process::start(
            "service",
            &self.args.bin_dir,
            &env,
            &format!("http://127.0.0.1:{http}/challenge/healthz"),
            &self.args.out_dir,
        )
        .await?;
        let env = self.env(&url, rules, grpc, 0, handler_metrics);
        let handler = Process::start(
            "handler",
            &self.args.bin_dir,
            &env,
            &format!("http://127.0.0.1:{handler_metrics}/healthz"),
            &self.args.out_dir,
        )
        .await?;
        let players = Players::new(&format!("http://127.0.0.1:{http}/challenge"));
        let mix = EventMix {
            stat_codes: (0..5)
                .flat_map(|c| (0..10).map(move |g| format!("s{c}-{g}")))
                .chain(["unused-a".into(), "unused-b".into()])
                .collect(),
            users: mixed::LIST_PLAYERS,
            user_prefix: "bench-user-".into(),
            namespace: "demo".into(),
            run: self.run.clone(),
        };
        let events = EventSender::connect(&format!("http://127.0.0.1:{grpc}"), 4, mix).await?;

        eprintln!(
            "seeding: {} players with 50 goals, {CLAIMERS} claimers",
            mixed::LIST_PLAYERS
        );
        let seeded = closed_loop(16, Duration::from_secs(600), Some(mixed::LIST_PLAYERS), {
            let players = players.clone();
            move |n| {
                let players = players.clone();
                async move {
                    let user = format!("bench-user-{n}");
                    players
                        .call("POST", "/v1/challenges/initialize", &user, None, &[200])
                        .await
                        .map(drop)
                }
            }
        })
        .await;
        ensure_all("initializing the list's players", &seeded)?;
        let seeded = closed_loop(64, Duration::from_secs(600), Some(CLAIMERS + 100), {
            let (events, players) = (events.clone(), players.clone());
            move |n| {
                let (events, players) = (events.clone(), players.clone());
                async move {
                    // The first 100 list players get some progress; then each claimer selects
                    // its claim goal alone (one row, not 50) and completes it.
                    if n < 100 {
                        let user = format!("bench-user-{n}");
                        return events
                            .stat(&format!("seed-{n}"), &user, "s0-0", 5.0)
                            .await
                            .map_err(|err| format!("{err:#}"));
                    }
                    let k = n - 100;
                    let user = format!("claim-user-{k}");
                    let path = format!(
                        "/v1/challenges/{}/goals/{}/active",
                        mixed::CLAIM_CHALLENGE,
                        mixed::CLAIM_GOAL
                    );
                    players
                        .call("PUT", &path, &user, Some(r#"{"isActive":true}"#), &[200])
                        .await?;
                    events
                        .stat(
                            &format!("seed-claim-{k}"),
                            &user,
                            mixed::CLAIM_STAT,
                            mixed::CLAIM_TARGET,
                        )
                        .await
                        .map_err(|err| format!("{err:#}"))
                }
            }
        })
        .await;
        ensure_all("seeding progress", &seeded)?;
        // Statistics as a running database has them, not the empty tables' (whose plans the
        // pools' connections would otherwise keep).
        let mut admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        sqlx::query("ANALYZE").execute(&admin).await?;
        admin.close().await;
        admin = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let body = players
            .call("GET", "/v1/challenges", "bench-user-1", None, &[200])
            .await
            .map_err(anyhow::Error::msg)?;
        let goals = body.windows(8).filter(|w| w == b"\"goalId\"").count();
        anyhow::ensure!(goals == 50, "a list player sees {goals} goals, not 50");
        admin.close().await;

        let ceiling = self.read_ceiling(&url).await?;
        let warm = closed_loop(64, Duration::from_secs(3), None, list(&players)).await;
        ensure_all("warming up the list", &warm)?;
        let cpu = Self::meter(&[&service, &handler]).start();
        let outcome = closed_loop(64, self.seconds(), None, list(&players)).await;
        let row = Row::new(
            "service: GET /v1/challenges, 50 goals (64 connections)",
            &outcome,
            &cpu.stop(),
        )
        .against("50-row query", ceiling);
        self.report.push(row);

        let cpu = Self::meter(&[&service, &handler]).start();
        let outcome = closed_loop(64, self.seconds(), None, {
            let players = players.clone();
            move |n| {
                let players = players.clone();
                async move {
                    let user = format!("bench-user-{}", (n * 7) % mixed::LIST_PLAYERS);
                    let path = format!("/v1/challenges/{}", mixed::CLAIM_CHALLENGE);
                    players
                        .call("GET", &path, &user, None, &[200])
                        .await
                        .map(drop)
                }
            }
        })
        .await;
        let row = Row::new(
            "service: GET /v1/challenges/{id}, 10 goals (64 connections)",
            &outcome,
            &cpu.stop(),
        )
        .against("50-row query", ceiling);
        self.report.push(row);

        let claimers = Arc::new(AtomicU64::new(0));
        let cpu = Self::meter(&[&service, &handler]).start();
        let outcome = closed_loop(64, self.seconds() * 4, Some(FLAT_CLAIMS), {
            let (players, claimers) = (players.clone(), claimers.clone());
            move |_| {
                let (players, claimers) = (players.clone(), claimers.clone());
                async move {
                    let k = claimers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    mixed::claim(&players, k).await
                }
            }
        })
        .await;
        let row = Row::new(
            "service: claim, mock rewards (64 connections)",
            &outcome,
            &cpu.stop(),
        );
        self.report.push(row);

        let targets = Targets {
            players,
            events,
            claimers,
            claimer_count: CLAIMERS,
            run: self.run.clone(),
        };
        self.mixed(&targets, &service, &handler).await?;
        service.stop().await?;
        handler.stop().await?;
        Ok(())
    }

    /// The mixed load at the base rates, then scaled up until a class's p99 reaches 50 ms.
    async fn mixed(
        &mut self,
        targets: &Targets,
        service: &Process,
        handler: &Process,
    ) -> Result<()> {
        let base_passes = self.mixed_step(targets, service, handler, 1.0).await;
        if self.args.no_search {
            return Ok(());
        }
        // Up while every class keeps its p99 under 50 ms; down from the base if it did not.
        let (steps, passing): (&[f64], bool) = if base_passes {
            (&[1.5, 2.0, 2.5, 3.0, 4.0], true)
        } else {
            (&[0.75, 0.5, 0.35, 0.25], false)
        };
        let mut best = base_passes.then_some(1.0);
        for &factor in steps {
            let passes = self.mixed_step(targets, service, handler, factor).await;
            if passes {
                best = Some(factor);
            }
            if passes != passing {
                break;
            }
        }
        let summary = match best {
            Some(factor) => {
                let rates = Rates::BASE.scaled(factor);
                format!(
                    "highest mixed rates with every class's p99 under 50 ms: ×{factor} = {:.0} requests/s + {:.0} events/s",
                    rates.requests(),
                    rates.events
                )
            }
            None => "no mixed rate tried kept every class's p99 under 50 ms".into(),
        };
        eprintln!("  {summary}");
        self.report.notes.push(summary);
        Ok(())
    }

    /// One mixed run at the base rates × `factor`; whether every class kept p99 < 50 ms.
    async fn mixed_step(
        &mut self,
        targets: &Targets,
        service: &Process,
        handler: &Process,
        factor: f64,
    ) -> bool {
        let rates = Rates::BASE.scaled(factor);
        let cpu = Self::meter(&[service, handler]).start();
        let classes = mixed::run(targets, rates, self.seconds()).await;
        let spent = cpu.stop();
        let label = format!(
            "mixed at {:.0} requests/s + {:.0} events/s",
            rates.requests(),
            rates.events
        );
        let mut worst = 0.0f64;
        let mut total = Outcome::default();
        for (class, outcome) in &classes {
            let row = Row::new(&format!("{label}: {class}"), outcome, &[]);
            worst = worst.max(row.p99_ms.unwrap_or(f64::INFINITY));
            total.ok += outcome.ok;
            total.failed += outcome.failed;
            total.elapsed = total.elapsed.max(outcome.elapsed);
            self.report.push(row);
        }
        let failed = total.failed;
        let total = Row::new(
            &format!("{label}: all classes, CPU per call"),
            &total,
            &spent,
        );
        self.report.push(total);
        eprintln!("  worst p99 {worst:.1} ms, {failed} failed");
        worst < 50.0 && failed == 0
    }
}

fn list(
    players: &Players,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    let players = players.clone();
    move |n| {
        let players = players.clone();
        Box::pin(async move {
            let user = format!("bench-user-{}", n % mixed::LIST_PLAYERS);
            players
                .call("GET", "/v1/challenges", &user, None, &[200])
                .await
                .map(drop)
        })
    }
}

fn ensure_all(what: &str, outcome: &Outcome) -> Result<()> {
    match &outcome.first_error {
        Some(error) => bail!(
            "{what}: {} calls failed, the first: {error}",
            outcome.failed
        ),
        None => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out_dir)?;
    let mut run = Run {
        args,
        report: Report::new(),
        run: chrono::Utc::now().timestamp().to_string(),
    };
    eprintln!("{} ({} cores)", run.report.machine, run.report.cores);
    let only = run.args.only.clone();
    if only.as_deref() != Some("service") {
        run.handler(0.0).await?;
    }
    if only.as_deref() != Some("handler") {
        run.service().await?;
    }
    let markdown = run.report.markdown();
    println!("{markdown}");
    std::fs::write(run.args.out_dir.join("all.md"), &markdown)?;
    std::fs::write(
        run.args.out_dir.join("all.json"),
        serde_json::to_string_pretty(&run.report)?,
    )?;
    eprintln!(
        "written: {}/all.md and all.json",
        run.args.out_dir.display()
    );
    for name in [DATABASE_EVENTS, DATABASE_REST] {
        let mut admin = sqlx::PgConnection::connect(&run.args.database_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
    }
    Ok(())
}
