//! The handler's configuration: defaults, then the environment (names of the reference
//! deployment), then flags. Validated at start-up with messages naming the variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use store::WriterConfig;

/// A setting that cannot be used, named as the operator sets it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A number below its minimum.
    #[error("{setting} must be at least {min}{}", why.map(|w| format!(" ({w})")).unwrap_or_default())]
    TooSmall {
        setting: &'static str,
        min: u64,
        why: Option<&'static str>,
    },
    /// A value that does not parse or does not fit with another setting.
    #[error("{setting}: {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
    /// A setting another one needs.
    #[error("{setting} must be set: {why}")]
    Missing {
        setting: &'static str,
        why: &'static str,
    },
}

impl ConfigError {
    /// The environment variable at fault.
    pub fn setting(&self) -> &'static str {
        match self {
            ConfigError::TooSmall { setting, .. }
            | ConfigError::Invalid { setting, .. }
            | ConfigError::Missing { setting, .. } => setting,
        }
    }
}

/// A retention window, as `DEDUP_RETENTION=90s` sets it: a number and a unit (`s`, `m`, `h`,
/// `d`, or humantime's longer forms such as `1h 30m`).
fn parse_window(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|err| {
        format!("`{text}` is not a duration with a unit, such as 90s, 15m, 36h or 7d ({err})")
    })
}

/// A retention window and the setting that chose it.
struct Retention {
    setting: &'static str,
    window: Duration,
}

/// The window set by `new` (a duration) or by its older name `old` (a count of `unit` seconds),
/// else `default` seconds. Both set is refused: which one was meant cannot be told.
fn retention(
    new: (&'static str, Option<Duration>),
    old: (&'static str, Option<u32>, u64),
    default: u64,
) -> Result<Retention, ConfigError> {
    match (new.1, old.1) {
        (Some(_), Some(_)) => Err(ConfigError::Invalid {
            setting: new.0,
            reason: format!("{} (its older name) is set too; keep one", old.0),
        }),
        (Some(window), None) => Ok(Retention {
            setting: new.0,
            window,
        }),
        (None, Some(count)) => Ok(Retention {
            setting: old.0,
            window: Duration::from_secs(u64::from(count) * old.2),
        }),
        (None, None) => Ok(Retention {
            setting: new.0,
            window: Duration::from_secs(default),
        }),
    }
}

/// Configuration of the `handler` binary.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "handler",
    version,
    about = "Challenge Engine event handler (AccelByte Extend gRPC events)"
)]
pub struct Config {
    /// Deployment namespace; events of other namespaces are skipped (OK, counted).
    #[arg(long, env = "AB_NAMESPACE")]
    pub namespace: Option<String>,
    #[command(flatten)]
    pub database: crate::database::DatabaseArgs,
    /// The challenges folder (or one file).
    #[arg(long, env = "CHALLENGE_CONFIG_PATH", default_value = "challenges")]
    pub challenges: PathBuf,
    /// gRPC port of the event services.
    #[arg(long, env = "GRPC_PORT", default_value_t = 6565)]
    pub grpc_port: u16,
    /// Port of /metrics and /healthz.
    #[arg(long, env = "METRICS_PORT", default_value_t = 8080)]
    pub metrics_port: u16,
    /// Address the gRPC event services listen on (`0.0.0.0`: every interface, as containers and
    /// Extend need; `127.0.0.1`: this machine only).
    #[arg(long, env = "GRPC_BIND", default_value = "0.0.0.0")]
    pub grpc_bind: std::net::IpAddr,
    /// Address /metrics and /healthz listen on.
    #[arg(long, env = "METRICS_BIND", default_value = "0.0.0.0")]
    pub metrics_bind: std::net::IpAddr,
    /// Largest number of connections in the shared pool (the event writer keeps its own, one per
    /// flusher).
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 10)]
    pub pool_size: u32,
    /// Apply database migrations before serving.
    #[arg(long, env = "MIGRATE_ON_START", default_value_t = false)]
    pub migrate: bool,
    /// Log filter: error, warn, info, debug, trace (or a tracing directive).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Most events per transaction.
    #[arg(long, env = "WRITER_BATCH_SIZE", default_value_t = WriterConfig::default().batch_size)]
    pub writer_batch_size: usize,
    /// How long a flush waits for more events, in milliseconds.
    #[arg(long, env = "WRITER_WINDOW_MS", default_value_t = WriterConfig::default().window.as_millis() as u64)]
    pub writer_window_ms: u64,
    /// Events waiting beyond this are refused with UNAVAILABLE.
    #[arg(long, env = "WRITER_QUEUE_CAPACITY", default_value_t = WriterConfig::default().queue_capacity)]
    pub writer_queue_capacity: usize,
    /// Transactions in flight at once.
    #[arg(long, env = "WRITER_FLUSHERS", default_value_t = WriterConfig::default().flushers)]
    pub writer_flushers: usize,
    /// The shard count of a Citus-distributed database (docs/scaling.md): each batch is then
    /// committed as one transaction per shard. 0: not distributed.
    #[arg(long, env = "CITUS_SHARD_COUNT", default_value_t = 0)]
    pub citus_shard_count: u32,
    /// Quiet time before a change of the challenge files is reloaded, in milliseconds.
    #[arg(long, env = "RELOAD_DEBOUNCE_MS", default_value_t = 300)]
    pub reload_debounce_ms: u64,
    /// Seconds between two runs of the cleanup job (expired rows, dedup window); 0 turns it off.
    #[arg(long, env = "CLEANUP_INTERVAL_SECONDS", default_value_t = 3600)]
    pub cleanup_interval_seconds: u64,
    /// Rows of rotating, resetting goals are deleted this long after their period ended: a
    /// duration with a unit (`7d`, `36h`). Default 7d.
    #[arg(long, env = "CLEANUP_RETENTION", value_parser = parse_window)]
    pub cleanup_retention: Option<Duration>,
    /// CLEANUP_RETENTION in days (its older name).
    #[arg(long, env = "CLEANUP_RETENTION_DAYS")]
    pub cleanup_retention_days: Option<u32>,
    /// Applied event ids are remembered (redeliveries ignored) this long: a duration with a unit
    /// (`24h`, `7d`, `90s`). Default 24h (docs/decisions.md, "Retention windows").
    #[arg(long, env = "DEDUP_RETENTION", value_parser = parse_window)]
    pub dedup_retention: Option<Duration>,
    /// DEDUP_RETENTION in hours (its older name).
    #[arg(long, env = "DEDUP_RETENTION_HOURS")]
    pub dedup_retention_hours: Option<u32>,
    /// Rows deleted per statement by the cleanup job.
    #[arg(long, env = "CLEANUP_BATCH_SIZE", default_value_t = 1000)]
    pub cleanup_batch_size: u32,
    /// Most rows (of each table) one cleanup run deletes; the rest waits for the next run.
    #[arg(long, env = "CLEANUP_MAX_ROWS_PER_RUN", default_value_t = 100_000)]
    pub cleanup_max_rows_per_run: u64,
    /// Share of players (0 to 1, by a hash of the user id) whose accepted events are archived
    /// for replay and backfill. Default 1: every player.
    #[arg(long, env = "EVENT_ARCHIVE_SAMPLE")]
    pub event_archive_sample: Option<f64>,
    /// Archived events are kept this long (the cleanup job prunes older ones): a duration with
    /// a unit (`30d`, `12h`). Default 14d.
    #[arg(long, env = "EVENT_ARCHIVE_RETENTION", value_parser = parse_window)]
    pub event_archive_retention: Option<Duration>,
    /// EVENT_ARCHIVE_RETENTION in days (its older name).
    #[arg(long, env = "EVENT_ARCHIVE_DAYS")]
    pub event_archive_days: Option<u32>,
    /// Support's audit log is kept this long: a UTC month goes, whole, once it ended this long
    /// ago (a duration with a unit, at least a day). Default 400d (13 months).
    #[arg(long, env = "AUDIT_RETENTION", value_parser = parse_window)]
    pub audit_retention: Option<Duration>,
    /// Players whose progress rows the service keeps in memory for reads (PostgreSQL only,
    /// evicted through its change log); 0 turns the cache off.
    #[arg(long, env = "PROGRESS_CACHE_PLAYERS", default_value_t = 100_000)]
    pub progress_cache_players: u64,
    /// Longest a player's cached rows are kept, in seconds, whatever the change log says.
    #[arg(long, env = "PROGRESS_CACHE_SECONDS", default_value_t = 300)]
    pub progress_cache_seconds: u64,
}

impl Config {
    /// The writer's knobs, checked.
    pub fn writer(&self) -> Result<WriterConfig, ConfigError> {
        let positive = |setting: &'static str, value: usize| {
            if value == 0 {
                Err(ConfigError::TooSmall {
                    setting,
                    min: 1,
                    why: None,
                })
            } else {
                Ok(value)
            }
        };
        let batch_size = positive("WRITER_BATCH_SIZE", self.writer_batch_size)?;
        if batch_size > store::MAX_BATCH_EVENTS {
            return Err(ConfigError::Invalid {
                setting: "WRITER_BATCH_SIZE",
                reason: format!(
                    "{batch_size} is more than {} events, the most one batch of the event archive holds",
                    store::MAX_BATCH_EVENTS
                ),
            });
        }
        Ok(WriterConfig {
            batch_size,
            window: Duration::from_millis(self.writer_window_ms),
            queue_capacity: positive("WRITER_QUEUE_CAPACITY", self.writer_queue_capacity)?,
            flushers: positive("WRITER_FLUSHERS", self.writer_flushers)?,
            clock: engine::Clock::system(),
            archive_sample: self.archive_sample()?,
            shards: self.shards()?,
        })
    }

    /// CITUS_SHARD_COUNT, checked: shards are for PostgreSQL (Citus) only.
    fn shards(&self) -> Result<Option<store::Shards>, ConfigError> {
        if self.citus_shard_count > 0 && self.database.is_embedded() {
            return Err(ConfigError::Invalid {
                setting: "CITUS_SHARD_COUNT",
                reason: "the embedded SQLite database has no shards; unset it or use PostgreSQL with Citus".into(),
            });
        }
        Ok(store::Shards::new(self.citus_shard_count))
    }

    /// EVENT_ARCHIVE_SAMPLE, checked, or its default: every player, on either database, so a
    /// backfill can credit anyone a rule bug hurt (on PostgreSQL it costs what 5 % did:
    /// docs/benchmarks.md, "The archive at 100 %, measured again").
    pub fn archive_sample(&self) -> Result<f64, ConfigError> {
        match self.event_archive_sample {
            None => Ok(1.0),
            Some(sample) if (0.0..=1.0).contains(&sample) => Ok(sample),
            Some(sample) => Err(ConfigError::Invalid {
                setting: "EVENT_ARCHIVE_SAMPLE",
                reason: format!("{sample} is not a share between 0 and 1"),
            }),
        }
    }

    /// The read cache's size, or `None` when it is off: turned off, or on the embedded database
    /// (which has no change log).
    pub fn progress_cache(&self) -> Option<store::cache::CacheConfig> {
        (self.progress_cache_players > 0
            && self.progress_cache_seconds > 0
            && !self.database.is_embedded())
        .then(|| store::cache::CacheConfig {
            players: self.progress_cache_players,
            ttl: Duration::from_secs(self.progress_cache_seconds),
        })
    }

    /// The cleanup job's knobs, checked; `None` when it is turned off. A retention window
    /// shorter than the older settings allowed (an hour of dedup, a day of the others) is taken,
    /// with a warning in the log saying what it costs.
    pub fn cleanup(&self) -> Result<Option<crate::cleanup::CleanupConfig>, ConfigError> {
        if self.cleanup_interval_seconds == 0 {
            return Ok(None);
        }
        if self.cleanup_batch_size == 0 {
            return Err(ConfigError::TooSmall {
                setting: "CLEANUP_BATCH_SIZE",
                min: 1,
                why: None,
            });
        }
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        let rows = retention(
            ("CLEANUP_RETENTION", self.cleanup_retention),
            ("CLEANUP_RETENTION_DAYS", self.cleanup_retention_days, DAY),
            7 * DAY,
        )?;
        let dedup = retention(
            ("DEDUP_RETENTION", self.dedup_retention),
            ("DEDUP_RETENTION_HOURS", self.dedup_retention_hours, HOUR),
            24 * HOUR,
        )?;
        let archive = retention(
            ("EVENT_ARCHIVE_RETENTION", self.event_archive_retention),
            ("EVENT_ARCHIVE_DAYS", self.event_archive_days, DAY),
            14 * DAY,
        )?;
        let audit = self
            .audit_retention
            .unwrap_or(Duration::from_secs(400 * DAY));
        if audit < Duration::from_secs(DAY) {
            return Err(ConfigError::Invalid {
                setting: "AUDIT_RETENTION",
                reason: format!(
                    "{} is shorter than a day: support's records would go as they are written",
                    humantime::format_duration(audit)
                ),
            });
        }
        if dedup.window.is_zero() {
            return Err(ConfigError::TooSmall {
                setting: dedup.setting,
                min: 1,
                why: Some("a redelivered event would count twice"),
            });
        }
        for (window, below, cost) in [
            (
                &dedup,
                HOUR,
                "an event Extend redelivers later than that counts again",
            ),
            (&rows, DAY, "a player sees an ended period's rows go sooner"),
            (
                &archive,
                DAY,
                "replay, explain and backfill see only that much history",
            ),
        ] {
            if window.window < Duration::from_secs(below) {
                tracing::warn!(
                    setting = window.setting,
                    window = %humantime::format_duration(window.window),
                    "a retention window this short is for tests and benchmarks: {cost}"
                );
            }
        }
        let delta = |window: Duration| {
            chrono::TimeDelta::from_std(window).unwrap_or(chrono::TimeDelta::MAX)
        };
        let shortest = dedup.window.min(rows.window).min(archive.window);
        Ok(Some(crate::cleanup::CleanupConfig {
            interval: crate::cleanup::cadence(
                Duration::from_secs(self.cleanup_interval_seconds),
                shortest,
            ),
            row_retention: delta(rows.window),
            dedup_retention: delta(dedup.window),
            batch_size: self.cleanup_batch_size,
            max_rows_per_run: self.cleanup_max_rows_per_run.max(1),
            archive_retention: delta(archive.window),
            audit_retention: delta(audit),
        }))
    }

    /// Fills what is unset from the names the deployment specification's Extend config uses
    /// (`NAMESPACE` for `AB_NAMESPACE`); the AccelByte template names win when both are set.
    pub fn with_env_aliases(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        if self.namespace.is_none() {
            self.namespace = env("NAMESPACE").filter(|ns| !ns.trim().is_empty());
        }
        self
    }

    /// The namespace filter: an empty AB_NAMESPACE means "no filter".
    pub fn namespace_filter(&self) -> Option<String> {
        self.namespace.clone().filter(|ns| !ns.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::Config;

    fn config(args: &[&str]) -> Config {
        Config::parse_from(std::iter::once("handler").chain(args.iter().copied()))
    }

    #[test]
    fn the_archive_covers_every_player_for_two_weeks_by_default() {
        let embedded = config(&["--database-url", ""]);
        assert_eq!(embedded.archive_sample(), Ok(1.0));
        // A backfill can only credit archived players: every one, long enough to find a rule
        // bug within a week and fix it within the next (issue 32).
        let postgres = config(&["--database-url", "postgres://db/x"]);
        assert_eq!(postgres.archive_sample(), Ok(1.0));
        let cleanup = postgres.cleanup().expect("cleanup").expect("cleanup on");
        assert_eq!(cleanup.archive_retention, chrono::TimeDelta::days(14));
        assert_eq!(cleanup.audit_retention, chrono::TimeDelta::days(400));
        let chosen = config(&[
            "--database-url",
            "postgres://db/x",
            "--event-archive-sample",
            "0",
        ]);
        assert_eq!(chosen.writer().map(|w| w.archive_sample), Ok(0.0));
        let err = config(&["--event-archive-sample", "1.5"])
            .archive_sample()
            .unwrap_err();
        assert_eq!(err.setting(), "EVENT_ARCHIVE_SAMPLE");
    }

    #[test]
    fn a_batch_fits_one_row_of_the_archive() {
        assert!(config(&["--writer-batch-size", "65535"]).writer().is_ok());
        let err = config(&["--writer-batch-size", "65536"])
            .writer()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.setting(), "WRITER_BATCH_SIZE");
        assert!(err.to_string().contains("65535"), "{err}");
    }

    #[test]
    fn shards_are_for_a_distributed_postgresql() {
        let pg = ["--database-url", "postgres://db/challenges"];
        let unsharded = config(&pg).writer().expect("writer");
        assert_eq!(unsharded.shards, None);
        let sharded = config(&[pg[0], pg[1], "--citus-shard-count", "32"])
            .writer()
            .expect("writer");
        assert_eq!(sharded.shards, store::Shards::new(32));
        let err = config(&["--citus-shard-count", "32"])
            .writer()
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.setting(), "CITUS_SHARD_COUNT");
    }
}
