//! Events over REST (`POST /v1/events`): the gRPC events' fields, through the same event
//! use-cases.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use pipeline::events::{EventError, LoginInput, Processed, StatInput};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::ServerCaller;
use crate::error::{ApiError, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/events", post(events))
}

/// An event as game servers post it: the gRPC events' fields, camelCase.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EventBody {
    kind: String,
    #[serde(default)]
    id: String,
    user_id: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    stat_code: String,
    #[serde(default)]
    latest_value: f64,
    #[serde(default)]
    inc: f64,
    #[serde(default)]
    timestamp: String,
    #[serde(default)]
    additional: Option<serde_json::Map<String, Value>>,
}

/// The body's schema: one event, or a list of them. Read by [`events_of`], which names the
/// event at fault and the shape expected (an untagged enum's own error names neither).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // the OpenAPI document's; `events_of` reads the body
pub(super) enum OneOrMany {
    Many(Vec<EventBody>),
    One(Box<EventBody>),
}

/// The events of a body: an event object, or a list of them.
fn events_of(body: Value) -> Result<Vec<EventBody>, ApiError> {
    // serde names the Rust type a number field is read into; the sender knows JSON's words.
    let invalid = |message: String| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            message.replace("expected f64", "expected a number"),
        )
    };
    // Which field is wrong, by its JSON name: `event 2: latestValue: invalid type: …`.
    let read = |item: Value| -> Result<EventBody, String> {
        serde_path_to_error::deserialize(item).map_err(|err| match err.path().to_string() {
            path if path == "." => err.inner().to_string(),
            path => format!("{path}: {}", err.inner()),
        })
    };
    match body {
        Value::Array(items) => (items.into_iter().enumerate())
            .map(|(at, item)| read(item).map_err(|err| invalid(format!("event {}: {err}", at + 1))))
            .collect(),
        Value::Object(_) => read(body)
            .map(|one| vec![one])
            .map_err(|err| invalid(format!("the event: {err}"))),
        other => Err(invalid(format!(
            "the body is an event object ({{\"kind\": \"stat\", \"id\", \"userId\", \"statCode\", \
             \"latestValue\", …}}) or a list of them, not {}",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "true or false",
                Value::Number(_) => "a number",
                _ => "a string",
            }
        ))),
    }
}

/// Evaluates the events and answers 200 only after their progress is committed.
#[utoipa::path(post, path = "/v1/events", tag = "server", request_body = OneOrMany,
    responses((status = 200, description = "`{processed, results: [{id, outcome}]}`, after commit"),
        (status = 400, body = crate::error::ErrorJson), (status = 503, body = crate::error::ErrorJson)))]
pub(super) async fn events(
    State(state): State<AppState>,
    _caller: ServerCaller,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let bodies = events_of(body)?;
    if bodies.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "no events in the body",
        ));
    }
    let mut results = Vec::with_capacity(bodies.len());
    // Checked whole first: one bad event refuses the list before any of it is committed.
    let mut inputs = Vec::with_capacity(bodies.len());
    for (index, body) in bodies.into_iter().enumerate() {
        if body.id.trim().is_empty() {
            // The id is what makes a retry safe: without one, a POST answered too late and sent
            // again would count twice.
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!(
                    "event {}: `id` is required (a unique id per event, the same on every retry, \
                     so a retried POST counts once)",
                    index + 1
                ),
            ));
        }
        let (id, input) = body.into_input()?;
        if let Err(EventError::Invalid(message)) = input.event(&state.events) {
            // Counted as a rejected event, as the gRPC services count theirs.
            let (kind, user, namespace) = match &input {
                Input::Login(l) => ("login", l.user_id.as_str(), l.namespace.as_str()),
                Input::Stat(s) => ("stat", s.user_id.as_str(), s.namespace.as_str()),
            };
            let call = pipeline::events::Call {
                kind,
                event_id: &id,
                user_id: user,
                namespace,
            };
            let _ = state
                .events
                .refused(call, EventError::Invalid(message.clone()));
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("event `{id}`: {message}"),
            ));
        }
        inputs.push((id, input));
    }
    for (id, input) in inputs {
        let result = match input {
            Input::Login(login) => state.events.login(login).await,
            Input::Stat(stat) => state.events.stat(stat).await,
        };
        // The goals an expression failed on (a payload's text compared with a number, …):
        // the event did not count for them, which the sender would not see otherwise.
        let failed = |goals: &[engine::GoalId]| -> Vec<String> {
            goals.iter().map(ToString::to_string).collect()
        };
        let mut outcome = match &result {
            Ok(Processed::Done(store::EventOutcome::Applied { changed, .. })) => {
                json!({"id": id, "outcome": "applied", "changedGoals": changed})
            }
            Ok(Processed::Done(store::EventOutcome::UserDeleted)) => {
                json!({"id": id, "outcome": "user_deleted"})
            }
            Ok(Processed::Done(store::EventOutcome::Duplicate)) => {
                json!({"id": id, "outcome": "duplicate"})
            }
            Ok(Processed::Done(store::EventOutcome::NoMatch { .. })) => {
                json!({"id": id, "outcome": "no_match"})
            }
            Ok(Processed::SkippedNamespace) => json!({"id": id, "outcome": "skipped_namespace"}),
            // The use-case logged and counted it.
            Err(err) => {
                return Err(ApiError::new(
                    err.code(),
                    format!("event `{id}`: {}", err.public_message()),
                ));
            }
        };
        if let Ok(Processed::Done(
            store::EventOutcome::Applied {
                failed_expressions, ..
            }
            | store::EventOutcome::NoMatch { failed_expressions },
        )) = &result
            && !failed_expressions.is_empty()
        {
            outcome["failedGoals"] = json!(failed(failed_expressions));
        }
        results.push(outcome);
    }
    Ok(Json(
        json!({ "processed": results.len(), "results": results }),
    ))
}

impl EventBody {
    /// The event use-case's input, with the event's id (for messages). An unknown kind is
    /// refused.
    pub(super) fn into_input(self) -> Result<(String, Input), ApiError> {
        let id = self.id.clone();
        let input = match self.kind.as_str() {
            "login" => Input::Login(LoginInput {
                id: self.id,
                user_id: self.user_id,
                namespace: self.namespace,
                timestamp: self.timestamp,
            }),
            "stat" => Input::Stat(StatInput {
                id: self.id,
                user_id: self.user_id,
                namespace: self.namespace,
                timestamp: self.timestamp,
                stat_code: self.stat_code,
                latest_value: self.latest_value,
                inc: self.inc,
                additional: engine::event::payload_from_json(self.additional.as_ref()),
            }),
            other => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("event `{id}`: kind must be `login` or `stat`, not `{other}`"),
                ));
            }
        };
        Ok((id, input))
    }
}

/// One event of a posted list, checked and waiting to be processed.
pub(super) enum Input {
    Login(LoginInput),
    Stat(StatInput),
}

impl Input {
    /// The engine event it becomes, validated as the event use-cases validate it, without
    /// writing anything (`None`: another namespace's).
    pub(super) fn event(
        &self,
        events: &pipeline::EventContext,
    ) -> Result<Option<engine::Event>, EventError> {
        match self {
            Input::Login(login) => events.login_event(login.clone()),
            Input::Stat(stat) => events.stat_event(stat.clone()),
        }
    }
}
