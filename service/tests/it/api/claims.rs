//! Claims over REST: the documented order, refusals, rotation, carried-over goals, seasons.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_follow_the_documented_order_and_grant_once() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("GOAL_NOT_COMPLETED"))
    );
    let (status, body) = api
        .post("p1", "/v1/challenges/daily/goals/tutorial/claim", json!({}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("GOAL_NOT_FOUND")),
        "goal of another challenge"
    );

    // Prerequisites block the claim until met.
    api.stat("p1", "k1", "kills", 5).await;
    let (status, body) = api
        .post("p1", "/v1/challenges/season/goals/kills/claim", json!({}))
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("PREREQUISITES_NOT_MET"))
    );
    api.stat("p1", "t1", "tutorial", 1).await;

    // Five concurrent claims: one 200; the others are told it is pending (202) or, once
    // granted, already claimed (409); one grant.
    let claims: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (
                api.client.clone(),
                format!("{}/v1/challenges/season/goals/tutorial/claim", api.base),
            );
            tokio::spawn(async move {
                client
                    .post(url)
                    .header("x-mock-user-id", "p1")
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for claim in claims {
        statuses.push(claim.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT || **s == StatusCode::ACCEPTED)
            .count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );

    // Now the prerequisite is claimed: the locked goal can be claimed.
    let (status, body) = api
        .post("p1", "/v1/challenges/season/goals/kills/claim", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "claimed");
    assert_eq!(
        body["reward"],
        json!({"type": "ITEM", "rewardId": "sword", "quantity": 1})
    );
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_grant_answers_502_and_the_goal_stays_claimable() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "t1", "tutorial", 1).await;
    api.rewards.fail.store(true, Ordering::SeqCst);
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_GATEWAY, json!("REWARD_GRANT_FAILED"))
    );
    assert_eq!(
        api.goal("p1", "season", "tutorial").await["status"],
        "completed"
    );
    api.rewards.fail.store(false, Ordering::SeqCst);
    let (status, _) = api
        .post(
            "p1",
            "/v1/challenges/season/goals/tutorial/claim",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    api.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_goal_shows_zero_and_cannot_be_claimed() {
    let api = Api::start().await;
    api.post("p1", "/v1/challenges/initialize", json!({})).await;
    api.stat("p1", "w1", "wins", 1).await;
    api.stat("p1", "w2", "wins", 2).await;
    assert_eq!(
        api.goal("p1", "daily", "daily-wins").await["status"],
        "completed"
    );
    // The next day.
    api.clock.advance(chrono::Duration::days(1));
    let goal = api.goal("p1", "daily", "daily-wins").await;
    assert_eq!(
        (goal["progress"].clone(), goal["status"].clone()),
        (json!(0), json!("not_started"))
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/daily/goals/daily-wins/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::BAD_REQUEST, json!("GOAL_ROTATED"))
    );
    let (status, body) = api.get("p1", "/v1/challenges/daily/rotation").await;
    assert_eq!(
        (status, body["rotation"]["schedule"].clone()),
        (StatusCode::OK, json!("daily"))
    );
    api.stop();
}

/// A weekly goal that carries its progress over, completed one week, is claimed the next
/// (`challenges/weekly-missions.yaml`'s `weekly-veteran` is one): once, ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carried_over_completion_is_claimed_in_a_later_week_once() {
    let api = Api::start().await;
    api.stat("p1", "m1", "matches", 1).await;
    api.stat("p1", "m2", "matches", 2).await;
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "completed"
    );
    api.clock.advance(chrono::Duration::days(8));
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "completed"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/veteran/goals/veteran-matches/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    api.clock.advance(chrono::Duration::days(7));
    assert_eq!(
        api.goal("p1", "veteran", "veteran-matches").await["status"],
        "claimed"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/veteran/goals/veteran-matches/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );
    assert_eq!(api.rewards.grants.load(Ordering::SeqCst), 1);
    api.stop();
}

/// A season's unclaimed rewards stay claimable for its `claim_grace` after it ends; its events
/// stop counting at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_season_can_be_claimed_within_its_grace_period() {
    let api = Api::start().await;
    for user in ["p1", "p2"] {
        api.stat(user, &format!("{user}-f"), "flowers", 1).await;
        assert_eq!(
            api.goal(user, "spring", "spring-flowers").await["status"],
            "completed"
        );
    }
    // The season ended 12 hours ago: still listed, still claimable, no longer counting.
    api.clock.advance(chrono::Duration::hours(24));
    let (_, list) = api.get("p3", "/v1/challenges").await;
    assert!(
        list["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["challengeId"] == "spring")
    );
    api.stat("p3", "p3-f", "flowers", 1).await;
    assert_eq!(
        api.goal("p3", "spring", "spring-flowers").await["status"],
        "not_started"
    );
    let (status, body) = api
        .post(
            "p1",
            "/v1/challenges/spring/goals/spring-flowers/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("claimed")),
        "{body}"
    );
    // After the grace, the season is gone.
    api.clock.advance(chrono::Duration::days(2));
    let (status, body) = api
        .post(
            "p2",
            "/v1/challenges/spring/goals/spring-flowers/claim",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::NOT_FOUND, json!("CHALLENGE_NOT_FOUND"))
    );
    api.stop();
}
