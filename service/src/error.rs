//! The REST error answer: an [`ErrorCode`] (which decides the HTTP status, the `errorCode` and
//! the numeric `code`) and a message. Internal causes are logged, not shown.

use axum::response::{IntoResponse, Response};
pub use pipeline::error::ErrorCode;
use serde::Serialize;

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
        let error: &(dyn std::error::Error + 'static) = &err;
        if err.is_unavailable() {
            tracing::warn!(error, "database unavailable");
            ApiError::new(
                ErrorCode::DatabaseUnavailable,
                "the database is unavailable; try again shortly",
            )
        } else {
            tracing::error!(error, "store error");
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.code.response(self.message)
    }
}
