//! The metrics the docs name (operations.md, the alert rules, the dashboard) against what
//! `/metrics` serves.

use reqwest::StatusCode;
use serde_json::json;

use super::{Api, RULES};

/// Every metric name the operations docs, the alert rules and the dashboard use is served, so
/// the examples in docs/ cannot drift from the code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_docs_name_is_served() {
    // A goal that compares a payload field with a number, and an event sending it as text:
    // `challenge_rule_evaluation_errors_total` is served from a goal's first failure on.
    let api = Api::start_with(&format!(
        "{RULES}  - id: probe\n    name: Probe\n    goals:\n      - {{ id: probe-typed, name: P, on: stat, stat: probe, when: 'event.additional.n >= 10', target: 1, assign: auto }}\n"
    ))
    .await;
    let (status, _) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api
        .post("p1", "/v1/events", json!({"kind": "stat", "id": "typed-1", "userId": "p1", "statCode": "probe", "latestValue": 1, "inc": 1, "additional": {"n": "12"}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["results"][0],
        json!({"id": "typed-1", "outcome": "no_match", "failedGoals": ["probe-typed"]}),
        "the sender is told which goal's rule failed on its event"
    );
    let served = api.metrics().await;
    assert!(
        served.contains(
            "challenge_rule_evaluation_errors_total{challenge=\"probe\",goal=\"probe-typed\"} 1"
        ),
        "text compared with a number is counted under its goal: {served}"
    );
    let family = |name: &str| {
        ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name)
            .to_string()
    };
    let served: std::collections::BTreeSet<String> = served
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(family)
        .collect();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
    for file in [
        "operations.md",
        "prometheus-alerts.yml",
        "grafana-dashboard.json",
    ] {
        let text = std::fs::read_to_string(docs.join(file)).expect("docs file");
        let mut named = 0;
        for (start, _) in text.match_indices("challenge_") {
            let name: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            // Words that are not metrics: the database name and a column.
            if name.ends_with('_') || ["challenge_db", "challenge_id"].contains(&name.as_str()) {
                continue;
            }
            named += 1;
            assert!(
                served.contains(&family(&name)),
                "{file} names `{name}`, which /metrics does not serve: {served:?}"
            );
        }
        assert!(named > 5, "{file} names metrics");
    }
    api.stop();
}
