//! The service's own IAM access token (OAuth client credentials: `AB_CLIENT_ID` /
//! `AB_CLIENT_SECRET`) for Platform's grant endpoints, cached until shortly before it expires.

use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_expiry() -> u64 {
    3600
}

/// A client-credentials token, fetched when none is cached (or on `renew`).
pub struct ClientToken {
    url: String,
    client_id: String,
    client_secret: String,
    http: reqwest::Client,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("ClientToken")
            .field("url", &self.url)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl ClientToken {
    pub fn new(
        base_url: &str,
        client_id: &str,
        client_secret: &str,
        http: reqwest::Client,
    ) -> Self {
        Self {
            url: format!("{}/iam/v3/oauth/token", base_url.trim_end_matches('/')),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            http,
            cached: Mutex::new(None),
        }
    }

    /// A valid token: the cached one, or a new one when there is none, it is about to expire,
    /// or `renew` (the last was refused). The error says why none could be had.
    pub async fn get(&self, renew: bool) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let (false, Some((token, valid_until))) = (renew, cached.as_ref())
            && Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|err| format!("IAM token request: {err}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("IAM token request answered {status}"));
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|err| format!("IAM token response: {err}"))?;
        // Renew a minute early (or halfway for short-lived tokens).
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 2);
        *cached = Some((
            token.access_token.clone(),
            Instant::now() + lifetime - margin,
        ));
        Ok(token.access_token)
    }
}
