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

/// A client generated from the reference's swagger: `activeOnly` in the query (grpc-gateway's
/// JSON name), snake_case bodies, and the selection answer's `SelectedGoal` fields; a scheduled
/// challenge's goals carry the schedule's end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_reads_and_selects_as_the_reference() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    // pick-a done while active, then put aside: only the full list shows it.
    let active = |on: bool| {
        api.call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-a/active",
            Some(json!({"is_active": on})),
        )
    };
    assert_eq!(active(true).await.0, StatusCode::OK);
    api.stat("p1", "a-1", "a", 1).await;
    assert_eq!(active(false).await.0, StatusCode::OK);
    let pick_a = |list: &Value| {
        (list["challenges"].as_array().unwrap().iter())
            .flat_map(|c| c["goals"].as_array().unwrap().iter())
            .find(|g| g["goalId"] == "pick-a")
            .map(|g| g["progress"].clone())
    };
    let (_, all) = api.get("p1", "/v1/challenges").await;
    let (status, camel) = api.get("p1", "/v1/challenges?activeOnly=true").await;
    assert_eq!(status, StatusCode::OK, "{camel}");
    let (_, snake) = api.get("p1", "/v1/challenges?active_only=true").await;
    assert_eq!(pick_a(&all), Some(json!(1)), "{all}");
    assert_eq!(
        pick_a(&camel),
        None,
        "activeOnly lists active goals only: {camel}"
    );
    assert_eq!(camel, snake);
    let ids = |list: &Value| -> Vec<String> {
        (list["challenges"].as_array().unwrap().iter())
            .flat_map(|c| c["goals"].as_array().unwrap().iter())
            .map(|g| g["goalId"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        ids(&camel).contains(&"tutorial".to_string()),
        "default goals are active"
    );
    assert!(
        (camel["challenges"].as_array().unwrap().iter())
            .flat_map(|c| c["goals"].as_array().unwrap().iter())
            .all(|g| g["isActive"] == true),
        "{camel}"
    );

    let (status, picked) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/batch-select",
            json!({"goal_ids": ["pick-b"], "replace_existing": false}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{picked}");
    let selected = &picked["selectedGoals"][0];
    for field in [
        "goalId",
        "name",
        "description",
        "requirement",
        "reward",
        "status",
        "progress",
        "target",
        "isActive",
        "assignedAt",
        "expiresAt",
    ] {
        assert!(selected.get(field).is_some(), "{field}: {selected}");
    }
    assert_eq!(
        (
            selected["goalId"].clone(),
            selected["target"].clone(),
            selected["isActive"].clone()
        ),
        (json!("pick-b"), json!(1), json!(true))
    );
    assert_eq!(selected["assignedAt"], "2026-06-10T12:00:00Z", "{selected}");

    // The spring event ends at midnight: its goal says so, as a rotation's period end would.
    let spring = api.goal("p1", "spring", "spring-flowers").await;
    assert_eq!(
        (
            spring["expiresAt"].clone(),
            spring["expiresInSeconds"].clone()
        ),
        (json!("2026-06-11T00:00:00Z"), json!(12 * 3600)),
        "{spring}"
    );
    api.stop();
}

/// A wrongly shaped `POST /v1/events` body is told what is wrong and what is expected, in JSON's
/// words, not the server's types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrongly_shaped_events_body_is_told_the_expected_shape() {
    let api = Api::start().await;
    for (body, says) in [
        (json!("stat"), "an event object"),
        (json!(42), "or a list of them, not a number"),
        (
            json!({"kind": "stat", "id": "e1"}),
            "the event: missing field `userId`",
        ),
        (
            json!([{"kind": "stat", "id": "e1", "userId": "p1"}, {"kind": "stat", "id": "e2", "userId": "p1", "inc": "3"}]),
            "event 2: inc: invalid type: string \"3\", expected a number",
        ),
        (
            json!({"kind": "stat", "id": "e1", "userId": "p1", "statCode": "kills", "latestValue": "5"}),
            "the event: latestValue: invalid type: string \"5\", expected a number",
        ),
        (
            json!({"kind": "stat", "id": "e1", "userId": "p1", "latest": 3}),
            "unknown field `latest`",
        ),
    ] {
        let (status, answer) = api.post("p1", "/v1/events", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
        assert!(
            !message.contains("untagged") && !message.contains("f64"),
            "{message}"
        );
    }
    api.stop();
}

/// Tags: a challenge's and a goal's are in the answers; `?tags=` lists the challenges carrying
/// any of the tags asked for, with all their goals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_by_challenge_tags() {
    let api = Api::start().await;
    let ids = |list: &Value| -> Vec<String> {
        (list["challenges"].as_array().unwrap().iter())
            .map(|c| c["challengeId"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, all) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), ["season", "daily", "spring", "veteran"]);
    let (_, pvp) = api.get("p1", "/v1/challenges?tags=pvp").await;
    assert_eq!(ids(&pvp), ["daily"]);
    assert_eq!(pvp["challenges"][0]["tags"], json!(["daily", "pvp"]));
    assert_eq!(pvp["challenges"][0]["goals"][0]["tags"], json!(["ranked"]));
    let (_, either) = api.get("p1", "/v1/challenges?tags=seasonal,%20pvp").await;
    assert_eq!(
        ids(&either),
        ["daily", "spring"],
        "any of the tags, in rule-set order"
    );
    let (_, none) = api.get("p1", "/v1/challenges?tags=ranked").await;
    assert_eq!(
        ids(&none),
        Vec::<String>::new(),
        "goal tags are shown, not filtered on"
    );
    let (_, empty) = api.get("p1", "/v1/challenges?tags=").await;
    assert_eq!(ids(&empty), ids(&all));
    assert!(
        all["challenges"][0].get("tags").is_none(),
        "a challenge without tags answers as before: {}",
        all["challenges"][0]
    );
    api.stop();
}
