//! The AGS Platform reward client: a client-credentials token from IAM (cached until shortly
//! before it expires, refreshed once on a 401), ITEM rewards as entitlement grants and WALLET
//! rewards as wallet credits, with timeouts and retries with backoff on retryable failures only
//! (connection errors, timeouts, 429 and 5xx) — never on a definite refusal (other 4xx).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use engine::Reward;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use super::{GrantError, GrantRequest, RewardClient};

/// Client settings.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Attempts per grant (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    pub timeout: Duration,
}

impl PlatformConfig {
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            attempts: 4,
            backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default = "default_expiry")]
    expires_in: u64,
}

fn default_expiry() -> u64 {
    3600
}

enum Attempt {
    Retryable(String),
    Definite(String),
    Unauthorized,
}

/// Grants rewards through AGS Platform.
pub struct PlatformRewards {
    config: PlatformConfig,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for PlatformRewards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("PlatformRewards")
            .field("base_url", &self.config.base_url)
            .field("client_id", &self.config.client_id)
            .finish()
    }
}

impl PlatformRewards {
    pub fn new(config: PlatformConfig) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {err}"))?;
        Ok(Self {
            config,
            http,
            token: Mutex::new(None),
        })
    }

    /// A valid access token, fetched (client credentials) when none is cached or `renew`.
    async fn token(&self, renew: bool) -> Result<String, Attempt> {
        let mut cached = self.token.lock().await;
        if let (false, Some((token, valid_until))) = (renew, cached.as_ref())
            && Instant::now() < *valid_until
        {
            return Ok(token.clone());
        }
        let response = self
            .http
            .post(format!("{}/iam/v3/oauth/token", self.config.base_url))
            .basic_auth(&self.config.client_id, Some(&self.config.client_secret))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await
            .map_err(|err| Attempt::Retryable(format!("IAM token request: {err}")))?;
        let status = response.status();
        if !status.is_success() {
            let message = format!("IAM token request answered {status}");
            return Err(if retryable(status) {
                Attempt::Retryable(message)
            } else {
                Attempt::Definite(message)
            });
        }
        let token: TokenResponse = response
            .json()
            .await
            .map_err(|err| Attempt::Retryable(format!("IAM token response: {err}")))?;
        // Renew a minute early (or halfway for short-lived tokens).
        let lifetime = Duration::from_secs(token.expires_in);
        let margin = Duration::from_secs(60).min(lifetime / 2);
        *cached = Some((
            token.access_token.clone(),
            Instant::now() + lifetime - margin,
        ));
        Ok(token.access_token)
    }

    async fn attempt(&self, request: &GrantRequest, renew_token: bool) -> Result<(), Attempt> {
        let token = self.token(renew_token).await?;
        let namespace = &request.namespace;
        let user = request.user_id.as_str();
        let base = &self.config.base_url;
        let call = match &request.reward {
            Reward::Item { item_id, quantity } => self
                .http
                .post(format!("{base}/platform/admin/namespaces/{namespace}/users/{user}/entitlements"))
                .json(&json!([{
                    "itemId": item_id,
                    "itemNamespace": namespace,
                    "quantity": quantity,
                    "source": "REWARD",
                    "origin": "System",
                }])),
            Reward::Wallet { currency, amount } => self
                .http
                .put(format!("{base}/platform/admin/namespaces/{namespace}/users/{user}/wallets/{currency}/credit"))
                .json(&json!({
                    "amount": amount,
                    "source": "REWARD",
                    "reason": format!("challenge reward {}", request.transaction_id),
                })),
        };
        let response = call
            .bearer_auth(token)
            .send()
            .await
            .map_err(|err| Attempt::Retryable(format!("Platform request: {err}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(Attempt::Unauthorized);
        }
        let body = response.text().await.unwrap_or_default();
        let message = format!(
            "Platform answered {status}: {}",
            body.chars().take(300).collect::<String>()
        );
        Err(if retryable(status) {
            Attempt::Retryable(message)
        } else {
            Attempt::Definite(message)
        })
    }
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

#[async_trait]
impl RewardClient for PlatformRewards {
    async fn grant(&self, request: &GrantRequest) -> Result<(), GrantError> {
        let mut backoff = self.config.backoff;
        let mut renewed = false;
        let mut last = String::new();
        let mut attempt = 0;
        while attempt < self.config.attempts.max(1) {
            attempt += 1;
            match self.attempt(request, false).await {
                Ok(()) => return Ok(()),
                Err(Attempt::Unauthorized) if !renewed => {
                    // The cached token was revoked or expired early: renew once, not counted.
                    renewed = true;
                    attempt -= 1;
                    match self.attempt(request, true).await {
                        Ok(()) => return Ok(()),
                        Err(Attempt::Definite(message)) => {
                            return Err(GrantError::Rejected(message));
                        }
                        Err(Attempt::Unauthorized) => {
                            return Err(GrantError::Rejected(
                                "Platform refused the service's credentials (401)".into(),
                            ));
                        }
                        Err(Attempt::Retryable(message)) => last = message,
                    }
                }
                Err(Attempt::Unauthorized) => {
                    return Err(GrantError::Rejected(
                        "Platform refused the service's credentials (401)".into(),
                    ));
                }
                Err(Attempt::Definite(message)) => return Err(GrantError::Rejected(message)),
                Err(Attempt::Retryable(message)) => last = message,
            }
            if attempt < self.config.attempts {
                tracing::warn!(transaction_id = %request.transaction_id, attempt, error = %last, "reward grant failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
        Err(GrantError::Unavailable(last))
    }
}
