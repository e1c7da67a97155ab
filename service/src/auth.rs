//! Who is calling. Mock mode (`PLUGIN_GRPC_SERVER_AUTH_ENABLED=false`): the user id comes from
//! `x-mock-user-id` (default `test-user-123`) and any bearer token is ignored — for local runs
//! and the reference implementation's e2e and load scripts. AGS IAM JWT verification is not
//! built yet (issue #5); the service refuses to start with auth enabled rather than pretend.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use engine::UserId;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};

/// The default user of mock mode, as in the reference implementation.
pub const DEFAULT_MOCK_USER: &str = "test-user-123";

/// The authenticated player.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = parts
            .headers
            .get("x-mock-user-id")
            .map(|value| value.to_str().map(str::trim).unwrap_or_default())
            .unwrap_or(DEFAULT_MOCK_USER);
        if user.is_empty() || user.len() > 128 {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "x-mock-user-id must be 1-128 characters",
            ));
        }
        Ok(AuthUser(UserId::new(user)))
    }
}

/// A caller allowed to use the *server* endpoints (events, rules). In mock mode, everyone.
#[derive(Debug, Clone)]
pub struct ServerCaller;

impl FromRequestParts<AppState> for ServerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ServerCaller)
    }
}
