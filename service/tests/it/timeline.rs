//! A player's timeline for support, on PostgreSQL and SQLite: dan's first win fell to a
//! casing bug (`"Ranked"` for `"ranked"`); support completed his goal and granted it with a
//! reason; the fix shipped; he won again. His timeline says all of it, newest first: each
//! event with what it did (under today's rules, and under the rules it was applied under),
//! the rule sets deployed, the claim with its intent's state, and support's actions.

use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::backfill::{Service, rules};

async fn timeline(svc: &Service, user: &str, query: &str) -> (u16, Value) {
    let path = format!("/v1/admin/players/{user}/timeline{query}");
    svc.call(reqwest::Method::GET, &path, "support-7", Value::Null)
        .await
}

async fn timeline_tells_what_happened_to_a_player(db: TestDatabase) {
    let (_dir, file, svc, buggy) = Service::on_buggy_rules(&db).await;

    svc.win("dan", "dan-0", "ranked").await;
    let goal = "/v1/admin/players/dan/challenges/season/goals/ranked-wins";
    let (status, body) = svc
        .post(
            &format!("{goal}/progress"),
            "support-7",
            json!({"action": "complete", "reason": "ticket 12: ranked win not counted"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc
        .post(
            &format!("{goal}/grant"),
            "support-7",
            json!({"reason": "ticket 12"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(&file, rules("ranked")).expect("fix");
    svc.reloaded(&buggy).await;
    svc.win("dan", "dan-1", "ranked").await;

    let (status, answer) = timeline(&svc, "dan", "").await;
    assert_eq!(status, 200, "{answer}");
    let fixed = answer["contentHash"].as_str().expect("hash").to_string();
    assert_ne!(fixed, buggy);
    assert_eq!(
        (answer["userId"].clone(), answer["archivedEvents"].clone()),
        (json!("dan"), json!(2))
    );
    let entries = answer["entries"].as_array().expect("entries");
    let kinds: Vec<&str> = entries
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    // The grant's claim and its audit entry are written in the same moment: either first.
    let mut middle = kinds[2..5].to_vec();
    middle.sort_unstable();
    assert_eq!(
        (&kinds[..2], middle, &kinds[5..]),
        (
            &["event", "rules"][..],
            vec!["claim", "support", "support"],
            &["event", "rules"][..]
        ),
        "{answer:#}"
    );
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );

    // The last win, under the fix: the goal was claimed, so it stays.
    let last = &entries[0];
    assert_eq!(
        (
            last["eventId"].clone(),
            last["appliedUnder"].clone(),
            last["appliedGoals"].clone()
        ),
        (json!("dan-1"), json!(fixed), Value::Null)
    );
    assert_eq!(
        (
            entries[1]["contentHash"].clone(),
            entries[1]["current"].clone()
        ),
        (json!(fixed), json!(true))
    );
    let claim = entries.iter().find(|e| e["type"] == "claim").unwrap();
    assert_eq!(
        (
            claim["challengeId"].clone(),
            claim["goalId"].clone(),
            claim["state"].clone(),
            claim["attempts"].clone()
        ),
        (
            json!("season"),
            json!("ranked-wins"),
            json!("granted"),
            json!(1)
        ),
        "{claim}"
    );
    assert_eq!(claim["reward"]["rewardId"], "GOLD", "{claim}");
    let support: Vec<&Value> = entries.iter().filter(|e| e["type"] == "support").collect();
    let complete = support.iter().find(|e| e["action"] == "complete").unwrap();
    assert_eq!(
        (
            complete["actor"].clone(),
            complete["reason"].clone(),
            complete["after"]["status"].clone()
        ),
        (
            json!("mock:support-7"),
            json!("ticket 12: ranked win not counted"),
            json!("completed")
        )
    );

    // The first win, applied under the buggy rules: today it counts, then it did not.
    let first = &entries[5];
    assert_eq!(
        (first["eventId"].clone(), first["appliedUnder"].clone()),
        (json!("dan-0"), json!(buggy))
    );
    let now = &first["goals"][0];
    assert_eq!(
        (
            now["goalId"].clone(),
            now["matched"].clone(),
            now["progressAfter"].clone()
        ),
        (json!("ranked-wins"), json!(true), json!(1)),
        "{first}"
    );
    let then = &first["appliedGoals"][0];
    assert_eq!(
        (
            then["matched"].clone(),
            then["progressAfter"].clone(),
            then["reason"].is_string()
        ),
        (json!(false), json!(0), true),
        "{first}"
    );
    assert_eq!(
        (
            entries[6]["contentHash"].clone(),
            entries[6]["current"].clone()
        ),
        (json!(buggy), json!(false)),
        "the rules in force at the first entry are shown"
    );

    // A limit keeps the newest; a player nobody has seen has only the rules; a bad limit is
    // named.
    let (status, two) = timeline(&svc, "dan", "?limit=1").await;
    assert_eq!(status, 200, "{two}");
    let kinds: Vec<&Value> = two["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["type"])
        .collect();
    assert_eq!(kinds, [&json!("event"), &json!("rules")], "{two}");
    let (status, nobody) = timeline(&svc, "nobody", "").await;
    assert_eq!(status, 200, "{nobody}");
    assert_eq!(nobody["archivedEvents"], 0);
    assert!(
        (nobody["entries"].as_array().unwrap().iter()).all(|e| e["type"] == "rules"),
        "{nobody}"
    );
    for query in ["?limit=0", "?limit=1001", "?limit=x", "?since=1"] {
        let (status, body) = timeline(&svc, "dan", query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    audit_pages(&svc).await;
    let _ = svc.served.stop.send(());
}

/// The audit log page by page: each answer's `next` is the following page's `after`.
async fn audit_pages(svc: &Service) {
    let page = |after: Option<String>| {
        let query = after.map(|a| format!("&after={a}")).unwrap_or_default();
        let path = format!("/v1/admin/audit?userId=dan&limit=1{query}");
        async move {
            svc.call(reqwest::Method::GET, &path, "support-7", Value::Null)
                .await
        }
    };
    let (mut actions, mut after) = (Vec::new(), None);
    for _ in 0..3 {
        let (status, body) = page(after.clone()).await;
        assert_eq!(status, 200, "{body}");
        actions.extend(
            body["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["action"].clone()),
        );
        after = body["next"].as_str().map(str::to_string);
        if after.is_none() {
            break;
        }
    }
    assert_eq!(actions, [json!("grant"), json!("complete")]);
    let (status, body) = page(Some("yesterday".into())).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("`after`"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_on_postgres() {
    timeline_tells_what_happened_to_a_player(TestDatabase::postgres().await.expect("PostgreSQL"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_on_sqlite() {
    timeline_tells_what_happened_to_a_player(TestDatabase::sqlite().expect("SQLite")).await;
}
