//! The writer on a distributed database (CITUS_SHARD_COUNT, docs/scaling.md): a batch commits
//! as one transaction per shard, and a player's shard is the one PostgreSQL's hash places them on.

use std::sync::Arc;
use std::time::Duration;

use engine::Event;
use store::{EventOutcome, EventSink, Writer, WriterConfig};

/// Records the players of each transaction it is given.
#[derive(Default)]
struct Transactions(std::sync::Mutex<Vec<Vec<String>>>);

#[async_trait::async_trait]
impl EventSink for Transactions {
    async fn apply_events(
        &self,
        batch: &[store::PendingEvent],
        _now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Result<EventOutcome, store::StoreError>>, store::StoreError> {
        let users = batch.iter().map(|p| p.event.user_id.to_string());
        self.0.lock().expect("lock").push(users.collect());
        Ok(batch
            .iter()
            .map(|_| {
                Ok(EventOutcome::NoMatch {
                    failed_expressions: Vec::new(),
                })
            })
            .collect())
    }
}

fn event(user: &str) -> store::PendingEvent {
    let yaml = "version: 1\nchallenges:\n  - id: c\n    name: C\n    goals:\n      \
                - { id: g, name: G, on: login, count: events, target: 1 }\n";
    let rules = engine::compile(&engine::Sources {
        files: vec![engine::SourceFile::new("rules.yaml", yaml)],
        unreadable: Vec::new(),
    });
    store::PendingEvent {
        rules: std::sync::Arc::new(rules.rules.expect("rules compile")),
        event: Event::new(engine::EventData {
            id: format!("{user}-1"),
            kind: engine::EventKind::Login,
            user_id: engine::UserId::new(user),
            namespace: "test".into(),
            timestamp: chrono::Utc::now(),
            sent_at: None,
            stat_code: None,
            value: 0,
            inc: 0,
            additional: Default::default(),
        }),
        goals: Vec::new(),
        archive: false,
    }
}

/// On a sharded database, a batch of players on several shards commits one transaction
/// per shard, each event answered; unsharded, the same batch is one transaction.
#[tokio::test]
async fn a_sharded_batch_is_one_transaction_per_shard() {
    let shards = store::Shards::new(4).expect("shards");
    let players: Vec<String> = (0..40).map(|p| format!("player-{p}")).collect();
    for sharded in [Some(shards), None] {
        let sink = Arc::new(Transactions::default());
        let writer = Writer::start(
            sink.clone(),
            WriterConfig {
                flushers: 1,
                window: Duration::from_millis(200),
                shards: sharded,
                ..WriterConfig::default()
            },
        );
        let answers =
            futures::future::join_all(players.iter().map(|p| writer.submit_routed(event(p)))).await;
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        let transactions = sink.0.lock().expect("lock").clone();
        let events: usize = transactions.iter().map(Vec::len).sum();
        assert_eq!(events, players.len());
        match sharded {
            Some(shards) => {
                for users in &transactions {
                    let shard = shards.of(&users[0]);
                    assert!(users.iter().all(|u| shards.of(u) == shard), "{users:?}");
                }
                assert!(transactions.len() >= 4, "{transactions:?}");
            }
            None => assert_eq!(transactions.len(), 1, "{transactions:?}"),
        }
    }
}

/// The writer's idea of a player's shard (CITUS_SHARD_COUNT) is PostgreSQL's: `hashtext` of the
/// user id, and Citus's equal ranges of the hash space, computed by PostgreSQL itself for ids of
/// every length a hash round covers (0 to 40 bytes) and of several scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_places_players_on_the_shards_postgresql_hashes_them_to() {
    let db = crate::support::TestDb::postgres().await;
    let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
    let mut users: Vec<String> = (0..=40).map(|n| "u".repeat(n)).collect();
    users.extend((0..500).map(|p| format!("player-{p}-{}", p * 7919)));
    users.extend(
        [
            "joueur-é",
            "プレイヤー-1",
            "игрок",
            "a3f1c2d4e5b6a7980123456789abcdef",
        ]
        .map(String::from),
    );
    for count in [1u32, 4, 32, 100] {
        let shards = store::Shards::new(count).expect("shards");
        let expected: Vec<(i32, i64)> = sqlx::query_as(
            "SELECT hashtext(u), LEAST(((hashtext(u)::bigint + 2147483648) / (4294967296 / $2))::bigint, $2 - 1) \
             FROM unnest($1::text[]) WITH ORDINALITY AS t(u, n) ORDER BY n",
        )
        .bind(&users)
        .bind(i64::from(count))
        .fetch_all(&pool)
        .await
        .expect("hashtext");
        for (user, (hash, shard)) in users.iter().zip(expected) {
            assert_eq!(
                store::shards::hashtext(user.as_bytes()),
                hash,
                "hashtext({user:?})"
            );
            assert_eq!(
                i64::from(shards.of(user)),
                shard,
                "{user:?} of {count} shards"
            );
        }
    }
    pool.close().await;
}
