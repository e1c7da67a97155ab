//! `POST /v1/admin/rules/simulate` and `/lint` against a real service, on PostgreSQL and
//! SQLite: traces per goal, edited or deployed rules, diagnostics with lines, and nothing
//! written.

use std::sync::Arc;

use clap::Parser;
use serde_json::{Value, json};
use store::testing::TestDatabase;

const DEPLOYED: &str = r#"
version: 1
challenges:
  - id: season
    name: Season
    goals:
      - { id: ranked-kills, name: Kills, on: stat, stat: kills, count: sum, target: 10, when: 'event.additional.mode == "ranked"' }
      - { id: first-login, name: Hello, on: login, count: events, target: 1, assign: auto }
"#;

async fn simulate_and_lint_write_nothing(db: TestDatabase) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), DEPLOYED).expect("rules");
    let config = service::config::ServeConfig::try_parse_from([
        "service",
        "--database-url",
        &db.url,
        "--challenges",
        dir.path().to_str().unwrap(),
        "--migrate",
        "--auth-enabled",
        "false",
        "--reward-mode",
        "mock",
        "--event-archive-sample",
        "1",
    ])
    .expect("config");
    let served = crate::support::serve(
        config,
        Arc::new(service::rewards::MockRewards),
        engine::Clock::at("2026-03-02T10:00:00Z".parse().unwrap()),
    )
    .await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = client
            .post(format!("{}{path}", served.base))
            .json(&body)
            .send();
        async move {
            let response = request.await.expect("request");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };
    let kills = |id: &str, inc: i64, mode: &str| {
        json!({"kind": "stat", "id": id, "userId": "ann", "statCode": "kills", "latestValue": inc,
               "inc": inc, "timestamp": "2026-03-02T09:00:00Z", "additional": {"mode": mode}})
    };

    // Deployed rules: a casual kill does not match; a ranked one completes the goal.
    let (status, body) = post(
        "/v1/admin/rules/simulate",
        json!({"events": [kills("k1", 12, "casual"), kills("k2", 12, "ranked")]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["diagnostics"], json!([]));
    assert_eq!(
        body["results"][0],
        json!({"eventId": "k1", "userId": "ann", "goals": [{
            "challengeId": "season", "goalId": "ranked-kills", "matched": false, "when": false,
            "fields": {"event.additional.mode": "casual"}, "progressBefore": 0, "progressAfter": 0,
            "statusBefore": "not_started", "statusAfter": "not_started",
            "reason": "the predicate (`when`) is false for this event"}]})
    );
    assert_eq!(body["results"][1]["goals"][0]["statusAfter"], "completed");
    assert_eq!(body["results"][1]["goals"][0]["progressAfter"], 12);

    // An edit that drops the predicate: the casual kill counts.
    let edit = DEPLOYED.replace(r#", when: 'event.additional.mode == "ranked"'"#, "");
    let (status, body) = post(
        "/v1/admin/rules/simulate",
        json!({"rules": edit, "events": [kills("k1", 4, "casual")]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let goal = &body["results"][0]["goals"][0];
    assert_eq!(
        (goal["matched"].clone(), goal["when"].clone()),
        (json!(true), Value::Null)
    );
    assert_eq!(
        (goal["progressAfter"].clone(), goal["statusAfter"].clone()),
        (json!(4), json!("in_progress"))
    );

    // Broken rules: 200 with the diagnostic at its line, and no results.
    let broken = DEPLOYED.replace("target: 10", "target: ten");
    let (status, body) = post(
        "/v1/admin/rules/simulate",
        json!({"rules": broken, "events": [kills("k1", 4, "casual")]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"], json!([]));
    assert_eq!(body["diagnostics"][0]["line"], 7, "{body}");
    assert_eq!(body["diagnostics"][0]["severity"], "error");
    assert_eq!(body["diagnostics"][0]["file"], "challenges.yaml");

    // Lint alone, with the designer's file name.
    let (status, body) = post(
        "/v1/admin/rules/lint",
        json!({"rules": DEPLOYED.replace("target: 10", "target: ten"), "fileName": "season.yaml"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["errors"].clone(),
            body["diagnostics"][0]["file"].clone()
        ),
        (json!(1), json!("season.yaml"))
    );
    let (status, body) = post("/v1/admin/rules/lint", json!({"rules": DEPLOYED})).await;
    assert_eq!(
        (status, body["errors"].clone(), body["diagnostics"].clone()),
        (200, json!(0), json!([]))
    );

    // A bad event is named.
    let (status, body) = post(
        "/v1/admin/rules/simulate",
        json!({"events": [kills("k1", 1, "x"), {"kind": "stat", "id": "bad", "userId": "ann", "statCode": ""}]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("event 2 (`bad`)"),
        "{body}"
    );

    // The console's own endpoints: the deployed rules at a glance, and a replay of an edit
    // (over an empty archive here; tests/it/replay.rs replays real traffic).
    let overview: Value = client
        .get(format!("{}/v1/admin/rules/overview", served.base))
        .send()
        .await
        .expect("overview")
        .json()
        .await
        .expect("JSON");
    assert_eq!(overview["files"][0]["name"], "rules.yaml");
    assert_eq!(overview["files"][0]["text"], DEPLOYED);
    assert_eq!(overview["challenges"][0]["goals"][0]["id"], "ranked-kills");
    assert_eq!(
        overview["challenges"][0]["goals"][0]["when"],
        r#"event.additional.mode == "ranked""#
    );
    let (status, body) = post(
        "/v1/admin/rules/replay",
        json!({"rules": DEPLOYED.replace("target: 10", "target: 5"), "fileName": "rules.yaml"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["report"]["players"], 0);
    assert_eq!(body["report"]["goals"][0]["completedAfter"], 0);
    let page = client
        .get(format!("{}/console/", served.base))
        .send()
        .await
        .expect("console");
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .expect("HTML")
            .contains("designer console")
    );

    // Nothing was written: no progress, no archive rows.
    let store = store::open(&db.url, 1).await.expect("store");
    let rows = store
        .progress_for_user(&engine::UserId::new("ann"), false)
        .await
        .expect("progress");
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(
        store
            .count_archive(&store::ArchiveWindow::default())
            .await
            .expect("count"),
        0
    );
    let _ = served.stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_on_postgres() {
    simulate_and_lint_write_nothing(TestDatabase::postgres().await.expect("PostgreSQL")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulate_on_sqlite() {
    simulate_and_lint_write_nothing(TestDatabase::sqlite().expect("SQLite")).await;
}

/// Simulations run one at a time per process: a second one while the first runs is told to
/// try again (429), so designers cannot take every core from the players.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulations_run_one_at_a_time() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), DEPLOYED).expect("rules");
    let config = crate::support::config(&db.url, dir.path().to_str().unwrap(), &[]);
    let served = crate::support::serve(
        config,
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    // 10,000 events, each reaching the predicate goal: long enough to overlap.
    let events: Vec<Value> = (0..10_000)
        .map(|n| {
            json!({"kind": "stat", "id": format!("e{n}"), "userId": format!("u{}", n % 50),
                   "statCode": "kills", "latestValue": 1, "inc": 1, "additional": {"mode": "ranked"}})
        })
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    let client = reqwest::Client::new();
    let mut refused = None;
    // Four at once, a few rounds: one of them finds another running.
    for _ in 0..5 {
        let calls = (0..4).map(|_| {
            client
                .post(format!("{}/v1/admin/rules/simulate", served.base))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for response in futures::future::join_all(calls).await {
            let response = response.expect("request");
            if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
                refused = Some(response.json::<Value>().await.expect("JSON"));
            } else {
                assert!(response.status().is_success(), "{}", response.status());
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("a simulation ran while another was running");
    assert_eq!(refused["errorCode"], "RATE_LIMITED", "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("another simulation")),
        "{refused}"
    );
}

/// The console's overview shows every field a goal's rules have: its description, a `progress:`
/// expression, `relative`, and a rotation of its own where it overrides its challenge's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_shows_every_field_of_a_goal() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let served = crate::support::serve(
        crate::support::config(&db.url, &crate::support::example_challenges(), &[]),
        Arc::new(service::rewards::MockRewards),
        engine::Clock::at("2026-03-02T10:00:00Z".parse().unwrap()),
    )
    .await;
    let overview: Value = reqwest::get(format!("{}/v1/admin/rules/overview", served.base))
        .await
        .expect("overview")
        .json()
        .await
        .expect("JSON");
    let goal = |challenge: &str, goal: &str| -> Value {
        let challenge = overview["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == challenge)
            .expect("challenge");
        (challenge["goals"].as_array().unwrap().iter())
            .find(|g| g["id"] == goal)
            .cloned()
            .expect("goal")
    };
    let veteran = goal("weekly-missions", "weekly-veteran");
    assert_eq!(
        veteran["rotation"],
        json!({"every": "weekly", "timezone": "UTC", "resetAt": "00:00", "resetProgress": false, "allowReselection": false}),
        "weekly-veteran keeps its progress, unlike its challenge: {veteran}"
    );
    assert_eq!(
        veteran["description"],
        "Progress carries over from week to week until done."
    );
    assert_eq!(
        goal("weekly-missions", "weekly-high-score")["rotation"],
        Value::Null,
        "a goal that follows its challenge has no rotation of its own"
    );
    let ranked = goal("achievements", "ranked-points-1000");
    assert!(
        ranked["progress"]
            .as_str()
            .unwrap_or("")
            .contains("event.inc * (if event.additional.weekend == true"),
        "{ranked}"
    );
    assert_eq!(ranked["relative"], false);
    assert_eq!(ranked["retired"], Value::Null);
    let _ = served.stop.send(());
}
