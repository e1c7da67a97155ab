//! The group-commit writer. Events wait in a bounded queue; a flusher takes what arrived (up to
//! `batch_size`, or whatever came within `window`), applies it in ONE transaction, and only
//! after COMMIT answers every waiting caller. No caller hears OK for an uncommitted event.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use engine::{Event, RuleSet};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::{EventOutcome, EventSink, PendingEvent, StoreError};

/// Writer knobs.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Most events per transaction.
    pub batch_size: usize,
    /// How long a flusher waits for more events after the first one of a batch.
    pub window: Duration,
    /// Events waiting beyond this are refused at once (overload), never buffered without bound.
    pub queue_capacity: usize,
    /// Transactions in flight at once.
    pub flushers: usize,
    /// "Now" of each batch (events' times are capped at it; rows are stamped with it).
    pub clock: engine::Clock,
    /// Share of players (0 to 1, chosen by a hash of the user id) whose accepted events go to
    /// the event archive, in the batch transaction. 0: no archive.
    pub archive_sample: f64,
    /// The shards of a distributed (Citus) database: a batch is then split into one
    /// transaction per shard, so that none spans two (`CITUS_SHARD_COUNT`).
    pub shards: Option<crate::Shards>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            batch_size: 500,
            // 6 ms, not 2: at a few thousand events/s a 2 ms window committed batches of a
            // handful of events, and the transaction's fixed statements and its commit made
            // PostgreSQL spend ~40 % more CPU per event for ~1.5 ms less latency
            // (docs/benchmarks.md, "The writer's window").
            window: Duration::from_millis(6),
            queue_capacity: 20_000,
            flushers: 2,
            clock: engine::Clock::system(),
            archive_sample: 0.0,
            shards: None,
        }
    }
}

/// Why an event was not committed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    /// The queue is full: shed load now (gRPC UNAVAILABLE, the platform retries).
    #[error("the event queue is full ({0} events waiting)")]
    Overloaded(usize),
    /// The writer is shutting down.
    #[error("the writer is shutting down")]
    ShuttingDown,
    /// The flusher holding the event failed before answering (it is restarted): the event may
    /// or may not be committed; a retry is safe (redeliveries are deduplicated).
    #[error("the writer lost track of the event before confirming it")]
    Lost,
    /// The store failed; `StoreError::is_unavailable` says whether a retry can help.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl WriteError {
    /// Whether the caller should answer "try again later" (UNAVAILABLE).
    pub fn is_retryable(&self) -> bool {
        match self {
            WriteError::Overloaded(_) | WriteError::ShuttingDown | WriteError::Lost => true,
            WriteError::Store(err) => err.is_unavailable(),
        }
    }
}

/// Told about every flush and every failed predicate, for metrics.
pub trait WriterObserver: Send + Sync + 'static {
    /// A batch of `size` events was applied (`committed`) or failed, taking `elapsed`.
    fn flushed(&self, size: usize, elapsed: Duration, committed: bool);
    /// An expression (`when`, `amount`, `progress`) of goal `goal` of `challenge` failed to
    /// evaluate on an event: the event does not count for that goal.
    fn expression_failed(&self, _challenge: &engine::ChallengeId, _goal: &engine::GoalId) {}
    /// A flusher panicked; it is restarted.
    fn flusher_panicked(&self) {}
}

struct NoObserver;

impl WriterObserver for NoObserver {
    fn flushed(&self, _: usize, _: Duration, _: bool) {}
}

struct Job {
    pending: PendingEvent,
    reply: oneshot::Sender<Result<EventOutcome, WriteError>>,
}

/// Submits events and waits for their commit.
pub struct Writer {
    sender: mpsc::Sender<Job>,
    stopping: watch::Sender<bool>,
    depth: Arc<QueueDepth>,
    flushers: std::sync::Mutex<Vec<JoinHandle<()>>>,
    last_batch: Arc<AtomicUsize>,
    observer: Arc<dyn WriterObserver>,
    /// Flushers waiting to restart after a panic.
    restarting: Arc<AtomicUsize>,
    archive_sample: f64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queue_depth", &self.queue_depth())
            .finish()
    }
}

impl Writer {
    /// Starts the flusher tasks on the current Tokio runtime.
    pub fn start(store: Arc<dyn EventSink>, config: WriterConfig) -> Self {
        Self::start_observed(store, config, Arc::new(NoObserver))
    }

    /// Starts the flusher tasks, reporting flushes to `observer`.
    pub fn start_observed(
        store: Arc<dyn EventSink>,
        config: WriterConfig,
        observer: Arc<dyn WriterObserver>,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        let depth = Arc::new(QueueDepth::default());
        let last_batch = Arc::new(AtomicUsize::new(0));
        let (stopping, stop_signal) = watch::channel(false);
        let restarting = Arc::new(AtomicUsize::new(0));
        let flusher = Flusher {
            store,
            receiver,
            stop_signal,
            depth: depth.clone(),
            last_batch: last_batch.clone(),
            config: config.clone(),
            observer: observer.clone(),
        };
        let flushers = (0..config.flushers.max(1))
            .map(|_| tokio::spawn(supervise(flusher.clone(), restarting.clone())))
            .collect();
        Self {
            sender,
            stopping,
            depth,
            flushers: std::sync::Mutex::new(flushers),
            last_batch,
            observer,
            restarting,
            archive_sample: config.archive_sample,
        }
    }

    /// Routes `event` with `rules` and, if any goal matched, waits until its progress is
    /// committed. Returns `NoMatch` at once when nothing listens.
    pub async fn submit(
        &self,
        rules: Arc<RuleSet>,
        event: Event,
    ) -> Result<EventOutcome, WriteError> {
        let routed = rules.route(&event);
        for (goal, err) in &routed.errors {
            self.observer
                .expression_failed(&goal.challenge_id, &goal.id);
            tracing::warn!(challenge_id = %goal.challenge_id, goal_id = %goal.id, event_id = %event.id, user_id = %event.user_id, error = %err, "goal predicate failed; event does not count for this goal");
        }
        // The goals whose predicate failed, told to the sender with the outcome (counted above;
        // added after the flush, which counts only what the batch's fold saw fail).
        let failed: Vec<engine::GoalId> = routed
            .errors
            .iter()
            .map(|(goal, _)| goal.id.clone())
            .collect();
        let archive = crate::archive::sampled(&event.user_id, self.archive_sample);
        if routed.matched.is_empty() && !archive {
            return Ok(EventOutcome::NoMatch {
                failed_expressions: failed,
            });
        }
        // A sampled player's event goes through a batch even when no goal listens today: a
        // replay under edited rules may have goals that do.
        let goals = routed.matched.iter().map(|goal| goal.id.clone()).collect();
        let pending = PendingEvent {
            rules: rules.clone(),
            event,
            goals,
            archive,
        };
        let mut outcome = self.submit_routed(pending).await?;
        if let EventOutcome::Applied {
            failed_expressions, ..
        }
        | EventOutcome::NoMatch { failed_expressions } = &mut outcome
        {
            failed_expressions.splice(0..0, failed);
        }
        Ok(outcome)
    }

    /// Queues an already routed event and waits for its commit.
    pub async fn submit_routed(&self, pending: PendingEvent) -> Result<EventOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        // Counted before it is queued: a flusher may take it the instant it is sent.
        self.depth.add(1);
        match self.sender.try_send(Job { pending, reply }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.depth.sub(1);
                return Err(WriteError::Overloaded(self.queue_depth()));
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.depth.sub(1);
                return Err(WriteError::ShuttingDown);
            }
        }
        // A dropped reply: the flusher holding the event panicked before answering.
        answer.await.unwrap_or(Err(WriteError::Lost))
    }

    /// Whether every flusher is running (false while one waits to restart after a panic, so
    /// a flusher in a crash loop keeps the process unhealthy).
    pub fn is_healthy(&self) -> bool {
        self.restarting.load(Ordering::Relaxed) == 0
    }

    /// Events waiting for a flusher.
    pub fn queue_depth(&self) -> usize {
        self.depth.get()
    }

    /// Size of the most recent batch (for metrics).
    pub fn last_batch_size(&self) -> usize {
        self.last_batch.load(Ordering::Relaxed)
    }

    /// Stops accepting events, commits everything already queued, and waits for the flushers.
    pub async fn shutdown(&self) {
        let _ = self.stopping.send(true);
        let handles = std::mem::take(
            &mut *self
                .flushers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for handle in handles {
            let _ = handle.await;
        }
    }
}

/// What a flusher works with (cloned for each, and for each restart).
#[derive(Clone)]
struct Flusher {
    store: Arc<dyn EventSink>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    stop_signal: watch::Receiver<bool>,
    depth: Arc<QueueDepth>,
    last_batch: Arc<AtomicUsize>,
    config: WriterConfig,
    observer: Arc<dyn WriterObserver>,
}

/// First wait before restarting a flusher that panicked; doubled per panic up to the maximum,
/// and reset once a flusher has run a minute without one.
const RESTART_AFTER: Duration = Duration::from_millis(100);
const RESTART_AFTER_MAX: Duration = Duration::from_secs(10);

/// Runs a flusher, restarting it whenever it panics (the batch it held is answered `Lost` by
/// the dropped replies, and the queue it shares stays open), until it ends normally.
async fn supervise(flusher: Flusher, restarting: Arc<AtomicUsize>) {
    let mut wait = RESTART_AFTER;
    loop {
        let started = std::time::Instant::now();
        let ended = tokio::spawn(flush_loop(flusher.clone())).await;
        let Err(err) = ended else {
            return; // closed and drained
        };
        if !err.is_panic() {
            return; // cancelled: the runtime is going away
        }
        let payload = err.into_panic();
        let message = payload
            .downcast_ref::<&str>()
            .map(ToString::to_string)
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        flusher.observer.flusher_panicked();
        if started.elapsed() > Duration::from_secs(60) {
            wait = RESTART_AFTER;
        }
        tracing::error!(
            panic = %message,
            restart_in_ms = wait.as_millis() as u64,
            "a writer flusher panicked; its batch is answered as lost (callers retry) and it restarts"
        );
        restarting.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        restarting.fetch_sub(1, Ordering::Relaxed);
        wait = (wait * 2).min(RESTART_AFTER_MAX);
    }
}

async fn flush_loop(flusher: Flusher) {
    let Flusher {
        store,
        receiver,
        mut stop_signal,
        depth,
        last_batch,
        config,
        observer,
    } = flusher;
    loop {
        let jobs = {
            let mut receiver = receiver.lock().await;
            let first = tokio::select! {
                job = receiver.recv() => job,
                _ = async { stop_signal.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    // Refuse new events; what is queued is still received below and committed.
                    receiver.close();
                    receiver.recv().await
                }
            };
            let Some(first) = first else {
                return; // closed and drained
            };
            let mut jobs = vec![first];
            let deadline = tokio::time::Instant::now() + config.window;
            while jobs.len() < config.batch_size {
                match receiver.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(deadline, receiver.recv()).await {
                            Ok(Some(job)) => jobs.push(job),
                            Ok(None) | Err(_) => break,
                        }
                    }
                }
            }
            jobs
        };
        depth.sub(jobs.len());
        last_batch.store(jobs.len(), Ordering::Relaxed);
        for jobs in by_shard(jobs, config.shards) {
            commit(store.as_ref(), jobs, &config, observer.as_ref()).await;
        }
    }
}

/// The jobs of a batch, in one group per shard when the database is sharded (each group in
/// arrival order), else as they are.
fn by_shard(jobs: Vec<Job>, shards: Option<crate::Shards>) -> Vec<Vec<Job>> {
    let Some(shards) = shards else {
        return vec![jobs];
    };
    let mut groups: std::collections::BTreeMap<u32, Vec<Job>> = Default::default();
    for job in jobs {
        let shard = shards.of(job.pending.event.user_id.as_str());
        groups.entry(shard).or_default().push(job);
    }
    groups.into_values().collect()
}

/// Applies `jobs` in one transaction and answers each caller.
async fn commit(
    store: &dyn EventSink,
    jobs: Vec<Job>,
    config: &WriterConfig,
    observer: &dyn WriterObserver,
) {
    let (pending, replies): (Vec<PendingEvent>, Vec<_>) =
        jobs.into_iter().map(|job| (job.pending, job.reply)).unzip();
    let started = std::time::Instant::now();
    let result = store.apply_events(&pending, config.clock.now()).await;
    observer.flushed(pending.len(), started.elapsed(), result.is_ok());
    tracing::debug!(
        size = pending.len(),
        duration_ms = started.elapsed().as_secs_f64() * 1e3,
        "flushed"
    );
    match result {
        Ok(outcomes) => {
            for ((reply, outcome), event) in replies.into_iter().zip(outcomes).zip(&pending) {
                if let Ok(EventOutcome::Applied {
                    failed_expressions, ..
                }) = &outcome
                {
                    for goal_id in failed_expressions {
                        let goal = event.rules.goal(goal_id.as_str());
                        if let Some(goal) = goal {
                            observer.expression_failed(&goal.challenge_id, goal_id);
                        }
                    }
                }
                let _ = reply.send(outcome.map_err(WriteError::from));
            }
        }
        Err(err) => {
            tracing::error!(
                error = &err as &(dyn std::error::Error + 'static),
                size = pending.len(),
                "flush failed; no event of the batch was committed"
            );
            for reply in replies {
                let _ = reply.send(Err(WriteError::Store(err.clone())));
            }
        }
    }
}

/// Events queued for a flusher (`challenge_buffer_size`). Never reads below zero: a take that
/// races ahead of its count saturates instead of wrapping.
#[derive(Debug, Default)]
struct QueueDepth(AtomicUsize);

impl QueueDepth {
    fn add(&self, n: usize) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, n: usize) {
        // `fetch_update` with a closure that always returns Some cannot fail.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |d| {
                Some(d.saturating_sub(n))
            });
    }

    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::QueueDepth;

    #[test]
    fn the_queue_depth_never_wraps_below_zero() {
        let depth = QueueDepth::default();
        depth.sub(1); // a flusher took an event before it was counted
        assert_eq!(depth.get(), 0);
        depth.add(2);
        depth.sub(1);
        assert_eq!(depth.get(), 1);
    }
}
