//! The AGS Lobby sink: `POST /lobby/v1/admin/notification/namespaces/{namespace}/users/
//! {userId}/freeform/notify` with `{"message": <the record's JSON>, "topicName": <topic>}`
//! (AccelByte's SDKs: `sendSpecificUserFreeformNotificationV1Admin`, answered 204), with the
//! service's client token, so a connected game client shows it at once. Lobby takes no
//! idempotency key: an answer lost after Lobby delivered means the record is sent again, and
//! the player may see it twice (the record's `id` lets the client drop the repeat).

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use store::OutboxRecord;

use super::Sink;
use crate::rewards::client_token::ClientToken;
use crate::rewards::platform::segment;

pub struct Lobby {
    base_url: String,
    namespace: String,
    topic: String,
    http: reqwest::Client,
    token: ClientToken,
}

impl Lobby {
    pub fn new(
        base_url: &str,
        client_id: &str,
        client_secret: &str,
        namespace: &str,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        let base_url = base_url.trim_end_matches('/').to_string();
        Ok(Self {
            token: ClientToken::new(&base_url, client_id, client_secret, http.clone()),
            base_url,
            namespace: namespace.to_string(),
            topic: topic.to_string(),
            http,
        })
    }

    async fn attempt(
        &self,
        record: &OutboxRecord,
        renew: bool,
    ) -> Result<reqwest::Response, String> {
        let token = self.token.get(renew).await?;
        let url = format!(
            "{}/lobby/v1/admin/notification/namespaces/{}/users/{}/freeform/notify",
            self.base_url,
            segment(&self.namespace),
            segment(&record.user_id)
        );
        self.http
            .post(url)
            .bearer_auth(token)
            .json(&serde_json::json!({"message": record.body, "topicName": self.topic}))
            .send()
            .await
            .map_err(|err| format!("Lobby: {err}"))
    }
}

#[async_trait]
impl Sink for Lobby {
    fn name(&self) -> &'static str {
        "lobby"
    }

    async fn send(&self, record: &OutboxRecord) -> Result<(), String> {
        let first = self.attempt(record, false).await?;
        // A token revoked or expired early: renew once.
        let response = if first.status() == StatusCode::UNAUTHORIZED {
            self.attempt(record, true).await?
        } else {
            first
        };
        super::answered(Ok(response), "Lobby").await
    }
}
