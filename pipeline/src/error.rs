//! The one list of error codes both front doors answer with. Each code knows its HTTP status,
//! its gRPC code, its stable `errorCode` string and the numeric `code` of the JSON body (the gRPC
//! code's number). The REST and gRPC adapters only convert.

use axum::http::StatusCode;

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
    /// The request did not finish within `HTTP_REQUEST_TIMEOUT_SECONDS`.
    Timeout,
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
            ErrorCode::Timeout => "REQUEST_TIMEOUT",
            ErrorCode::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status a REST client gets.
    pub fn http_status(self) -> StatusCode {
        match self {
            ErrorCode::GoalNotFound | ErrorCode::ChallengeNotFound | ErrorCode::NotFound => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::GoalNotCompleted
            | ErrorCode::GoalInactive
            | ErrorCode::GoalRotated
            | ErrorCode::PrerequisitesNotMet
            | ErrorCode::InsufficientGoals
            | ErrorCode::ValidationFailed => StatusCode::BAD_REQUEST,
            ErrorCode::AlreadyClaimed => StatusCode::CONFLICT,
            ErrorCode::RewardGrantFailed => StatusCode::BAD_GATEWAY,
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::DatabaseUnavailable | ErrorCode::AuthUnavailable | ErrorCode::Timeout => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code a gRPC client gets.
    pub fn grpc_code(self) -> tonic::Code {
        match self {
            ErrorCode::GoalNotFound | ErrorCode::ChallengeNotFound | ErrorCode::NotFound => {
                tonic::Code::NotFound
            }
            ErrorCode::MethodNotAllowed => tonic::Code::Unimplemented,
            ErrorCode::GoalNotCompleted
            | ErrorCode::GoalInactive
            | ErrorCode::GoalRotated
            | ErrorCode::PrerequisitesNotMet
            | ErrorCode::InsufficientGoals => tonic::Code::FailedPrecondition,
            ErrorCode::ValidationFailed => tonic::Code::InvalidArgument,
            ErrorCode::AlreadyClaimed => tonic::Code::AlreadyExists,
            ErrorCode::RewardGrantFailed | ErrorCode::Internal => tonic::Code::Internal,
            ErrorCode::Unauthorized => tonic::Code::Unauthenticated,
            ErrorCode::Forbidden => tonic::Code::PermissionDenied,
            ErrorCode::RateLimited => tonic::Code::ResourceExhausted,
            ErrorCode::DatabaseUnavailable | ErrorCode::AuthUnavailable => tonic::Code::Unavailable,
            ErrorCode::Timeout => tonic::Code::DeadlineExceeded,
        }
    }

    /// The numeric `code` of the JSON error body: the gRPC code's number, as the reference's
    /// grpc-gateway answers it.
    pub fn code(self) -> u16 {
        // The gRPC codes are 0 to 16.
        u16::try_from(self.grpc_code() as i32).unwrap_or(2)
    }

    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::GoalNotFound,
        ErrorCode::ChallengeNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::GoalNotCompleted,
        ErrorCode::GoalInactive,
        ErrorCode::GoalRotated,
        ErrorCode::AlreadyClaimed,
        ErrorCode::PrerequisitesNotMet,
        ErrorCode::RewardGrantFailed,
        ErrorCode::InsufficientGoals,
        ErrorCode::ValidationFailed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::RateLimited,
        ErrorCode::DatabaseUnavailable,
        ErrorCode::AuthUnavailable,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];
}

impl ErrorCode {
    /// This code's JSON error answer, `{code, errorCode, message}`: the one shape every error of
    /// the REST API has, the front door's own included.
    pub fn response(self, message: String) -> axum::response::Response {
        use axum::response::IntoResponse;
        (
            self.http_status(),
            axum::Json(serde_json::json!({
                "code": self.code(),
                "errorCode": self.as_str(),
                "message": message,
            })),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn the_numeric_code_is_the_grpc_code_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert_eq!(i32::from(code.code()), code.grpc_code() as i32, "{code:?}");
            assert!(names.insert(code.as_str()), "{code:?} named twice");
            assert!(
                code.http_status().is_client_error() || code.http_status().is_server_error(),
                "{code:?}"
            );
        }
    }

    #[test]
    fn the_documented_pairs_hold() {
        let pairs = |code: ErrorCode| (code.http_status().as_u16(), code.code());
        assert_eq!(pairs(ErrorCode::GoalNotFound), (404, 5));
        assert_eq!(pairs(ErrorCode::ValidationFailed), (400, 3));
        assert_eq!(pairs(ErrorCode::GoalNotCompleted), (400, 9));
        assert_eq!(pairs(ErrorCode::AlreadyClaimed), (409, 6));
        assert_eq!(pairs(ErrorCode::Unauthorized), (401, 16));
        assert_eq!(pairs(ErrorCode::Forbidden), (403, 7));
        assert_eq!(pairs(ErrorCode::RateLimited), (429, 8));
        assert_eq!(pairs(ErrorCode::DatabaseUnavailable), (503, 14));
        assert_eq!(pairs(ErrorCode::MethodNotAllowed), (405, 12));
        assert_eq!(pairs(ErrorCode::RewardGrantFailed), (502, 13));
        assert_eq!(pairs(ErrorCode::Internal), (500, 13));
    }
}
