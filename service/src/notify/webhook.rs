//! The webhook sink: `POST NOTIFY_WEBHOOK_URL` with the record's JSON, byte for byte as
//! stored, and `X-Challenge-Signature: sha256=<hex HMAC-SHA256 of the body under the secret>`.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use store::OutboxRecord;

use super::Sink;

/// The header receivers verify.
pub const SIGNATURE_HEADER: &str = "X-Challenge-Signature";

pub struct Webhook {
    url: String,
    secret: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("Webhook").field("url", &self.url).finish()
    }
}

impl Webhook {
    pub fn new(url: &str, secret: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        Ok(Self {
            url: url.to_string(),
            secret: secret.to_string(),
            http: reqwest::Client::builder().timeout(timeout).build()?,
        })
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`: the header's value.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[async_trait]
impl Sink for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, record: &OutboxRecord) -> Result<(), String> {
        let sent = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(&self.secret, record.body.as_bytes()),
            )
            .header("X-Challenge-Notification-Id", &record.id)
            .body(record.body.clone())
            .send()
            .await;
        super::answered(sent, "the webhook").await
    }
}

#[cfg(test)]
mod tests {
    /// RFC 4231 test case 2 (HMAC-SHA256, key "Jefe").
    #[test]
    fn the_signature_is_hmac_sha256_hex() {
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
