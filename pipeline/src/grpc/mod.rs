//! The Extend `OnMessage` services: map each message to an event use-case and its result to a
//! gRPC status. Only after the event's progress is committed does a call answer OK.

mod health;
mod server;

pub use server::{Listeners, run, serve};
use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::events::{Call, EventContext, EventError, LoginInput, Processed, StatInput};
use crate::proto::iam::deletion_account_gdpr_gdpr_request_data_deletion_response_service_server::DeletionAccountGdprGdprRequestDataDeletionResponseService;
use crate::proto::iam::user_authentication_user_logged_in_service_server::UserAuthenticationUserLoggedInService;
use crate::proto::iam::{GdprRequestDataDeletionResponse, UserLoggedIn};
use crate::proto::statistic::StatItemUpdated;
use crate::proto::statistic::statistic_stat_item_updated_service_server::StatisticStatItemUpdatedService;

/// One implementation serves all three services.
#[derive(Clone)]
pub struct EventServices {
    pub context: EventContext,
    /// Who may call: `None` serves every caller (the `handler`, which Extend calls without a
    /// token, behind a network policy); the service's in-process services check a token.
    pub callers: Option<Arc<dyn CallerCheck>>,
}

/// What an event call asks to do, for the caller check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAction {
    /// A login or a statistic update: progress moves.
    Progress,
    /// A GDPR deletion: a player's data goes.
    Delete,
}

/// Decides whether a gRPC caller may send events (from its metadata, e.g. a bearer token).
#[tonic::async_trait]
pub trait CallerCheck: Send + Sync + 'static {
    /// `Ok` lets the call through; an `Err` is the gRPC answer (UNAUTHENTICATED, PERMISSION_DENIED).
    async fn check(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        action: EventAction,
    ) -> Result<(), Status>;
}

impl EventServices {
    /// The services for every caller (no check).
    pub fn open(context: EventContext) -> Self {
        Self {
            context,
            callers: None,
        }
    }

    async fn admit<T>(&self, request: &Request<T>, action: EventAction) -> Result<(), Status> {
        match &self.callers {
            Some(check) => check.check(request.metadata(), action).await,
            None => Ok(()),
        }
    }
}

/// The gRPC answer to a use-case's result (the use-case counted and logged it).
fn status(result: Result<Processed, EventError>) -> Result<Response<()>, Status> {
    match result {
        Ok(_) => Ok(Response::new(())),
        Err(err) => Err(Status::new(err.code().grpc_code(), err.public_message())),
    }
}

#[tonic::async_trait]
impl UserAuthenticationUserLoggedInService for EventServices {
    async fn on_message(&self, request: Request<UserLoggedIn>) -> Result<Response<()>, Status> {
        self.admit(&request, EventAction::Progress).await?;
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
        status(self.context.login(input).await)
    }
}

#[tonic::async_trait]
impl StatisticStatItemUpdatedService for EventServices {
    async fn on_message(&self, request: Request<StatItemUpdated>) -> Result<Response<()>, Status> {
        self.admit(&request, EventAction::Progress).await?;
        let message = request.into_inner();
        let Some(item) = message.payload else {
            let call = Call {
                kind: "stat",
                event_id: &message.id,
                user_id: &message.user_id,
                namespace: &message.namespace,
            };
            let invalid = EventError::Invalid("payload (the stat item) is missing".into());
            return status(self.context.refused(call, invalid));
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
            additional: item
                .additional_data
                .map(struct_to_payload)
                .unwrap_or_default(),
        };
        status(self.context.stat(input).await)
    }
}

#[tonic::async_trait]
impl DeletionAccountGdprGdprRequestDataDeletionResponseService for EventServices {
    async fn on_message(
        &self,
        request: Request<GdprRequestDataDeletionResponse>,
    ) -> Result<Response<()>, Status> {
        self.admit(&request, EventAction::Delete).await?;
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
        status(
            self.context
                .gdpr_deletion(&message.id, &user_id, &namespace)
                .await,
        )
    }
}

/// A protobuf `Struct` (the stat's `additional_data`) as the payload events carry.
pub fn struct_to_payload(data: prost_types::Struct) -> engine::Payload {
    struct_to_json(data).into()
}

fn struct_to_json(data: prost_types::Struct) -> serde_json::Map<String, serde_json::Value> {
    data.fields
        .into_iter()
        .map(|(key, value)| (key, value_to_json(value)))
        .collect()
}

fn value_to_json(value: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    use serde_json::Value;
    match value.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
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
        Some(Kind::ListValue(list)) => list.values.into_iter().map(value_to_json).collect(),
        Some(Kind::StructValue(inner)) => Value::Object(struct_to_json(inner)),
    }
}
