//! `service claims list|resolve`: the operator's view of reward intents, and the decision on
//! those whose outcome cannot be known (a direct grant whose answer was lost). The operator
//! looks the transaction up in AGS (the player's wallet or entitlement history, where the
//! reason carries the transaction id) and records what happened.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use pipeline::database::DatabaseArgs;
use store::{IntentKey, IntentState, RewardIntent, redacted};

#[derive(Debug, Args)]
pub struct ClaimsArgs {
    #[command(subcommand)]
    pub command: ClaimsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClaimsCommand {
    /// List reward intents (default: those whose outcome is unknown).
    List {
        /// pending, sending, granted, refused, unknown, or all.
        #[arg(long, default_value = "unknown")]
        state: String,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Record what happened to an intent whose outcome was unknown.
    Resolve {
        user_id: String,
        goal_id: String,
        /// The period's start as `list` shows it (RFC 3339; 1970-01-01T00:00:00Z for goals
        /// that never rotate).
        period_start: String,
        /// Platform did grant it: the goal becomes claimed.
        #[arg(long, conflicts_with = "refused", required_unless_present = "refused")]
        granted: bool,
        /// Platform did not grant it: the goal becomes claimable again.
        #[arg(long)]
        refused: bool,
        /// Why (kept with the intent).
        #[arg(long, default_value = "resolved by an operator")]
        note: String,
    },
}

pub async fn run(args: &ClaimsArgs, database: &DatabaseArgs) -> Result<()> {
    let url = database.url()?;
    let store = store::open(&url, 2)
        .await
        .with_context(|| format!("cannot open the database {}", redacted(&url)))?;
    match &args.command {
        ClaimsCommand::List { state, limit, json } => {
            let state = match state.as_str() {
                "all" => None,
                other => Some(IntentState::parse(other).with_context(|| {
                    format!(
                        "--state {other}: expected pending, sending, granted, refused, unknown or all"
                    )
                })?),
            };
            let intents = store
                .list_intents(state, *limit)
                .await
                .context("listing reward intents")?;
            let mut out = std::io::stdout().lock();
            print_intents(&mut out, &intents, *json)?;
        }
        ClaimsCommand::Resolve {
            user_id,
            goal_id,
            period_start,
            granted,
            note,
            ..
        } => {
            let period_start: DateTime<Utc> = DateTime::parse_from_rfc3339(period_start)
                .with_context(|| format!("period start `{period_start}` is not RFC 3339"))?
                .with_timezone(&Utc);
            let key = IntentKey {
                user_id: engine::UserId::new(user_id.as_str()),
                goal_id: engine::GoalId::new(goal_id.as_str()),
                period_start,
            };
            // A bundle delivered part by part: the part in doubt arrived, and the parts after it
            // are still to be sent (by the reconciler), not given up.
            if *granted
                && let Some(intent) = store.intent(&key).await?
                && intent.state == store::IntentState::Unknown
                && intent.delivery == store::Delivery::Direct
            {
                let parts = crate::usecases::rewards::rewards_from_record(&intent.reward).len();
                let next = intent.parts_granted + 1;
                if usize::try_from(next).is_ok_and(|next| next < parts) {
                    if store.part_granted(&key, next, Utc::now()).await?.is_none() {
                        bail!(
                            "the intent changed meanwhile (another operator, or its delivery): list it again"
                        );
                    }
                    println!(
                        "{} {} {}: part {next} of {parts} marked granted; the reconciler sends the rest",
                        key.user_id,
                        key.goal_id,
                        period_start.to_rfc3339(),
                    );
                    return Ok(());
                }
            }
            match store
                .resolve_intent(&key, *granted, note, Utc::now())
                .await?
            {
                Some(intent) => println!(
                    "{} {} {}: {}",
                    key.user_id,
                    key.goal_id,
                    period_start.to_rfc3339(),
                    intent.state.as_str()
                ),
                None => {
                    let found = store.intent(&key).await?;
                    match found {
                        Some(intent) => bail!(
                            "the intent is {}, not unknown: only unknown outcomes are resolved by hand",
                            intent.state.as_str()
                        ),
                        None => bail!(
                            "no reward intent of user `{user_id}`, goal `{goal_id}`, period {period_start}"
                        ),
                    }
                }
            }
        }
    }
    Ok(())
}

fn print_intents(
    out: &mut impl std::io::Write,
    intents: &[RewardIntent],
    json: bool,
) -> Result<()> {
    for intent in intents {
        if json {
            let line = serde_json::json!({
                "userId": intent.key.user_id.as_str(),
                "goalId": intent.key.goal_id.as_str(),
                "periodStart": intent.key.period_start.to_rfc3339(),
                "namespace": intent.namespace,
                "state": intent.state.as_str(),
                "delivery": intent.delivery.as_str(),
                "transactionId": intent.transaction_id,
                "reward": serde_json::from_str::<serde_json::Value>(&intent.reward).unwrap_or_default(),
                "attempts": intent.attempts,
                "lastError": intent.last_error,
                "updatedAt": intent.updated_at.to_rfc3339(),
            });
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "{}  {}  {}  {}  {}  {}  attempts={}  {}",
                intent.state.as_str(),
                intent.key.user_id,
                intent.key.goal_id,
                intent.key.period_start.to_rfc3339(),
                intent.transaction_id,
                intent.reward,
                intent.attempts,
                intent.last_error.as_deref().unwrap_or("")
            )?;
        }
    }
    if !json {
        writeln!(out, "{} intent(s)", intents.len())?;
    }
    Ok(())
}
