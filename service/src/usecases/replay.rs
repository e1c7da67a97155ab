//! Replay: the event archive of the configured database, read whole, grouped by player, and
//! replayed under two rule sets on every core (`engine::replay` does the folding, with the
//! same `route` + `apply` as production). `service replay` and the console both call it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use engine::RuleSet;
use engine::replay::{ReplayReport, Replayer, Tally};
use store::{ArchiveWindow, ArchivedEvent, EventArchive, StoreError};

/// Archive rows read per query.
const PAGE: i64 = 20_000;

/// Told how far a replay is (from any thread).
pub trait ReplayObserver: Send + Sync {
    /// `read` of `total` archived events read from the database.
    fn reading(&self, read: u64, total: u64);
    /// `done` of `total` events replayed under both rule sets.
    fn replaying(&self, done: u64, total: u64);
}

/// For callers that show no progress.
pub struct Quiet;

impl ReplayObserver for Quiet {
    fn reading(&self, _: u64, _: u64) {}
    fn replaying(&self, _: u64, _: u64) {}
}

/// What a replay found.
#[derive(Debug, Clone)]
pub struct Replayed {
    pub report: ReplayReport,
    /// Expressions that failed to evaluate, under the deployed rules and under the edit.
    pub failed_expressions: (u64, u64),
    /// Archived rows that could not be read back as events (skipped), with the first reason.
    pub unreadable: u64,
    pub first_unreadable: Option<String>,
}

/// Replays the archived events of `window` under `before` (deployed) and `after` (the edit).
pub async fn replay(
    store: &dyn EventArchive,
    window: ArchiveWindow,
    before: Arc<RuleSet>,
    after: Arc<RuleSet>,
    observer: Arc<dyn ReplayObserver>,
) -> Result<Replayed, StoreError> {
    let (players, read) = read_players(store, window, observer.as_ref()).await?;
    let replayed = tokio::task::spawn_blocking(move || {
        replay_players(&players, &before, &after, read, observer.as_ref())
    })
    .await
    .map_err(|err| StoreError::Config(format!("the replay stopped: {err}")))?;
    Ok(replayed)
}

/// The archived events of `window`, one list per player in the order they were applied, and
/// how many were read.
pub async fn read_players(
    store: &dyn EventArchive,
    window: ArchiveWindow,
    observer: &dyn ReplayObserver,
) -> Result<(Vec<Vec<ArchivedEvent>>, u64), StoreError> {
    let total = store.count_archive(&window).await?;
    observer.reading(0, total);
    let mut players: HashMap<String, Vec<ArchivedEvent>> = HashMap::new();
    let (mut after_seq, mut read) = (0_i64, 0_u64);
    loop {
        let page = store.read_archive(&window, after_seq, PAGE).await?;
        let Some(last) = page.last() else { break };
        after_seq = last.seq;
        read += page.len() as u64;
        // In archive order, so each player's list is in the order their events were applied.
        for row in page {
            players.entry(row.user_id.clone()).or_default().push(row);
        }
        observer.reading(read, total.max(read));
    }
    Ok((players.into_values().collect(), read))
}

/// Spreads players over the cores; each thread replays whole players under both rule sets.
fn replay_players(
    players: &[Vec<ArchivedEvent>],
    before: &RuleSet,
    after: &RuleSet,
    total: u64,
    observer: &dyn ReplayObserver,
) -> Replayed {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut part = Part::new(before, after);
                    let (mut old, mut new) = (Replayer::new(before), Replayer::new(after));
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(events) = players.get(index) else {
                            break;
                        };
                        for row in store::first_deliveries(events) {
                            match row.to_event() {
                                Ok(event) => {
                                    old.apply(&event, &mut part.before);
                                    new.apply(&event, &mut part.after);
                                }
                                Err(reason) => {
                                    part.unreadable += 1;
                                    part.first_unreadable.get_or_insert(reason);
                                }
                            }
                        }
                        old.finish_player(&mut part.before);
                        new.finish_player(&mut part.after);
                        let now = done.fetch_add(events.len() as u64, Ordering::Relaxed);
                        observer.replaying(now + events.len() as u64, total);
                    }
                    part
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|worker| worker.join().ok())
            .collect()
    });
    let mut whole = Part::new(before, after);
    for part in parts {
        whole.before.merge(part.before);
        whole.after.merge(part.after);
        whole.unreadable += part.unreadable;
        if whole.first_unreadable.is_none() {
            whole.first_unreadable = part.first_unreadable;
        }
    }
    let failed_expressions = (
        whole.before.failed_expressions,
        whole.after.failed_expressions,
    );
    Replayed {
        report: ReplayReport::compare(before, whole.before, after, whole.after),
        failed_expressions,
        unreadable: whole.unreadable,
        first_unreadable: whole.first_unreadable,
    }
}

/// One thread's share.
struct Part {
    before: Tally,
    after: Tally,
    unreadable: u64,
    first_unreadable: Option<String>,
}

impl Part {
    fn new(before: &RuleSet, after: &RuleSet) -> Self {
        Self {
            before: Tally::new(before),
            after: Tally::new(after),
            unreadable: 0,
            first_unreadable: None,
        }
    }
}
