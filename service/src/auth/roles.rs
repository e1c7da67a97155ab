//! The permissions of a token's roles. An IAM user token (a support agent's, a designer's)
//! usually carries roles (`roles`, and `namespace_roles` with the namespace each applies to)
//! rather than a `permissions` claim. Each role's permissions come from IAM's role API,
//! `GET {AB_BASE_URL}/iam/v3/admin/roles/{roleId}`, called with the service's own client token
//! (`AB_CLIENT_ID`, which needs `ADMIN:ROLE` READ), and are cached for [`ROLE_TTL`] as AccelByte's
//! SDK validators cache them. Past that a role is fetched again; if IAM fails meanwhile, the
//! permissions last read stay in use, so an IAM outage locks out no one it had let in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::RwLock;

use super::jwt::Permission;
use crate::rewards::client_token::ClientToken;

/// How long a role's permissions are trusted before they are read again.
pub const ROLE_TTL: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
struct RoleAnswer {
    #[serde(default)]
    permissions: Vec<Permission>,
}

/// Roles' permissions from IAM, cached.
pub struct RolePermissions {
    url: String,
    token: ClientToken,
    http: reqwest::Client,
    cache: RwLock<HashMap<String, Read>>,
}

/// A role's permissions and when IAM gave them.
type Read = (Arc<Vec<Permission>>, Instant);

impl std::fmt::Debug for RolePermissions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolePermissions")
            .field("url", &self.url)
            .finish()
    }
}

impl RolePermissions {
    pub fn new(
        base_url: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            url: format!("{}/iam/v3/admin/roles", base_url.trim_end_matches('/')),
            token: ClientToken::new(base_url, client_id, client_secret, http.clone()),
            http,
            cache: RwLock::new(HashMap::new()),
        })
    }

    /// The permissions of role `id` as IAM stores them (placeholders such as `{namespace}`
    /// unresolved). A role IAM does not know has none. The error says why IAM could not
    /// answer when nothing is cached for the role.
    pub async fn of(&self, id: &str) -> Result<Arc<Vec<Permission>>, String> {
        // IAM's role ids are hex; anything else names no role (and goes in no URL).
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(Arc::new(Vec::new()));
        }
        let cached = self.cache.read().await.get(id).cloned();
        if let Some((permissions, read_at)) = &cached
            && read_at.elapsed() < ROLE_TTL
        {
            return Ok(permissions.clone());
        }
        match self.fetch(id).await {
            Ok(permissions) => {
                let permissions = Arc::new(permissions);
                (self.cache.write().await)
                    .insert(id.to_string(), (permissions.clone(), Instant::now()));
                Ok(permissions)
            }
            Err(err) => match cached {
                Some((permissions, _)) => {
                    tracing::warn!(role = id, error = %err, "cannot read a role's permissions from IAM; the ones last read stay in use");
                    Ok(permissions)
                }
                None => Err(err),
            },
        }
    }

    async fn fetch(&self, id: &str) -> Result<Vec<Permission>, String> {
        let url = format!("{}/{id}", self.url);
        let mut renew = false;
        loop {
            let token = self.token.get(renew).await?;
            let response = (self.http.get(&url).bearer_auth(token).send().await)
                .map_err(|err| format!("IAM role request: {err}"))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !renew {
                renew = true; // the client token expired early: one more try with a new one
                continue;
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            if !status.is_success() {
                return Err(format!("IAM answered {status} for role `{id}`"));
            }
            let role: RoleAnswer = (response.json().await)
                .map_err(|err| format!("IAM role answer for `{id}`: {err}"))?;
            return Ok(role.permissions);
        }
    }
}
