//! Support's actions over REST: set, complete and reset a player's goal with a reason, each on
//! record in the audit log; a claimed goal is refused; a goal support completed is claimed
//! through the same path as any other, once.

use super::*;

fn progress_path(user: &str, challenge: &str, goal: &str) -> String {
    format!("/v1/admin/players/{user}/challenges/{challenge}/goals/{goal}/progress")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_sets_completes_and_resets_with_a_reason_on_record() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let act = |goal: &'static str, body: Value| {
        let api = &api;
        async move {
            api.post("agent-7", &progress_path("p1", "season", goal), body)
                .await
        }
    };

    // Refused before anything changes: no reason, a blank one, a wrong action or goal.
    for (body, code) in [
        (json!({"action": "set", "progress": 3}), "VALIDATION_FAILED"),
        (
            json!({"action": "set", "progress": 3, "reason": "   "}),
            "VALIDATION_FAILED",
        ),
        (json!({"action": "set", "reason": "r"}), "VALIDATION_FAILED"),
        (
            json!({"action": "complete", "progress": 3, "reason": "r"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"action": "grant-everything", "reason": "r"}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"action": "set", "progress": -1, "reason": "r"}),
            "VALIDATION_FAILED",
        ),
    ] {
        let (status, answer) = act("kills", body.clone()).await;
        assert_eq!(
            (status, answer["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!(code)),
            "{body}"
        );
    }
    let (status, _) = act("ghost", json!({"action": "reset", "reason": "r"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, set) = act(
        "kills",
        json!({"action": "set", "progress": 3, "reason": "ticket 12: lost kills"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(
        (
            set["goal"]["progress"].clone(),
            set["goal"]["status"].clone()
        ),
        (json!(3), json!("in_progress"))
    );
    assert!(
        set["auditId"].as_str().is_some_and(|id| id.len() == 36),
        "{set}"
    );
    let (_, done) = act(
        "kills",
        json!({"action": "complete", "reason": "ticket 12"}),
    )
    .await;
    assert_eq!(
        (
            done["goal"]["progress"].clone(),
            done["goal"]["status"].clone()
        ),
        (json!(5), json!("completed"))
    );
    assert_eq!(
        api.goal("p1", "season", "kills").await["status"],
        "completed",
        "the player sees it"
    );
    let (_, reset) = act(
        "kills",
        json!({"action": "reset", "reason": "ticket 13: double credit"}),
    )
    .await;
    assert_eq!(
        (
            reset["goal"]["progress"].clone(),
            reset["goal"]["status"].clone()
        ),
        (json!(0), json!("not_started"))
    );

    // Completed by support, claimed by the player through the usual path, once.
    let (status, _) = act(
        "tutorial",
        json!({"action": "complete", "reason": "ticket 14"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, claimed) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);
    let (status, refused) = act("tutorial", json!({"action": "reset", "reason": "undo"})).await;
    assert_eq!(
        (status, refused["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED")),
        "{refused}"
    );

    // The record, newest first: who, what, why, before and after.
    let (status, log) = api.get("agent-7", "/v1/admin/audit?userId=p1").await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let entries = log["entries"].as_array().expect("entries");
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["goalId"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("complete", "tutorial"),
            ("reset", "kills"),
            ("complete", "kills"),
            ("set", "kills")
        ]
    );
    let first = entries.last().unwrap();
    assert_eq!(first["actor"], "mock:agent-7");
    assert_eq!(first["reason"], "ticket 12: lost kills");
    assert_eq!(first["userId"], "p1");
    assert_eq!(
        first["before"],
        json!({"progress": 0, "status": "not_started"})
    );
    assert_eq!(
        first["after"],
        json!({"progress": 3, "status": "in_progress"})
    );
    let (_, none) = api.get("agent-7", "/v1/admin/audit?userId=p2").await;
    assert_eq!(none["entries"], json!([]));
    let (status, _) = api.get("agent-7", "/v1/admin/audit?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    api.stop();
}

/// A grant on the player's behalf goes through the claim's path: refused until the goal is
/// completed, then exactly one grant however many ask at once, each started grant on record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_grants_through_the_claim_path_exactly_once() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let grant = |reason: &'static str| {
        let api = &api;
        async move {
            api.post(
                "agent-7",
                "/v1/admin/players/p1/challenges/season/goals/tutorial/grant",
                json!({ "reason": reason }),
            )
            .await
        }
    };
    let (status, refused) = grant("   ").await;
    assert_eq!(
        (status, refused["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED"))
    );
    let (status, refused) = grant("ticket 21").await;
    assert_eq!(
        (status, refused["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("GOAL_NOT_COMPLETED")),
        "{refused}"
    );

    api.stat("p1", "t-1", "tutorial", 1).await;
    // Three agents at once (Platform answers after 50 ms): one grant goes out.
    let (a, b, c) = tokio::join!(grant("ticket 21"), grant("ticket 21"), grant("ticket 22"));
    let statuses = [a.0, b.0, c.0];
    assert!(
        statuses
            .iter()
            .any(|s| [StatusCode::OK, StatusCode::ACCEPTED].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::OK, StatusCode::ACCEPTED, StatusCode::CONFLICT].contains(s)),
        "{statuses:?}"
    );
    // The delivery runs detached; wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.goal("p1", "season", "tutorial").await["status"] != "claimed" {
        assert!(Instant::now() < deadline, "the grant was not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1, "one grant");
    let (status, again) = grant("ticket 23").await;
    assert_eq!(
        (status, again["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );
    let (status, claimed) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "the player's own claim finds it granted: {claimed}"
    );
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);

    // On record: the one grant that started the intent, with its reward; refusals leave none.
    let (_, log) = api.get("agent-7", "/v1/admin/audit?userId=p1").await;
    let grants: Vec<&Value> = (log["entries"].as_array().unwrap().iter())
        .filter(|e| e["action"] == "grant")
        .collect();
    assert_eq!(grants.len(), 1, "{log}");
    assert_eq!(grants[0]["goalId"], "tutorial");
    assert_eq!(grants[0]["actor"], "mock:agent-7");
    assert!(grants[0]["detail"]["reward"].is_object(), "{}", grants[0]);
    api.stop();
}

/// Bulk: one goal of many players, each player all or nothing, every result reported in order;
/// a bad request changes no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_actions_report_each_player() {
    let api = Api::start().await;
    for user in ["p1", "p2", "p3"] {
        api.post(user, "/v1/challenges/initialize", json!({})).await;
    }
    api.stat("p1", "t-1", "tutorial", 1).await;
    api.post(
        "p1",
        "/v1/challenges/season/goals/tutorial/claim",
        json!({}),
    )
    .await;

    // Refused whole: no reason, too many players, a player named twice.
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    for body in [
        json!({"userIds": ["p2"], "challengeId": "season", "goalId": "tutorial", "action": "complete"}),
        json!({"userIds": many, "challengeId": "season", "goalId": "tutorial", "action": "complete", "reason": "r"}),
        json!({"userIds": ["p2", "p2"], "challengeId": "season", "goalId": "tutorial", "action": "complete", "reason": "r"}),
    ] {
        let (status, answer) = api.post("agent-7", "/v1/admin/bulk/progress", body).await;
        assert_eq!(
            (status, answer["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
            "{answer}"
        );
    }
    assert_eq!(
        api.goal("p2", "season", "tutorial").await["status"],
        "not_started"
    );

    // p1 claimed its tutorial already: refused; p2 and p3 completed.
    let (status, answer) = api
        .post(
            "agent-7",
            "/v1/admin/bulk/progress",
            json!({"userIds": ["p1", "p2", "p3"], "challengeId": "season", "goalId": "tutorial",
                   "action": "complete", "reason": "incident 7: tutorial stat lost"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        (answer["succeeded"].clone(), answer["failed"].clone()),
        (json!(2), json!(1))
    );
    let results = answer["results"].as_array().unwrap();
    assert_eq!(
        results
            .iter()
            .map(|r| r["userId"].clone())
            .collect::<Vec<_>>(),
        [json!("p1"), json!("p2"), json!("p3")]
    );
    assert_eq!(
        (
            results[0]["status"].clone(),
            results[0]["errorCode"].clone()
        ),
        (json!(409), json!("ALREADY_CLAIMED"))
    );
    assert!(results[1]["auditId"].is_string(), "{answer}");
    assert_eq!(
        api.goal("p3", "season", "tutorial").await["status"],
        "completed"
    );

    // And their rewards, on their behalf: p1's went out already, one grant each for p2 and p3.
    let (status, answer) = api
        .post(
            "agent-7",
            "/v1/admin/bulk/grant",
            json!({"userIds": ["p1", "p2", "p3"], "challengeId": "season", "goalId": "tutorial",
                   "reason": "incident 7"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let statuses: Vec<Value> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses[0], json!(409), "{answer}");
    assert!(
        statuses[1..]
            .iter()
            .all(|s| *s == json!(200) || *s == json!(202)),
        "{answer}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.rewards.grants.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "grants not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        api.rewards.grants.load(Ordering::SeqCst),
        3,
        "p1's claim and one each for p2, p3"
    );
    let (_, log) = api.get("agent-7", "/v1/admin/audit?limit=100").await;
    let actions: Vec<&str> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["grant", "grant", "complete", "complete"], "{log}");
    api.stop();
}

/// Support acting on a goal that events keep moving, and on the same goal from several agents
/// at once: every action applies (each decided on the row as it is under a lock), none is
/// refused for the traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_actions_apply_under_concurrent_events_and_agents() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let sets = (0..12).map(|i| {
        let api = &api;
        async move {
            api.post(
                &format!("agent-{i}"),
                "/v1/admin/players/p1/challenges/season/goals/kills/progress",
                json!({"action": "set", "progress": i % 4, "reason": format!("ticket {i}")}),
            )
            .await
        }
    });
    let events = (0..24).map(|i| {
        let api = &api;
        async move { api.stat("p1", &format!("k-{i}"), "kills", 1).await }
    });
    let (answers, _) = tokio::join!(
        futures::future::join_all(sets),
        futures::future::join_all(events)
    );
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let (_, log) = api.get("agent-0", "/v1/admin/audit?userId=p1").await;
    assert_eq!(
        log["entries"].as_array().unwrap().len(),
        12,
        "one entry per action"
    );
    api.stop();
}

/// What a person mistypes is refused whole, with a message naming it, and changes no one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistyped_support_requests_are_refused_with_their_reason() {
    let api = Api::start().await;
    let long = "x".repeat(2_001);
    for (path, body, says) in [
        (
            progress_path("p1", "season", "kills"),
            json!({"action": "set", "progress": 9_007_199_254_740_992_i64, "reason": "r"}),
            "at most",
        ),
        (
            progress_path("p1", "season", "kills"),
            json!({"action": "set", "progress": 1, "reason": long}),
            "2001 characters",
        ),
        (
            progress_path("%20", "season", "kills"),
            json!({"action": "reset", "reason": "r"}),
            "user id",
        ),
        (
            progress_path("a%00b", "season", "kills"),
            json!({"action": "reset", "reason": "r"}),
            "control characters",
        ),
        (
            "/v1/admin/bulk/progress".to_string(),
            json!({"userIds": ["p1"], "challengeId": "season", "goalId": "kills", "action": "set", "progress": -5, "reason": "r"}),
            "0 or more",
        ),
        (
            "/v1/admin/bulk/grant".to_string(),
            json!({"userIds": ["p1", " "], "challengeId": "season", "goalId": "kills", "reason": "r"}),
            "user id",
        ),
    ] {
        let (status, answer) = api.post("agent-7", &path, body).await;
        assert_eq!(
            (status, answer["errorCode"].clone()),
            (StatusCode::BAD_REQUEST, json!("VALIDATION_FAILED")),
            "{path}: {answer}"
        );
        assert!(
            answer["message"].as_str().unwrap_or("").contains(says),
            "{path}: {answer}"
        );
    }
    for path in [
        "/v1/admin/audit?userId=",
        "/v1/admin/players/%20/challenges",
    ] {
        let (status, answer) = api.get("agent-7", path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    }
    let (_, log) = api.get("agent-7", "/v1/admin/audit").await;
    assert_eq!(log["entries"], json!([]), "nothing was recorded");
    api.stop();
}
