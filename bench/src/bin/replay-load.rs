//! Replay speed: fills the event archive of a fresh database (`ce_bench_replay`) with N
//! synthetic events (the example challenges' stat codes and payloads, over 14 days and many
//! players), then runs the
//! real `service replay` binary on it, the examples against an edit of them, and reports the
//! wall time, events/s and the CPU the replay used (read from /proc).
//!
//! `cargo build --release -p service -p bench`
//! `target/release/replay-load [--events 1000000] [--players 50000] [--sqlite]`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    server: bench::AdminUrl,
    /// Use a SQLite file in a temporary folder instead of PostgreSQL.
    #[arg(long)]
    sqlite: bool,
    /// Archived events.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Players they belong to.
    #[arg(long, default_value_t = 50_000)]
    players: u64,
    /// The deployed rules.
    #[arg(long, default_value = "challenges")]
    rules: PathBuf,
    /// The `service` binary.
    #[arg(long, default_value = "target/release/service")]
    service: PathBuf,
}

/// Stat codes the examples listen to (and one nobody does), with payloads they read.
const FILL_SELECT: &str = "\
SELECT i,
       'e' || i AS event_id,
       CASE WHEN i % 10 = 0 THEN 'login' ELSE 'stat' END AS kind,
       'player-' || (i * 7919 % $players) AS user_id,
       'bench' AS namespace,
       {time} AS occurred_at,
       CASE WHEN i % 10 = 0 THEN NULL ELSE
         (ARRAY['matches_won','matches_lost','shots_hit','match_score','matches_played',
                'player_level','ranked_points','deaths','matches_won'])[i % 9 + 1] END AS stat_code,
       i % 50 AS value, i % 7 AS inc,
       CASE WHEN i % 3 = 0 THEN '{\"mode\": \"ranked\", \"headshot\": true}'
            ELSE '{\"mode\": \"casual\"}' END{json} AS payload,
       {time} AS archived_at
FROM {series}";
/// The embedded database keeps a row per event.
const FILL_ROWS: &str = "\
INSERT INTO event_archive (event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, archived_at)
SELECT event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload, archived_at
FROM ({select}) r ORDER BY i";
/// PostgreSQL keeps a row per batch, as the writer does (256 events each here).
const FILL_BATCHES: &str = "\
INSERT INTO event_archive_batch
  (archived_at, events, players, event_id, kind, user_id, namespace, occurred_at, stat_code, value, inc, payload)
SELECT max(archived_at), count(*), array_agg(DISTINCT user_id), array_agg(event_id ORDER BY i),
       array_agg(kind ORDER BY i), array_agg(user_id ORDER BY i), array_agg(namespace ORDER BY i),
       array_agg(occurred_at ORDER BY i), array_agg(stat_code ORDER BY i), array_agg(value ORDER BY i),
       array_agg(inc ORDER BY i), array_agg(payload ORDER BY i)
FROM ({select}) r GROUP BY i / 256 ORDER BY i / 256";

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.service.exists(),
        "{} not found: build it first (cargo build --release -p service)",
        args.service.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let dir = tempfile_dir()?;
    let url = if args.sqlite {
        format!("sqlite://{}", dir.join("replay.db").display())
    } else {
        runtime.block_on(bench::fresh_database(&args.server.url, "ce_bench_replay"))?
    };
    let started = Instant::now();
    runtime.block_on(fill(&url, &args))?;
    println!(
        "filled {} archived events of {} players in {:.1} s ({})",
        args.events,
        args.players,
        started.elapsed().as_secs_f64(),
        if args.sqlite { "SQLite" } else { "PostgreSQL" }
    );
    let edit = write_edit(&args.rules, &dir)?;
    for round in 1..=3 {
        let cpu_before = children_cpu_seconds()?;
        let started = Instant::now();
        let output = Command::new(&args.service)
            .arg("replay")
            .args(["--database-url", &url, "--format", "json", "--against"])
            .arg(&args.rules)
            .arg("--rules")
            .arg(&edit)
            .output()
            .context("running service replay")?;
        let wall = started.elapsed().as_secs_f64();
        let cpu = children_cpu_seconds()? - cpu_before;
        if !output.status.success() {
            bail!(
                "service replay failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        let events = report["events"].as_u64().unwrap_or(0);
        ensure!(
            events == args.events,
            "replayed {events} of {} events",
            args.events
        );
        println!(
            "round {round}: {events} events of {} players replayed under both rule sets in {wall:.2} s \
             ({:.0} events/s), replay CPU {cpu:.2} s ({:.1} µs per event)",
            report["players"],
            events as f64 / wall,
            cpu * 1e6 / events as f64
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn fill(url: &str, args: &Args) -> Result<()> {
    let store = store::open(url, 2).await?;
    store.migrate().await?;
    let players = args.players.max(1).to_string();
    let sql = if args.sqlite {
        FILL_ROWS
            .replace("{select}", FILL_SELECT)
            .replace(
                "{time}",
                "strftime('%Y-%m-%dT%H:%M:%S+00:00', 1780000000 + i * 1209600 / $events, 'unixepoch')",
            )
            .replace(
                "{series}",
                "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $events) SELECT i FROM s)",
            )
            .replace("ARRAY[", "json_array(")
            .replace("{json}", "")
            .replace("'deaths','matches_won'])[i % 9 + 1]", "'deaths','matches_won')) ->> (i % 9)")
    } else {
        FILL_BATCHES
            .replace("{select}", FILL_SELECT)
            .replace("{time}", "to_timestamp(1780000000 + i * 1209600 / $events)")
            .replace("{series}", "generate_series(1::bigint, $events) AS i")
            .replace("{json}", "::json")
    };
    let sql = sql
        .replace("$players", &players)
        .replace("$events", &args.events.to_string());
    if args.sqlite {
        let pool = sqlx::SqlitePool::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await?;
        sqlx::query("VACUUM ANALYZE event_archive_batch")
            .execute(&pool)
            .await?;
    }
    Ok(())
}

/// The examples with every target halved: an edit that changes every goal's completions.
fn write_edit(rules: &Path, dir: &Path) -> Result<PathBuf> {
    let edit = dir.join("edit");
    std::fs::create_dir_all(&edit)?;
    let files: Vec<PathBuf> = if rules.is_dir() {
        std::fs::read_dir(rules)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect()
    } else {
        vec![rules.to_path_buf()]
    };
    for file in files {
        let text = std::fs::read_to_string(&file)?;
        let halved: Vec<String> = text
            .lines()
            .map(|line| match line.split_once("target: ") {
                Some((head, tail)) => {
                    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
                    match digits.parse::<u64>() {
                        Ok(target) => format!(
                            "{head}target: {}{}",
                            (target / 2).max(1),
                            &tail[digits.len()..]
                        ),
                        Err(_) => line.to_string(),
                    }
                }
                None => line.to_string(),
            })
            .collect();
        let name = file.file_name().context("a file name")?;
        std::fs::write(edit.join(name), halved.join("\n") + "\n")?;
    }
    Ok(edit)
}

/// CPU seconds (user + system) of this process's waited-for children, from /proc.
fn children_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 (1-based), i.e. 13 and 14 after the name.
    let ticks: f64 = fields
        .get(13..15)
        .context("short /proc/self/stat")?
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum();
    Ok(ticks / 100.0)
}

fn tempfile_dir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("ce-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
