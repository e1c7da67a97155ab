//! The cleanup job: one run deletes at most its bound, in batches, and prunes old event ids;
//! a bad setting is refused with the variable named.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clap::Parser;
use engine::{Event, EventData, EventKind, RuleSetHandle, UserId};
use pipeline::Config;
use pipeline::cleanup::{Cleaned, CleanupConfig, clean_once};
use store::testing::TestDatabase;
use store::{PendingEvent, Store};

const RULES: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily }
    goals:
      - { id: daily-wins, name: Wins, on: stat, stat: wins, count: events, target: 3 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_deletes_at_most_its_bound_and_prunes_old_event_ids() {
    let db = TestDatabase::postgres().await.expect("PostgreSQL");
    let store: Arc<dyn Store> = store::open(&db.url, 4).await.expect("open");
    store.migrate().await.expect("migrate");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), RULES).expect("rules");
    let rules = RuleSetHandle::load(vec![dir.path().to_path_buf()]).expect("rules load");
    let current = rules.current();
    let goals: Vec<_> = current.goals().iter().collect();
    // A fixed Wednesday noon: the daily periods below never depend on today's date.
    let now: DateTime<Utc> = "2026-06-10T12:00:00Z".parse().expect("instant");
    let then = now - Duration::days(30);
    for user in 0..5 {
        store
            .initialize_for_user(&UserId::new(format!("u{user}")), "game", &goals, then)
            .await
            .expect("initialize");
    }
    let events: Vec<PendingEvent> = (0..3)
        .map(|i| PendingEvent {
            rules: current.clone(),
            event: Event::new(EventData {
                id: format!("old-{i}"),
                kind: EventKind::Stat,
                user_id: UserId::new("u0"),
                namespace: "game".into(),
                timestamp: then,
                sent_at: None,
                stat_code: Some("wins".into()),
                value: 1,
                inc: 1,
                additional: Default::default(),
            }),
            goals: vec![engine::GoalId::new("daily-wins")],
            archive: false,
        })
        .collect();
    store.apply_events(&events, then).await.expect("events");

    let config = CleanupConfig {
        interval: std::time::Duration::from_secs(3600),
        row_retention: Duration::days(7),
        dedup_retention: Duration::days(7),
        batch_size: 2,
        max_rows_per_run: 3,
        archive_retention: chrono::TimeDelta::days(30),
        audit_retention: chrono::TimeDelta::days(400),
    };
    // The cursor carries from run to run, as in the job's loop.
    let mut cursor = None;
    let mut run = async || {
        clean_once(
            store.as_ref(),
            store.as_ref(),
            &rules,
            &config,
            now,
            &mut cursor,
        )
        .await
        .expect("cleanup")
    };
    assert_eq!(
        run().await,
        Cleaned {
            expired_rows: 3,
            event_ids: 3,
            archived_events: 0,
            audit_entries: 0,
        }
    );
    assert_eq!(
        run().await,
        Cleaned {
            expired_rows: 2,
            event_ids: 0,
            archived_events: 0,
            audit_entries: 0,
        }
    );
    assert_eq!(run().await, Cleaned::default());
    assert_eq!(cursor, None, "the walk reached the end");
}

#[test]
fn cleanup_settings_are_checked() {
    let config = |args: &[&str]| {
        Config::parse_from(std::iter::once("handler").chain(args.iter().copied())).cleanup()
    };
    assert!(config(&[]).expect("defaults").is_some());
    assert!(
        config(&["--cleanup-interval-seconds", "0"])
            .expect("off")
            .is_none()
    );
    let err = config(&["--cleanup-batch-size", "0"]).expect_err("zero batch");
    assert_eq!(err.setting(), "CLEANUP_BATCH_SIZE", "{err}");
    let err = config(&["--dedup-retention-hours", "0"]).expect_err("no dedup");
    assert_eq!(err.setting(), "DEDUP_RETENTION_HOURS", "{err}");
    assert!(err.to_string().contains("count twice"), "{err}");
}

/// Retention windows take a duration with a unit; the older names in hours and days keep
/// working; a window of seconds is taken (with a warning) and the cleanup's cadence follows it.
#[test]
fn retention_windows_take_a_unit_and_the_cadence_follows_them() {
    let parse = |args: &[&str]| {
        Config::try_parse_from(std::iter::once("handler").chain(args.iter().copied()))
    };
    let cleanup = |args: &[&str]| parse(args).expect("parse").cleanup();
    let defaults = cleanup(&[]).expect("defaults").expect("on");
    assert_eq!(defaults.dedup_retention, Duration::hours(24));
    assert_eq!(defaults.row_retention, Duration::days(7));
    assert_eq!(defaults.archive_retention, Duration::days(14));
    assert_eq!(defaults.interval, std::time::Duration::from_secs(3600));

    let short = cleanup(&[
        "--dedup-retention",
        "90s",
        "--event-archive-retention",
        "2m",
        "--cleanup-retention",
        "7d",
    ])
    .expect("short windows are taken")
    .expect("on");
    assert_eq!(short.dedup_retention, Duration::seconds(90));
    assert_eq!(short.archive_retention, Duration::minutes(2));
    assert_eq!(short.row_retention, Duration::days(7));
    assert_eq!(
        short.interval,
        std::time::Duration::from_millis(11_250),
        "an eighth of the shortest window"
    );

    let old = cleanup(&[
        "--dedup-retention-hours",
        "24",
        "--event-archive-days",
        "3",
        "--cleanup-retention-days",
        "1",
    ])
    .expect("the older names")
    .expect("on");
    assert_eq!(old.dedup_retention, Duration::hours(24));
    assert_eq!(old.archive_retention, Duration::days(3));
    assert_eq!(old.row_retention, Duration::days(1));

    let err = cleanup(&["--dedup-retention", "2h", "--dedup-retention-hours", "2"])
        .expect_err("both names");
    assert_eq!(err.setting(), "DEDUP_RETENTION", "{err}");
    assert!(err.to_string().contains("DEDUP_RETENTION_HOURS"), "{err}");
    let err = cleanup(&["--dedup-retention", "0s"]).expect_err("no dedup");
    assert_eq!(err.setting(), "DEDUP_RETENTION", "{err}");
    let err = parse(&["--dedup-retention", "90"]).expect_err("no unit");
    assert!(err.to_string().contains("90s, 15m, 36h or 7d"), "{err}");
}
