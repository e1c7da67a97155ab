//! Events over REST and the API's error shape.

use super::*;

/// Events posted over REST are counted like those arriving over gRPC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_events_are_counted_like_grpc_ones() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "r1", "kills", 1).await;
    api.stat("p1", "r1", "kills", 1).await;
    let (status, _) = api
        .post("p1", "/v1/events", json!({"kind": "stat", "id": "bad", "userId": "", "statCode": "kills", "latestValue": 1}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let metrics = api.metrics().await;
    for sample in [
        r#"challenge_events_received_total{kind="stat"} 3"#,
        r#"challenge_events_processed_total{kind="stat",outcome="applied"} 1"#,
        r#"challenge_events_processed_total{kind="stat",outcome="duplicate"} 1"#,
        r#"challenge_events_rejected_total{kind="stat",reason="invalid"} 1"#,
    ] {
        assert!(metrics.contains(sample), "missing `{sample}`");
    }
    assert!(metrics.contains(r#"challenge_event_processing_seconds_count{kind="stat"} 3"#));
    api.stop();
}

/// Every error answers `{code, errorCode, message}`, also those no handler produces: an
/// unknown route, a wrong method, a bad query string or body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_json_error_shape() {
    let api = Api::start().await;
    let cases = [
        (
            reqwest::Method::GET,
            "/v1/nothing-here",
            None,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        ),
        (
            reqwest::Method::DELETE,
            "/v1/challenges",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
        ),
        (
            reqwest::Method::GET,
            "/v1/challenges?active_only=maybe",
            None,
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
        (
            reqwest::Method::POST,
            "/v1/events",
            Some(json!({"kind": 7})),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        ),
    ];
    for (method, path, body, status, error_code) in cases {
        let (got, answer) = api.call(method.clone(), "p1", path, body).await;
        assert_eq!(
            (got, answer["errorCode"].clone()),
            (status, json!(error_code)),
            "{method} {path}: {answer}"
        );
        assert!(
            answer["code"].is_u64() && answer["message"].is_string(),
            "{answer}"
        );
    }
    api.stop();
}

/// A list of events is validated whole before any of it is committed: one bad event refuses
/// the list, and the good ones before it did not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_with_a_bad_event_commits_nothing() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .post(
            "p1",
            "/v1/events",
            json!([
                {"kind": "stat", "id": "good-1", "userId": "p1", "statCode": "kills", "latestValue": 3, "inc": 3},
                {"kind": "stat", "id": "bad-1", "userId": "", "statCode": "kills", "latestValue": 1, "inc": 1}
            ]),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("bad-1"),
        "{body}"
    );
    assert_eq!(
        api.goal("p1", "season", "kills").await["progress"],
        0,
        "nothing was committed"
    );
    api.stop();
}

/// Two game servers post `match-42` for two players: both count. A retry of one counts once.
/// An event without an id is refused: nothing could make its retry safe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_id_for_two_players_counts_for_both() {
    let api = Api::start().await;
    for user in ["p1", "p2"] {
        api.post(user, "/v1/challenges/initialize", json!({})).await;
    }
    let post = |user: &'static str| {
        api.post(
            user,
            "/v1/events",
            json!({"kind": "stat", "id": "match-42", "userId": user, "statCode": "tutorial",
                   "latestValue": 1, "inc": 1, "timestamp": "2026-06-02T10:00:00Z"}),
        )
    };
    let outcome = |body: &Value| body["results"][0]["outcome"].clone();
    let (status, body) = post("p1").await;
    assert_eq!((status, outcome(&body)), (StatusCode::OK, json!("applied")));
    let (status, body) = post("p2").await;
    assert_eq!(
        (status, outcome(&body)),
        (StatusCode::OK, json!("applied")),
        "another player's event with the same id counts: {body}"
    );
    let (_, body) = post("p1").await;
    assert_eq!(outcome(&body), json!("duplicate"), "a retry counts once");
    for user in ["p1", "p2"] {
        assert_eq!(
            api.goal(user, "season", "tutorial").await["status"],
            "completed"
        );
    }
    let (status, body) = api
        .post(
            "p1",
            "/v1/events",
            json!({"kind": "stat", "userId": "p1", "statCode": "kills", "latestValue": 1}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("`id` is required")),
        "{body}"
    );
    api.stop();
}
