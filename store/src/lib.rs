//! Persistence of per-player goal progress behind one trait per role ([`EventSink`],
//! [`PlayerProgress`], [`ClaimLedger`], [`EventArchive`], [`Maintenance`]), each implemented
//! once by PostgreSQL (production) and once by SQLite (the embedded default), and the
//! group-commit [`Writer`] that turns concurrent events into few transactions.
//!
//! The store persists what `engine::RuleSet::apply` computes: it reads rows, folds events
//! with `apply` in arrival order, and writes the changed rows, all in one transaction. It never
//! re-implements progress rules in SQL.

pub mod archive;
pub mod audit;
pub mod cache;
pub mod claims;
mod common;
mod dedup;
mod error;
mod fold;
mod ledger;
mod maintenance;
pub mod outbox;
mod players;
mod postgres;
mod probe;
mod row;
pub mod shards;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;
mod url;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use engine::{ChallengeId, CompiledGoal, Event, GoalId, RuleSet, UserId};

pub use archive::{
    ArchiveWindow, ArchivedEvent, MAX_BATCH_EVENTS, RecordedRuleSet, first_deliveries,
};
pub use audit::{AuditCursor, AuditEntry, SupportLog};
pub use claims::{
    ClaimStart, Delivery, IntentKey, IntentOutcome, IntentState, NewIntent, RewardIntent,
};
pub use engine::ExpiryPolicy;
pub use error::StoreError;
pub use maintenance::HELD_GOALS;
pub use outbox::{Notice, NotificationOutbox, OutboxRecord};
pub use postgres::{PgStore, WRITER_APPLICATION};
pub use probe::{Probe, QueryObserver};
pub use row::ProgressRow;
pub use shards::Shards;
pub use sqlite::SqliteStore;
pub use url::{DEFAULT_SQLITE_URL, redacted};
pub use writer::{WriteError, Writer, WriterConfig, WriterObserver};

/// An event routed to the goals it matched, waiting to be folded into progress.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// The rule set the event was routed with; it is applied with the same one.
    pub rules: Arc<RuleSet>,
    pub event: Event,
    /// Goals whose `when` held for this event (none: an event kept only for the archive).
    pub goals: Vec<GoalId>,
    /// Whether the event goes to the event archive once applied (its player is sampled).
    pub archive: bool,
}

/// What an event did once committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// Committed; `changed` progress rows were written. The goals of `failed_expressions` did
    /// not count the event because an expression (`when`, `amount`, `progress`) failed.
    Applied {
        changed: usize,
        failed_expressions: Vec<GoalId>,
    },
    /// This event id was already applied: nothing changed.
    Duplicate,
    /// The player's data was deleted after this event happened: it is forgotten, not applied.
    UserDeleted,
    /// No goal listened to the event, or none matched its predicate; the goals of
    /// `failed_expressions` did not count it because their `when` failed to evaluate (a
    /// payload's text compared with a number included).
    NoMatch { failed_expressions: Vec<GoalId> },
}

/// The connection pool of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open (in use or idle).
    pub open: u32,
    pub idle: usize,
    /// The most the pool opens (`DB_POOL_SIZE`).
    pub max: u32,
}

/// The last row a `delete_expired` call looked at: where the next call goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiryCursor {
    pub expires_at: DateTime<Utc>,
    pub user_id: UserId,
    pub goal_id: GoalId,
}

/// What one `delete_expired` call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredBatch {
    /// Rows deleted.
    pub deleted: u64,
    /// Where to go on; `None` when fewer than `limit` rows were left to look at.
    pub next: Option<ExpiryCursor>,
}

/// The writer's batch: the one way events become progress. Held by the group-commit
/// [`Writer`] alone.
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Applies a batch of events in ONE transaction: records their ids (a redelivered id is
    /// skipped), locks the touched rows in key order, folds the events with `apply` in order,
    /// writes the changed rows and commits. On a failure that concerns single events rather
    /// than the database, the batch is retried event by event so only the bad ones fail.
    async fn apply_events(
        &self,
        batch: &[PendingEvent],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<EventOutcome, StoreError>>, StoreError>;
}

/// A player's rows: the reads of the player routes, and assignment (initialize, selection).
/// User-scoped: every method takes the user id.
#[async_trait]
pub trait PlayerProgress: Send + Sync + 'static {
    /// Every row of a user (or only active ones), ordered by goal id, from the database.
    async fn progress_for_user(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError>;

    /// The same rows for an answer only (the list, one challenge), from the read cache when the
    /// store has one (see [`cache`]): another process's write may show a moment late. Anything
    /// that decides (a claim, a selection) reads [`Self::progress_for_user`].
    async fn progress_for_display(
        &self,
        user_id: &UserId,
        active_only: bool,
    ) -> Result<Vec<ProgressRow>, StoreError>;

    /// Number of active rows of a user, in one challenge or in all.
    async fn count_active_for_user(
        &self,
        user_id: &UserId,
        challenge_id: Option<&ChallengeId>,
    ) -> Result<i64, StoreError>;

    /// Inserts an active, not-started row for each goal the user has no row for. Returns the
    /// rows it inserted (existing rows are left as they are).
    async fn initialize_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goals: &[&CompiledGoal],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError>;

    /// Activates or deactivates one goal for a user, creating its row when needed. Progress is kept.
    async fn set_active_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        goal: &CompiledGoal,
        active: bool,
        now: DateTime<Utc>,
    ) -> Result<ProgressRow, StoreError>;

    /// In one transaction (all or nothing): deactivates `deactivate`, then activates `activate`
    /// (creating rows as needed). Returns the activated rows.
    async fn activate_batch_for_user(
        &self,
        user_id: &UserId,
        namespace: &str,
        activate: &[&CompiledGoal],
        deactivate: &[GoalId],
        now: DateTime<Utc>,
    ) -> Result<Vec<ProgressRow>, StoreError>;
}

/// Reward intents: the claim ledger. Only the service holds it; the handler's program cannot
/// create or deliver an intent.
#[async_trait]
pub trait ClaimLedger: Send + Sync + 'static {
    /// Records the durable intent to grant the reward of (user, goal, period), leased to the
    /// caller: `pending`, or for a fulfillment `sending` with its first attempt counted (the
    /// caller sends it right after, with no `mark_sending`), in a short transaction that first
    /// locks the progress row and checks it is completed, and checks the ledger of deleted
    /// players' rewards. Only one caller gets `Started`; an intent Platform refused may be
    /// started again.
    async fn begin_claim(
        &self,
        intent: &NewIntent,
        now: DateTime<Utc>,
    ) -> Result<ClaimStart, StoreError>;

    /// Records that a request is about to be sent (`sending`, one more attempt, leased until
    /// `lease_until`), before it is sent. `None` when the intent is gone, closed, or a direct
    /// delivery that may have been sent already (never sent twice).
    async fn mark_sending(
        &self,
        key: &IntentKey,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError>;

    /// Records how a delivery ended. `Granted` also persists the period's progress row as
    /// `engine::progress::claimed` decides (when the row is still there and still what the
    /// engine started from), locking the row before the intent, as `begin_claim` does. `None`
    /// when the intent is gone or already closed.
    async fn finish_intent(
        &self,
        key: &IntentKey,
        outcome: &IntentOutcome,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError>;

    /// Records that Platform granted part `parts_granted - 1` of a bundle delivered part by
    /// part (direct delivery), while later parts are left: the intent goes back to `pending`
    /// for the next part, from `sending` (an answer) or `unknown` (an operator's decision on
    /// the part in doubt). `None` when the intent is not at that part.
    async fn part_granted(
        &self,
        key: &IntentKey,
        parts_granted: i32,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError>;

    /// An operator's decision on an `unknown` intent: granted or refused. `None` when the
    /// intent is not unknown.
    async fn resolve_intent(
        &self,
        key: &IntentKey,
        granted: bool,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<RewardIntent>, StoreError>;

    /// Leases up to `limit` open intents that are due and not leased (a crashed or hung
    /// claim's, or one waiting for its backoff): no two callers, on any replica, get the same.
    async fn lease_intents(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError>;

    /// One intent.
    async fn intent(&self, key: &IntentKey) -> Result<Option<RewardIntent>, StoreError>;

    /// Intents in `state` (all when `None`), oldest first.
    async fn list_intents(
        &self,
        state: Option<IntentState>,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError>;

    /// A player's newest `limit` intents, newest first (support's timeline of the player).
    async fn player_intents(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<RewardIntent>, StoreError>;

    /// How many intents are in each open state (pending, sending, unknown); closed ones are
    /// counted by the grant outcome counter, not here.
    async fn intent_counts(&self) -> Result<Vec<(IntentState, i64)>, StoreError>;

    /// Makes every open intent waiting for its backoff due now (Platform answers again after an
    /// outage: the others need not wait out their backoff). Answers how many it moved.
    async fn expedite_intents(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The event archive: the sampled players' applied events, for explain, replay and the console.
#[async_trait]
pub trait EventArchive: Send + Sync + 'static {
    /// Up to `limit` archived events in `window`, in archive order after `after` (a `seq`;
    /// 0 for the first page).
    async fn read_archive(
        &self,
        window: &ArchiveWindow,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError>;

    /// A player's last `limit` archived events, in archive order (oldest first).
    async fn player_archive(
        &self,
        user_id: &UserId,
        limit: i64,
    ) -> Result<Vec<ArchivedEvent>, StoreError>;

    /// How many archived events `window` holds.
    async fn count_archive(&self, window: &ArchiveWindow) -> Result<u64, StoreError>;

    /// The newest `limit` rule sets events were applied under, newest first.
    async fn rule_sets(&self, limit: i64) -> Result<Vec<RecordedRuleSet>, StoreError>;

    /// Deletes up to `limit` archived events archived before `before` (EVENT_ARCHIVE_DAYS).
    /// Returns how many.
    async fn prune_event_archive(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError>;
}

/// What the process itself does to the database: migrations, health, GDPR deletion and the
/// cleanup job's deletions.
#[async_trait]
pub trait Maintenance: Send + Sync + 'static {
    /// Applies pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Reverts the last `steps` migrations. Returns how many it reverted (0 on a database
    /// that was never migrated).
    async fn migrate_down(&self, steps: usize) -> Result<usize, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool right now.
    fn pool_connections(&self) -> PoolStats;

    /// GDPR: deletes every row of a user. Returns how many progress rows went. What a reward
    /// intent that was (or may have been) granted leaves is a ledger entry keyed by a keyed
    /// hash, naming no user, so the same reward is never granted twice. A tombstone
    /// (user, `now`) makes later batches forget the user's events from before `now`
    /// ([`EventOutcome::UserDeleted`]); it is pruned with the dedup window.
    async fn delete_user(&self, user_id: &UserId, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Looks at up to `limit` rows whose `expires_at` is before `before`, in (expires_at,
    /// user_id, goal_id) order after `after`, and deletes those one of `policies` allows to go
    /// (see [`ExpiryPolicy`]; rows being written right now are skipped). Pass the returned
    /// cursor to go on; `next: None` means the end was reached.
    async fn delete_expired(
        &self,
        policies: &[ExpiryPolicy],
        before: DateTime<Utc>,
        after: Option<&ExpiryCursor>,
        limit: i64,
    ) -> Result<ExpiredBatch, StoreError>;

    /// Forgets applied event ids older than `before` (the dedup window). Returns how many.
    async fn prune_processed_events(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<u64, StoreError>;

    /// Forgets the read caches' change log older than `before` and an hour (PostgreSQL; SQLite
    /// keeps none). Each cache prunes what it has read; this covers a deployment where none
    /// reads (a handler alone, or the cache off). Returns how many.
    async fn prune_change_log(&self, before: DateTime<Utc>, limit: i64) -> Result<u64, StoreError>;

    /// The audit log's retention, a whole UTC month at a time: every month that ended before
    /// `before` goes (on PostgreSQL its partition is dropped), each recorded as an entry of its
    /// own (`action: retention`). On PostgreSQL it also creates the partitions of `now`'s month
    /// and the next two. Returns how many entries went.
    async fn prune_audit_log(
        &self,
        now: DateTime<Utc>,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;

    /// Which of `goals` players hold progress rows for (a reload must not drop those); with no
    /// goals, every goal any player holds rows for. Scans the progress table: called when a
    /// reload removes goals, and once at start-up.
    async fn goals_in_use(&self, goals: &[GoalId]) -> Result<Vec<GoalId>, StoreError>;

    /// The recorded calendars of the rotations named `subjects` (`challenge/<id>`,
    /// `goal/<id>`): which calendar each followed, and since when.
    async fn rotation_calendars(
        &self,
        subjects: &[String],
    ) -> Result<Vec<engine::calendar_changes::RecordedCalendar>, StoreError>;

    /// Records calendar changes, in one transaction, after deleting each `withdraw` subject's
    /// rows later than its time (changes recorded for later that the files no longer ask
    /// for); a subject's row for the same time is replaced (the last deployment wins).
    async fn record_rotation_calendars(
        &self,
        withdraw: &[(String, DateTime<Utc>)],
        rows: &[engine::calendar_changes::RecordedCalendar],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// A database opened, with every role: what `open` answers, for the process to hand each part
/// only the roles it uses (`Arc<dyn Store>` coerces to `Arc<dyn EventSink>` and the others).
pub trait Store:
    EventSink
    + PlayerProgress
    + ClaimLedger
    + EventArchive
    + Maintenance
    + SupportLog
    + NotificationOutbox
{
}

impl<
    T: EventSink
        + PlayerProgress
        + ClaimLedger
        + EventArchive
        + Maintenance
        + SupportLog
        + NotificationOutbox,
> Store for T
{
}

/// Opens the store a database URL names: `postgres://…` or `sqlite:…`, reporting nowhere.
pub async fn open(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, max_connections, Probe::default()).await
}

/// [`open`], with `probe` timing every call and, on PostgreSQL, reading players' rows for
/// answers through its cache.
pub async fn open_with(
    url: &str,
    max_connections: u32,
    probe: Probe,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(
            PgStore::connect(url, max_connections)
                .await?
                .with_probe(probe),
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?.with_probe(probe)))
    } else {
        Err(StoreError::Config(format!(
            "unsupported database URL `{}`: use postgres://… or sqlite:…",
            url.split('@').next_back().unwrap_or(url)
        )))
    }
}
