//! A bundle with a weighted table across processes: real `service` binaries on one PostgreSQL
//! database and one local Platform. `kill -9` of the replica whose fulfillment Platform applied
//! before it could record the answer; the survivor sends the same transaction with the same
//! draw (Platform refuses other items under one transaction id), so the bundle is granted
//! whole, once. And a table drawn on one replica is what another answers and sends.

use std::time::Duration;

use reqwest::StatusCode;

use crate::claims::bundles::rules;
use crate::fake_ags::FakeAgs;
use crate::replicas::{Replica, kill_9_mid_grant};

async fn setup() -> (store::testing::TestDatabase, tempfile::TempDir, FakeAgs) {
    let db = store::testing::TestDatabase::postgres()
        .await
        .expect("PostgreSQL");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yaml"), rules()).expect("rules");
    (db, dir, FakeAgs::start().await)
}

fn items(ags: &FakeAgs) -> Vec<Vec<String>> {
    ags.effects()
        .iter()
        .map(|effect| {
            effect.body["items"]
                .as_array()
                .expect("a fulfillment")
                .iter()
                .map(|item| item["itemId"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_bundle_grants_it_whole_once_with_the_same_draw() {
    let (db, rules, ags) = setup().await;
    kill_9_mid_grant(&db, rules.path(), &ags, "fulfillment", "chest").await;
    let survivor = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    survivor.wait_claimed("p1", "chest").await;
    let granted = items(&ags);
    assert_eq!(granted.len(), 1, "one fulfillment: {granted:?}");
    assert_eq!(granted[0][..2], ["chest-key", "gold-coins"]);
    assert!(ags.requests() >= 2, "sent again, with the same items");
    let (status, body) = survivor.claim("p1", "chest").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_made_on_one_replica_is_what_the_other_sends() {
    let (db, rules, ags) = setup().await;
    let first = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    let second = Replica::start(&db, rules.path(), &ags, "fulfillment").await;
    for n in 0..4 {
        first.kill_event(&format!("p{n}"), &format!("k{n}")).await;
    }
    // Platform answers after the claim's deadline: each claim is pending on the first
    // replica, asked again on the second, and delivered by whichever reconciler leases it.
    ags.answer_after(Duration::from_secs(3));
    let mut answered = Vec::new();
    for n in 0..4 {
        let player = format!("p{n}");
        let (status, body) = first.claim(&player, "chest").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (_, again) = second.claim(&player, "chest").await;
        assert_eq!(
            again["rewards"], body["rewards"],
            "the second replica answers the same draw"
        );
        answered.push(body["rewards"][2]["rewardId"].as_str().unwrap().to_string());
    }
    ags.answer_after(Duration::ZERO);
    for n in 0..4 {
        second.wait_claimed(&format!("p{n}"), "chest").await;
    }
    let mut granted: Vec<(String, String)> = ags
        .effects()
        .iter()
        .map(|e| {
            (
                e.user.clone(),
                e.body["items"][2]["itemId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    granted.sort();
    let expected: Vec<(String, String)> = answered
        .into_iter()
        .enumerate()
        .map(|(n, skin)| (format!("p{n}"), skin))
        .collect();
    assert_eq!(
        granted, expected,
        "each player once, with what the claim answered"
    );
}

/// Granting by fulfillment, a bundle crediting a currency without a coins item cannot be one
/// fulfillment: the service refuses to start and says which currency and which setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_that_cannot_be_one_fulfillment_stops_the_start() {
    let (db, rules, ags) = setup().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_service"))
        .env("DATABASE_URL", &db.url)
        .env("MIGRATE_ON_START", "true")
        .env("CHALLENGE_CONFIG_PATH", rules.path())
        .env("AB_NAMESPACE", "game")
        .env("AB_BASE_URL", &ags.url)
        .env("AB_CLIENT_ID", "challenge-service")
        .env("AB_CLIENT_SECRET", "s3cret")
        .env("PLUGIN_GRPC_SERVER_AUTH_ENABLED", "true")
        .env("IAM_ISSUER", crate::jwt::ISSUER)
        .env("REWARD_CLIENT_MODE", "real")
        .env("REWARD_DELIVERY", "fulfillment")
        .env("REWARD_CURRENCY_ITEMS", "GEMS=gem-coins")
        .env("HTTP_PORT", "0")
        .env("METRICS_PORT", "0")
        .env("SERVE_GRPC_EVENTS", "false")
        .output()
        .await
        .expect("the service binary runs");
    assert!(!out.status.success());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        said.contains("E025") && said.contains("`GOLD`") && said.contains("GOLD=<coins item id>"),
        "{said}"
    );
}

/// `claim: auto` with two handlers and two service replicas on one database: the handlers'
/// writers (the handler's whole write path) each receive every event (Extend redelivers), the
/// completions are written once with them, and the two services' notifiers grant each badge
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_claim_grants_once_with_two_handlers_and_two_services() {
    let db = store::testing::TestDatabase::postgres()
        .await
        .expect("PostgreSQL");
    let dir = tempfile::tempdir().expect("tempdir");
    let text = crate::claims::auto::rules();
    std::fs::write(dir.path().join("rules.yaml"), &text).expect("rules");
    let ags = FakeAgs::start().await;
    let first = Replica::start(&db, dir.path(), &ags, "fulfillment").await;
    let second = Replica::start(&db, dir.path(), &ags, "fulfillment").await;
    let compiled = engine::compile(&engine::Sources {
        files: vec![engine::SourceFile::new("rules.yaml", text)],
        unreadable: Vec::new(),
    });
    let rules = std::sync::Arc::new(compiled.rules.expect("rules"));
    let mut handlers = Vec::new();
    for _ in 0..2 {
        let store = store::open(&db.url, 4).await.expect("store");
        handlers.push(std::sync::Arc::new(store::Writer::start(
            store,
            store::WriterConfig::default(),
        )));
    }
    let players: Vec<String> = (0..8).map(|n| format!("p{n}")).collect();
    let mut sends = Vec::new();
    for player in &players {
        let event = engine::Event::new(engine::EventData {
            id: format!("kill-{player}"),
            kind: engine::EventKind::Stat,
            user_id: engine::UserId::new(player.as_str()),
            namespace: "game".into(),
            timestamp: chrono::Utc::now(),
            sent_at: None,
            stat_code: Some("kills".into()),
            value: 1,
            inc: 1,
            additional: Default::default(),
        });
        for handler in &handlers {
            let (handler, rules, event) = (handler.clone(), rules.clone(), event.clone());
            sends.push(tokio::spawn(
                async move { handler.submit(rules, event).await },
            ));
        }
    }
    for sent in sends {
        sent.await.expect("task").expect("committed");
    }
    for (n, player) in players.iter().enumerate() {
        let replica = if n % 2 == 0 { &first } else { &second };
        replica.wait_status(player, "badge", "claimed").await;
    }
    let badges: Vec<String> = ags
        .effects()
        .iter()
        .filter(|e| e.body["items"][0]["itemId"] == "badge-1")
        .map(|e| e.user.clone())
        .collect();
    let mut unique = badges.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (badges.len(), unique.len()),
        (players.len(), players.len()),
        "one badge per player: {badges:?}"
    );
    for handler in handlers {
        handler.shutdown().await;
    }
}
