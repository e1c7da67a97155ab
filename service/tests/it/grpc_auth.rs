//! The service's in-process gRPC event services with auth on: an anonymous caller, or a player
//! without the server permission, changes nothing; a game server's token with it counts.

use std::sync::Arc;

use pipeline::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_client::DeletionAccountGdprGdprRequestDataDeletionResponseServiceClient;
use pipeline::proto::iam::{
    DeletionGdpr, GdprRequestDataDeletionResponse, GdprRequestDataDeletionResponsePayload,
};
use pipeline::proto::statistic::statistic_stat_item_updated_service_client::StatisticStatItemUpdatedServiceClient;
use pipeline::proto::statistic::{StatItem, StatItemUpdated};
use serde_json::{Value, json};
use store::testing::TestDatabase;

use crate::jwt::{claims, token};

fn level_event(user: &str, id: &str) -> StatItemUpdated {
    StatItemUpdated {
        id: id.into(),
        user_id: user.into(),
        namespace: "game".into(),
        payload: Some(StatItem {
            user_id: user.into(),
            stat_code: "player_level".into(),
            latest_value: 20.0,
            inc: 20.0,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn with_bearer<T>(message: T, bearer: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(bearer) = bearer {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {bearer}").parse().unwrap());
    }
    request
}

fn server_token(action: i64) -> String {
    let mut claims = claims("unused", "game", 600);
    claims.as_object_mut().unwrap().remove("sub");
    claims["permissions"] =
        json!([{"Resource": "ADMIN:NAMESPACE:game:CHALLENGE", "Action": action}]);
    token("key1", "key1", claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_events_need_a_server_token_when_auth_is_on() {
    let ags = crate::fake_ags::FakeAgs::start().await;
    let db = TestDatabase::sqlite().expect("SQLite");
    let config = crate::support::with_auth(&db.url, &ags.url, &["--grpc-events", "true"]);
    let served = crate::support::serve_with_grpc(
        config,
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
        true,
    )
    .await;
    let grpc = served.grpc.clone().expect("gRPC served");
    let mut stats = StatisticStatItemUpdatedServiceClient::connect(grpc.clone())
        .await
        .expect("connect");
    let player = token("key1", "key1", claims("player-1", "game", 600));
    let progress = || async {
        let body: Value = reqwest::Client::new()
            .get(format!("{}/v1/challenges/achievements", served.base))
            .bearer_auth(&player)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("json");
        body["goals"]
            .as_array()
            .and_then(|goals| goals.iter().find(|g| g["goalId"] == "level-20"))
            .map(|goal| goal["progress"].clone())
            .unwrap_or(body)
    };

    let refused = [
        ("anonymous", None, tonic::Code::Unauthenticated),
        (
            "garbage",
            Some("not.a.jwt".to_string()),
            tonic::Code::Unauthenticated,
        ),
        (
            "a player",
            Some(player.clone()),
            tonic::Code::PermissionDenied,
        ),
        (
            "READ only",
            Some(server_token(2)),
            tonic::Code::PermissionDenied,
        ),
    ];
    for (n, (name, bearer, code)) in refused.into_iter().enumerate() {
        let err = stats
            .on_message(with_bearer(
                level_event("player-1", &format!("anon-{n}")),
                bearer.as_deref(),
            ))
            .await
            .expect_err(name);
        assert_eq!(err.code(), code, "{name}: {err:?}");
    }
    assert_eq!(
        progress().await,
        json!(0),
        "refused events changed progress"
    );

    // A GDPR deletion needs DELETE, not just any token.
    let mut gdpr = DeletionAccountGdprGdprRequestDataDeletionResponseServiceClient::connect(grpc)
        .await
        .expect("connect");
    let deletion = || GdprRequestDataDeletionResponse {
        id: "gdpr-1".into(),
        namespace: "game".into(),
        payload: Some(GdprRequestDataDeletionResponsePayload {
            deletion_gdpr: Some(DeletionGdpr {
                user_id: "player-1".into(),
                namespace: "game".into(),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let err = gdpr
        .on_message(with_bearer(deletion(), None))
        .await
        .expect_err("anonymous deletion");
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");
    let err = gdpr
        .on_message(with_bearer(deletion(), Some(&server_token(1 | 4))))
        .await
        .expect_err("deletion with CREATE|UPDATE");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    assert!(
        err.message()
            .contains("ADMIN:NAMESPACE:game:CHALLENGE permission with DELETE"),
        "the answer names the permission to grant: {err:?}"
    );

    // A game server's token with CREATE counts.
    stats
        .on_message(with_bearer(
            level_event("player-1", "server-1"),
            Some(&server_token(1)),
        ))
        .await
        .expect("a server token is accepted");
    assert_eq!(progress().await, json!(20));
    gdpr.on_message(with_bearer(deletion(), Some(&server_token(8))))
        .await
        .expect("DELETE deletes");
    drop(served.stop);
}
