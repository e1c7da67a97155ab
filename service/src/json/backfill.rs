//! A backfill's answer (`POST /v1/admin/rules/backfill`, `service backfill --format json`).

use serde::Serialize;

use crate::usecases::backfill::Backfilled;

/// One goal a backfill raises.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillChangeJson {
    user_id: String,
    challenge_id: String,
    goal_id: String,
    progress_from: i64,
    progress_to: i64,
    status_from: &'static str,
    status_to: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackfillAnswer {
    dry_run: bool,
    /// Archived players replayed.
    players: u64,
    /// Archived events read.
    events: u64,
    changes: Vec<BackfillChangeJson>,
    /// Changes written: 0 on a dry run; fewer than `changes` when live traffic or support got
    /// a goal as far (or claimed it) first.
    applied: u64,
    /// This run's id, in the `detail.run` of each of its audit entries.
    run: String,
    /// The content hash of the rules replayed.
    content_hash: String,
}

impl From<Backfilled> for BackfillAnswer {
    fn from(done: Backfilled) -> Self {
        Self {
            dry_run: done.dry_run,
            players: done.players,
            events: done.events,
            changes: (done.changes.into_iter())
                .map(|c| BackfillChangeJson {
                    user_id: c.user_id.to_string(),
                    challenge_id: c.challenge_id,
                    goal_id: c.goal_id.to_string(),
                    progress_from: c.progress_from,
                    progress_to: c.progress_to,
                    status_from: c.status_from.as_str(),
                    status_to: c.status_to.as_str(),
                })
                .collect(),
            applied: done.applied,
            run: done.run,
            content_hash: done.rules,
        }
    }
}
