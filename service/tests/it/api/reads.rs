//! Reading challenges, initialize, selection, the OpenAPI document and the metrics.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_initialize_and_progress() {
    let api = Api::start().await;
    let (status, body) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["challenges"].as_array().unwrap().len(), 4);
    let (status, body) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["newAssignments"], 3, "tutorial, kills, daily-wins");
    assert_eq!(body["totalActive"], 3);
    api.stat("p1", "e1", "kills", 3).await;
    let kills = api.goal("p1", "season", "kills").await;
    assert_eq!(
        (
            kills["progress"].clone(),
            kills["status"].clone(),
            kills["locked"].clone()
        ),
        (json!(3), json!("in_progress"), json!(true))
    );
    assert_eq!(
        kills["requirement"],
        json!({"statCode": "kills", "operator": ">=", "targetValue": 5})
    );
    assert_eq!(
        kills["reward"],
        json!({"type": "ITEM", "rewardId": "sword", "quantity": 1})
    );
    assert_eq!(kills["completedAt"], "");
    let (status, again) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(
        (status, again["newAssignments"].clone()),
        (StatusCode::OK, json!(0))
    );
    let (status, body) = api.get("p1", "/v1/challenges/unknown").await;
    assert_eq!(
        (status, body["errorCode"].clone(), body["code"].clone()),
        (
            StatusCode::NOT_FOUND,
            json!("CHALLENGE_NOT_FOUND"),
            json!(5)
        )
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selection_batch_is_all_or_nothing_and_random_skips_done_and_locked() {
    let api = Api::start().await;
    let path = "/v1/challenges/season/goals/batch-select";
    let (status, body) = api
        .post("p1", path, json!({"goalIds": ["pick-a", "nope"]}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("GOAL_NOT_FOUND"))
    );
    assert_eq!(
        api.goal("p1", "season", "pick-a").await["isActive"],
        false,
        "nothing was selected"
    );
    let (status, body) = api.post("p1", path, json!({"goalIds": []})).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/random-select",
            json!({"count": 0}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("count"),
        "{body}"
    );
    let (status, body) = api.post("p1", path, json!({"goalIds": ["pick-a"]})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totalActiveGoals"], 1);

    // pick-a done, pick-c locked (kills not completed): random-select can only pick pick-b.
    api.stat("p1", "a1", "a", 1).await;
    assert_eq!(
        api.goal("p1", "season", "pick-a").await["status"],
        "completed"
    );
    for _ in 0..5 {
        let (status, body) = api
            .post(
                "p1",
                "/v1/challenges/season/goals/random-select",
                json!({"count": 3}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let picked: Vec<&str> = body["selectedGoals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["goalId"].as_str().unwrap())
            .collect();
        assert!(
            picked
                .iter()
                .all(|g| !["pick-a", "pick-c", "tutorial", "kills"].contains(g))
                || picked.iter().all(|g| *g != "pick-a" && *g != "pick-c"),
            "{picked:?}"
        );
        assert!(
            !picked.contains(&"pick-a") && !picked.contains(&"pick-c"),
            "{picked:?}"
        );
        assert_eq!(
            picked.len(),
            2,
            "a partial selection: the two available (tutorial, pick-b): {picked:?}"
        );
    }
    for (path, body) in [
        ("random-select", json!({"count": 101})),
        ("batch-select", json!({"goalIds": vec!["pick-b"; 101]})),
    ] {
        let (status, answer) = api
            .post("p1", &format!("/v1/challenges/season/goals/{path}"), body)
            .await;
        assert_eq!(
            (status, answer["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
            "{path}: at most 100 ({answer})"
        );
    }
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/daily/goals/random-select",
            json!({"count": 1, "excludeActive": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/daily/goals/random-select",
            json!({"count": 1, "excludeActive": true}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("INSUFFICIENT_GOALS"))
    );

    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-b/active",
            Some(json!({"isActive": true})),
        )
        .await;
    assert_eq!(
        (status, body["isActive"].clone()),
        (StatusCode::OK, json!(true))
    );
    let (status, _) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/ghost/active",
            Some(json!({"isActive": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api
        .call(
            reqwest::Method::PUT,
            "p1",
            "/v1/challenges/season/goals/pick-b/active",
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_default_goal_reaches_a_returning_player() {
    let api = Api::start().await;
    let (_, first) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(first["newAssignments"], 3);
    let edited = RULES.replace(
        "      - { id: pick-a,",
        "      - { id: new-default, name: New, on: stat, stat: n, target: 1 }\n      - { id: pick-a,",
    );
    std::fs::write(api.rules_dir.path().join("rules.yaml"), edited).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, rules) = api.get("p1", "/v1/rules").await;
        if rules["goals"] == 9 {
            break;
        }
        assert!(Instant::now() < deadline, "reload not seen: {rules}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, again) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(again["newAssignments"], 1, "{again}");
    assert_eq!(again["totalActive"], 4);
    let (status, body) = api
        .get("p1", "/v1/challenges/season/goals/new-default/explain")
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned"], true);
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdpr_deletion_is_rate_limited() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .call(reqwest::Method::DELETE, "p1", "/v1/users/me/data", None)
        .await;
    assert_eq!(
        (status, body["rowsDeleted"].clone(), body["userId"].clone()),
        (StatusCode::OK, json!(3), json!("p1"))
    );
    let (status, body) = api
        .call(reqwest::Method::DELETE, "p1", "/v1/users/me/data", None)
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::TOO_MANY_REQUESTS, json!("RATE_LIMITED"))
    );
    let (status, _) = api
        .call(reqwest::Method::DELETE, "p2", "/v1/users/me/data", None)
        .await;
    assert_eq!(status, StatusCode::OK, "the limit is per user");
    let (status, body) = api
        .post("p1", "/v1/events", json!({"kind": "stat", "userId": "p1"}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
        "{body}"
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_endpoint() {
    let api = Api::start().await;
    let (status, doc) = api.get("p1", "/apidocs/api.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert_eq!(doc["servers"][0]["url"], "/challenge");
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/challenges",
        "/v1/challenges/{challenge}",
        "/v1/challenges/initialize",
        "/v1/challenges/{challenge}/goals/{goal}/active",
        "/v1/challenges/{challenge}/goals/batch-select",
        "/v1/challenges/{challenge}/goals/random-select",
        "/v1/challenges/{challenge}/goals/{goal}/claim",
        "/v1/challenges/{challenge}/rotation",
        "/v1/challenges/{challenge}/goals/{goal}/explain",
        "/v1/users/me/data",
        "/v1/events",
        "/v1/rules",
        "/healthz",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"]["GoalJson"]["properties"]["expiresInSeconds"].is_object());
    api.stop();
}

/// A Swagger UI next to the document, from the binary itself (no CDN: it works offline), and
/// pointing at the document under the same base path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swagger_ui_serves_the_document_under_the_base_path() {
    let api = Api::start().await;
    let fetch = |path: &str| {
        let url = format!("{}{path}", api.base);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        async move {
            let response = client.get(url).send().await.expect("request");
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.text().await.expect("body"))
        }
    };
    let (status, headers, page) = fetch("/apidocs/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.contains("swagger-ui"), "{page}");
    assert!(
        !page.contains("https://"),
        "every asset is served here: {page}"
    );
    let (status, _, init) = fetch("/apidocs/swagger-initializer.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        init.contains("\"api.json\""),
        "the document, relative to the page: {init}"
    );
    let (status, headers, bundle) = fetch("/apidocs/swagger-ui-bundle.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    assert!(bundle.len() > 100_000, "the vendored bundle");
    // Without the slash, relative asset paths would miss the folder: redirect to it.
    let (status, headers, _) = fetch("/apidocs").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers["location"], "apidocs/");
    let (status, _, body) = fetch("/apidocs/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("NOT_FOUND"), "{body}");
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_latency_is_measured_per_route() {
    let api = Api::start().await;
    let (status, _) = api.get("p1", "/v1/challenges").await;
    assert_eq!(status, StatusCode::OK);
    let metrics = api.metrics().await;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("challenge_api_request_duration_seconds_count")
                && l.contains("v1/challenges\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no latency of GET /v1/challenges in {metrics}"));
    assert!(line.contains("method=\"GET\""), "{line}");
    api.stop();
}

/// Support's view of any player: the list that player would read, named by the path, with
/// `userId`; reading it writes nothing (an unknown player stays unassigned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_reads_any_players_challenges() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "t-1", "tutorial", 1).await;
    api.stat("p1", "k-1", "kills", 3).await;
    let (_, own) = api.get("p1", "/v1/challenges").await;

    // Asked by someone else (mock mode: any caller is the server), about p1.
    let (status, seen) = api.get("support", "/v1/admin/players/p1/challenges").await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    assert_eq!(seen["userId"], "p1");
    assert_eq!(seen["challenges"], own["challenges"], "what p1 reads");
    let season = seen["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["challengeId"] == "season")
        .expect("season listed");
    let kills = season["goals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["goalId"] == "kills")
        .expect("kills listed");
    assert_eq!(
        (kills["progress"].clone(), kills["locked"].clone()),
        (json!(3), json!(false))
    );

    let (status, nobody) = api
        .get("support", "/v1/admin/players/nobody/challenges")
        .await;
    assert_eq!(status, StatusCode::OK, "{nobody}");
    assert_eq!(nobody["userId"], "nobody");
    let (_, again) = api
        .get("support", "/v1/admin/players/nobody/challenges")
        .await;
    assert_eq!(again, nobody);
    let (_, initialized) = api
        .post("nobody", "/v1/challenges/initialize", json!({}))
        .await;
    assert_eq!(
        initialized["newAssignments"], 3,
        "reading a player assigned nothing: {initialized}"
    );
    api.stop();
}

/// An `assign: auto` goal's row is created by the event that first counts: explain still names
/// that event's time as the last update (it answered "" when the row was born of the event).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_names_the_event_that_created_an_auto_goals_row() {
    let api = Api::start().await;
    let (_, before) = api
        .get("p9", "/v1/challenges/veteran/goals/veteran-matches/explain")
        .await;
    assert_eq!(
        before["lastMatchingEventAt"], "",
        "no row, no event: {before}"
    );
    api.stat("p9", "m-1", "matches", 1).await;
    let (status, why) = api
        .get("p9", "/v1/challenges/veteran/goals/veteran-matches/explain")
        .await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!(why["progress"], 1, "{why}");
    assert_ne!(why["lastMatchingEventAt"], "", "{why}");
    api.stop();
}
