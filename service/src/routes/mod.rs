//! REST routes under `BASE_PATH`. Handlers only extract, authorize and call a use-case.

mod challenges;
mod selection;
mod system;

use axum::Router;
use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(challenges::router())
        .merge(selection::router())
        .merge(system::router())
}

/// `Json` whose rejections answer in the API's error shape (VALIDATION_FAILED).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::new(ErrorCode::ValidationFailed, rejection.body_text())
    }
}
