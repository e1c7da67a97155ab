//! The REST error answer: an [`ErrorCode`] (which decides the HTTP status, the `errorCode` and
//! the numeric `code`) and a message. A use-case's [`crate::usecases::Error`] becomes one here,
//! at the REST edge. Internal causes are logged, not shown.

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

impl From<crate::usecases::Error> for ApiError {
    fn from(err: crate::usecases::Error) -> Self {
        Self::new(err.code, err.message)
    }
}

impl From<store::StoreError> for ApiError {
    fn from(err: store::StoreError) -> Self {
        crate::usecases::Error::from(err).into()
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
