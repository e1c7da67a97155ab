//! AGS IAM access tokens: RS256 JWTs verified against the IAM JWKS
//! (`{AB_BASE_URL}/iam/v3/oauth/jwks`), cached and refreshed — on a schedule, and at once when a
//! token names a key id the cache does not know (IAM rotated its keys).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

/// How long fetched keys are trusted before a refresh.
pub const KEYS_TTL: Duration = Duration::from_secs(600);
/// Unknown key ids trigger at most one refresh per this interval (no refresh storms); after
/// failed refreshes the interval doubles per failure, up to `MAX_REFRESH_INTERVAL`.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(1);
const MAX_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// Why a token was refused (all answer 401, except `Unavailable`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("token is not valid yet (`nbf` is in the future)")]
    NotYetValid,
    #[error("token was issued by `{0}`, not this deployment's IAM")]
    WrongIssuer(String),
    #[error("token was revoked")]
    Revoked,
    #[error("the player's tokens were revoked")]
    UserRevoked,
    #[error("token is for namespace `{0}`, not this one")]
    WrongNamespace(String),
    #[error("signing key `{0}` is unknown")]
    UnknownKey(String),
    /// The JWKS could not be fetched (or read); the cause is the HTTP client's error.
    #[error("cannot fetch the IAM keys")]
    Unavailable(#[source] std::sync::Arc<reqwest::Error>),
}

/// One AGS permission of the token.
#[derive(Debug, Clone, Deserialize)]
pub struct Permission {
    #[serde(rename = "Resource", alias = "resource")]
    pub resource: String,
    #[serde(rename = "Action", alias = "action", default)]
    pub action: i64,
}

/// A role granted in one namespace.
#[derive(Debug, Clone, Deserialize)]
pub struct NamespaceRole {
    #[serde(rename = "roleId")]
    pub role_id: String,
    #[serde(default)]
    pub namespace: String,
}

/// The claims this service reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user; empty in a client-credentials token (a game server), which may call the
    /// server endpoints only.
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Role ids granted in the token's own namespace (a user token's permissions usually come
    /// from these: `auth::roles`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Role ids granted in a namespace each (`*`: every namespace).
    #[serde(default)]
    pub namespace_roles: Vec<NamespaceRole>,
    /// When the token was issued (Unix seconds); a user revoked at or after it is refused.
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub iss: String,
    /// The IAM client the token was issued to (a server token names no `sub`).
    #[serde(default)]
    pub client_id: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: String,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// Verifies IAM tokens.
pub struct JwtVerifier {
    jwks_url: String,
    namespace: String,
    /// The `iss` every token must carry (`IAM_ISSUER`, default `AB_BASE_URL`).
    issuer: String,
    /// IAM's revocation list, when the service reads it.
    revocations: Option<Arc<super::revocation::Revocations>>,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
    /// The last refresh attempt and how many failed in a row since the last success.
    refreshing: Mutex<RefreshState>,
    keys_ttl: Duration,
}

#[derive(Debug, Default)]
struct RefreshState {
    last_attempt: Option<Instant>,
    failures: u32,
}

impl RefreshState {
    /// Whether a refresh may be tried now (1 s apart, doubling per failure up to a minute).
    fn due(&self) -> bool {
        let wait = MIN_REFRESH_INTERVAL
            .saturating_mul(1 << self.failures.min(6))
            .min(MAX_REFRESH_INTERVAL);
        self.last_attempt.is_none_or(|at| at.elapsed() >= wait)
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("jwks_url", &self.jwks_url)
            .finish()
    }
}

impl JwtVerifier {
    /// A verifier of tokens issued at `ab_base_url`, without a revocation list, trusting fetched
    /// keys for `keys_ttl` before a refresh (tests shorten it).
    pub fn with_keys_ttl(
        ab_base_url: &str,
        namespace: &str,
        keys_ttl: Duration,
    ) -> Result<Arc<Self>, reqwest::Error> {
        Self::build(ab_base_url, namespace, ab_base_url, None, keys_ttl)
    }

    /// A verifier of tokens issued by `issuer`, refusing those `revocations` lists.
    pub fn build(
        ab_base_url: &str,
        namespace: &str,
        issuer: &str,
        revocations: Option<Arc<super::revocation::Revocations>>,
        keys_ttl: Duration,
    ) -> Result<Arc<Self>, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Arc::new(Self {
            jwks_url: format!("{}/iam/v3/oauth/jwks", ab_base_url.trim_end_matches('/')),
            namespace: namespace.to_string(),
            issuer: issuer.trim_end_matches('/').to_string(),
            revocations,
            http,
            keys: RwLock::new(KeySet {
                keys: HashMap::new(),
                fetched: None,
            }),
            refreshing: Mutex::new(RefreshState::default()),
            keys_ttl,
        }))
    }

    /// The revocation list this verifier reads, if any.
    pub fn revocations(&self) -> Option<&Arc<super::revocation::Revocations>> {
        self.revocations.as_ref()
    }

    /// Verifies signature, expiry, not-before, issuer, namespace and IAM's revocation list;
    /// returns the claims.
    pub async fn verify(self: &Arc<Self>, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(|err| TokenError::Invalid(err.to_string()))?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let kid = header.kid.unwrap_or_default();
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        validation.validate_nbf = true;
        validation.leeway = 30;
        let data = decode::<Claims>(token, &key, &validation).map_err(|err| match err.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            _ => TokenError::Invalid(err.to_string()),
        })?;
        let claims = data.claims;
        if claims.iss.trim_end_matches('/') != self.issuer {
            return Err(TokenError::WrongIssuer(claims.iss));
        }
        if !self.namespace.is_empty() && claims.namespace != self.namespace {
            return Err(TokenError::WrongNamespace(claims.namespace));
        }
        if let Some(revocations) = &self.revocations {
            use super::revocation::Revoked;
            match revocations.check(token, &claims.sub, claims.iat) {
                Ok(()) => {}
                Err(Revoked::Token) => return Err(TokenError::Revoked),
                Err(Revoked::User) => return Err(TokenError::UserRevoked),
            }
        }
        Ok(claims)
    }

    /// The key `kid` names. A known key is served even when the set is stale (refreshed in the
    /// background), so an IAM outage locks nobody out; an unknown one waits for a refresh.
    async fn key(self: &Arc<Self>, kid: &str) -> Result<DecodingKey, TokenError> {
        let (known, fresh) = {
            let keys = self.keys.read().await;
            (
                keys.keys.get(kid).cloned(),
                keys.fetched.is_some_and(|at| at.elapsed() < self.keys_ttl),
            )
        };
        if let Some(key) = known {
            if !fresh {
                let verifier = Arc::clone(self);
                tokio::spawn(async move {
                    if let Err(err) = verifier.refresh().await {
                        tracing::warn!(
                            error = &err as &(dyn std::error::Error + 'static),
                            "refreshing the IAM signing keys failed; the cached keys stay in use"
                        );
                    }
                });
            }
            return Ok(key);
        }
        self.refresh().await?;
        self.keys
            .read()
            .await
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| TokenError::UnknownKey(kid.to_string()))
    }

    /// Fetches the JWKS unless another caller just tried (or IAM is failing and the backoff
    /// has not passed). A failure keeps the keys in hand.
    async fn refresh(&self) -> Result<(), TokenError> {
        let mut state = self.refreshing.lock().await;
        if !state.due() {
            return Ok(()); // someone just tried; use what there is
        }
        state.last_attempt = Some(Instant::now());
        let fetched = self.fetch().await;
        match &fetched {
            Ok(keys) => {
                state.failures = 0;
                tracing::info!(keys = keys.len(), "IAM signing keys refreshed");
            }
            Err(_) => state.failures = state.failures.saturating_add(1),
        }
        let keys = fetched?;
        *self.keys.write().await = KeySet {
            keys,
            fetched: Some(Instant::now()),
        };
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, TokenError> {
        let response = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|err| TokenError::Unavailable(err.into()))?;
        let jwks: Jwks = response
            .json()
            .await
            .map_err(|err| TokenError::Unavailable(err.into()))?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
            match DecodingKey::from_rsa_components(&jwk.n, &jwk.e) {
                Ok(key) => {
                    keys.insert(jwk.kid, key);
                }
                Err(err) => {
                    tracing::warn!(kid = %jwk.kid, error = %err, "skipping an unreadable JWKS key")
                }
            }
        }
        Ok(keys)
    }
}

/// AGS permission actions (a bit mask).
pub mod action {
    pub const CREATE: i64 = 1;
    pub const READ: i64 = 2;
    pub const UPDATE: i64 = 4;
    pub const DELETE: i64 = 8;
}

/// Whether the token's permissions allow the *server* endpoints of `namespace` for one of the
/// `actions` (a mask): resource `ADMIN:NAMESPACE:{namespace}:CHALLENGE` (segments may be `*`).
pub fn allows_server_calls(claims: &Claims, namespace: &str, actions: i64) -> bool {
    permits(&claims.permissions, namespace, actions)
}

/// Whether one of `permissions` allows the *server* endpoints of `namespace` for one of
/// `actions` (see [`allows_server_calls`]).
pub fn permits(permissions: &[Permission], namespace: &str, actions: i64) -> bool {
    let wanted = ["ADMIN", "NAMESPACE", namespace, "CHALLENGE"];
    permissions.iter().any(|permission| {
        let parts: Vec<&str> = permission.resource.split(':').collect();
        permission.action & actions != 0
            && parts.len() == wanted.len()
            && parts
                .iter()
                .zip(wanted)
                .all(|(have, want)| *have == "*" || *have == want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(resource: &str, action: i64) -> Claims {
        Claims {
            sub: "u".into(),
            namespace: "ns".into(),
            iat: 0,
            iss: String::new(),
            roles: Vec::new(),
            namespace_roles: Vec::new(),
            client_id: String::new(),
            permissions: vec![Permission {
                resource: resource.into(),
                action,
            }],
        }
    }

    #[test]
    fn server_permission() {
        use action::{CREATE, DELETE, READ, UPDATE};
        let writes = CREATE | UPDATE;
        let allows = |resource: &str, have: i64, wanted: i64| {
            allows_server_calls(&claims(resource, have), "ns", wanted)
        };
        assert!(allows("ADMIN:NAMESPACE:ns:CHALLENGE", 15, writes));
        assert!(allows("ADMIN:NAMESPACE:*:CHALLENGE", READ, READ));
        assert!(allows("ADMIN:NAMESPACE:ns:CHALLENGE", UPDATE, writes));
        assert!(
            !allows("ADMIN:NAMESPACE:ns:CHALLENGE", READ, writes),
            "reading is not writing"
        );
        assert!(!allows("ADMIN:NAMESPACE:ns:CHALLENGE", CREATE, READ));
        assert!(!allows(
            "ADMIN:NAMESPACE:ns:CHALLENGE",
            DELETE,
            writes | READ
        ));
        assert!(!allows("ADMIN:NAMESPACE:other:CHALLENGE", 15, writes));
        assert!(!allows("NAMESPACE:ns:CHALLENGE", 15, writes));
        assert!(!allows("ADMIN:NAMESPACE:ns:CHALLENGE", 0, writes));
    }
}
