//! What a use-case answers when it cannot do what was asked: an [`ErrorCode`] and a message for
//! the caller. No transport's type: REST turns it into its answer (`crate::error::ApiError`)
//! at its edge, once.

pub use pipeline::error::ErrorCode;

/// A use-case's refusal or failure. Internal causes are logged where they happen, not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<store::StoreError> for Error {
    fn from(err: store::StoreError) -> Self {
        let error: &(dyn std::error::Error + 'static) = &err;
        if err.is_unavailable() {
            tracing::warn!(error, "database unavailable");
            Error::new(
                ErrorCode::DatabaseUnavailable,
                "the database is unavailable; try again shortly",
            )
        } else {
            tracing::error!(error, "store error");
            Error::new(ErrorCode::Internal, "internal error")
        }
    }
}
