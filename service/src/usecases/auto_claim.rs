//! `claim: auto`: the notifier hands this sink every `goal.completed` record (written in the
//! transaction that completed the goal, by the handler or by the service's own writer), and it
//! claims for the player, through the player's own claim path (checks, intent, delivery), the
//! goal that completed when it is `claim: auto`, and every `claim: auto` goal that requires it
//! (its last prerequisite may just have completed). A goal whose prerequisites are not met, or
//! claimed already, is left as it is: the claim's refusal is the answer. So it grants once,
//! whatever the replicas and restarts: the intent has one winner.

use async_trait::async_trait;
use engine::UserId;
use store::OutboxRecord;

use super::Context;
use crate::notify::Sink;
use crate::usecases::error::ErrorCode;

pub struct AutoClaim {
    pub ctx: Context,
}

#[async_trait]
impl Sink for AutoClaim {
    fn name(&self) -> &'static str {
        "claims"
    }

    async fn send(&self, record: &OutboxRecord) -> Result<(), String> {
        if record.kind != "goal.completed" {
            return Ok(());
        }
        let body: serde_json::Value =
            serde_json::from_str(&record.body).map_err(|err| format!("the record: {err}"))?;
        let Some(completed) = body["goalId"].as_str() else {
            return Ok(());
        };
        let completed_at = body["at"]
            .as_str()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| self.ctx.clock.now());
        let rules = self.ctx.rules.current();
        if rules.goal(completed).is_none() {
            // Completed under rules this replica has not loaded yet (a reload in progress):
            // tried again after its backoff, by when they are here.
            return Err(format!(
                "goal `{completed}` is not in this replica's rules yet"
            ));
        }
        if !rules.goals().iter().any(|goal| goal.auto_claim) {
            return Ok(());
        }
        let user = UserId::new(record.user_id.as_str());
        let due = rules.goals().iter().filter(|goal| {
            goal.auto_claim
                && (goal.id.as_str() == completed
                    || goal
                        .requires
                        .iter()
                        .any(|required| required.as_str() == completed))
        });
        for goal in due {
            let claimed = super::claim::auto_claim(
                &self.ctx,
                &user,
                goal.challenge_id.as_str(),
                goal.id.as_str(),
                completed_at,
                self.ctx.clock.now(),
            )
            .await;
            match claimed {
                Ok(()) => {
                    tracing::info!(user_id = %user, goal_id = %goal.id, "goal claimed for the player (claim: auto)");
                }
                // Nothing to claim (yet): prerequisites not met, claimed already, over.
                Err(err)
                    if !matches!(
                        err.code,
                        ErrorCode::DatabaseUnavailable | ErrorCode::Internal
                    ) =>
                {
                    tracing::debug!(user_id = %user, goal_id = %goal.id, reason = %err.message, "claim: auto left for now");
                }
                Err(err) => return Err(format!("claiming `{}`: {}", goal.id, err.message)),
            }
        }
        Ok(())
    }
}
