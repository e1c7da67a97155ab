//! Localized names and descriptions: each answer a player reads picks, per text, the best
//! match for their `Accept-Language` (RFC 4647 lookup), else the file's `default_locale`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::Api;

const RULES: &str = r#"
version: 1
default_locale: en
challenges:
  - id: weekend
    name: { en: Weekend Ranked, de: Ranglisten-Wochenende, pt-BR: Ranqueada de Fim de Semana }
    description: { en: Win three., de: Gewinne drei. }
    goals:
      - { id: win-3, name: { en: Win 3, de: Gewinne 3 }, on: stat, stat: wins, target: 3 }
      - { id: pick, name: { en: Pick me, de: Wähl mich }, on: stat, stat: p, target: 1, assign: manual }
"#;

async fn get_in(api: &Api, accept: Option<&str>, path: &str) -> Value {
    let mut request =
        (api.client.get(format!("{}{path}", api.base))).header("x-mock-user-id", "p1");
    if let Some(accept) = accept {
        request = request.header("accept-language", accept);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["vary"], "Accept-Language", "{path}");
    response.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_pick_each_text_for_the_players_languages() {
    let api = Api::start_with(RULES).await;
    let names = |challenge: &Value| {
        (
            challenge["name"].as_str().unwrap().to_string(),
            challenge["description"].as_str().unwrap().to_string(),
            challenge["goals"][0]["name"].as_str().unwrap().to_string(),
        )
    };
    let german = get_in(&api, Some("de-CH, en;q=0.5"), "/v1/challenges/weekend").await;
    assert_eq!(
        names(&german),
        (
            "Ranglisten-Wochenende".into(),
            "Gewinne drei.".into(),
            "Gewinne 3".into()
        ),
        "de-CH looks up de"
    );
    let brazil = get_in(&api, Some("pt-BR"), "/v1/challenges").await;
    assert_eq!(
        names(&brazil["challenges"][0]),
        (
            "Ranqueada de Fim de Semana".into(),
            "Win three.".into(),
            "Win 3".into()
        ),
        "a text without the locale falls back to the file's default, text by text"
    );
    for accept in [None, Some("fr"), Some("de;q=0"), Some("not a language")] {
        let fallback = get_in(&api, accept, "/v1/challenges/weekend").await;
        assert_eq!(fallback["name"], "Weekend Ranked", "{accept:?}");
    }

    let (status, _) = api.post("p1", "/v1/challenges/initialize", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let response = (api.client.post(format!(
        "{}/v1/challenges/weekend/goals/batch-select",
        api.base
    )))
    .header("x-mock-user-id", "p1")
    .header("accept-language", "de")
    .json(&json!({"goalIds": ["pick"]}))
    .send()
    .await
    .expect("request");
    let selected: Value = response.json().await.expect("json");
    assert_eq!(
        selected["selectedGoals"][0]["name"], "Wähl mich",
        "{selected}"
    );
    api.stop();
}
