//! Granting rewards: the `RewardClient` trait, `MockRewards` (`REWARD_CLIENT_MODE=mock`: log
//! and succeed) and the AGS Platform client in `platform`. A client makes ONE attempt and says
//! what is known about it; retrying, and whether a retry is allowed at all, is the claim
//! use-case's business (`usecases::delivery`).

use async_trait::async_trait;
use engine::{Reward, UserId};
use store::Delivery;

/// One attempt at granting a reward.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub user_id: UserId,
    pub namespace: String,
    /// What this request grants: a whole bundle in one fulfillment, or one reward of a direct
    /// delivery (which sends a bundle's parts one request each).
    pub rewards: Vec<Reward>,
    /// Stable per (namespace, user, goal, period): the same on every retry and replica.
    pub transaction_id: String,
    /// How it is delivered (decided when the claim started, recorded with the intent).
    pub delivery: Delivery,
}

/// What is known after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantOutcome {
    /// Platform granted it.
    Granted,
    /// Platform definitely refused (a 4xx other than 408/429): nothing was granted.
    Refused(String),
    /// The request definitely did not take effect (no connection, no token, 429): safe to
    /// send again in any delivery.
    NotSent(String),
    /// The request may have taken effect (a timeout, a lost answer, a 5xx or 408, an answer
    /// that does not say): only an idempotent delivery may send it again.
    Unknown(String),
    /// It cannot be sent as it was recorded, and only an operator can tell what the player got
    /// (Platform holds other items under the transaction id; the currency's coins item is no
    /// longer configured). Never sent again on its own.
    Operator(String),
}

/// Grants rewards.
#[async_trait]
pub trait RewardClient: Send + Sync + 'static {
    /// How `rewards` (everything one claim grants, at least one) would be delivered:
    /// idempotent fulfillment (all of them at once), or direct calls (one per reward).
    fn delivery(&self, rewards: &[Reward]) -> Delivery;

    /// One attempt (a token renewal on 401 included).
    async fn send(&self, request: &GrantRequest) -> GrantOutcome;
}

/// Logs the grant and succeeds (local runs, e2e and load tests).
#[derive(Debug, Default)]
pub struct MockRewards;

#[async_trait]
impl RewardClient for MockRewards {
    fn delivery(&self, _rewards: &[Reward]) -> Delivery {
        Delivery::Fulfillment
    }

    async fn send(&self, request: &GrantRequest) -> GrantOutcome {
        tracing::info!(user_id = %request.user_id, rewards = ?request.rewards, transaction_id = %request.transaction_id, "mock reward granted");
        GrantOutcome::Granted
    }
}

mod answers;
pub(crate) mod client_token;
pub mod platform;
