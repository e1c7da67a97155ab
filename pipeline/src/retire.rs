//! Goals are retired, not deleted (`retired:` in the files): the database's side of that rule.
//! A hot reload that removes goals players hold rows for is refused (the engine asks through
//! [`goals_in_use`]); at start-up the deployed files are the truth, so goals with rows but no
//! rule are a loud warning and `challenge_rules_orphaned_goals`, not a refusal.

use std::sync::Arc;

use engine::{GoalId, RuleSetHandle};
use prometheus::IntGauge;
use store::Maintenance;

/// The engine's question "which of these goals do players hold rows for", answered by `store`
/// (blocking the watcher's thread on the async store; reloads run off the async threads).
pub fn goals_in_use(store: Arc<dyn Maintenance>) -> engine::reload::GoalsInUse {
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move |goals: &[GoalId]| {
        blocking(&runtime, store.goals_in_use(goals)).map_err(|err| err.to_string())
    })
}

/// Runs `work` to its end from the engine's synchronous reload (the watcher's thread, or a
/// start-up on the runtime's).
pub(crate) fn blocking<T>(
    runtime: &tokio::runtime::Handle,
    work: impl std::future::Future<Output = T>,
) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::task::block_in_place(|| runtime.block_on(work))
    } else {
        runtime.block_on(work)
    }
}

/// `challenge_rules_orphaned_goals`: goals players hold rows for that the rules in use do not
/// define (set at start-up).
pub fn orphaned_gauge(registry: &prometheus::Registry) -> prometheus::Result<IntGauge> {
    let gauge = IntGauge::new(
        "challenge_rules_orphaned_goals",
        "Goals players hold progress rows for that the deployed rules do not define (checked at start-up)",
    )?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}

/// Looks once for rows of goals the deployed rules do not define, and says so loudly.
pub async fn warn_orphans(store: Arc<dyn Maintenance>, rules: Arc<RuleSetHandle>, gauge: IntGauge) {
    let held = match store.goals_in_use(&[]).await {
        Ok(held) => held,
        Err(err) => {
            tracing::warn!(error = %err, "cannot check for progress on goals the rules no longer define");
            return;
        }
    };
    let current = rules.current();
    let orphans: Vec<String> = held
        .iter()
        .filter(|goal| current.goal(goal.as_str()).is_none())
        .map(ToString::to_string)
        .collect();
    gauge.set(i64::try_from(orphans.len()).unwrap_or(i64::MAX));
    if !orphans.is_empty() {
        tracing::error!(
            goals = %orphans.join(", "),
            "players hold progress on goals the deployed rules no longer define: their progress and unclaimed rewards are invisible and their events count for nothing; put the goals back with `retired: <time>` (docs/dsl.md, Retiring a goal)"
        );
    }
}
