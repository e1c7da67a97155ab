//! The AGS Platform reward client: a client-credentials token from IAM (cached until shortly
//! before it expires, renewed once on a 401), and one grant per call:
//!
//! - `fulfillment` (the default): `PUT /platform/v3/admin/namespaces/{ns}/users/{user}/
//!   fulfillments/{transactionId}`, where a repeated transaction id grants nothing new. ITEM
//!   rewards fulfil the item; WALLET rewards fulfil the COINS item configured for their
//!   currency (`REWARD_CURRENCY_ITEMS`), and without one they are credited directly.
//! - `direct`: entitlement grants and wallet credits, which have no idempotency key.
//!
//! Every path segment is percent-encoded. What an answer means is in [`GrantOutcome`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use engine::Reward;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use pipeline::config::ConfigError;
use reqwest::StatusCode;
use serde_json::json;
use store::Delivery;

use super::answers::{Answer, classify, exchange, shown};
use super::{GrantOutcome, GrantRequest, RewardClient};

/// Characters left as they are in a path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT).to_string()
}

/// Which Platform calls grant rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeliveryMode {
    /// Fulfillment keyed by the transaction id (idempotent; retried freely).
    Fulfillment,
    /// Entitlement grants and wallet credits (never re-sent once they may have arrived).
    Direct,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    pub mode: DeliveryMode,
    /// Currency code → the COINS item that fulfils it (fulfillment mode).
    pub currency_items: HashMap<String, String>,
}

impl PlatformConfig {
    pub fn new(base_url: &str, client_id: &str, client_secret: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            client_id: client_id.to_string(),
            client_secret: client_secret.to_string(),
            timeout: Duration::from_secs(5),
            mode: DeliveryMode::Fulfillment,
            currency_items: HashMap::new(),
        }
    }
}

/// `GOLD=item-id,GEMS=item-id` → a map; a clear message names a bad entry.
pub fn parse_currency_items(text: &str) -> Result<HashMap<String, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        setting: "REWARD_CURRENCY_ITEMS",
        reason,
    };
    let mut items = HashMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((currency, item)) = entry.split_once('=') else {
            return Err(invalid(format!(
                "`{entry}` is not CURRENCY=ITEM_ID (e.g. GOLD=0a1b2c…)"
            )));
        };
        let (currency, item) = (currency.trim(), item.trim());
        if currency.is_empty() || item.is_empty() {
            return Err(invalid(format!(
                "`{entry}` needs both a currency and an item id"
            )));
        }
        items.insert(currency.to_string(), item.to_string());
    }
    Ok(items)
}

/// Grants rewards through AGS Platform.
pub struct PlatformRewards {
    config: PlatformConfig,
    http: reqwest::Client,
    token: super::client_token::ClientToken,
}

impl std::fmt::Debug for PlatformRewards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("PlatformRewards")
            .field("base_url", &self.config.base_url)
            .field("client_id", &self.config.client_id)
            .field("mode", &self.config.mode)
            .finish()
    }
}

impl PlatformRewards {
    pub fn new(config: PlatformConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        let token = super::client_token::ClientToken::new(
            &config.base_url,
            &config.client_id,
            &config.client_secret,
            http.clone(),
        );
        Ok(Self {
            config,
            http,
            token,
        })
    }

    /// A valid access token; a failure means nothing was sent to Platform's grant endpoints.
    async fn token(&self, renew: bool) -> Result<String, GrantOutcome> {
        self.token.get(renew).await.map_err(GrantOutcome::NotSent)
    }

    /// The request that grants `request`; an `Operator` outcome when it cannot be built as the
    /// claim recorded it.
    fn call(&self, request: &GrantRequest) -> Result<reqwest::RequestBuilder, GrantOutcome> {
        let base = &self.config.base_url;
        let namespace = segment(&request.namespace);
        let user = segment(request.user_id.as_str());
        if request.delivery == Delivery::Fulfillment {
            let mut items = Vec::with_capacity(request.rewards.len());
            for reward in &request.rewards {
                let (item_id, quantity) = match reward {
                    Reward::Item { item_id, quantity } => (item_id, *quantity),
                    Reward::Wallet { currency, amount } => {
                        let Some(coins) = self.config.currency_items.get(currency) else {
                            return Err(GrantOutcome::Operator(format!(
                                "this claim started as a fulfillment of {currency}'s coins item, but \
                                 REWARD_CURRENCY_ITEMS no longer names one for {currency}: restore the \
                                 mapping (the claim is then sent as it started), or credit the player \
                                 yourself and mark it with `service claims resolve … --granted`"
                            )));
                        };
                        (coins, *amount)
                    }
                };
                items.push(json!({
                    "itemId": item_id,
                    "quantity": quantity,
                    "source": "REWARD",
                    "origin": "System",
                }));
            }
            return Ok(self
                .http
                .put(self.fulfillment_url(request))
                .json(&json!({ "items": items })));
        }
        // Direct: one reward per request (a bundle is sent part by part).
        let [reward] = request.rewards.as_slice() else {
            return Err(GrantOutcome::Operator(format!(
                "a direct grant carries one reward, this one {}: nothing was sent",
                request.rewards.len()
            )));
        };
        Ok(match reward {
            Reward::Item { item_id, quantity } => self
                .http
                .post(format!(
                    "{base}/platform/admin/namespaces/{namespace}/users/{user}/entitlements"
                ))
                .json(&json!([{
                    "itemId": item_id,
                    "itemNamespace": request.namespace,
                    "quantity": quantity,
                    "source": "REWARD",
                    "origin": "System",
                }])),
            Reward::Wallet { currency, amount } => self
                .http
                .put(format!(
                    "{base}/platform/admin/namespaces/{namespace}/users/{user}/wallets/{}/credit",
                    segment(currency)
                ))
                .json(&json!({
                    "amount": amount,
                    "source": "REWARD",
                    "reason": format!("challenge reward {}", request.transaction_id),
                })),
        })
    }

    fn fulfillment_url(&self, request: &GrantRequest) -> String {
        format!(
            "{}/platform/v3/admin/namespaces/{}/users/{}/fulfillments/{}",
            self.config.base_url,
            segment(&request.namespace),
            segment(request.user_id.as_str()),
            segment(&request.transaction_id)
        )
    }

    /// One request; `Err(())` on a 401 (the token is renewed and the request sent once more).
    async fn attempt(&self, request: &GrantRequest, renew: bool) -> Result<GrantOutcome, ()> {
        let token = match self.token(renew).await {
            Ok(token) => token,
            Err(outcome) => return Ok(outcome),
        };
        let call = match self.call(request) {
            Ok(call) => call,
            Err(outcome) => return Ok(outcome),
        };
        let (status, body) = match exchange(call.bearer_auth(&token)).await {
            Ok(answer) => answer,
            Err(outcome) => return Ok(outcome),
        };
        if status == StatusCode::UNAUTHORIZED {
            return Err(());
        }
        let fulfillment = request.delivery == Delivery::Fulfillment;
        Ok(match classify(status, &body, request.delivery) {
            Answer::Done(outcome) => outcome,
            // Platform holds the transaction as failed (or would not say how it holds it): ask
            // it to fulfil again with the first payload; its answer is what it holds now.
            Answer::Failed(why) if fulfillment => self.retry(request, &token, &why).await,
            Answer::Failed(why) => GrantOutcome::Unknown(why),
        })
    }

    /// `PUT …/fulfillments/{transactionId}/retry`: fulfils a failed transaction with the items
    /// first sent, and answers the transaction's result.
    async fn retry(&self, request: &GrantRequest, token: &str, why: &str) -> GrantOutcome {
        let url = format!("{}/retry", self.fulfillment_url(request));
        let (status, body) = match exchange(self.http.put(url).bearer_auth(token)).await {
            Ok(answer) => answer,
            Err(outcome) => return outcome,
        };
        if status == StatusCode::NOT_FOUND {
            // Platform holds nothing under the id: the first request never took effect.
            return GrantOutcome::NotSent(format!(
                "{why}; Platform holds no fulfillment under the transaction id ({})",
                shown(&body)
            ));
        }
        match classify(status, &body, Delivery::Fulfillment) {
            Answer::Done(outcome) => outcome,
            Answer::Failed(again) => {
                GrantOutcome::NotSent(format!("{why}; its retry failed too: {again}"))
            }
        }
    }
}

#[async_trait]
impl RewardClient for PlatformRewards {
    /// Fulfillment when every reward can be one (an item, or a currency with its coins item);
    /// else direct, one request per reward (start-up refuses a bundle that cannot be one
    /// fulfillment in this mode, E025, so only a lone wallet reward gets here).
    fn delivery(&self, rewards: &[Reward]) -> Delivery {
        let fulfils = |reward: &Reward| match reward {
            Reward::Item { .. } => true,
            Reward::Wallet { currency, .. } => self.config.currency_items.contains_key(currency),
        };
        match self.config.mode {
            DeliveryMode::Fulfillment if rewards.iter().all(fulfils) => Delivery::Fulfillment,
            _ => Delivery::Direct,
        }
    }

    async fn send(&self, request: &GrantRequest) -> GrantOutcome {
        match self.attempt(request, false).await {
            Ok(outcome) => outcome,
            // The cached token was revoked or expired early: renew once. A 401 is answered
            // before anything is applied, so sending again is safe in every delivery.
            Err(()) => match self.attempt(request, true).await {
                Ok(outcome) => outcome,
                Err(()) => {
                    GrantOutcome::NotSent("Platform refused the service's credentials (401)".into())
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("user/../../admin"), "user%2F..%2F..%2Fadmin");
        assert_eq!(segment("a b?c#d"), "a%20b%3Fc%23d");
        assert_eq!(segment("plain-id_1.x~"), "plain-id_1.x~");
    }

    #[test]
    fn currency_items_are_parsed_with_clear_errors() {
        let items = parse_currency_items("GOLD=item-1, GEMS = item-2").unwrap();
        assert_eq!(items.get("GEMS").map(String::as_str), Some("item-2"));
        assert!(parse_currency_items("").unwrap().is_empty());
        let err = parse_currency_items("GOLD").unwrap_err();
        assert!(
            err.setting() == "REWARD_CURRENCY_ITEMS" && err.to_string().contains("`GOLD`"),
            "{err}"
        );
    }
}
