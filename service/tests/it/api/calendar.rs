//! A challenge's calendar over HTTP: periods, `expiresAt` and the rotation status follow its
//! `timezone` and reset time, and a `schedule.days` window says when it opens.

use reqwest::StatusCode;
use serde_json::json;

use super::Api;

const RULES: &str = r#"
version: 1
challenges:
  - id: weekend
    name: Weekend
    timezone: America/New_York
    rotation: { every: weekly, at: "04:00" }
    schedule: { days: [sat, sun] }
    goals:
      - { id: weekend-wins, name: W, on: stat, stat: wins, count: sum, target: 2, assign: auto, reward: { wallet: GOLD, amount: 1 } }
  - id: tokyo
    name: Tokyo daily
    timezone: Asia/Tokyo
    rotation: { every: daily, at: "05:00" }
    goals:
      - { id: tokyo-wins, name: T, on: stat, stat: wins, count: events, target: 5, assign: auto }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periods_follow_the_time_zone_and_a_weekend_window_says_when_it_opens() {
    let api = Api::start_with(RULES).await;
    // The clock: Wednesday 2026-06-10, 12:00 UTC (08:00 in New York, 21:00 in Tokyo).
    let (status, rotation) = api.get("p1", "/v1/challenges/tokyo/rotation").await;
    assert_eq!(status, StatusCode::OK, "{rotation}");
    assert_eq!(rotation["rotation"]["timezone"], "Asia/Tokyo");
    assert_eq!(rotation["rotation"]["resetAt"], "05:00");
    assert_eq!(
        rotation["rotation"]["currentPeriod"]["startTime"], "2026-06-09T20:00:00Z",
        "05:00 in Tokyo"
    );
    assert_eq!(
        rotation["rotation"]["currentPeriod"]["endTime"],
        "2026-06-10T20:00:00Z"
    );
    assert_eq!(
        rotation["rotation"]["nextPeriod"]["endTime"],
        "2026-06-11T20:00:00Z"
    );
    let tokyo = api.goal("p1", "tokyo", "tokyo-wins").await;
    assert_eq!(tokyo["expiresAt"], "2026-06-10T20:00:00Z");
    assert_eq!(tokyo["expiresInSeconds"], 8 * 3600);

    let (_, weekly) = api.get("p1", "/v1/challenges/weekend/rotation").await;
    assert_eq!(
        weekly["rotation"]["currentPeriod"],
        json!({"startTime": "2026-06-08T08:00:00Z", "endTime": "2026-06-15T08:00:00Z", "expiresInSeconds": 4 * 86400 + 20 * 3600}),
        "Monday 04:00 in New York to the next"
    );
    // Wednesday: the window is closed; a win does not count.
    api.stat("p1", "e1", "wins", 1).await;
    let closed = api.goal("p1", "weekend", "weekend-wins").await;
    assert_eq!(closed["progress"], 0, "{closed}");
    assert_eq!(
        closed["opensAt"], "2026-06-13T08:00:00Z",
        "Saturday 04:00 in New York"
    );
    assert_eq!(closed["expiresAt"], "2026-06-15T08:00:00Z");

    // Saturday: open until Monday 04:00 New York time.
    api.clock.set("2026-06-13T15:00:00Z".parse().unwrap());
    api.stat("p1", "e2", "wins", 2).await;
    let open = api.goal("p1", "weekend", "weekend-wins").await;
    assert_eq!(open["progress"], 1, "{open}");
    assert!(open.get("opensAt").is_none(), "{open}");
    assert_eq!(open["expiresAt"], "2026-06-15T08:00:00Z");
    // Monday 03:00 in New York is still Sunday night there: it counts.
    api.clock.set("2026-06-15T07:00:00Z".parse().unwrap());
    api.stat("p1", "e3", "wins", 3).await;
    let done = api.goal("p1", "weekend", "weekend-wins").await;
    assert_eq!(
        (done["progress"].clone(), done["status"].clone()),
        (json!(2), json!("completed"))
    );
    api.stop();
}

const UTC_DAILY: &str = r#"
version: 1
challenges:
  - id: daily
    name: Daily
    rotation: { every: daily, allow_reselection: true }
    goals:
      - { id: daily-win, name: Win, on: stat, stat: wins, count: events, target: 1, assign: auto, reward: { wallet: GOLD, amount: 5 } }
"#;

/// [`UTC_DAILY`] moved to 04:00 in New York.
fn new_york_daily() -> String {
    UTC_DAILY.replace(
        "rotation: { every: daily, allow_reselection: true }",
        "timezone: America/New_York\n    rotation: { every: daily, at: \"04:00\", allow_reselection: true }",
    )
}

/// A change of time zone and reset hour on a live challenge takes effect at the next boundary
/// of the periods in force: the day running keeps its start and end (a player who claimed in
/// it cannot claim again in it), then a first period runs from that boundary to the new
/// calendar's next one. A replica started after the change agrees, from the recorded change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_change_waits_for_the_end_of_the_period_in_force() {
    let api = Api::start_with(UTC_DAILY).await;
    let claim = "/v1/challenges/daily/goals/daily-win/claim";
    // 06:00 UTC: win and claim in the UTC day 2026-06-10.
    api.clock.set("2026-06-10T06:00:00Z".parse().unwrap());
    api.stat("p1", "w1", "wins", 1).await;
    let (status, body) = api.post("p1", claim, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The designer moves the day to 04:00 in New York (08:00 UTC in June) at 12:00 UTC.
    api.clock.set("2026-06-10T12:00:00Z".parse().unwrap());
    api.deploy(&new_york_daily()).await;

    let (_, rotation) = api.get("p1", "/v1/challenges/daily/rotation").await;
    assert_eq!(rotation["rotation"]["timezone"], "America/New_York");
    assert_eq!(
        (
            rotation["rotation"]["currentPeriod"]["startTime"].clone(),
            rotation["rotation"]["currentPeriod"]["endTime"].clone()
        ),
        (json!("2026-06-10T00:00:00Z"), json!("2026-06-11T00:00:00Z")),
        "the UTC day in force keeps its start and end: {rotation}"
    );
    assert_eq!(
        rotation["rotation"]["nextPeriod"]["endTime"], "2026-06-11T08:00:00Z",
        "then a period up to the first 04:00 in New York"
    );
    // Under the new calendar alone, 06:00 UTC would be yesterday's period: the claim must not
    // come back.
    api.stat("p1", "w2", "wins", 2).await;
    let goal = api.goal("p1", "daily", "daily-win").await;
    assert_eq!(goal["status"], "claimed", "{goal}");
    let (status, body) = api.post("p1", claim, json!({})).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED")),
        "{body}"
    );

    // A replica started now reads the recorded change and agrees.
    let replica = api.replica().await;
    let (_, seen) = replica.get("p1", "/v1/challenges/daily/rotation").await;
    assert_eq!(
        seen["rotation"]["currentPeriod"],
        rotation["rotation"]["currentPeriod"]
    );
    assert_eq!(
        seen["rotation"]["nextPeriod"],
        rotation["rotation"]["nextPeriod"]
    );

    // 03:00 UTC the next day: the bridge period; then 09:00 UTC, the first New York day.
    for (at, win) in [
        ("2026-06-11T03:00:00Z", "w3"),
        ("2026-06-11T09:00:00Z", "w4"),
    ] {
        api.clock.set(at.parse().unwrap());
        api.stat("p1", win, "wins", 3).await;
        let (status, body) = replica.post("p1", claim, json!({})).await;
        assert_eq!(status, StatusCode::OK, "a new period at {at}: {body}");
    }
    let goal = api.goal("p1", "daily", "daily-win").await;
    assert_eq!(goal["expiresAt"], "2026-06-12T08:00:00Z");
    assert_eq!(
        api.rewards.grants.load(std::sync::atomic::Ordering::SeqCst),
        3
    );
    replica.stop();
    api.stop();
}

/// A calendar change put back in the files before it took effect is withdrawn: a replica
/// started after its time keeps the calendar the files say, like the ones already running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calendar_change_put_back_before_its_time_is_forgotten() {
    let api = Api::start_with(UTC_DAILY).await;
    api.deploy(&new_york_daily()).await;
    api.deploy(UTC_DAILY).await;

    // The next day, before 04:00 in New York: the UTC day it is, for a replica started now too.
    api.clock.set("2026-06-11T03:00:00Z".parse().unwrap());
    let replica = api.replica().await;
    for server in [&api, &replica] {
        let (_, rotation) = server.get("p1", "/v1/challenges/daily/rotation").await;
        assert_eq!(rotation["rotation"]["timezone"], "UTC", "{rotation}");
        assert_eq!(
            rotation["rotation"]["currentPeriod"]["startTime"], "2026-06-11T00:00:00Z",
            "{rotation}"
        );
        assert_eq!(
            rotation["rotation"]["currentPeriod"]["endTime"], "2026-06-12T00:00:00Z",
            "{rotation}"
        );
    }
    replica.stop();
    api.stop();
}

/// A rotation that ran before calendars were recorded ran on UTC days: given a time zone in
/// the deploy that starts recording them, it keeps the UTC day in force, like any change,
/// since players hold rows of it (a new rotation would start on its own calendar).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_that_ran_before_calendars_were_recorded_keeps_its_utc_day() {
    let api = Api::start_with(UTC_DAILY).await;
    let claim = "/v1/challenges/daily/goals/daily-win/claim";
    api.clock.set("2026-06-10T06:00:00Z".parse().unwrap());
    api.stat("p1", "w1", "wins", 1).await;
    let (status, body) = api.post("p1", claim, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // As before this version: nothing recorded.
    let pool = sqlx::PgPool::connect(&api.db.url).await.unwrap();
    sqlx::query("DELETE FROM rotation_calendars")
        .execute(&pool)
        .await
        .unwrap();

    api.clock.set("2026-06-10T12:00:00Z".parse().unwrap());
    api.deploy(&new_york_daily()).await;
    let (_, rotation) = api.get("p1", "/v1/challenges/daily/rotation").await;
    assert_eq!(
        rotation["rotation"]["currentPeriod"]["startTime"], "2026-06-10T00:00:00Z",
        "{rotation}"
    );
    api.stat("p1", "w2", "wins", 2).await;
    let (status, body) = api.post("p1", claim, json!({})).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (StatusCode::CONFLICT, json!("ALREADY_CLAIMED")),
        "{body}"
    );
    api.stop();
}
