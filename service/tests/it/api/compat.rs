//! The reference implementation's generated clients: grpc-gateway reads a body key in either
//! spelling, its proto name (`is_active`) or its JSON name (`isActive`), so clients built from
//! its swagger may send either. Both select the same goals here.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_bodies_take_both_spellings_of_their_keys() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-a/active",
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(api.goal("p1", "season", "pick-a").await["isActive"], true);

    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/batch-select",
            json!({"goal_ids": ["pick-b"], "replace_existing": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.goal("p1", "season", "pick-a").await["isActive"],
        false,
        "replaced"
    );
    assert_eq!(api.goal("p1", "season", "pick-b").await["isActive"], true);

    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/random-select",
            json!({"count": 1, "replace_existing": false, "exclude_active": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // One key in both spellings is one key too many.
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/batch-select",
            json!({"goalIds": ["pick-a"], "goal_ids": ["pick-b"]}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    api.stop();
}
