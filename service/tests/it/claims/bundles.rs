//! Bundles and weighted tables through the real REST service and a local Platform: a bundle is
//! one fulfillment, granted whole and once under a slow answer; delivered directly, it goes
//! part by part and no part goes twice (a lost answer, an operator's decision, a refusal and a
//! claim started again); a table's draw is made once and every retry sends it. Each runs on
//! PostgreSQL and on SQLite. `kill -9` and replicas: `replicas.rs`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use service::rewards::platform::DeliveryMode;
use store::IntentState;
use store::testing::TestDatabase;

use super::{FAST, Harness};

both_stores!(
    a_bundle_is_one_fulfillment_granted_whole_and_once_under_a_slow_answer,
    a_direct_bundle_goes_part_by_part_and_no_part_goes_twice,
    a_refused_part_is_claimed_again_from_that_part,
    a_tables_draw_is_made_once_and_every_retry_sends_it,
);

/// `claims::RULES` and a chest: a key, 100 GOLD and a skin drawn from a table.
pub fn rules() -> String {
    format!(
        "{}{}",
        super::RULES,
        r#"      - id: chest
        name: Chest
        on: stat
        stat: kills
        target: 1
        assign: auto
        rewards:
          - { item: chest-key, quantity: 1 }
          - { wallet: GOLD, amount: 100 }
          - one_of: [ { weight: 80, item: common-skin }, { weight: 20, item: rare-skin } ]
"#
    )
}

/// Granting by fulfillment, GOLD fulfilled by its coins item (without one, the bundle is
/// refused at start: E025).
async fn fulfilling(db: TestDatabase) -> Harness {
    let mut settings = FAST.to_vec();
    settings.extend(["--reward-currency-items", "GOLD=gold-coins"]);
    Harness::start_with(db, DeliveryMode::Fulfillment, &settings, &rules()).await
}

/// Granting directly: a bundle goes part by part.
async fn direct(db: TestDatabase) -> Harness {
    let mut settings = FAST.to_vec();
    settings.extend(["--reward-delivery", "direct"]);
    Harness::start_with(db, DeliveryMode::Direct, &settings, &rules()).await
}

fn item_ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["itemId"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn a_bundle_is_one_fulfillment_granted_whole_and_once_under_a_slow_answer(db: TestDatabase) {
    let api = fulfilling(db).await;
    api.kill("p1", "k1").await;
    // Platform applies the fulfillment, then answers after 3 s: past the claim's deadline.
    api.ags.answer_after(Duration::from_secs(3));
    let (status, body) = api.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["reward"]["rewardId"], "chest-key", "{body}");
    let parts = body["rewards"].as_array().expect("every part").clone();
    assert_eq!(parts.len(), 3, "{body}");
    let (status, again) = api.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::ACCEPTED, "asked again: {again}");
    assert_eq!(again["rewards"], body["rewards"], "the same draw");
    api.ags.answer_after(Duration::ZERO);
    api.wait_claimed("p1", "chest").await;

    let effects = api.ags.effects();
    assert_eq!(effects.len(), 1, "one fulfillment: {effects:?}");
    let drawn = parts[2]["rewardId"].as_str().unwrap().to_string();
    assert_eq!(
        item_ids(&effects[0].body["items"]),
        vec!["chest-key".to_string(), "gold-coins".into(), drawn],
        "the whole bundle in it, GOLD as its coins item"
    );
    assert_eq!(effects[0].body["items"][1]["quantity"], 100);
    assert!(api.ags.requests() >= 2, "sent again under the same id");
    let (status, body) = api.claim("p1", "chest").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED"))
    );
    // Explain shows every part, the table with its odds.
    let (status, why) = api
        .call(
            reqwest::Method::GET,
            "p1",
            "/v1/challenges/season/goals/chest/explain",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{why}");
    assert_eq!(why["rewards"].as_array().map(Vec::len), Some(3), "{why}");
    assert_eq!(
        why["rewards"][2]["odds"][1]["percent"],
        json!(20.0),
        "{why}"
    );
}

fn chest_key(user: &str) -> store::IntentKey {
    store::IntentKey {
        user_id: engine::UserId::new(user),
        goal_id: engine::GoalId::new("chest"),
        period_start: chrono::DateTime::UNIX_EPOCH,
    }
}

/// (method, path) of every grant Platform applied.
fn calls(api: &Harness) -> Vec<(String, String)> {
    api.ags
        .effects()
        .iter()
        .map(|e| (e.method.clone(), e.path.clone()))
        .collect()
}

async fn a_direct_bundle_goes_part_by_part_and_no_part_goes_twice(db: TestDatabase) {
    let api = direct(db).await;
    api.kill("p1", "k1").await;
    // The first part is granted; the second is applied but its answer is lost (a 1 s
    // timeout against a 3 s answer): a direct credit that may have arrived is never re-sent.
    api.ags.answer_late_after(1, Duration::from_secs(3));
    let (status, body) = api.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let intent = api.store.intent(&chest_key("p1")).await.unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Unknown, "{intent:?}");
    assert_eq!(intent.parts_granted, 1);
    let error = intent.last_error.clone().unwrap_or_default();
    assert!(
        error.starts_with("part 2 of 3 (WALLET GOLD x100; the 1 before it granted; the parts after it are not sent yet)"),
        "{error}"
    );
    assert_eq!(calls(&api).len(), 2, "{:?}", calls(&api));

    // The operator finds the credit in the wallet's history: the rest of the bundle follows.
    api.ags.answer_after(Duration::ZERO);
    let resolved = std::process::Command::new(env!("CARGO_BIN_EXE_service"))
        .args([
            "claims",
            "resolve",
            "p1",
            "chest",
            "1970-01-01T00:00:00Z",
            "--granted",
        ])
        .args(["--note", "credit found in the wallet history"])
        .args(["--database-url", &api.db_url()])
        .output()
        .expect("service claims runs");
    let said = String::from_utf8_lossy(&resolved.stdout);
    assert!(
        resolved.status.success() && said.contains("part 2 of 3 marked granted"),
        "{said} {}",
        String::from_utf8_lossy(&resolved.stderr)
    );
    api.wait_claimed("p1", "chest").await;
    let calls = calls(&api);
    assert_eq!(calls.len(), 3, "each part once: {calls:?}");
    assert!(calls[0].1.ends_with("/entitlements") && calls[1].1.ends_with("/wallets/GOLD/credit"));
    assert!(calls[2].1.ends_with("/entitlements"));
    let skin = &api.ags.effects()[2].body[0]["itemId"];
    assert!(skin == "common-skin" || skin == "rare-skin", "{skin}");
}

async fn a_refused_part_is_claimed_again_from_that_part(db: TestDatabase) {
    let api = direct(db).await;
    api.kill("p1", "k1").await;
    // The key is granted, Platform refuses the credit (a 400 applies nothing).
    api.ags.script(vec![200, 400]);
    let (status, body) = api.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let intent = api.store.intent(&chest_key("p1")).await.unwrap().unwrap();
    assert_eq!(
        (intent.state, intent.parts_granted),
        (IntentState::Refused, 1)
    );
    // Claimed again: the key already went, so only the credit and the skin are sent.
    let (status, body) = api.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let calls = calls(&api);
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|(_, path)| path.ends_with("/entitlements"))
            .count(),
        2,
        "the key once, the skin once: {calls:?}"
    );
}

async fn a_tables_draw_is_made_once_and_every_retry_sends_it(db: TestDatabase) {
    let api = fulfilling(db).await;
    for n in 0..6 {
        api.kill(&format!("p{n}"), &format!("k{n}")).await;
    }
    let mut drawn = Vec::new();
    for n in 0..6 {
        let player = format!("p{n}");
        // Two failures before the grant: the claim sends the same transaction three times.
        api.ags.script(vec![503, 503]);
        let (status, body) = api.claim(&player, "chest").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let skin = body["rewards"][2]["rewardId"].as_str().unwrap().to_string();
        let key = store::IntentKey {
            user_id: engine::UserId::new(player.as_str()),
            ..chest_key("")
        };
        let recorded = api.store.intent(&key).await.unwrap().unwrap().reward;
        assert!(recorded.contains(&skin), "the draw is recorded: {recorded}");
        drawn.push(skin);
    }
    // Platform refuses a transaction sent again with other items (409): each was granted
    // once, with what the claim drew and answered.
    let effects = api.ags.effects();
    assert_eq!(effects.len(), 6, "{effects:?}");
    for (effect, skin) in effects.iter().zip(&drawn) {
        assert_eq!(item_ids(&effect.body["items"])[2], *skin);
    }
    assert!(api.ags.requests() >= 18, "every claim was retried twice");
}
