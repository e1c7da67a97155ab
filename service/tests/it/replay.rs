//! `service replay` end to end, on PostgreSQL and SQLite: events posted to a real service are
//! archived; the binary replays them under the deployed rules and an edit, and its JSON is
//! exactly the documented shape.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use clap::Parser;
use serde_json::{Value, json};
use store::testing::TestDatabase;

const DEPLOYED: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true }
    goals:
      - { id: daily-wins, name: Wins, on: stat, stat: wins, count: events, target: 3, reward: { wallet: GOLD, amount: 10 } }
  - id: season
    name: Season
    goals:
      - { id: ranked-kills, name: Kills, on: stat, stat: kills, count: sum, target: 10, when: 'event.additional.mode == "ranked"' }
      - { id: first-login, name: Hello, on: login, count: events, target: 1, assign: auto }
"#;

const EDIT: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, reset_progress: true }
    goals:
      - { id: daily-wins, name: Wins, on: stat, stat: wins, count: events, target: 2, reward: { one_of: [ { weight: 1, wallet: GOLD, amount: 10 }, { weight: 1, wallet: GOLD, amount: 30 } ] } }
  - id: season
    name: Season
    goals:
      - { id: ranked-kills, name: Kills, on: stat, stat: kills, count: sum, target: 10 }
      - { id: kill-100, name: Lots, on: stat, stat: kills, count: sum, target: 100 }
"#;

fn write_rules(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).expect("folder");
    std::fs::write(folder.join("rules.yaml"), text).expect("rules");
    folder
}

fn replay(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_service"))
        .arg("replay")
        .args(["--database-url", url])
        .args(args)
        .output()
        .expect("service runs")
}

fn ok_stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Posts the traffic of three players over two days to a running service, and leaves it
/// running.
async fn play(db: &TestDatabase, deployed: &Path) -> crate::support::InProcess {
    let config = service::config::ServeConfig::try_parse_from([
        "service",
        "--database-url",
        &db.url,
        "--challenges",
        deployed.to_str().unwrap(),
        "--migrate",
        "--auth-enabled",
        "false",
        "--reward-mode",
        "mock",
        "--event-archive-sample",
        "1",
    ])
    .expect("config");
    let clock = engine::Clock::at("2026-03-02T10:00:00Z".parse().unwrap());
    let served = crate::support::serve(
        config,
        Arc::new(service::rewards::MockRewards),
        clock.clone(),
    )
    .await;
    let client = reqwest::Client::new();
    let post = |user: &str, body: Value| {
        client
            .post(format!("{}/v1/events", served.base))
            .header("x-mock-user-id", user)
            .json(&body)
            .send()
    };
    let mut n = 0;
    // (user, day, kind, stat, inc, mode)
    let traffic = [
        ("ann", 2, "login", "", 0, ""),
        ("ann", 2, "stat", "wins", 1, ""),
        ("ann", 2, "stat", "wins", 1, ""),
        ("ann", 3, "stat", "wins", 1, ""),
        ("ann", 3, "stat", "kills", 6, "ranked"),
        ("ann", 3, "stat", "kills", 6, "casual"),
        ("bob", 2, "stat", "wins", 1, ""),
        ("bob", 2, "stat", "wins", 1, ""),
        ("bob", 2, "stat", "wins", 1, ""),
        ("bob", 3, "stat", "kills", 12, "ranked"),
        ("cat", 3, "login", "", 0, ""),
    ];
    for (user, day, kind, stat, inc, mode) in traffic {
        n += 1;
        let at = format!("2026-03-0{day}T10:{n:02}:00Z");
        clock.set(at.parse().unwrap());
        post(
            user,
            json!([{"kind": kind, "id": format!("e{n}"), "userId": user, "statCode": stat,
                   "latestValue": inc, "inc": inc, "timestamp": at,
                   "additional": {"mode": mode}}]),
        )
        .await
        .expect("posted")
        .error_for_status()
        .expect("accepted");
    }
    // An update no goal listens to, delivered twice: archived twice, replayed once.
    for _ in 0..2 {
        post(
            "cat",
            json!([{"kind": "stat", "id": "d1", "userId": "cat", "statCode": "deaths",
                   "latestValue": 1, "inc": 1, "timestamp": "2026-03-03T11:00:00Z"}]),
        )
        .await
        .expect("posted")
        .error_for_status()
        .expect("accepted");
    }
    served
}

/// Explain replays the player's archive: the events that reached the goal, newest first.
async fn explain_shows_recent_events(base: &str) {
    let client = reqwest::Client::new();
    for url in [
        format!("{base}/v1/admin/players/ann/challenges/season/goals/ranked-kills/explain"),
        format!("{base}/v1/challenges/season/goals/ranked-kills/explain"),
    ] {
        let body: Value = client
            .get(&url)
            .header("x-mock-user-id", "ann")
            .send()
            .await
            .expect("explain")
            .json()
            .await
            .expect("JSON");
        let mut recent = body["recentEvents"].clone();
        assert_eq!(recent.as_array().map(Vec::len), Some(2), "{body}");
        // Applied under the rules in use, so there is no older outcome to show.
        for event in recent.as_array_mut().unwrap() {
            let event = event.as_object_mut().unwrap();
            assert_eq!(
                event.remove("appliedUnder"),
                Some(body["contentHash"].clone())
            );
            assert_eq!(event.remove("appliedOutcome"), Some(Value::Null));
        }
        assert_eq!(body["ruleSets"], json!([]));
        assert_eq!(
            recent[0],
            json!({"eventId": "e6", "kind": "stat", "statCode": "kills", "value": 6, "inc": 6,
                   "timestamp": "2026-03-03T10:06:00Z", "matched": false, "when": false,
                   "fields": {"event.additional.mode": "casual"}, "progressBefore": 6,
                   "progressAfter": 6, "statusBefore": "in_progress", "statusAfter": "in_progress",
                   "reason": "the predicate (`when`) is false for this event"})
        );
        assert_eq!(
            (
                recent[1]["eventId"].clone(),
                recent[1]["matched"].clone(),
                recent[1]["progressAfter"].clone()
            ),
            (json!("e5"), json!(true), json!(6))
        );
    }
}

async fn replay_matches_what_was_played(db: TestDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    let deployed = write_rules(dir.path(), "deployed", DEPLOYED);
    let edit = write_rules(dir.path(), "edit", EDIT);
    let served = play(&db, &deployed).await;
    explain_shows_recent_events(&served.base).await;
    let _ = served.stop.send(());
    let (deployed, edit) = (deployed.to_str().unwrap(), edit.to_str().unwrap());

    let out = ok_stdout(&replay(
        &db.url,
        &["--rules", edit, "--against", deployed, "--format", "json"],
    ));
    let report: Value = serde_json::from_str(&out).expect("JSON");
    // ann: 2 wins on day 2, 1 on day 3 (never 3 in a day; 2 twice under the edit);
    // bob: 3 wins on day 2. Ranked kills: ann 6 of 10, bob 12; the edit counts casual too.
    assert_eq!(
        report,
        json!({"players": 3, "events": 12, "days": 1.04, "goals": [
            {"challengeId": "daily", "goalId": "daily-wins", "completedBefore": 1, "completedAfter": 2,
             "medianEventsBefore": 3, "medianEventsAfter": 2,
             "completionsBefore": 1, "completionsAfter": 2,
             "rewardsBefore": [{"type": "WALLET", "rewardId": "GOLD", "amount": 10.0}],
             "rewardsAfter": [{"type": "WALLET", "rewardId": "GOLD", "amount": 40.0}]},
            {"challengeId": "season", "goalId": "ranked-kills", "completedBefore": 1, "completedAfter": 2,
             "medianEventsBefore": 1, "medianEventsAfter": 1.5,
             "completionsBefore": 1, "completionsAfter": 2, "rewardsBefore": [], "rewardsAfter": []},
            {"challengeId": "season", "goalId": "kill-100", "completedBefore": null, "completedAfter": 0,
             "medianEventsBefore": null, "medianEventsAfter": null,
             "completionsBefore": null, "completionsAfter": 0, "rewardsBefore": [], "rewardsAfter": []},
            {"challengeId": "season", "goalId": "first-login", "completedBefore": 2, "completedAfter": null,
             "medianEventsBefore": 1, "medianEventsAfter": null,
             "completionsBefore": 2, "completionsAfter": null, "rewardsBefore": [], "rewardsAfter": []}
        ], "rewards": [
            // A table of 10 or 30 GOLD is worth 20 a claim; 1 day and 1 hour of traffic.
            {"type": "WALLET", "rewardId": "GOLD", "before": 10.0, "after": 40.0, "change": 30.0, "perDay": 28.82}
        ]})
    );

    // A window: day 3 only.
    let out = ok_stdout(&replay(
        &db.url,
        &[
            "--rules",
            edit,
            "--against",
            deployed,
            "--format",
            "json",
            "--from",
            "2026-03-03T00:00:00Z",
            "--to",
            "2026-03-04T00:00:00Z",
        ],
    ));
    let day3: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(
        (day3["players"].as_u64(), day3["events"].as_u64()),
        (Some(3), Some(6))
    );

    // People read a table and what needs a second look.
    let out = ok_stdout(&replay(&db.url, &["--rules", edit, "--against", deployed]));
    // People read a table, then what needs a second look.
    for line in [
        "Replayed 3 player(s), 12 event(s) (the whole archive)",
        "daily / daily-wins",
        "1 -> 2",
        "+1 (+100 %)",
        "No player completes under the edit:\n  1 goal(s) no player completed under the deployed rules either: season / kill-100",
        "Added by the edit: season / kill-100",
        "Removed by the edit: season / first-login",
        "WALLET GOLD  10        40    +30     +28.82",
        "The edit grants ~28.82 GOLD/day more.",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_on_postgres() {
    replay_matches_what_was_played(TestDatabase::postgres().await.expect("PostgreSQL")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_on_sqlite() {
    replay_matches_what_was_played(TestDatabase::sqlite().expect("SQLite")).await;
}

#[test]
fn replay_explains_bad_input() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("c.db").display());
    let broken = write_rules(
        dir.path(),
        "broken",
        "version: 1\nchallenges:\n  - id: x\n    name: X\n    goals:\n      - { id: g, name: G, on: stat, stat: s, target: -1 }\n",
    );
    let good = write_rules(dir.path(), "good", DEPLOYED);
    let output = replay(
        &url,
        &[
            "--rules",
            broken.to_str().unwrap(),
            "--against",
            good.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("rules.yaml:6"), "{stderr}");
    assert!(stderr.contains("--rules"), "{stderr}");
    // An edit whose only errors are its own rule tests (they still describe the old target)
    // replays, with a warning.
    let retargeted = write_rules(
        dir.path(),
        "retargeted",
        "version: 1\nchallenges:\n  - id: x\n    name: X\n    goals:\n      - { id: g, name: G, on: stat, stat: s, count: events, target: 2 }\n    tests:\n      - name: one event completes\n        events: [{ stat: s, value: 1 }]\n        expect: { g: { status: completed } }\n",
    );
    let store = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { store::open(&url, 1).await.unwrap().migrate().await });
    store.expect("migrated");
    let output = replay(
        &url,
        &[
            "--rules",
            retargeted.to_str().unwrap(),
            "--against",
            good.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("1 rule test(s) fail"), "{stderr}");
    let output = replay(
        &url,
        &["--rules", good.to_str().unwrap(), "--from", "yesterday"],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`yesterday` is not an RFC 3339 time"),
        "{stderr}"
    );
}
