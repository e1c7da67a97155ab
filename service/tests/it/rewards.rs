//! The AGS Platform client against a local HTTP server playing IAM and Platform: which call
//! each delivery makes, with what body; percent-encoded paths; a cached token renewed once on
//! 401; and what each kind of answer means (granted, refused, not sent, unknown).

use std::time::Duration;

use engine::{Reward, UserId};
use service::rewards::platform::{DeliveryMode, PlatformConfig, PlatformRewards};
use service::rewards::{GrantOutcome, GrantRequest, RewardClient};
use store::Delivery;

use crate::fake_ags::FakeAgs;

fn client(url: &str, mode: DeliveryMode) -> PlatformRewards {
    let mut config = PlatformConfig::new(url, "challenge-service", "s3cret");
    config.mode = mode;
    config.timeout = Duration::from_millis(500);
    config.currency_items = [("GOLD".to_string(), "gold-coins".to_string())].into();
    PlatformRewards::new(config).unwrap()
}

fn request(client: &PlatformRewards, user: &str, reward: Reward) -> GrantRequest {
    GrantRequest {
        user_id: UserId::new(user),
        namespace: "game".into(),
        delivery: client.delivery(std::slice::from_ref(&reward)),
        rewards: vec![reward],
        transaction_id: format!("ce-{user}"),
    }
}

fn gold(amount: i64) -> Reward {
    Reward::Wallet {
        currency: "GOLD".into(),
        amount,
    }
}

fn sword() -> Reward {
    Reward::Item {
        item_id: "sword".into(),
        quantity: 2,
    }
}

#[tokio::test]
async fn fulfillment_is_keyed_by_the_transaction_id_and_the_token_is_cached() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Fulfillment);
    let item = request(&rewards, "p1", sword());
    assert_eq!(item.delivery, Delivery::Fulfillment);
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    // The same transaction id again (a retry, another replica): nothing new is granted.
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    let coins = request(&rewards, "p2", gold(50));
    assert_eq!(
        coins.delivery,
        Delivery::Fulfillment,
        "GOLD has a coins item"
    );
    assert_eq!(rewards.send(&coins).await, GrantOutcome::Granted);

    let effects = ags.effects();
    assert_eq!(effects.len(), 2, "{effects:?}");
    assert_eq!(
        (effects[0].method.as_str(), effects[0].path.as_str()),
        (
            "PUT",
            "/platform/v3/admin/namespaces/game/users/p1/fulfillments/ce-p1"
        )
    );
    assert_eq!(
        effects[0].body["items"][0],
        serde_json::json!({"itemId": "sword", "quantity": 2, "source": "REWARD", "origin": "System"})
    );
    assert_eq!(effects[1].body["items"][0]["itemId"], "gold-coins");
    assert_eq!(effects[1].body["items"][0]["quantity"], 50);
    assert_eq!(ags.tokens(), 1, "one token for every grant");
    assert!(ags.bearers().iter().all(|b| b == "Bearer token-1"));
}

#[tokio::test]
async fn direct_mode_grants_entitlements_and_credits_wallets() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Direct);
    let item = request(&rewards, "p1", sword());
    assert_eq!(item.delivery, Delivery::Direct);
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    assert_eq!(
        rewards.send(&request(&rewards, "p1", gold(7))).await,
        GrantOutcome::Granted
    );
    // In fulfillment mode, a currency without a coins item is credited directly.
    let fulfilment = client(&ags.url, DeliveryMode::Fulfillment);
    let gems = Reward::Wallet {
        currency: "GEMS".into(),
        amount: 3,
    };
    assert_eq!(
        fulfilment.delivery(std::slice::from_ref(&gems)),
        Delivery::Direct
    );

    let effects = ags.effects();
    assert_eq!(
        (effects[0].method.as_str(), effects[0].path.as_str()),
        (
            "POST",
            "/platform/admin/namespaces/game/users/p1/entitlements"
        )
    );
    assert_eq!(effects[0].body[0]["itemId"], "sword");
    assert_eq!(effects[0].body[0]["quantity"], 2);
    assert_eq!(
        (effects[1].method.as_str(), effects[1].path.as_str()),
        (
            "PUT",
            "/platform/admin/namespaces/game/users/p1/wallets/GOLD/credit"
        )
    );
    assert_eq!(effects[1].body["amount"], 7);
    assert_eq!(effects[1].body["source"], "REWARD");
}

#[tokio::test]
async fn user_ids_are_percent_encoded_in_paths() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Direct);
    let odd = request(&rewards, "p/../../admin?x#y", gold(1));
    assert_eq!(rewards.send(&odd).await, GrantOutcome::Granted);
    let effects = ags.effects();
    assert_eq!(effects.len(), 1);
    assert_eq!(
        effects[0].user, "p/../../admin?x#y",
        "the whole id reached Platform as one segment"
    );
}

#[tokio::test]
async fn each_answer_says_what_is_known() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Direct);
    let credit = request(&rewards, "p1", gold(1));
    ags.script([503, 429, 400, 408]);
    assert!(
        matches!(rewards.send(&credit).await, GrantOutcome::Unknown(_)),
        "503"
    );
    assert!(
        matches!(rewards.send(&credit).await, GrantOutcome::NotSent(_)),
        "429"
    );
    assert!(
        matches!(rewards.send(&credit).await, GrantOutcome::Refused(_)),
        "400"
    );
    assert!(
        matches!(rewards.send(&credit).await, GrantOutcome::Unknown(_)),
        "408"
    );
    assert!(ags.effects().is_empty());

    // Applied, but the answer comes after the request's timeout: unknown.
    ags.answer_after(Duration::from_secs(2));
    assert!(matches!(
        rewards.send(&credit).await,
        GrantOutcome::Unknown(_)
    ));
    assert_eq!(ags.effects().len(), 1);

    // Nobody listening: the request never left.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let nowhere = client(&format!("http://127.0.0.1:{closed}"), DeliveryMode::Direct);
    assert!(matches!(
        nowhere.send(&credit).await,
        GrantOutcome::NotSent(_)
    ));
}

#[tokio::test]
async fn a_401_renews_the_token_once() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Fulfillment);
    let item = request(&rewards, "p1", sword());
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    ags.script([401]);
    let again = request(&rewards, "p2", sword());
    assert_eq!(rewards.send(&again).await, GrantOutcome::Granted);
    assert_eq!(ags.tokens(), 2);
    assert_eq!(
        ags.bearers().last().map(String::as_str),
        Some("Bearer token-2")
    );
    ags.script([401, 401]);
    let refused = request(&rewards, "p3", sword());
    assert!(matches!(
        rewards.send(&refused).await,
        GrantOutcome::NotSent(_)
    ));
}

/// What Platform holds decides a grant, not the first characters of its answer: a failed
/// fulfillment whose `state` comes late in a long body, a 409 for a failed transaction, and a
/// body that is not JSON are not grants; a failed one is retried through `…/retry`.
#[tokio::test]
async fn a_fulfillment_is_granted_only_when_platform_says_fulfilled() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Fulfillment);
    let item = request(&rewards, "p1", sword());

    // The fulfillment and its retry fail: nothing granted, and the client says so.
    ags.fail_fulfillments(2);
    let outcome = rewards.send(&item).await;
    assert!(
        !matches!(outcome, GrantOutcome::Granted),
        "a FULFILL_FAILED late in the body is not a grant: {outcome:?}"
    );
    assert!(ags.effects().is_empty());
    // Sent again: Platform answers 409 for the failed transaction; the client retries it.
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    assert_eq!(ags.effects().len(), 1);
    assert!(ags.retries() >= 2, "the failed fulfillment was retried");
    // And again: Platform holds it fulfilled; nothing new is applied.
    assert_eq!(rewards.send(&item).await, GrantOutcome::Granted);
    assert_eq!(ags.effects().len(), 1);

    // A 200 whose body is not a fulfillment result is not a grant (it is tried again).
    let other = request(&rewards, "p2", sword());
    ags.garble_answers(1);
    let outcome = rewards.send(&other).await;
    assert!(
        matches!(outcome, GrantOutcome::Unknown(_)),
        "an unreadable 200 may or may not have applied: {outcome:?}"
    );
    assert_eq!(rewards.send(&other).await, GrantOutcome::Granted);
    assert_eq!(ags.effects().len(), 2);
}

/// The same transaction id with other items (a currency's coins item changed since the claim
/// started): Platform refuses it, and only an operator can tell what the player got.
#[tokio::test]
async fn a_changed_payload_under_one_transaction_id_goes_to_an_operator() {
    let ags = FakeAgs::start().await;
    let rewards = client(&ags.url, DeliveryMode::Fulfillment);
    let coins = request(&rewards, "p1", gold(50));
    assert_eq!(rewards.send(&coins).await, GrantOutcome::Granted);
    let mut moved = PlatformConfig::new(&ags.url, "challenge-service", "s3cret");
    moved.currency_items = [("GOLD".to_string(), "new-gold-coins".to_string())].into();
    let moved = PlatformRewards::new(moved).unwrap();
    let outcome = moved.send(&coins).await;
    match &outcome {
        GrantOutcome::Operator(message) => assert!(
            message.contains("38128") && message.contains("other items"),
            "{message}"
        ),
        other => panic!("a changed payload needs an operator: {other:?}"),
    }
    assert_eq!(ags.effects().len(), 1);

    // The currency's mapping removed since the claim started: never sent as an item id.
    let unmapped = client(&ags.url, DeliveryMode::Fulfillment);
    let mut bare = PlatformConfig::new(&ags.url, "challenge-service", "s3cret");
    bare.timeout = Duration::from_millis(500);
    let bare = PlatformRewards::new(bare).unwrap();
    let started = request(&unmapped, "p3", gold(5));
    assert_eq!(started.delivery, Delivery::Fulfillment);
    let requests = ags.requests();
    match bare.send(&started).await {
        GrantOutcome::Operator(message) => assert!(
            message.contains("REWARD_CURRENCY_ITEMS") && message.contains("GOLD"),
            "{message}"
        ),
        other => panic!("an unmapped currency is an operator's: {other:?}"),
    }
    assert_eq!(ags.requests(), requests, "nothing was sent");
}
