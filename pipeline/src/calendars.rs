//! The store's side of calendar changes (`engine::calendar_changes`): a change of a
//! rotation's `every`, `timezone` or `at` is recorded to take effect at the next boundary of
//! the periods in force, and every process loading the rules (a replica, a restart) reads the
//! same record, so the period running when it was deployed keeps its start and end everywhere.

use std::sync::Arc;

use engine::Clock;
use engine::calendar_changes::{CalendarHistory, Rotating, plan};
use store::{Maintenance, StoreError};

use crate::retire::blocking;

/// The engine's question "what do these rotations keep of their calendar changes", answered by
/// `store` at the clock's time, recording the changes it finds.
pub fn calendar_history(store: Arc<dyn Maintenance>, clock: Clock) -> CalendarHistory {
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move |rotating: &[Rotating]| {
        let work = async {
            let wanted: Vec<(String, String)> = (rotating.iter())
                .map(|r| (r.subject.clone(), r.key.clone()))
                .collect();
            let subjects: Vec<String> = wanted.iter().map(|(subject, _)| subject.clone()).collect();
            // Which rotations already ran (players hold rows of their goals): asked only when
            // one was never recorded.
            let mut history = store.rotation_calendars(&subjects).await?;
            let unrecorded: Vec<&Rotating> = (rotating.iter())
                .filter(|r| !history.iter().any(|row| row.subject == r.subject))
                .collect();
            let held: Vec<engine::GoalId> = if unrecorded.is_empty() {
                Vec::new()
            } else {
                let goals: Vec<engine::GoalId> = unrecorded
                    .iter()
                    .flat_map(|r| r.goals.iter().cloned())
                    .collect();
                store.goals_in_use(&goals).await?
            };
            let ran = |subject: &str| {
                (rotating.iter())
                    .find(|r| r.subject == subject)
                    .is_some_and(|r| r.goals.iter().any(|g| held.contains(g)))
            };
            // Record what the plan finds, then read again and plan again: a replica that
            // recorded the same change meanwhile (on the other side of a boundary) is seen,
            // and both keep the earliest. Settles in two rounds; a third is a safety margin.
            let mut earlier = Vec::new();
            for _ in 0..3 {
                let now = clock.now();
                let plan = plan(&wanted, &history, &ran, now);
                earlier = plan.earlier;
                if plan.record.is_empty() && plan.withdraw.is_empty() {
                    break;
                }
                for (subject, _) in &plan.withdraw {
                    tracing::info!(rotation = %subject, "a rotation's calendar change recorded for later was put back in the files: withdrawn");
                }
                store
                    .record_rotation_calendars(&plan.withdraw, &plan.record, now)
                    .await?;
                history = store.rotation_calendars(&subjects).await?;
            }
            let now = clock.now();
            for (subject, periods) in &earlier {
                if periods.until > now {
                    tracing::info!(
                        rotation = %subject,
                        until = %periods.until.to_rfc3339(),
                        "a rotation's calendar changed: the period in force keeps its end, the new periods start then"
                    );
                }
            }
            Ok::<_, StoreError>(earlier)
        };
        blocking(&runtime, work).map_err(|err| err.to_string())
    })
}
