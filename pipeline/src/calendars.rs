//! The store's side of calendar changes (`engine::calendar_changes`): a change of a
//! rotation's `every`, `timezone` or `at` is recorded to take effect at the next boundary of
//! the periods in force, and every process loading the rules (a replica, a restart) reads the
//! same record, so the period running when it was deployed keeps its start and end everywhere.

use std::sync::Arc;

use engine::Clock;
use engine::calendar_changes::{CalendarHistory, plan};
use store::{Maintenance, StoreError};

use crate::retire::blocking;

/// The engine's question "what do these rotations keep of their calendar changes", answered by
/// `store` at the clock's time, recording the changes it finds.
pub fn calendar_history(store: Arc<dyn Maintenance>, clock: Clock) -> CalendarHistory {
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move |wanted: &[(String, String)]| {
        let work = async {
            let subjects: Vec<String> = wanted.iter().map(|(subject, _)| subject.clone()).collect();
            let history = store.rotation_calendars(&subjects).await?;
            let now = clock.now();
            let plan = plan(wanted, &history, now);
            if !plan.record.is_empty() {
                store.record_rotation_calendars(&plan.record, now).await?;
            }
            for (subject, earlier) in &plan.earlier {
                if earlier.until > now {
                    tracing::info!(
                        rotation = %subject,
                        until = %earlier.until.to_rfc3339(),
                        "a rotation's calendar changed: the period in force keeps its end, the new periods start then"
                    );
                }
            }
            Ok::<_, StoreError>(plan.earlier)
        };
        blocking(&runtime, work).map_err(|err| err.to_string())
    })
}
