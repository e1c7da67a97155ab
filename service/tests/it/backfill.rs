//! Backfill end to end, on PostgreSQL and SQLite: a casing bug (`"Ranked"` for `"ranked"`) cost
//! players their progress; replay under the fix finds them; a dry run (of the edit, then of the
//! deployed fix) writes nothing; the real run credits exactly the affected players, one audit
//! entry each, never lowering progress or touching a claimed or unselected goal; a second run
//! finds nothing (`backfill_resume.rs`: `service backfill` killed with SIGKILL mid-run
//! resumes without applying anything twice).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::testing::TestDatabase;

pub(crate) fn rules(mode: &str) -> String {
    format!(
        r#"version: 1
challenges:
  - id: season
    name: Season
    goals:
      - {{ id: ranked-wins, name: Ranked wins, on: stat, stat: wins, count: sum, target: 3, assign: auto, when: 'event.additional.mode == "{mode}"', reward: {{ wallet: GOLD, amount: 10 }} }}
      - {{ id: picked, name: Picked, on: stat, stat: wins, count: sum, target: 2, assign: manual, when: 'event.additional.mode == "{mode}"' }}
"#
    )
}

pub(crate) struct Service {
    pub(crate) served: crate::support::InProcess,
    client: reqwest::Client,
}

impl Service {
    pub(crate) async fn start(db: &TestDatabase, dir: &std::path::Path) -> Self {
        let config = crate::support::config(
            &db.url,
            dir.to_str().unwrap(),
            &["--reload-debounce-ms", "50", "--event-archive-sample", "1"],
        );
        let served = crate::support::serve(
            config,
            Arc::new(service::rewards::MockRewards),
            engine::Clock::system(),
        )
        .await;
        Self {
            served,
            client: reqwest::Client::new(),
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        user: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = (self.client)
            .request(method, format!("{}{path}", self.served.base))
            .header("x-mock-user-id", user)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn post(&self, path: &str, user: &str, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, user, body).await
    }

    pub(crate) async fn win(&self, user: &str, id: &str, mode: &str) {
        let event = json!({"kind": "stat", "id": id, "userId": user, "statCode": "wins",
                           "latestValue": 1, "inc": 1, "additional": {"mode": mode}});
        let (status, body) = self.post("/v1/events", user, event).await;
        assert_eq!(status, 200, "{body}");
    }

    /// `(progress, status)` of each goal of the player, in goal order.
    pub(crate) async fn goals(&self, user: &str) -> Vec<(i64, String)> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                "/v1/challenges/season",
                user,
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (body["goals"].as_array().unwrap().iter())
            .map(|g| {
                (
                    g["progress"].as_i64().unwrap(),
                    g["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    pub(crate) async fn backfill(&self, body: Value) -> (u16, Value) {
        self.post("/v1/admin/rules/backfill", "support-7", body)
            .await
    }

    pub(crate) async fn audit(&self, action: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                "/v1/admin/audit?limit=1000",
                "ops",
                Value::Null,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (body["entries"].as_array().unwrap().iter())
            .filter(|e| e["action"] == action)
            .cloned()
            .collect()
    }

    /// A service on a folder holding the season with the casing bug (`"Ranked"`): the folder
    /// (kept alive), the season's file, the service and the buggy rules' content hash.
    pub(crate) async fn on_buggy_rules(
        db: &TestDatabase,
    ) -> (tempfile::TempDir, std::path::PathBuf, Self, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("season.yaml");
        std::fs::write(&file, rules("Ranked")).expect("rules");
        let svc = Self::start(db, dir.path()).await;
        let (_, status) = svc
            .call(reqwest::Method::GET, "/v1/rules", "ops", Value::Null)
            .await;
        let hash = status["contentHash"].as_str().expect("hash").to_string();
        (dir, file, svc, hash)
    }

    pub(crate) async fn reloaded(&self, hash_before: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = self
                .call(reqwest::Method::GET, "/v1/rules", "ops", Value::Null)
                .await;
            if status["contentHash"]
                .as_str()
                .is_some_and(|h| h != hash_before)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the fix was never loaded: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn change(user: &str, goal: &str, from: i64, to: i64, status_to: &str) -> Value {
    json!({"userId": user, "challengeId": "season", "goalId": goal, "progressFrom": from,
           "progressTo": to, "statusFrom": if from == 0 { "not_started" } else { "in_progress" },
           "statusTo": status_to})
}

fn sorted(changes: &Value) -> Vec<Value> {
    let mut list = changes.as_array().expect("changes").clone();
    list.sort_by_key(|c| (c["userId"].to_string(), c["goalId"].to_string()));
    list
}

async fn backfill_credits_exactly_the_affected_players(db: TestDatabase) {
    let (_dir, file, svc, buggy_hash) = Service::on_buggy_rules(&db).await;

    // ann picked the manual goal and won twice; bob won 3 times without picking it; cat
    // played casual; dan won once and support completed and granted his goal; eve won once
    // and support set her to 2. The game sends "ranked"; the rule wants "Ranked".
    let (status, body) = svc
        .call(
            reqwest::Method::PUT,
            "/v1/challenges/season/goals/picked/active",
            "ann",
            json!({"isActive": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for (user, n, mode) in [
        ("ann", 2, "ranked"),
        ("bob", 3, "ranked"),
        ("cat", 2, "casual"),
        ("dan", 1, "ranked"),
        ("eve", 1, "ranked"),
    ] {
        for i in 0..n {
            svc.win(user, &format!("{user}-{i}"), mode).await;
        }
    }
    let fix = |user: &str, action: &str, extra: Value| {
        let mut body = json!({"action": action, "reason": "ticket 12"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        (
            format!("/v1/admin/players/{user}/challenges/season/goals/ranked-wins/progress"),
            body,
        )
    };
    for (user, action, extra) in [
        ("dan", "complete", json!({})),
        ("eve", "set", json!({"progress": 2})),
    ] {
        let (path, body) = fix(user, action, extra);
        let (status, answer) = svc.post(&path, "support-7", body).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = svc
        .post(
            "/v1/admin/players/dan/challenges/season/goals/ranked-wins/grant",
            "support-7",
            json!({"reason": "ticket 12"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        svc.goals("ann").await,
        [(0, "not_started".into()), (0, "not_started".into())]
    );

    // A dry run of the edit, before it ships: the players it would credit.
    let expected = vec![
        change("ann", "picked", 0, 2, "completed"),
        change("ann", "ranked-wins", 0, 2, "in_progress"),
        change("bob", "ranked-wins", 0, 3, "completed"),
    ];
    let (status, dry) = svc
        .backfill(
            json!({"reason": "ranked casing", "dryRun": true, "rules": rules("ranked"),
                         "fileName": "season.yaml"}),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(sorted(&dry["changes"]), expected, "{dry}");
    assert_eq!(
        (
            dry["dryRun"].clone(),
            dry["applied"].clone(),
            dry["players"].clone()
        ),
        (json!(true), json!(0), json!(5))
    );
    // An edit is never applied, a reason is required, the window must make sense.
    for (body, says) in [
        (
            json!({"reason": "x", "rules": rules("ranked"), "fileName": "season.yaml"}),
            "dry-run",
        ),
        (json!({"dryRun": true}), "reason"),
        (json!({"reason": " ", "dryRun": true}), "reason"),
        (
            json!({"reason": "x", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "before",
        ),
        (json!({"reason": "x", "rate": 0}), "rate"),
        (json!({"reason": "x", "rules": "version: 1"}), "fileName"),
    ] {
        let (status, answer) = svc.backfill(body).await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert!(
        svc.audit("backfill").await.is_empty(),
        "a dry run writes nothing"
    );
    assert_eq!(
        svc.goals("ann").await,
        [(0, "not_started".into()), (0, "not_started".into())]
    );

    // The fix ships; a dry run under the deployed rules finds the same; the real run applies.
    std::fs::write(&file, rules("ranked")).expect("fix");
    svc.reloaded(&buggy_hash).await;
    explain_names_the_rules_each_event_was_applied_under(&svc, &buggy_hash).await;
    let (status, dry) = svc
        .backfill(json!({"reason": "ranked casing", "dryRun": true}))
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(sorted(&dry["changes"]), expected);
    let (status, done) = svc
        .backfill(json!({"reason": "ranked casing (ticket 12)"}))
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(sorted(&done["changes"]), expected);
    assert_eq!(
        (done["dryRun"].clone(), done["applied"].clone()),
        (json!(false), json!(3))
    );
    assert_eq!(
        svc.goals("ann").await,
        [(2, "in_progress".into()), (2, "completed".into())]
    );
    assert_eq!(
        svc.goals("bob").await,
        [(3, "completed".into()), (0, "not_started".into())]
    );
    assert_eq!(svc.goals("cat").await[0], (0, "not_started".into()));
    assert_eq!(
        svc.goals("dan").await[0],
        (3, "claimed".into()),
        "a claimed goal stays"
    );
    assert_eq!(
        svc.goals("eve").await[0],
        (2, "in_progress".into()),
        "never lowered"
    );

    let entries = svc.audit("backfill").await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    let bob = entries
        .iter()
        .find(|e| e["userId"] == "bob")
        .expect("bob's entry");
    assert_eq!(bob["actor"], "mock:support-7");
    assert_eq!(bob["reason"], "ranked casing (ticket 12)");
    assert_eq!(bob["goalId"], "ranked-wins");
    assert_eq!(
        bob["before"],
        Value::Null,
        "bob had no row of the automatic goal"
    );
    assert_eq!(bob["after"], json!({"progress": 3, "status": "completed"}));
    assert_eq!(bob["detail"]["run"], done["run"]);
    assert_eq!(bob["detail"]["rules"], done["contentHash"]);

    // Bob can claim what the backfill completed; running it again finds nothing.
    let (status, claim) = svc
        .post(
            "/v1/challenges/season/goals/ranked-wins/claim",
            "bob",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{claim}");
    let (status, again) = svc
        .backfill(json!({"reason": "ranked casing, again"}))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["changes"].clone(), again["applied"].clone()),
        (json!([]), json!(0))
    );
    assert_eq!(svc.audit("backfill").await.len(), 3);
    let _ = svc.served.stop.send(());
}

/// After the fix, explain replays ann's events under it (matched) and says they were applied
/// under the buggy rules, where they did not match: why her stored progress is 0.
async fn explain_names_the_rules_each_event_was_applied_under(svc: &Service, buggy: &str) {
    let (status, why) = svc
        .call(
            reqwest::Method::GET,
            "/v1/admin/players/ann/challenges/season/goals/ranked-wins/explain",
            "support-7",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{why}");
    assert_ne!(why["contentHash"], buggy);
    assert_eq!(why["progress"], 0);
    assert_eq!(why["ruleSets"].as_array().map(Vec::len), Some(1), "{why}");
    assert_eq!(why["ruleSets"][0]["contentHash"], buggy);
    assert!(
        why["ruleSets"][0]["loadedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let recent = why["recentEvents"].as_array().expect("events");
    assert_eq!(recent.len(), 2, "{why}");
    for event in recent {
        assert_eq!(event["appliedUnder"], buggy, "{event}");
        assert_eq!(
            (event["matched"].clone(), event["when"].clone()),
            (json!(true), json!(true))
        );
        let then = &event["appliedOutcome"];
        assert_eq!(
            (then["matched"].clone(), then["when"].clone()),
            (json!(false), json!(false)),
            "{event}"
        );
        assert_eq!(then["progressAfter"], 0);
    }
    assert_eq!(recent[0]["progressAfter"], 2, "today's rules count both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_on_postgres() {
    backfill_credits_exactly_the_affected_players(
        TestDatabase::postgres().await.expect("PostgreSQL"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_on_sqlite() {
    backfill_credits_exactly_the_affected_players(TestDatabase::sqlite().expect("SQLite")).await;
}
