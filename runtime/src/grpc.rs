//! The Extend `OnMessage` services: map each message to an event use-case and its result to a
//! gRPC status. Only after the event's progress is committed does a call answer OK.

use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::events::{EventContext, EventError, LoginInput, Processed, StatInput};
use crate::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_server::DeletionAccountGdprGdprRequestDataDeletionResponseService;
use crate::proto::iam::user_authentication_user_logged_in_service_server::UserAuthenticationUserLoggedInService;
use crate::proto::iam::{GdprRequestDataDeletionResponse, UserLoggedIn};
use crate::proto::statistic::StatItemUpdated;
use crate::proto::statistic::statistic_stat_item_updated_service_server::StatisticStatItemUpdatedService;

/// Who and what a call is about, for metrics and logs.
struct Call<'a> {
    kind: &'static str,
    event_id: &'a str,
    user_id: &'a str,
    namespace: &'a str,
}

/// One implementation serves all three services.
#[derive(Clone)]
pub struct EventServices {
    pub context: EventContext,
}

impl EventServices {
    fn answer(
        &self,
        call: Call<'_>,
        started: Instant,
        result: Result<Processed, EventError>,
    ) -> Result<Response<()>, Status> {
        let Call {
            kind,
            event_id,
            user_id,
            namespace,
        } = call;
        let metrics = &self.context.metrics;
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
                    store::EventOutcome::NoMatch => "no_match",
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
                Ok(Response::new(()))
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
                Ok(Response::new(()))
            }
            Err(err) => {
                metrics
                    .rejected
                    .with_label_values(&[kind, err.reason()])
                    .inc();
                match err {
                    EventError::Invalid(message) => {
                        tracing::warn!(kind, event_id, user_id, namespace, error = %message, "malformed event rejected");
                        Err(Status::invalid_argument(message))
                    }
                    EventError::Unavailable(message) => {
                        metrics
                            .errors
                            .with_label_values(&["handler", "unavailable"])
                            .inc();
                        tracing::warn!(kind, event_id, user_id, namespace, error = %message, duration_ms, "event not committed; the platform will retry");
                        Err(Status::unavailable(message))
                    }
                    EventError::Internal(message) => {
                        metrics
                            .errors
                            .with_label_values(&["handler", "internal"])
                            .inc();
                        tracing::error!(kind, event_id, user_id, namespace, error = %message, "event failed");
                        Err(Status::internal("internal error"))
                    }
                }
            }
        }
    }
}

#[tonic::async_trait]
impl UserAuthenticationUserLoggedInService for EventServices {
    async fn on_message(&self, request: Request<UserLoggedIn>) -> Result<Response<()>, Status> {
        let started = Instant::now();
        self.context
            .metrics
            .received
            .with_label_values(&["login"])
            .inc();
        let message = request.into_inner();
        let account = message
            .payload
            .as_ref()
            .and_then(|p| p.user_account.as_ref());
        let user_id = if message.user_id.is_empty() {
            account.map(|a| a.user_id.clone()).unwrap_or_default()
        } else {
            message.user_id.clone()
        };
        let namespace = if message.namespace.is_empty() {
            account.map(|a| a.namespace.clone()).unwrap_or_default()
        } else {
            message.namespace.clone()
        };
        let input = LoginInput {
            id: message.id.clone(),
            user_id: user_id.clone(),
            namespace: namespace.clone(),
            timestamp: message.timestamp,
        };
        let result = self.context.login(input).await;
        let call = Call {
            kind: "login",
            event_id: &message.id,
            user_id: &user_id,
            namespace: &namespace,
        };
        self.answer(call, started, result)
    }
}

#[tonic::async_trait]
impl StatisticStatItemUpdatedService for EventServices {
    async fn on_message(&self, request: Request<StatItemUpdated>) -> Result<Response<()>, Status> {
        let started = Instant::now();
        self.context
            .metrics
            .received
            .with_label_values(&["stat"])
            .inc();
        let message = request.into_inner();
        let Some(item) = message.payload else {
            let result = Err(EventError::Invalid(
                "payload (the stat item) is missing".into(),
            ));
            let call = Call {
                kind: "stat",
                event_id: &message.id,
                user_id: &message.user_id,
                namespace: &message.namespace,
            };
            return self.answer(call, started, result);
        };
        let user_id = if item.user_id.is_empty() {
            message.user_id.clone()
        } else {
            item.user_id.clone()
        };
        let namespace = if message.namespace.is_empty() {
            item.namespace.clone()
        } else {
            message.namespace.clone()
        };
        let input = StatInput {
            id: message.id.clone(),
            user_id: user_id.clone(),
            namespace: namespace.clone(),
            timestamp: message.timestamp,
            stat_code: item.stat_code,
            latest_value: item.latest_value,
            inc: item.inc,
            additional: item.additional_data.map(struct_to_map).unwrap_or_default(),
        };
        let result = self.context.stat(input).await;
        let call = Call {
            kind: "stat",
            event_id: &message.id,
            user_id: &user_id,
            namespace: &namespace,
        };
        self.answer(call, started, result)
    }
}

#[tonic::async_trait]
impl DeletionAccountGdprGdprRequestDataDeletionResponseService for EventServices {
    async fn on_message(
        &self,
        request: Request<GdprRequestDataDeletionResponse>,
    ) -> Result<Response<()>, Status> {
        let started = Instant::now();
        self.context
            .metrics
            .received
            .with_label_values(&["gdpr"])
            .inc();
        let message = request.into_inner();
        let deletion = message
            .payload
            .as_ref()
            .and_then(|p| p.deletion_gdpr.as_ref());
        let user_id = deletion
            .map(|d| d.user_id.clone())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| message.user_id.clone());
        let namespace = if message.namespace.is_empty() {
            deletion.map(|d| d.namespace.clone()).unwrap_or_default()
        } else {
            message.namespace.clone()
        };
        let result = match self.context.delete_user(&user_id, &namespace).await {
            Ok(Some(rows)) => {
                tracing::info!(user_id, rows, "GDPR deletion: progress rows deleted");
                Ok(Processed::Done(store::EventOutcome::Applied {
                    changed: rows as usize,
                }))
            }
            Ok(None) => Ok(Processed::SkippedNamespace),
            Err(err) => Err(err),
        };
        let call = Call {
            kind: "gdpr",
            event_id: &message.id,
            user_id: &user_id,
            namespace: &namespace,
        };
        self.answer(call, started, result)
    }
}

/// A protobuf `Struct` (the stat's `additional_data`) as the Rhai map events carry.
pub fn struct_to_map(data: prost_types::Struct) -> rhai::Map {
    data.fields
        .into_iter()
        .map(|(key, value)| (key.into(), value_to_dynamic(value)))
        .collect()
}

fn value_to_dynamic(value: prost_types::Value) -> rhai::Dynamic {
    use prost_types::value::Kind;
    match value.kind {
        None | Some(Kind::NullValue(_)) => rhai::Dynamic::UNIT,
        Some(Kind::BoolValue(flag)) => flag.into(),
        Some(Kind::NumberValue(number)) => {
            // JSON numbers are doubles; whole ones become integers so `== 3` works as written.
            if number.fract() == 0.0 && number.abs() < 9.0e15 {
                (number as i64).into()
            } else {
                number.into()
            }
        }
        Some(Kind::StringValue(text)) => text.into(),
        Some(Kind::ListValue(list)) => {
            rhai::Dynamic::from_array(list.values.into_iter().map(value_to_dynamic).collect())
        }
        Some(Kind::StructValue(inner)) => rhai::Dynamic::from_map(struct_to_map(inner)),
    }
}
