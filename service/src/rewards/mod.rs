//! Granting rewards: the `RewardClient` trait, `MockRewards` (`REWARD_CLIENT_MODE=mock`: log
//! and succeed) and the AGS Platform client in `platform`.

use async_trait::async_trait;
use engine::{Reward, UserId};

/// One grant, with a transaction id stable across retries of the same claim.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub user_id: UserId,
    pub namespace: String,
    pub reward: Reward,
    pub transaction_id: String,
}

/// Why a grant failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GrantError {
    /// The reward service refused it (a definite failure).
    #[error("reward refused: {0}")]
    Rejected(String),
    /// The reward service could not be reached after retries.
    #[error("reward service unavailable: {0}")]
    Unavailable(String),
}

/// Grants rewards.
#[async_trait]
pub trait RewardClient: Send + Sync + 'static {
    async fn grant(&self, request: &GrantRequest) -> Result<(), GrantError>;
}

/// Logs the grant and succeeds (local runs, e2e and load tests).
#[derive(Debug, Default)]
pub struct MockRewards;

#[async_trait]
impl RewardClient for MockRewards {
    async fn grant(&self, request: &GrantRequest) -> Result<(), GrantError> {
        tracing::info!(user_id = %request.user_id, reward = ?request.reward, transaction_id = %request.transaction_id, "mock reward granted");
        Ok(())
    }
}

pub mod platform;
