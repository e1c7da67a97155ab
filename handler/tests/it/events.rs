//! Events through the real gRPC services: progress, validation, namespaces, GDPR, metrics.

use pipeline::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_client::DeletionAccountGdprGdprRequestDataDeletionResponseServiceClient;
use pipeline::proto::iam::{
    DeletionGdpr, GdprRequestDataDeletionResponse, GdprRequestDataDeletionResponsePayload,
};
use tonic::Code;

use crate::support::{TestHandler, initialize, login, progress, stat};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_stat_events_move_the_right_goals() {
    let handler = TestHandler::start().await;
    initialize(&handler.db.url, "player-1").await;
    let pool = handler.pool().await;
    let mut stats = handler.stats().await;
    let mut logins = handler.logins().await;

    logins
        .on_message(login("l1", "player-1"))
        .await
        .expect("login");
    logins
        .on_message(login("l2", "player-1"))
        .await
        .expect("login");
    stats
        .on_message(stat("s1", "player-1", "kills", 4.0, Some("meadow")))
        .await
        .expect("stat");
    stats
        .on_message(stat("s2", "player-1", "kills", 7.9, Some("tundra")))
        .await
        .expect("stat");

    assert_eq!(progress(&pool, "player-1", "logins").await, Some(2));
    assert_eq!(
        progress(&pool, "player-1", "kills").await,
        Some(7),
        "values truncate toward zero"
    );
    assert_eq!(
        progress(&pool, "player-1", "tundra-kills").await,
        Some(1),
        "only the tundra kill matches"
    );
    assert_eq!(
        progress(&pool, "player-1", "total").await,
        Some(2),
        "auto goals need no assignment"
    );
    // An event for a goal the player has not selected changes nothing.
    assert_eq!(progress(&pool, "player-1", "manual-kills").await, None);
    // Redelivery of the same event id changes nothing.
    stats
        .on_message(stat("s2", "player-1", "kills", 7.9, Some("tundra")))
        .await
        .expect("redelivery is OK");
    assert_eq!(progress(&pool, "player-1", "tundra-kills").await, Some(1));
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_invalid_arguments() {
    let handler = TestHandler::start().await;
    let mut stats = handler.stats().await;
    let mut logins = handler.logins().await;

    let mut no_user = stat("bad-1", "", "kills", 1.0, None);
    no_user.user_id.clear();
    let mut no_code = stat("bad-2", "player-1", "", 1.0, None);
    no_code.payload.as_mut().unwrap().stat_code.clear();
    let mut no_payload = stat("bad-3", "player-1", "kills", 1.0, None);
    no_payload.payload = None;
    let not_a_number = stat("bad-4", "player-1", "kills", f64::NAN, None);
    let infinite = stat("bad-5", "player-1", "kills", f64::INFINITY, None);
    let mut bad_time = stat("bad-6", "player-1", "kills", 1.0, None);
    bad_time.timestamp = "yesterday".into();
    for (name, message) in [
        ("no user", no_user),
        ("no stat code", no_code),
        ("no payload", no_payload),
        ("NaN", not_a_number),
        ("infinity", infinite),
        ("bad time", bad_time),
    ] {
        let status = stats.on_message(message).await.expect_err(name);
        assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
    }
    let status = logins
        .on_message(login("bad-7", ""))
        .await
        .expect_err("login without user");
    assert_eq!(status.code(), Code::InvalidArgument);

    let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
    assert!(
        metrics.contains(r#"challenge_events_rejected_total{kind="stat",reason="invalid"} 6"#),
        "{metrics}"
    );
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_namespaces_are_skipped_with_ok() {
    let handler = TestHandler::start().await;
    initialize(&handler.db.url, "player-1").await;
    let pool = handler.pool().await;
    let mut stats = handler.stats().await;
    let mut foreign = stat("f1", "player-1", "kills", 5.0, None);
    foreign.namespace = "another-game".into();
    stats.on_message(foreign).await.expect("OK, skipped");
    assert_eq!(progress(&pool, "player-1", "kills").await, Some(0));
    let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
    assert!(
        metrics
            .contains(r#"challenge_events_skipped_total{kind="stat",reason="other_namespace"} 1"#),
        "{metrics}"
    );
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gdpr_deletion_removes_the_players_progress() {
    let handler = TestHandler::start().await;
    initialize(&handler.db.url, "player-1").await;
    initialize(&handler.db.url, "player-2").await;
    let pool = handler.pool().await;
    let mut gdpr = DeletionAccountGdprGdprRequestDataDeletionResponseServiceClient::new(
        handler.channel().await,
    );
    gdpr.on_message(GdprRequestDataDeletionResponse {
        payload: Some(GdprRequestDataDeletionResponsePayload {
            deletion_gdpr: Some(DeletionGdpr {
                user_id: "player-1".into(),
                namespace: "game".into(),
                ..Default::default()
            }),
        }),
        id: "g1".into(),
        namespace: "game".into(),
        ..Default::default()
    })
    .await
    .expect("deleted");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM user_goal_progress WHERE user_id = 'player-1'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(
        progress(&pool, "player-2", "kills").await,
        Some(0),
        "other players keep their rows"
    );
    handler.stop().await;
}

/// A goal whose expression fails at run time does not count the event; every such failure
/// (`when`, `amount`, `progress`, and a payload's text compared with a number) is counted under
/// its challenge and goal, so a broken rule shows on a dashboard with its name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failing_expression_is_counted() {
    let handler = TestHandler::start().await;
    let mut stats = handler.stats().await;
    stats
        .on_message(stat("broken-1", "player-1", "broken", 5.0, None))
        .await
        .expect("an event with failing expressions is still acknowledged");
    // Text where the rule compares with a number: Rhai alone answers false in silence.
    stats
        .on_message(stat("typed-1", "player-1", "typed", 1.0, Some("12")))
        .await
        .expect("acknowledged");
    let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
    let mut errors: Vec<&str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("challenge_rule_evaluation_errors_total{"))
        .collect();
    errors.sort();
    let challenge = errors
        .first()
        .and_then(|line| line.split('"').nth(1))
        .unwrap_or_default();
    assert_eq!(
        errors,
        [
            format!("challenge=\"{challenge}\",goal=\"broken-amount\"}} 1"),
            format!("challenge=\"{challenge}\",goal=\"broken-progress\"}} 1"),
            format!("challenge=\"{challenge}\",goal=\"broken-when\"}} 1"),
            format!("challenge=\"{challenge}\",goal=\"typed-when\"}} 1"),
        ],
        "when, amount and progress each failed once, and text was compared with a number, each counted under its challenge and goal"
    );
    handler.stop().await;
}

/// Extend watches health; the moment draining starts, every service says NOT_SERVING, and a
/// watcher still connected does not hold the shutdown up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_turns_every_service_not_serving_for_a_watcher() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let mut handler = TestHandler::start().await;
    let mut health = HealthClient::new(handler.channel().await);
    let mut watches = Vec::new();
    for service in [
        "",
        "accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService",
        "accelbyte.social.statistic.v1.StatisticStatItemUpdatedService",
        "accelbyte.iam.account.v1.DeletionAccountGdprGdprRequestDataDeletionResponseService",
    ] {
        let mut watch = health
            .watch(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("watch")
            .into_inner();
        let first = watch.message().await.expect("status").expect("a status");
        assert_eq!(first.status, 1, "`{service}` SERVING before the drain");
        watches.push((service, watch));
    }
    handler.begin_stop();
    for (service, watch) in &mut watches {
        let next = watch.message().await.expect("status").map(|s| s.status);
        assert_eq!(
            next,
            Some(2),
            "`{service}` NOT_SERVING once draining starts"
        );
    }
    handler.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reflection_and_metrics_answer() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let handler = TestHandler::start().await;
    let mut health = HealthClient::new(handler.channel().await);
    let serving = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(serving.status, 1, "SERVING");
    // Each event service by name, the GDPR deletion one included.
    for service in [
        "accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService",
        "accelbyte.social.statistic.v1.StatisticStatItemUpdatedService",
        "accelbyte.iam.account.v1.DeletionAccountGdprGdprRequestDataDeletionResponseService",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .map(|r| r.into_inner().status);
        assert_eq!(status.ok(), Some(1), "{service} is SERVING");
    }

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(handler.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("stream")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "accelbyte.iam.account.v1.UserAuthenticationUserLoggedInService",
        "accelbyte.social.statistic.v1.StatisticStatItemUpdatedService",
        "accelbyte.iam.account.v1.DeletionAccountGdprGdprRequestDataDeletionResponseService",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }

    let (status, body) = handler.metrics("/healthz").await.expect("healthz");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"healthy"}"#));
    let mut stats = handler.stats().await;
    stats
        .on_message(stat("m1", "player-1", "kills", 1.0, None))
        .await
        .expect("stat");
    let (_, metrics) = handler.metrics("/metrics").await.expect("metrics");
    for name in [
        "challenge_events_received_total",
        "challenge_events_processed_total",
        "challenge_event_processing_seconds_bucket",
        "challenge_flush_duration_seconds_bucket",
        "challenge_flush_size_bucket",
        "challenge_buffer_size",
        "challenge_rules_info",
        "challenge_rules_reload_failures",
        "challenge_db_connections_active",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // When the rules in use were loaded, beside their hash (the handler's own, not a guess).
    let loaded_at = metrics
        .lines()
        .find_map(|line| line.strip_prefix("challenge_rules_loaded_timestamp_seconds{"))
        .and_then(|rest| rest.split_once("} "))
        .map(|(labels, value)| (labels.to_string(), value.trim().parse::<f64>().unwrap()));
    let Some((labels, at)) = loaded_at else {
        panic!("challenge_rules_loaded_timestamp_seconds missing: {metrics}")
    };
    assert!(labels.starts_with("content_hash=\""), "{labels}");
    let started = chrono::Utc::now().timestamp() as f64;
    assert!(
        (started - 600.0..=started).contains(&at),
        "{at} is not this start"
    );
    handler.stop().await;
}
