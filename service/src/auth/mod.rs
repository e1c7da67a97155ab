//! Who is calling. With `PLUGIN_GRPC_SERVER_AUTH_ENABLED=true` (the default) every request needs
//! an AGS IAM bearer token (verified by `jwt`); the user is its `sub`. With `false` (local runs,
//! the reference implementation's e2e and load scripts) the user comes from `x-mock-user-id`
//! (default `test-user-123`) and any bearer value is ignored.

pub mod jwt;
pub mod revocation;
pub mod roles;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use engine::UserId;

use crate::app::AppState;
use crate::error::{ApiError, ErrorCode};
use jwt::{Claims, JwtVerifier, TokenError, allows_server_calls};

/// The default user of mock mode, as in the reference implementation.
pub const DEFAULT_MOCK_USER: &str = "test-user-123";

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Authenticator {
    Mock,
    Jwt {
        verifier: Arc<JwtVerifier>,
        namespace: String,
        /// Where the permissions of a token's roles are read (`None`: only its
        /// `permissions` claim counts).
        roles: Option<Arc<roles::RolePermissions>>,
    },
}

impl Authenticator {
    async fn claims(&self, parts: &Parts) -> Result<Option<Claims>, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.claims_of(header).await
    }

    /// Whether the `authorization` value may use the *server* side for one of `actions` (a
    /// mask; `named` spells it for the refusal, `what` names what is refused): a token with
    /// `ADMIN:NAMESPACE:{ns}:CHALLENGE` for it, or anyone in mock mode. REST's `ServerCaller`
    /// and the in-process gRPC event services ask the same.
    pub async fn allow_server(
        &self,
        authorization: Option<&str>,
        actions: i64,
        what: &str,
        named: &str,
    ) -> Result<(), ApiError> {
        self.server_claims(authorization, actions, what, named)
            .await
            .map(drop)
    }

    /// [`Self::allow_server`], answering the caller's claims (`None` in mock mode).
    pub async fn server_claims(
        &self,
        authorization: Option<&str>,
        actions: i64,
        what: &str,
        named: &str,
    ) -> Result<Option<Claims>, ApiError> {
        // Mock mode has no claims, and lets anyone in.
        let (
            Some(claims),
            Authenticator::Jwt {
                namespace, roles, ..
            },
        ) = (self.claims_of(authorization).await?, self)
        else {
            return Ok(None);
        };
        if allows_server_calls(&claims, namespace, actions) {
            return Ok(Some(claims));
        }
        if let Some(roles) = roles {
            match role_allows(roles, &claims, namespace, actions).await {
                Ok(true) => return Ok(Some(claims)),
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(error = %err, "cannot read a token's role permissions from IAM");
                    return Err(ApiError::new(
                        ErrorCode::AuthUnavailable,
                        "cannot check the token's roles right now (IAM unreachable); try again shortly",
                    ));
                }
            }
        }
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!(
                "{what} needs the ADMIN:NAMESPACE:{namespace}:CHALLENGE permission with {named}"
            ),
        ))
    }

    /// The claims of an `authorization` value (`Bearer <token>`); `None` in mock mode.
    pub async fn claims_of(&self, authorization: Option<&str>) -> Result<Option<Claims>, ApiError> {
        let Authenticator::Jwt { verifier, .. } = self else {
            return Ok(None);
        };
        let token = authorization
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(unauthorized(&TokenError::Missing));
        };
        match verifier.verify(token).await {
            Ok(claims) => Ok(Some(claims)),
            Err(err @ TokenError::Unavailable(_)) => {
                let error: &(dyn std::error::Error + 'static) = &err;
                tracing::error!(error, "cannot verify tokens: IAM keys unavailable");
                Err(ApiError::new(
                    ErrorCode::AuthUnavailable,
                    "cannot verify the token right now (IAM unreachable); try again shortly",
                ))
            }
            Err(err) => Err(unauthorized(&err)),
        }
    }
}

/// Whether one of the token's roles grants the *server* endpoints of `namespace` for one of
/// `actions`. A role's `{namespace}` is the namespace it was granted in (`namespace_roles`) or
/// the token's (`roles`), `{userId}` the token's user. An error only when no role allows and
/// one could not be read.
async fn role_allows(
    roles: &roles::RolePermissions,
    claims: &Claims,
    namespace: &str,
    actions: i64,
) -> Result<bool, String> {
    let granted = (claims.roles.iter())
        .map(|role| (role.as_str(), claims.namespace.as_str()))
        .chain(
            (claims.namespace_roles.iter())
                .map(|role| (role.role_id.as_str(), role.namespace.as_str())),
        );
    let mut unreadable = None;
    for (role, role_namespace) in granted {
        let permissions = match roles.of(role).await {
            Ok(permissions) => permissions,
            Err(err) => {
                unreadable = Some(err);
                continue;
            }
        };
        let resolved: Vec<jwt::Permission> = (permissions.iter())
            .map(|permission| jwt::Permission {
                resource: (permission.resource)
                    .replace("{namespace}", role_namespace)
                    .replace("{userId}", &claims.sub),
                action: permission.action,
            })
            .collect();
        if jwt::permits(&resolved, namespace, actions) {
            return Ok(true);
        }
    }
    unreadable.map_or(Ok(false), Err)
}

/// The service's in-process gRPC event services admit the callers `POST /v1/events` admits: with
/// auth on, a bearer token in the `authorization` metadata with the
/// `ADMIN:NAMESPACE:{ns}:CHALLENGE` permission (CREATE or UPDATE for progress, DELETE for a
/// GDPR deletion). Anonymous calls could otherwise complete goals whose rewards are real.
pub struct GrpcCallers(pub Authenticator);

#[tonic::async_trait]
impl pipeline::grpc::CallerCheck for GrpcCallers {
    async fn check(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        action: pipeline::grpc::EventAction,
    ) -> Result<(), tonic::Status> {
        use jwt::action::{CREATE, DELETE, UPDATE};
        let header = metadata
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let (actions, named) = match action {
            pipeline::grpc::EventAction::Progress => (CREATE | UPDATE, "CREATE or UPDATE"),
            pipeline::grpc::EventAction::Delete => (DELETE, "DELETE"),
        };
        self.0
            .allow_server(header, actions, "sending this event", named)
            .await
            .map_err(|err| tonic::Status::new(err.code.grpc_code(), err.message))
    }
}

fn unauthorized(err: &TokenError) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, err.to_string())
}

/// The authenticated player.
#[derive(Debug, Clone)]
pub struct AuthUser(pub UserId);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(claims) = state.auth.claims(parts).await? {
            if claims.sub.is_empty() || claims.sub.len() > 128 {
                return Err(ApiError::new(
                    ErrorCode::Unauthorized,
                    "the token names no player (`sub`): client tokens may call the server endpoints only",
                ));
            }
            return Ok(AuthUser(UserId::new(claims.sub)));
        }
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

/// A caller allowed to use the *server* endpoints (events, rules): a token (a player's or a
/// game server's client-credentials token, which has no `sub`) with the
/// `ADMIN:NAMESPACE:{ns}:CHALLENGE` permission for the request's action — READ to read,
/// CREATE or UPDATE to send events, DELETE to delete — or anyone in mock mode.
#[derive(Debug, Clone)]
pub struct ServerCaller;

impl FromRequestParts<AppState> for ServerCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        use jwt::action::{CREATE, DELETE, READ, UPDATE};
        let (actions, named) = match parts.method {
            axum::http::Method::GET | axum::http::Method::HEAD => (READ, "READ"),
            axum::http::Method::DELETE => (DELETE, "DELETE"),
            _ => (CREATE | UPDATE, "CREATE or UPDATE"),
        };
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state
            .auth
            .allow_server(header, actions, "this endpoint", named)
            .await
            .map(|()| ServerCaller)
    }
}

/// A person or server acting on players' data for support: a token allowed the *server*
/// endpoints with UPDATE (CREATE alone is not enough), or anyone in mock mode. `actor` names
/// them in the audit log: a user token's `sub`, else the token's `client_id`; in mock mode
/// `mock:` and the `x-mock-user-id` header.
#[derive(Debug, Clone)]
pub struct SupportCaller {
    pub actor: String,
}

impl FromRequestParts<AppState> for SupportCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let claims = (state.auth)
            .server_claims(header, jwt::action::UPDATE, "a support action", "UPDATE")
            .await?;
        let actor = match claims {
            Some(claims) if !claims.sub.is_empty() => claims.sub,
            Some(claims) if !claims.client_id.is_empty() => claims.client_id,
            Some(_) => "unknown".to_string(),
            None => {
                let user = (parts.headers.get("x-mock-user-id"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::trim)
                    .filter(|u| !u.is_empty() && u.len() <= 128)
                    .unwrap_or(DEFAULT_MOCK_USER);
                format!("mock:{user}")
            }
        };
        Ok(SupportCaller { actor })
    }
}
