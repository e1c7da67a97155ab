//! The service's part of the run: the seeded players, the list query's ceiling, list, one
//! challenge and claims, then the mixed load.

use super::*;

impl Run {
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

    pub(super) async fn service(&mut self) -> Result<()> {
        let url = bench::fresh_database(&self.args.server.url, DATABASE_REST).await?;
        let rules = "bench/rest/challenges";
        let (http, grpc, service_metrics, handler_metrics) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let mut env = self.env(&url, rules, grpc, http, service_metrics);
        env.push(("MIGRATE_ON_START", "true".into()));
        let service = self
            .start(
                "service",
                &env,
                &format!("http://127.0.0.1:{http}/challenge/healthz"),
            )
            .await?;
        let env = self.env(&url, rules, grpc, 0, handler_metrics);
        let handler = self.start_handler(&env, handler_metrics).await?;
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
        let list = {
            let players = players.clone();
            move |n| {
                let players = players.clone();
                async move { mixed::list(&players, n).await }
            }
        };
        let warm = closed_loop(64, Duration::from_secs(3), None, list.clone()).await;
        ensure_all("warming up the list", &warm)?;
        let cpu = Self::meter(&[&service, &handler]).start();
        let outcome = closed_loop(64, self.seconds(), None, list).await;
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
                async move { mixed::one(&players, n).await }
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
}
