//! One error type for the REST API: a stable `errorCode`, the gRPC-style `code` number the
//! reference clients read, an HTTP status, and a message. Internal causes are logged, not shown.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The stable error codes of api.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    GoalNotFound,
    ChallengeNotFound,
    /// No such route.
    NotFound,
    /// The route does not serve this method.
    MethodNotAllowed,
    GoalNotCompleted,
    GoalInactive,
    GoalRotated,
    AlreadyClaimed,
    PrerequisitesNotMet,
    RewardGrantFailed,
    InsufficientGoals,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    RateLimited,
    DatabaseUnavailable,
    /// IAM's signing keys cannot be fetched, so no token can be checked.
    AuthUnavailable,
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::GoalNotFound => "GOAL_NOT_FOUND",
            ErrorCode::ChallengeNotFound => "CHALLENGE_NOT_FOUND",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::GoalNotCompleted => "GOAL_NOT_COMPLETED",
            ErrorCode::GoalInactive => "GOAL_INACTIVE",
            ErrorCode::GoalRotated => "GOAL_ROTATED",
            ErrorCode::AlreadyClaimed => "ALREADY_CLAIMED",
            ErrorCode::PrerequisitesNotMet => "PREREQUISITES_NOT_MET",
            ErrorCode::RewardGrantFailed => "REWARD_GRANT_FAILED",
            ErrorCode::InsufficientGoals => "INSUFFICIENT_GOALS",
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::DatabaseUnavailable => "DATABASE_UNAVAILABLE",
            ErrorCode::AuthUnavailable => "AUTH_UNAVAILABLE",
            ErrorCode::Internal => "INTERNAL_ERROR",
        }
    }

    /// HTTP status and the gRPC-style code number of the JSON body.
    fn statuses(self) -> (StatusCode, u16) {
        match self {
            ErrorCode::GoalNotFound | ErrorCode::ChallengeNotFound | ErrorCode::NotFound => {
                (StatusCode::NOT_FOUND, 5)
            }
            ErrorCode::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, 12),
            ErrorCode::GoalNotCompleted
            | ErrorCode::GoalInactive
            | ErrorCode::GoalRotated
            | ErrorCode::PrerequisitesNotMet
            | ErrorCode::InsufficientGoals => (StatusCode::BAD_REQUEST, 9),
            ErrorCode::ValidationFailed => (StatusCode::BAD_REQUEST, 3),
            ErrorCode::AlreadyClaimed => (StatusCode::CONFLICT, 6),
            ErrorCode::RewardGrantFailed => (StatusCode::BAD_GATEWAY, 13),
            ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, 16),
            ErrorCode::Forbidden => (StatusCode::FORBIDDEN, 7),
            ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, 8),
            ErrorCode::DatabaseUnavailable | ErrorCode::AuthUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, 14)
            }
            ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, 13),
        }
    }
}

/// An error answered to a client.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        if err.is_unavailable() {
            tracing::warn!(error = %err, "database unavailable");
            ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "the database is unavailable; try again shortly",
            )
        } else {
            tracing::error!(error = %err, "store error");
            ApiError::new(ErrorCode::Internal, "internal error")
        }
    }
}

/// The error body every endpoint answers with (for the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorJson {
    /// gRPC-style code number (3 invalid, 5 not found, 6 already exists, …).
    pub code: u16,
    /// Stable code, e.g. `GOAL_NOT_FOUND`.
    pub error_code: String,
    pub message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody<'a> {
    code: u16,
    error_code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.code.statuses();
        let body = ErrorBody {
            code,
            error_code: self.code.as_str(),
            message: &self.message,
        };
        (status, Json(body)).into_response()
    }
}
