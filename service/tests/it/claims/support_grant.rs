//! Support's grant on a player's behalf goes through the claim's intent path: the same faults
//! as a claim (here a slow Platform) still give one grant.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use service::rewards::platform::DeliveryMode;
use store::testing::TestDatabase;

use super::{FAST, Harness};

both_stores!(a_support_grant_under_a_slow_platform_delivers_once);

/// Support grants on the player's behalf while Platform answers late: the grant goes through
/// the claim's intent, so asking again (support or the player) never sends a second one, and
/// the reconciler delivers it once Platform recovers.
async fn a_support_grant_under_a_slow_platform_delivers_once(db: TestDatabase) {
    let api = Harness::start(db, DeliveryMode::Fulfillment, FAST).await;
    api.kill("p1", "k1").await;
    api.ags.answer_after(Duration::from_secs(3));
    let grant = || {
        api.call(
            reqwest::Method::POST,
            "agent-7",
            "/v1/admin/players/p1/challenges/season/goals/sword/grant",
            Some(json!({"reason": "ticket 31: sword never arrived"})),
        )
    };
    let (status, body) = grant().await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::ACCEPTED, json!("pending")),
        "{body}"
    );
    let (status, _) = grant().await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "support asks again: still pending"
    );
    let (status, _) = api.claim("p1", "sword").await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "and so does the player's own claim"
    );
    api.ags.answer_after(Duration::ZERO);
    api.wait_claimed("p1", "sword").await;
    assert_eq!(
        api.ags.effects().len(),
        1,
        "one grant: {:?}",
        api.ags.effects()
    );
    let (status, log) = api
        .call(
            reqwest::Method::GET,
            "agent-7",
            "/v1/admin/audit?userId=p1",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let grants = (log["entries"].as_array().unwrap().iter())
        .filter(|e| e["action"] == "grant")
        .count();
    assert_eq!(
        grants, 1,
        "the grant that started the intent is on record: {log}"
    );
}
