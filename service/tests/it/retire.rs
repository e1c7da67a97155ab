//! Goals are retired, not deleted, against a real service and database: removing a goal
//! players hold progress on is refused at reload (E050) and the rules in use stay; retired, it
//! stops counting and being offered while its completed rewards stay claimable; and a service
//! started on files that lack a goal players hold rows for says so in a metric.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use store::testing::TestDatabase;

fn rules(old: &str) -> String {
    format!(
        "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      - {{ id: keep, name: Keep, on: stat, stat: kills, target: 1, reward: {{ wallet: GOLD, amount: 1 }} }}\n{old}"
    )
}

const OLD: &str = "      - { id: old, name: Old, on: stat, stat: kills, target: 1, reward: { wallet: GOLD, amount: 5 } }\n";

struct Service {
    served: crate::support::InProcess,
    client: reqwest::Client,
}

impl Service {
    async fn start(db: &TestDatabase, dir: &std::path::Path) -> Self {
        let config = crate::support::config(
            &db.url,
            dir.to_str().unwrap(),
            &["--reload-debounce-ms", "50"],
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

    async fn call(
        &self,
        method: reqwest::Method,
        user: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.served.base))
            .header("x-mock-user-id", user)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn kill(&self, user: &str, id: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                user,
                "/v1/events",
                json!({"kind": "stat", "id": id, "userId": user, "statCode": "kills", "latestValue": 1, "inc": 1}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["results"][0]["outcome"].clone()
    }

    async fn goals(&self, user: &str) -> Vec<(String, String)> {
        let (status, body) = self
            .call(reqwest::Method::GET, user, "/v1/challenges/c", Value::Null)
            .await;
        assert_eq!(status, 200, "{body}");
        body["goals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["goalId"].as_str().unwrap().to_string(),
                    g["status"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    async fn rules_status(&self) -> Value {
        self.call(reqwest::Method::GET, "ops", "/v1/rules", Value::Null)
            .await
            .1
    }

    async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!(
                "http://127.0.0.1:{}/metrics",
                self.served.metrics_port
            ))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| value.trim().parse().ok())
    }
}

/// Waits (bounded) for `done`.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goal_in_use_is_retired_not_deleted() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rules.yaml");
    std::fs::write(&file, rules(OLD)).expect("write");
    let api = Service::start(&db, dir.path()).await;
    api.call(
        reqwest::Method::POST,
        "p1",
        "/v1/challenges/initialize",
        json!({}),
    )
    .await;
    api.call(
        reqwest::Method::POST,
        "p2",
        "/v1/challenges/initialize",
        json!({}),
    )
    .await;
    assert_eq!(api.kill("p1", "k1").await, json!("applied"));

    // Deleted from the file: refused, the rules in use stay, and events keep counting.
    std::fs::write(&file, rules("")).expect("delete the goal");
    eventually("the refusal", || async {
        api.rules_status().await["lastError"]
            .to_string()
            .contains("E050")
    })
    .await;
    let status = api.rules_status().await;
    assert!(
        status["lastError"].to_string().contains("retired:"),
        "{status}"
    );
    assert_eq!(
        api.kill("p2", "k2").await,
        json!("applied"),
        "`old` still counts"
    );

    // Retired instead: it stops counting and being offered; completed rewards stay claimable.
    let retired_at = (chrono::Utc::now() - chrono::TimeDelta::seconds(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let retired = OLD.replace(" } }\n", &format!(" }}, retired: {retired_at} }}\n"));
    std::fs::write(&file, rules(&retired)).expect("retire the goal");
    eventually("the retirement", || async {
        api.rules_status().await["lastError"].is_null()
    })
    .await;
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "p2",
            "/v1/challenges/c/goals/old/claim",
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (200, json!("claimed")),
        "{body}"
    );
    assert!(
        api.goals("p1")
            .await
            .contains(&("old".into(), "completed".into())),
        "shown through the claim grace"
    );
    api.call(
        reqwest::Method::POST,
        "p3",
        "/v1/challenges/initialize",
        json!({}),
    )
    .await;
    api.kill("p3", "k3").await;
    let p3 = api.goals("p3").await;
    assert!(
        p3.contains(&("old".into(), "not_started".into()))
            && p3.contains(&("keep".into(), "completed".into())),
        "a retired goal counts nothing: {p3:?}"
    );
    let (status, _) = api
        .call(
            reqwest::Method::POST,
            "p3",
            "/v1/challenges/c/goals/batch-select",
            json!({"goalIds": ["old"]}),
        )
        .await;
    assert_eq!(status, 400, "a retired goal is not offered");
    drop(api);

    // Started on files that lack it (the deployed files are the truth): a loud warning and a
    // metric, not a refusal.
    std::fs::write(&file, rules("")).expect("delete the goal");
    let restarted = Service::start(&db, dir.path()).await;
    eventually("the orphan metric", || async {
        restarted.metric("challenge_rules_orphaned_goals ").await == Some(1.0)
    })
    .await;
}
