//! `service backfill` killed with SIGKILL while it writes, then run again, on PostgreSQL and
//! SQLite: every affected player is credited once, with exactly one audit entry.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::backfill::{Service, rules};

const PLAYERS: usize = 40;

fn cli(url: &str, rules: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_service"));
    command
        .args(["--challenges", rules.to_str().unwrap(), "backfill"])
        .args(["--database-url", url])
        .args([
            "--reason",
            "ranked casing",
            "--actor",
            "ops-1",
            "--format",
            "json",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// `service backfill` killed with SIGKILL while it writes, then run again: every affected
/// player is credited once, with exactly one audit entry.
async fn a_killed_backfill_resumes_without_applying_twice(db: TestDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (buggy, fixed) = (dir.path().join("buggy"), dir.path().join("fixed"));
    for (folder, mode) in [(&buggy, "Ranked"), (&fixed, "ranked")] {
        std::fs::create_dir_all(folder).expect("folder");
        std::fs::write(folder.join("season.yaml"), rules(mode)).expect("rules");
    }
    let svc = Service::start(&db, &buggy).await;
    for i in 0..PLAYERS {
        svc.win(&format!("p{i:02}"), &format!("w{i}"), "ranked")
            .await;
    }

    // 10 changes a second: the kill lands with some written and most not.
    let mut first = cli(&db.url, &fixed, &["--rate", "10"])
        .spawn()
        .expect("backfill runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while svc.audit("backfill").await.len() < 5 {
        assert!(Instant::now() < deadline, "the backfill never wrote");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().expect("SIGKILL");
    let _ = first.wait();
    let before = svc.audit("backfill").await.len();
    assert!(
        (5..PLAYERS).contains(&before),
        "{before} written before the kill"
    );

    let resumed = cli(&db.url, &fixed, &["--rate", "1000"])
        .output()
        .expect("backfill runs");
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let answer: Value = serde_json::from_slice(&resumed.stdout).expect("JSON");
    // What the killed run wrote, counted from the log itself: a COMMIT it sent just before the
    // kill still lands after the count above was read (the server finishes it), so `before`
    // can be one short.
    let entries = svc.audit("backfill").await;
    let killed_run = (entries.iter())
        .filter(|e| e["detail"]["run"] != answer["run"])
        .count();
    assert!(killed_run >= before, "{killed_run} < {before}");
    assert_eq!(
        answer["changes"].as_array().map(Vec::len),
        Some(PLAYERS - killed_run),
        "{answer}"
    );
    assert_eq!(answer["applied"], json!(PLAYERS - killed_run));

    let mut users: Vec<&str> = entries
        .iter()
        .map(|e| e["userId"].as_str().unwrap())
        .collect();
    users.sort_unstable();
    users.dedup();
    assert_eq!(
        (entries.len(), users.len()),
        (PLAYERS, PLAYERS),
        "one entry per player"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor"] == "ops-1" && e["after"]["progress"] == 1)
    );
    for i in [0, PLAYERS / 2, PLAYERS - 1] {
        assert_eq!(
            svc.goals(&format!("p{i:02}")).await[0],
            (1, "in_progress".into())
        );
    }
    let again = cli(&db.url, &fixed, &[]).output().expect("backfill runs");
    let answer: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(
        (answer["changes"].clone(), answer["applied"].clone()),
        (json!([]), json!(0))
    );
    let _ = svc.served.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backfill_on_postgres() {
    a_killed_backfill_resumes_without_applying_twice(
        TestDatabase::postgres().await.expect("PostgreSQL"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backfill_on_sqlite() {
    a_killed_backfill_resumes_without_applying_twice(TestDatabase::sqlite().expect("SQLite")).await;
}
