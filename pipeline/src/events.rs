//! The event use-cases, free of gRPC types: validate, map to an engine event, route, write,
//! answer after commit. gRPC (and REST, and tests) call these.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use engine::{Event, EventData, EventKind, RuleSetHandle, UserId};
use store::{EventOutcome, Maintenance, WriteError, Writer};

use crate::error::ErrorCode;
use crate::metrics::Metrics;

/// Longest ids the store keeps (column sizes).
const MAX_USER_ID: usize = 128;
const MAX_EVENT_ID: usize = 256;
const MAX_STAT_CODE: usize = 256;

/// What the event use-cases need.
#[derive(Clone)]
pub struct EventContext {
    pub rules: Arc<RuleSetHandle>,
    pub writer: Arc<Writer>,
    /// GDPR deletion (the writer holds the event sink; nothing here reaches reward intents).
    pub maintenance: Arc<dyn Maintenance>,
    /// Events of other namespaces are skipped; `None` accepts all.
    pub namespace: Option<String>,
    pub metrics: Arc<Metrics>,
    /// "Now" for events that carry no timestamp.
    pub clock: engine::Clock,
}

/// A login as the transport received it.
#[derive(Debug, Clone, Default)]
pub struct LoginInput {
    pub id: String,
    pub user_id: String,
    pub namespace: String,
    pub timestamp: String,
}

/// A statistic update as the transport received it.
#[derive(Debug, Clone, Default)]
pub struct StatInput {
    pub id: String,
    pub user_id: String,
    pub namespace: String,
    pub timestamp: String,
    pub stat_code: String,
    pub latest_value: f64,
    pub inc: f64,
    pub additional: engine::Payload,
}

/// What happened to an accepted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    /// Committed (or nothing to commit): safe to acknowledge.
    Done(EventOutcome),
    /// Another namespace's event: acknowledged and ignored.
    SkippedNamespace,
}

/// Why an event was not accepted; [`EventError::code`] says what each front door answers.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EventError {
    /// Malformed: never retry.
    #[error("{0}")]
    Invalid(String),
    /// Storage down, overloaded or shutting down: retry later.
    #[error("the event was not committed; retry later")]
    Unavailable(#[source] WriteError),
    /// Anything else; the cause is logged, not answered.
    #[error("the event could not be processed")]
    Internal(#[source] WriteError),
}

impl EventError {
    /// The `challenge_events_rejected_total` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            EventError::Invalid(_) => "invalid",
            EventError::Unavailable(_) => "unavailable",
            EventError::Internal(_) => "internal",
        }
    }

    /// The answer's code (HTTP status and gRPC code come from it).
    pub fn code(&self) -> ErrorCode {
        match self {
            EventError::Invalid(_) => ErrorCode::ValidationFailed,
            EventError::Unavailable(_) => ErrorCode::DatabaseUnavailable,
            EventError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// What the caller is told: the problem for bad input, the kind of failure otherwise
    /// (with what to do: the queue's state or the database being down).
    pub fn public_message(&self) -> String {
        match self {
            EventError::Invalid(message) => message.clone(),
            EventError::Unavailable(cause) => format!("{self}: {cause}"),
            EventError::Internal(_) => "internal error".into(),
        }
    }

    fn from_write(err: WriteError) -> Self {
        if err.is_retryable() {
            EventError::Unavailable(err)
        } else {
            EventError::Internal(err)
        }
    }
}

fn required<'a>(value: &'a str, what: &str, max: usize) -> Result<&'a str, EventError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(EventError::Invalid(format!("{what} is missing")));
    }
    if value.len() > max {
        return Err(EventError::Invalid(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    Ok(value)
}

/// The timestamp the producer sent (already checked by [`timestamp`]), for the dedup key.
fn sent_at(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn timestamp(text: &str, clock: &engine::Clock) -> Result<DateTime<Utc>, EventError> {
    if text.trim().is_empty() {
        return Ok(clock.now());
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| EventError::Invalid(format!("timestamp `{text}` is not RFC 3339: {err}")))
}

/// Stat values arrive as doubles; goals count in integers (truncated toward zero).
fn integer(value: f64, what: &str) -> Result<i64, EventError> {
    if !value.is_finite() {
        return Err(EventError::Invalid(format!(
            "{what} is not a finite number"
        )));
    }
    let truncated = value.trunc();
    if truncated < i64::MIN as f64 || truncated > i64::MAX as f64 {
        return Err(EventError::Invalid(format!(
            "{what} {value} is out of range"
        )));
    }
    Ok(truncated as i64)
}

fn event_id(id: &str) -> Result<String, EventError> {
    let id = id.trim();
    if id.len() > MAX_EVENT_ID {
        return Err(EventError::Invalid(format!(
            "event id is longer than {MAX_EVENT_ID} bytes"
        )));
    }
    Ok(id.to_string())
}

/// Who and what an event is about, for metrics and logs.
pub struct Call<'a> {
    pub kind: &'static str,
    pub event_id: &'a str,
    pub user_id: &'a str,
    pub namespace: &'a str,
}

impl EventContext {
    /// Counts and logs what became of an event: every transport's events are accounted here.
    fn account(&self, call: Call<'_>, started: Instant, result: &Result<Processed, EventError>) {
        let Call {
            kind,
            event_id,
            user_id,
            namespace,
        } = call;
        let metrics = &self.metrics;
        metrics
            .processing
            .with_label_values(&[kind])
            .observe(started.elapsed().as_secs_f64());
        let duration_ms = started.elapsed().as_secs_f64() * 1e3;
        match result {
            Ok(Processed::Done(outcome)) => {
                let label = match outcome {
                    store::EventOutcome::Applied { .. } => "applied",
                    store::EventOutcome::Duplicate => "duplicate",
                    store::EventOutcome::UserDeleted => "user_deleted",
                    store::EventOutcome::NoMatch { .. } => "no_match",
                };
                metrics.processed.with_label_values(&[kind, label]).inc();
                tracing::debug!(
                    kind,
                    event_id,
                    user_id,
                    namespace,
                    outcome = label,
                    duration_ms,
                    "event processed"
                );
            }
            Ok(Processed::SkippedNamespace) => {
                metrics
                    .skipped
                    .with_label_values(&[kind, "other_namespace"])
                    .inc();
                tracing::debug!(
                    kind,
                    event_id,
                    user_id,
                    "event of another namespace skipped"
                );
            }
            Err(err) => {
                metrics
                    .rejected
                    .with_label_values(&[kind, err.reason()])
                    .inc();
                let error: &(dyn std::error::Error + 'static) = err;
                match err {
                    EventError::Invalid(_) => {
                        tracing::warn!(
                            kind,
                            event_id,
                            user_id,
                            namespace,
                            error,
                            "malformed event rejected"
                        );
                    }
                    EventError::Unavailable(_) => {
                        metrics
                            .errors
                            .with_label_values(&["handler", "unavailable"])
                            .inc();
                        tracing::warn!(
                            kind,
                            event_id,
                            user_id,
                            namespace,
                            error,
                            duration_ms,
                            "event not committed; the platform will retry"
                        );
                    }
                    EventError::Internal(_) => {
                        metrics
                            .errors
                            .with_label_values(&["handler", "internal"])
                            .inc();
                        tracing::error!(kind, event_id, user_id, namespace, error, "event failed");
                    }
                }
            }
        }
    }

    /// An event refused before it reached a use-case (a transport-level check), accounted.
    pub fn refused(&self, call: Call<'_>, error: EventError) -> Result<Processed, EventError> {
        self.metrics.received.with_label_values(&[call.kind]).inc();
        let result = Err(error);
        self.account(call, Instant::now(), &result);
        result
    }

    fn other_namespace(&self, namespace: &str) -> bool {
        match &self.namespace {
            Some(expected) => !namespace.is_empty() && namespace != expected,
            None => false,
        }
    }

    fn resolved_namespace(&self, namespace: &str) -> String {
        if namespace.is_empty() {
            self.namespace.clone().unwrap_or_default()
        } else {
            namespace.to_string()
        }
    }

    /// Counts `call` as received, runs `work`, then counts and logs its result.
    async fn accounted(
        &self,
        call: Call<'_>,
        work: impl Future<Output = Result<Processed, EventError>>,
    ) -> Result<Processed, EventError> {
        let started = Instant::now();
        self.metrics.received.with_label_values(&[call.kind]).inc();
        let result = work.await;
        self.account(call, started, &result);
        result
    }

    /// Processes a login (counted and logged).
    pub async fn login(&self, input: LoginInput) -> Result<Processed, EventError> {
        let (id, user, namespace) = (
            input.id.clone(),
            input.user_id.clone(),
            input.namespace.clone(),
        );
        let call = Call {
            kind: "login",
            event_id: &id,
            user_id: &user,
            namespace: &namespace,
        };
        self.accounted(call, self.apply_login(input)).await
    }

    /// Processes a statistic update (counted and logged).
    pub async fn stat(&self, input: StatInput) -> Result<Processed, EventError> {
        let (id, user, namespace) = (
            input.id.clone(),
            input.user_id.clone(),
            input.namespace.clone(),
        );
        let call = Call {
            kind: "stat",
            event_id: &id,
            user_id: &user,
            namespace: &namespace,
        };
        self.accounted(call, self.apply_stat(input)).await
    }

    /// A GDPR deletion event (counted and logged): the player's data goes.
    pub async fn gdpr_deletion(
        &self,
        event_id: &str,
        user_id: &str,
        namespace: &str,
    ) -> Result<Processed, EventError> {
        let call = Call {
            kind: "gdpr",
            event_id,
            user_id,
            namespace,
        };
        let work = async {
            let rows = self.delete_user(user_id, namespace).await?;
            Ok(match rows {
                Some(rows) => {
                    tracing::info!(user_id, rows, "GDPR deletion: progress rows deleted");
                    Processed::Done(store::EventOutcome::Applied {
                        changed: rows as usize,
                        failed_expressions: Vec::new(),
                    })
                }
                None => Processed::SkippedNamespace,
            })
        };
        self.accounted(call, work).await
    }

    async fn apply_login(&self, input: LoginInput) -> Result<Processed, EventError> {
        match self.login_event(input)? {
            Some(event) => self.write(event).await,
            None => Ok(Processed::SkippedNamespace),
        }
    }

    /// The event a login becomes; `None` for another namespace's. Pure: nothing is written
    /// (a posted list is checked whole with it before any of it is committed; simulate uses it).
    pub fn login_event(&self, input: LoginInput) -> Result<Option<Event>, EventError> {
        let user_id = required(&input.user_id, "user id", MAX_USER_ID)?;
        if self.other_namespace(&input.namespace) {
            return Ok(None);
        }
        Ok(Some(Event::new(EventData {
            id: event_id(&input.id)?,
            kind: EventKind::Login,
            user_id: UserId::new(user_id),
            namespace: self.resolved_namespace(&input.namespace),
            timestamp: timestamp(&input.timestamp, &self.clock)?,
            sent_at: sent_at(&input.timestamp),
            stat_code: None,
            value: 0,
            inc: 0,
            additional: Default::default(),
        })))
    }

    async fn apply_stat(&self, input: StatInput) -> Result<Processed, EventError> {
        match self.stat_event(input)? {
            Some(event) => self.write(event).await,
            None => Ok(Processed::SkippedNamespace),
        }
    }

    /// The event a statistic update becomes; `None` for another namespace's. Pure.
    pub fn stat_event(&self, input: StatInput) -> Result<Option<Event>, EventError> {
        let user_id = required(&input.user_id, "user id", MAX_USER_ID)?;
        let stat_code = required(&input.stat_code, "stat code", MAX_STAT_CODE)?;
        let value = integer(input.latest_value, "latest_value")?;
        let inc = integer(input.inc, "inc")?;
        if self.other_namespace(&input.namespace) {
            return Ok(None);
        }
        Ok(Some(Event::new(EventData {
            id: event_id(&input.id)?,
            kind: EventKind::Stat,
            user_id: UserId::new(user_id),
            namespace: self.resolved_namespace(&input.namespace),
            timestamp: timestamp(&input.timestamp, &self.clock)?,
            sent_at: sent_at(&input.timestamp),
            stat_code: Some(stat_code.to_string()),
            value,
            inc,
            additional: input.additional,
        })))
    }

    /// GDPR deletion: removes every progress row of the user.
    pub async fn delete_user(
        &self,
        user_id: &str,
        namespace: &str,
    ) -> Result<Option<u64>, EventError> {
        let user_id = required(user_id, "user id", MAX_USER_ID)?;
        if self.other_namespace(namespace) {
            return Ok(None);
        }
        self.maintenance
            .delete_user(&UserId::new(user_id), self.clock.now())
            .await
            .map(Some)
            .map_err(|err| EventError::from_write(WriteError::Store(err)))
    }

    async fn write(&self, event: Event) -> Result<Processed, EventError> {
        let rules = self.rules.current();
        self.writer
            .submit(rules, event)
            .await
            .map(Processed::Done)
            .map_err(EventError::from_write)
    }
}
