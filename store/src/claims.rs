//! Reward intents: the durable state machine that makes a reward's grant happen at most once
//! per (user, goal, period), and the keyed ledger that keeps that promise after a player's
//! data is deleted. The statements are written once in `ledger.rs`; what else they share (states, the
//! identity of an intent, the ledger's keyed hash) lives here.

use chrono::{DateTime, Utc};
use engine::{GoalId, UserId};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Where an intent stands. Each transition is recorded before the action it guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentState {
    /// Recorded; nothing was sent yet.
    Pending,
    /// A request may have reached Platform.
    Sending,
    /// Platform granted the reward.
    Granted,
    /// Platform definitely refused (a 4xx other than 408/429): the goal is claimable again.
    Refused,
    /// A non-idempotent request whose outcome cannot be known; an operator resolves it.
    Unknown,
}

impl IntentState {
    pub const ALL: [IntentState; 5] = [
        IntentState::Pending,
        IntentState::Sending,
        IntentState::Granted,
        IntentState::Refused,
        IntentState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IntentState::Pending => "pending",
            IntentState::Sending => "sending",
            IntentState::Granted => "granted",
            IntentState::Refused => "refused",
            IntentState::Unknown => "unknown",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

/// How an intent's reward is delivered; decides whether a lost answer may be re-sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Platform fulfillment keyed by the transaction id: a repeat grants nothing new, so it
    /// may be re-sent freely.
    Fulfillment,
    /// A direct entitlement grant or wallet credit: no idempotency key, never re-sent once it
    /// may have arrived.
    Direct,
    /// The goal has no reward: only the progress row is marked.
    None,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Fulfillment => "fulfillment",
            Delivery::Direct => "direct",
            Delivery::None => "none",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Delivery::Fulfillment, Delivery::Direct, Delivery::None]
            .into_iter()
            .find(|delivery| delivery.as_str() == text)
    }

    /// Whether a request that may have arrived can be sent again without a second effect.
    pub fn idempotent(self) -> bool {
        self != Delivery::Direct
    }
}

/// Which reward of which player: the identity of an intent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntentKey {
    pub user_id: UserId,
    pub goal_id: GoalId,
    /// Start of the goal's period (the Unix epoch for goals that never rotate).
    pub period_start: DateTime<Utc>,
}

/// An intent as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RewardIntent {
    pub key: IntentKey,
    pub namespace: String,
    /// The goal's challenge (empty for intents recorded before it was kept).
    pub challenge_id: String,
    pub state: IntentState,
    pub delivery: Delivery,
    /// The reward as recorded when the claim started (the API's reward JSON).
    pub reward: String,
    pub transaction_id: String,
    /// End of the period: a grant claims the progress row only while its `expires_at` is this
    /// (the row did not move on to a later period). `None`: the goal has one period (it never
    /// rotates, or carries its progress over), and the row is claimed whatever its expiry.
    pub period_end: Option<DateTime<Utc>>,
    /// Requests sent (or about to be).
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The intent is being worked on (by a claim or a reconciler) until then.
    pub lease_until: Option<DateTime<Utc>>,
    /// The reconciler's next try is not before then (backoff).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// How many parts of a bundle delivered part by part (direct delivery) Platform granted;
    /// the next request sends the part after them. 0 for everything else.
    pub parts_granted: i32,
}

/// A new intent, recorded by `begin_claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    pub key: IntentKey,
    pub namespace: String,
    /// The goal's challenge, named by the notifications of its outcome.
    pub challenge_id: String,
    pub delivery: Delivery,
    pub reward: String,
    pub period_end: Option<DateTime<Utc>>,
    /// How long the claim that records it works on it before a reconciler may take over.
    pub lease_until: DateTime<Utc>,
    /// A support grant's audit entry, written in the transaction that records the intent (and
    /// only if it does).
    pub audit: Option<crate::AuditEntry>,
}

impl NewIntent {
    /// The transaction id Platform sees: the same for every retry, replica and restart.
    pub fn transaction_id(&self) -> String {
        transaction_id(&self.namespace, &self.key)
    }

    /// The state a claim records, and the attempts it counts. A fulfillment goes out right
    /// after the commit and may be re-sent freely, so it is recorded `sending` with its first
    /// attempt counted (one commit fewer per claim). A direct request is recorded `pending` and
    /// marked `sending` just before it goes, so one that never went is still sent after a crash.
    pub(crate) fn first_state(&self) -> (&'static str, i32) {
        match self.delivery {
            Delivery::Fulfillment => (IntentState::Sending.as_str(), 1),
            Delivery::Direct | Delivery::None => (IntentState::Pending.as_str(), 0),
        }
    }
}

/// Where a claim stands after `begin_claim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimStart {
    /// The intent is recorded (`pending`, or `sending` for a fulfillment: see
    /// [`NewIntent::first_state`]) and leased to the caller: deliver it now.
    Started(Box<RewardIntent>),
    /// The reward of this period was granted already (or the row is claimed, or the ledger
    /// of a deleted player's data says so).
    AlreadyClaimed,
    /// An earlier claim of the same goal and period is still open (pending, sending, unknown).
    InProgress(IntentState),
    /// The row is not (or no longer) completed.
    NotCompleted,
}

impl ClaimStart {
    /// A claim cannot start on a progress row in `status` (`None`: no row) unless it is
    /// completed: the answer when it cannot.
    pub(crate) fn refused_by_row(status: Option<&str>) -> Option<ClaimStart> {
        let claim = engine::progress::CLAIM;
        match status.and_then(engine::Status::parse) {
            Some(status) if status == claim.from => None,
            Some(status) if status == claim.to => Some(ClaimStart::AlreadyClaimed),
            _ => Some(ClaimStart::NotCompleted),
        }
    }

    /// The answer when an intent in `state` is already there and was not refused.
    pub(crate) fn blocked_by(state: Option<&str>) -> ClaimStart {
        match state.and_then(IntentState::parse) {
            Some(IntentState::Granted) => ClaimStart::AlreadyClaimed,
            Some(state) => ClaimStart::InProgress(state),
            None => ClaimStart::InProgress(IntentState::Pending),
        }
    }
}

/// How a delivery attempt ended, as recorded by `finish_intent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentOutcome {
    /// Granted: the intent is closed and the period's progress row (if still there) claimed.
    Granted { claimed_at: DateTime<Utc> },
    /// Platform definitely refused: the goal is claimable again.
    Refused { error: String },
    /// The outcome of a non-idempotent request cannot be known.
    Unknown { error: String },
    /// Not delivered this time (Platform unreachable, busy, or too slow): the intent stays
    /// open. `reached`: the request may have arrived (the intent stays `sending`), else it
    /// definitely did not (back to `pending`). `retry_at`: given up until then, for any
    /// reconciler (the lease is released); `None`: the caller keeps its lease and tries again
    /// itself.
    Retry {
        error: String,
        reached: bool,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// What recording an outcome writes, the same for both stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutcomeColumns<'a> {
    /// The new state; `None` keeps `sending` (a retry of a request that may have arrived).
    pub state: Option<&'static str>,
    pub error: Option<&'a str>,
    /// When a reconciler may try again (a retry handed off).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The caller tries again at once and keeps its lease.
    pub keeps_lease: bool,
    /// The states this outcome may close or change.
    pub from: &'static [&'static str],
}

impl IntentOutcome {
    /// An operator's decision on an `unknown` intent, `note` saying why when refused.
    pub(crate) fn resolved(granted: bool, note: &str, now: DateTime<Utc>) -> Self {
        if granted {
            IntentOutcome::Granted { claimed_at: now }
        } else {
            IntentOutcome::Refused {
                error: note.to_string(),
            }
        }
    }

    pub(crate) fn columns(&self) -> OutcomeColumns<'_> {
        const OPEN: &[&str] = &["pending", "sending"];
        const OPEN_OR_UNKNOWN: &[&str] = &["pending", "sending", "unknown"];
        let (state, error, next_attempt_at, keeps_lease, from) = match self {
            IntentOutcome::Granted { .. } => (
                Some(IntentState::Granted),
                None,
                None,
                false,
                OPEN_OR_UNKNOWN,
            ),
            IntentOutcome::Refused { error } => (
                Some(IntentState::Refused),
                Some(error.as_str()),
                None,
                false,
                OPEN_OR_UNKNOWN,
            ),
            IntentOutcome::Unknown { error } => (
                Some(IntentState::Unknown),
                Some(error.as_str()),
                None,
                false,
                OPEN,
            ),
            IntentOutcome::Retry {
                error,
                reached,
                retry_at,
            } => (
                (!reached).then_some(IntentState::Pending),
                Some(error.as_str()),
                *retry_at,
                retry_at.is_none(),
                OPEN,
            ),
        };
        OutcomeColumns {
            state: state.map(IntentState::as_str),
            error,
            next_attempt_at,
            keeps_lease,
            from,
        }
    }
}

/// `ce-` and 32 hex digits of SHA-256 over the intent's identity.
pub fn transaction_id(namespace: &str, key: &IntentKey) -> String {
    let digest = Sha256::digest(identity(namespace, key));
    format!("ce-{}", &hex(&digest)[..32])
}

/// The ledger's key for an intent: HMAC-SHA256 under the database's own secret, so that the
/// row left after a player's data deletion names no user, while the same reward of the same
/// player still finds it.
pub fn ledger_key(secret: &str, namespace: &str, key: &IntentKey) -> String {
    keyed_hash(secret, &identity(namespace, key))
}

/// HMAC-SHA256 of `bytes` under `secret`, hex: the ledger's keys and the audit log's pseudonyms.
pub(crate) fn keyed_hash(secret: &str, bytes: &[u8]) -> String {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(bytes);
    hex(&mac.finalize().into_bytes())
}

/// A fresh ledger secret: 32 random bytes, hex.
pub fn new_ledger_secret() -> Result<String, crate::StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| {
        crate::StoreError::Config(format!("no randomness for the ledger secret: {err}"))
    })?;
    Ok(hex(&bytes))
}

fn identity(namespace: &str, key: &IntentKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    for part in [
        namespace,
        key.user_id.as_str(),
        key.goal_id.as_str(),
        &key.period_start.timestamp().to_string(),
    ] {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0);
    }
    bytes
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The next try after `attempts` failed ones: `base` doubling per attempt, at most an hour
/// (and never less than `base`).
pub fn backoff(attempts: i32, base: std::time::Duration, now: DateTime<Utc>) -> DateTime<Utc> {
    let doublings = attempts.clamp(0, 16) as u32;
    let base = base.as_secs().max(1) as i64;
    let seconds = base.saturating_mul(1 << doublings).min(3600).max(base);
    now + chrono::TimeDelta::seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(user: &str) -> IntentKey {
        IntentKey {
            user_id: UserId::new(user),
            goal_id: GoalId::new("g"),
            period_start: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_transaction_id_is_stable_and_tells_intents_apart() {
        let id = transaction_id("game", &key("u1"));
        assert_eq!(id, transaction_id("game", &key("u1")));
        assert_eq!(id.len(), 35);
        assert_ne!(id, transaction_id("game", &key("u2")));
        assert_ne!(id, transaction_id("other", &key("u1")));
        // No separator trick makes two identities collide.
        let glued = IntentKey {
            user_id: UserId::new("u1\0g"),
            ..key("")
        };
        assert_ne!(transaction_id("game", &glued), id);
    }

    #[test]
    fn the_ledger_key_depends_on_the_secret_and_names_no_user() {
        let a = ledger_key("secret-a", "game", &key("player-42"));
        assert_eq!(a, ledger_key("secret-a", "game", &key("player-42")));
        assert_ne!(a, ledger_key("secret-b", "game", &key("player-42")));
        assert!(!a.contains("player"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn states_round_trip() {
        for state in IntentState::ALL {
            assert_eq!(IntentState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let base = std::time::Duration::from_secs(30);
        assert_eq!((backoff(0, base, now) - now).num_seconds(), 30);
        assert_eq!((backoff(1, base, now) - now).num_seconds(), 60);
        assert_eq!((backoff(30, base, now) - now).num_seconds(), 3600);
    }
}
