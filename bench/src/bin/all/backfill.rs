//! Backfill's cost and its effect on live traffic (issue 32). A season goal counts ranked
//! matches, but the deployed rule compares `"Ranked"` (the game sends `"ranked"`); the handler
//! applies and archives 100,000 events under it; the fix ships (both processes reload it).
//! Then, in the same run:
//!
//! 1. live events at a fixed rate with nothing else running: the p99 to compare with;
//! 2. a dry run of the backfill over the whole archive: the replay alone, its CPU per archived
//!    event;
//! 3. the real backfill, at its default rate, with the same live events running all along:
//!    their p99 during it, and the backfill's CPU per archived event and per change applied.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bench::events::{EventMix, EventSender};
use bench::load::{Outcome, closed_loop, open_loop};
use bench::processes::free_port;
use bench::report::Row;
use serde_json::{Value, json};
use sqlx::Connection;

use super::{DATABASE_BACKFILL, Run};

/// Archived events the backfill replays.
const ARCHIVED: u64 = 100_000;
/// Players the events are spread over.
const PLAYERS: u64 = 20_000;
/// Live events per second, before and during the backfill.
const LIVE_RATE: f64 = 500.0;

/// The season goals, with the rule's mode: `Ranked` (the bug) or `ranked` (the fix).
fn season(mode: &str) -> String {
    format!(
        r#"version: 1
challenges:
  - id: season
    name: Season
    goals:
      - {{ id: ranked-wins, name: Ranked wins, on: stat, stat: matches_won, count: sum, target: 10, assign: auto, when: 'event.additional.mode == "{mode}"' }}
      - {{ id: ranked-points, name: Ranked points, on: stat, stat: ranked_points, count: sum, target: 100, assign: auto, when: 'event.additional.mode == "{mode}"' }}
"#
    )
}

impl Run {
    pub(super) async fn backfill(&mut self) -> Result<()> {
        let url = bench::fresh_database(&self.args.server.url, DATABASE_BACKFILL).await?;
        let rules = self.args.out_dir.join("backfill-rules");
        let _ = std::fs::remove_dir_all(&rules);
        std::fs::create_dir_all(&rules)?;
        for file in std::fs::read_dir("challenges")? {
            let file = file?;
            std::fs::copy(file.path(), rules.join(file.file_name()))?;
        }
        let season_file = rules.join("season.yaml");
        std::fs::write(&season_file, season("Ranked"))?;
        let rules_dir = rules.to_string_lossy().to_string();

        let (http, grpc, service_metrics, handler_metrics) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let mut env = self.env(&url, &rules_dir, grpc, http, service_metrics);
        env.push(("MIGRATE_ON_START", "true".into()));
        env.push(("EVENT_ARCHIVE_SAMPLE", "1".into()));
        let service = self
            .start(
                "service",
                &env,
                &format!("http://127.0.0.1:{http}/challenge/healthz"),
            )
            .await?;
        let mut env = self.env(&url, &rules_dir, grpc, 0, handler_metrics);
        env.push(("EVENT_ARCHIVE_SAMPLE", "1".into()));
        let handler = self.start_handler(&env, handler_metrics).await?;
        let base = format!("http://127.0.0.1:{http}/challenge");
        let client = reqwest::Client::new();
        let hash = |client: reqwest::Client, base: String| async move {
            let status: Value = (client.get(format!("{base}/v1/rules")).send().await?)
                .json()
                .await?;
            anyhow::Ok(
                status["contentHash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        let buggy = hash(client.clone(), base.clone()).await?;

        // The archive: 100,000 events applied under the bug, as fast as the handler takes them.
        let target = format!("http://127.0.0.1:{grpc}");
        let seeded = EventSender::connect(
            &target,
            4,
            EventMix::examples(PLAYERS, &format!("{}-archived", self.run)),
        )
        .await?;
        let started = Instant::now();
        let outcome = closed_loop(128, Duration::from_secs(600), Some(ARCHIVED), {
            let seeded = seeded.clone();
            move |n| {
                let seeded = seeded.clone();
                async move { seeded.send(n).await }
            }
        })
        .await;
        super::ensure_all("seeding the archive", &outcome)?;
        eprintln!(
            "backfill: {} events archived in {:.0} s",
            outcome.ok,
            started.elapsed().as_secs_f64()
        );

        // The fix ships; both processes load it.
        std::fs::write(&season_file, season("ranked"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while hash(client.clone(), base.clone()).await? == buggy {
            if Instant::now() > deadline {
                bail!("the service never loaded the fix");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await; // the handler's reload too
        // What seeding left to write out and vacuum is not the baseline's to pay.
        let mut admin = sqlx::PgConnection::connect(&self.args.server.url).await?;
        sqlx::query("CHECKPOINT").execute(&mut admin).await?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let vacuuming: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'",
            )
            .fetch_one(&mut admin)
            .await?;
            if vacuuming == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }

        // Live events alone, then a dry run alone, then the backfill under live events.
        let live = EventSender::connect(
            &target,
            4,
            EventMix::examples(PLAYERS, &format!("{}-live", self.run)),
        )
        .await?;
        let live_for = |offset: u64, seconds: Duration| {
            let live = live.clone();
            open_loop(LIVE_RATE, seconds, 1024, move |n| {
                let live = live.clone();
                async move { live.send(offset + n).await }
            })
        };
        let cpu = Self::meter(&[&handler, &service]).start();
        let alone = live_for(0, self.seconds()).await;
        let cpu = cpu.stop();
        super::ensure_all("live events", &alone)?;
        let p99 = |o: &Outcome| Row::new("", o, &[]).p99_ms.unwrap_or(0.0);
        let before = p99(&alone);
        self.report.push(Row::new(
            &format!("handler: live events at {LIVE_RATE:.0}/s, no backfill (the baseline)"),
            &alone,
            &cpu,
        ));

        let backfill = |dry_run: bool| {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let started = Instant::now();
                let response = client
                    .post(format!("{base}/v1/admin/rules/backfill"))
                    .header("x-mock-user-id", "bench-support")
                    .json(&json!({"reason": "bench: ranked casing", "dryRun": dry_run}))
                    .timeout(Duration::from_secs(3600))
                    .send()
                    .await?;
                let status = response.status();
                let answer: Value = response.json().await?;
                if !status.is_success() {
                    bail!("backfill answered {status}: {answer}");
                }
                anyhow::Ok((answer, started.elapsed()))
            }
        };
        let cpu = Self::meter(&[&service]).start();
        let (dry, took) = backfill(true).await?;
        let cpu = cpu.stop();
        let events = dry["events"].as_u64().unwrap_or(0);
        let changes = dry["changes"].as_array().map_or(0, Vec::len);
        let replayed = Outcome {
            ok: events,
            elapsed: took,
            ..Outcome::default()
        };
        self.report.push(
            Row::new(
                "service: backfill dry run (replay of the archive), per archived event",
                &replayed,
                &cpu,
            )
            .noted(format!(
                "{events} events of {} players, {changes} changes found in {:.1} s",
                dry["players"],
                took.as_secs_f64()
            )),
        );

        let cpu = Self::meter(&[&handler, &service]).start();
        let run = tokio::spawn(backfill(false));
        // Live events for as long as the backfill runs (in steps of a second).
        let mut during = Outcome::default();
        let mut offset = 10_000_000;
        let (mut second, mut profile) = (0, Vec::new());
        while !run.is_finished() {
            let step = live_for(offset, Duration::from_secs(1)).await;
            offset += 10_000;
            second += 1;
            profile.push(format!("{second}s {:.0}", p99(&step)));
            during.ok += step.ok;
            during.failed += step.failed;
            during.elapsed += step.elapsed;
            during.latencies.extend(step.latencies);
            during.first_error = during.first_error.or(step.first_error);
        }
        let cpu = cpu.stop();
        let (done, took) = run.await.context("the backfill task")??;
        eprintln!(
            "backfill: live p99 (ms) second by second: {}",
            profile.join(", ")
        );
        super::ensure_all("live events during the backfill", &during)?;
        let applied = done["applied"].as_u64().unwrap_or(0);
        let after = p99(&during);
        self.report.push(
            Row::new(
                &format!("handler: live events at {LIVE_RATE:.0}/s during the backfill"),
                &during,
                &cpu,
            )
            .noted(format!(
                "p99 {after:.1} ms against {before:.1} ms without ({:.2}×)",
                after / before.max(1e-9)
            )),
        );
        let service_cpu: Vec<(String, Duration)> = cpu
            .into_iter()
            .filter(|(name, _)| name != "handler")
            .collect();
        let per_event = Outcome {
            ok: events,
            elapsed: took,
            ..Outcome::default()
        };
        self.report.push(
            Row::new(
                "service: backfill, applied at 200 changes/s, per archived event",
                &per_event,
                &service_cpu,
            )
            .noted(format!(
                "{applied} changes applied in {:.1} s ({:.0} µs of service CPU per change; postgres includes the live events')",
                took.as_secs_f64(),
                service_cpu
                    .iter()
                    .find(|(name, _)| name == "service")
                    .map_or(0.0, |(_, spent)| spent.as_secs_f64() * 1e6 / applied.max(1) as f64)
            )),
        );
        handler.stop().await?;
        service.stop().await?;
        Ok(())
    }
}
