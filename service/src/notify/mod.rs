//! Where notifications go: a webhook (`NOTIFY_WEBHOOK_URL`, each body signed with HMAC-SHA256
//! under `NOTIFY_WEBHOOK_SECRET`) and AGS Lobby's free-form notification to the player
//! (`NOTIFY_LOBBY=true`). A sink makes ONE attempt and says whether the record was taken;
//! retrying, ordering and dead-lettering are the notifier's (`usecases::notifications`).

use async_trait::async_trait;
use store::OutboxRecord;

pub mod lobby;
pub mod webhook;

/// One destination of the outbox's records.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Its name in `delivered_to` and the metrics' `sink` label.
    fn name(&self) -> &'static str;

    /// One attempt: `Ok` when the record was taken, else why not.
    async fn send(&self, record: &OutboxRecord) -> Result<(), String>;
}

/// A 2xx is taken; anything else says what came back (the body's start, for the log).
pub(crate) async fn answered(
    sent: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<(), String> {
    let response = sent.map_err(|err| format!("{what}: {}", describe(&err)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let shown: String = body.chars().take(200).collect();
    Err(format!("{what} answered {status}: {shown}"))
}

fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "no answer in time".into()
    } else if err.is_connect() {
        "cannot connect".into()
    } else {
        err.to_string()
    }
}
