//! The service's configuration: the event-handler settings it shares (database, rules, ports,
//! writer) plus the REST ones, from flags or the environment names of api.md.

use clap::{Parser, ValueEnum};

/// How rewards are granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RewardMode {
    /// AGS Platform (entitlements and wallets).
    Real,
    /// Log and succeed.
    Mock,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "service")]
pub struct ServeConfig {
    #[command(flatten)]
    pub common: pipeline::Config,
    /// Path prefix of every REST route.
    #[arg(long, env = "BASE_PATH", default_value = "/challenge")]
    pub base_path: String,
    /// REST port.
    #[arg(long, env = "HTTP_PORT", default_value_t = 8000)]
    pub http_port: u16,
    /// Address the REST service listens on (`0.0.0.0`: every interface; `127.0.0.1`: this
    /// machine only).
    #[arg(long, env = "HTTP_BIND", default_value = "0.0.0.0")]
    pub http_bind: std::net::IpAddr,
    /// Longest a client may take to send a request's headers, or stay idle between requests;
    /// then the connection is closed.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_header_timeout_seconds: u64,
    /// Longest a request may take to be answered; past it, 503 `REQUEST_TIMEOUT`.
    #[arg(long, env = "HTTP_REQUEST_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_request_timeout_seconds: u64,
    /// Most REST connections open at once; more wait until one closes.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub http_max_connections: u64,
    /// Verify AGS IAM JWTs (true) or take the user from `x-mock-user-id` (false).
    #[arg(long, env = "PLUGIN_GRPC_SERVER_AUTH_ENABLED", default_value_t = true, action = clap::ArgAction::Set)]
    pub auth_enabled: bool,
    /// `real` grants through AGS Platform; `mock` logs and succeeds.
    #[arg(long, env = "REWARD_CLIENT_MODE", value_enum, default_value = "real")]
    pub reward_mode: RewardMode,
    /// AGS base URL (IAM JWKS, Platform).
    #[arg(long, env = "AB_BASE_URL")]
    pub ab_base_url: Option<String>,
    /// The `iss` IAM puts in its tokens (default: AB_BASE_URL); tokens of another issuer are refused.
    #[arg(long, env = "IAM_ISSUER")]
    pub iam_issuer: Option<String>,
    /// How often IAM's revocation list (revoked tokens and users) is read again.
    #[arg(long, env = "IAM_REVOCATION_REFRESH_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub iam_revocation_refresh_seconds: u64,
    /// IAM client id of this service (for AGS Platform calls).
    #[arg(long, env = "AB_CLIENT_ID", default_value = "")]
    pub ab_client_id: String,
    /// IAM client secret of this service (never logged).
    #[arg(
        long,
        env = "AB_CLIENT_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub ab_client_secret: String,
    /// Also serve the gRPC event services in this process (default: when on the embedded SQLite database).
    #[arg(long, env = "SERVE_GRPC_EVENTS")]
    pub grpc_events: Option<bool>,
    /// How rewards reach Platform: `fulfillment` (keyed by the transaction id, re-sent freely)
    /// or `direct` (entitlement grants and wallet credits, never re-sent once they may have arrived).
    #[arg(
        long,
        env = "REWARD_DELIVERY",
        value_enum,
        default_value = "fulfillment"
    )]
    pub reward_delivery: crate::rewards::platform::DeliveryMode,
    /// The COINS item fulfilling each wallet currency, `GOLD=<item id>,GEMS=<item id>`; a
    /// currency without one is credited directly.
    #[arg(long, env = "REWARD_CURRENCY_ITEMS", default_value = "")]
    pub reward_currency_items: String,
    /// Overall deadline of one reward delivery, all its attempts included.
    #[arg(long, env = "CLAIM_DEADLINE_SECONDS", default_value_t = 10)]
    pub claim_deadline_seconds: u64,
    /// How often the reconciler looks for reward intents left open.
    #[arg(long, env = "RECONCILE_INTERVAL_SECONDS", default_value_t = 30)]
    pub reconcile_interval_seconds: u64,
    /// How long a claim owns its intent before a reconciler may take it over.
    #[arg(long, env = "RECONCILE_STUCK_AFTER_SECONDS", default_value_t = 60)]
    pub reconcile_stuck_after_seconds: u64,
    /// First wait before an undelivered reward is tried again (doubling, at most an hour).
    #[arg(long, env = "RECONCILE_BACKOFF_SECONDS", default_value_t = 30)]
    pub reconcile_backoff_seconds: u64,
    /// Most rewards one reconciler delivers at once while it works a backlog.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 32)]
    pub reconcile_concurrency: usize,
    /// Where notifications are POSTed (goal.completed, reward.granted, reward.refused); empty:
    /// no webhook.
    #[arg(long, env = "NOTIFY_WEBHOOK_URL", default_value = "")]
    pub notify_webhook_url: String,
    /// The key each webhook body is signed with (`X-Challenge-Signature`; never logged).
    #[arg(
        long,
        env = "NOTIFY_WEBHOOK_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub notify_webhook_secret: String,
    /// Also notify the player through AGS Lobby (a free-form notification).
    #[arg(long, env = "NOTIFY_LOBBY", default_value_t = false, action = clap::ArgAction::Set)]
    pub notify_lobby: bool,
    /// The Lobby notification's topic.
    #[arg(long, env = "NOTIFY_LOBBY_TOPIC", default_value = "CHALLENGE")]
    pub notify_lobby_topic: String,
    /// How often the notifier looks for records to deliver.
    #[arg(long, env = "NOTIFY_INTERVAL_SECONDS", default_value_t = 1)]
    pub notify_interval_seconds: u64,
    /// First wait before a failed notification is tried again (doubling, at most an hour).
    #[arg(long, env = "NOTIFY_BACKOFF_SECONDS", default_value_t = 5)]
    pub notify_backoff_seconds: u64,
    /// Deliveries tried before a notification is dead-lettered.
    #[arg(long, env = "NOTIFY_MAX_ATTEMPTS", default_value_t = 10)]
    pub notify_max_attempts: i32,
    /// Most notifications delivered at once.
    #[arg(long, env = "NOTIFY_CONCURRENCY", default_value_t = 16)]
    pub notify_concurrency: usize,
}

impl ServeConfig {
    /// Fills what is unset from the names the deployment specification's Extend config uses:
    /// `NAMESPACE`, `AGS_CLIENT_ID`, `AGS_CLIENT_SECRET` (the `AB_*` names win when both are set).
    pub fn with_env_aliases(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        self.common = self.common.with_env_aliases(&env);
        if self.ab_client_id.is_empty() {
            self.ab_client_id = env("AGS_CLIENT_ID").unwrap_or_default();
        }
        if self.ab_client_secret.is_empty() {
            self.ab_client_secret = env("AGS_CLIENT_SECRET").unwrap_or_default();
        }
        self
    }

    /// The reward delivery's deadlines, checked.
    pub fn claims(
        &self,
    ) -> Result<crate::usecases::delivery::ClaimSettings, pipeline::config::ConfigError> {
        crate::usecases::delivery::ClaimSettings {
            deadline: std::time::Duration::from_secs(self.claim_deadline_seconds),
            lease: std::time::Duration::from_secs(self.reconcile_stuck_after_seconds),
            reconcile_every: std::time::Duration::from_secs(self.reconcile_interval_seconds),
            backoff: std::time::Duration::from_secs(self.reconcile_backoff_seconds),
            in_flight: self.reconcile_concurrency,
        }
        .checked()
    }

    /// The notifier's settings, checked.
    pub fn notify(
        &self,
    ) -> Result<crate::usecases::notifications::NotifySettings, pipeline::config::ConfigError> {
        use pipeline::config::ConfigError;
        if !self.notify_webhook_url.trim().is_empty() {
            let url = self.notify_webhook_url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Invalid {
                    setting: "NOTIFY_WEBHOOK_URL",
                    reason: format!("`{url}` is not an http:// or https:// URL"),
                });
            }
            if self.notify_webhook_secret.is_empty() {
                return Err(ConfigError::Missing {
                    setting: "NOTIFY_WEBHOOK_SECRET",
                    why: "NOTIFY_WEBHOOK_URL is set: every body is signed with it, so receivers can refuse what the service did not send",
                });
            }
        }
        for (setting, value) in [
            ("NOTIFY_INTERVAL_SECONDS", self.notify_interval_seconds),
            ("NOTIFY_BACKOFF_SECONDS", self.notify_backoff_seconds),
            (
                "NOTIFY_MAX_ATTEMPTS",
                u64::try_from(self.notify_max_attempts).unwrap_or(0),
            ),
            ("NOTIFY_CONCURRENCY", self.notify_concurrency as u64),
        ] {
            if value == 0 {
                return Err(ConfigError::TooSmall {
                    setting,
                    min: 1,
                    why: None,
                });
            }
        }
        Ok(crate::usecases::notifications::NotifySettings {
            every: std::time::Duration::from_secs(self.notify_interval_seconds),
            backoff: std::time::Duration::from_secs(self.notify_backoff_seconds),
            max_attempts: self.notify_max_attempts,
            in_flight: self.notify_concurrency,
            ..Default::default()
        })
    }

    /// The REST front door's limits.
    pub fn front_door(&self) -> pipeline::front_door::Limits {
        pipeline::front_door::Limits {
            header_timeout: std::time::Duration::from_secs(self.http_header_timeout_seconds),
            request_timeout: std::time::Duration::from_secs(self.http_request_timeout_seconds),
            max_connections: usize::try_from(self.http_max_connections).unwrap_or(usize::MAX),
        }
    }

    /// The base path normalized to `/x` (or empty for the root).
    pub fn base_path(&self) -> String {
        let trimmed = self.base_path.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else if trimmed.starts_with('/') {
            trimmed.to_string()
        } else {
            format!("/{trimmed}")
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ServeConfig;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn the_deployment_specification_names_fill_what_is_unset() {
        let config = ServeConfig::parse_from(["service"]).with_env_aliases(env(&[
            ("NAMESPACE", "mygame"),
            ("AGS_CLIENT_ID", "id"),
            ("AGS_CLIENT_SECRET", "secret"),
        ]));
        assert_eq!(config.common.namespace.as_deref(), Some("mygame"));
        assert_eq!(config.ab_client_id, "id");
        assert_eq!(config.ab_client_secret, "secret");
    }

    #[test]
    fn the_template_names_win_over_the_aliases() {
        let config = ServeConfig::parse_from([
            "service",
            "--namespace",
            "ours",
            "--ab-client-id",
            "ours-id",
        ])
        .with_env_aliases(env(&[
            ("NAMESPACE", "theirs"),
            ("AGS_CLIENT_ID", "theirs-id"),
        ]));
        assert_eq!(config.common.namespace.as_deref(), Some("ours"));
        assert_eq!(config.ab_client_id, "ours-id");
    }

    #[test]
    fn every_listener_takes_a_bind_address() {
        let config = ServeConfig::parse_from(["service"]);
        let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(
            (
                config.http_bind,
                config.common.grpc_bind,
                config.common.metrics_bind
            ),
            (any, any, any),
            "containers and Extend need every interface by default"
        );
        let local = ServeConfig::parse_from([
            "service",
            "--http-bind",
            "127.0.0.1",
            "--grpc-bind",
            "::1",
            "--metrics-bind",
            "127.0.0.1",
        ]);
        assert!(local.http_bind.is_loopback() && local.common.grpc_bind.is_loopback());
        assert!(local.common.metrics_bind.is_loopback());
        let err = ServeConfig::try_parse_from(["service", "--http-bind", "localhost"])
            .expect_err("a host name is not an address");
        assert!(err.to_string().contains("--http-bind"), "{err}");
    }

    #[test]
    fn claim_settings_are_checked() {
        let claims = |args: &[&str]| {
            ServeConfig::parse_from(std::iter::once("service").chain(args.iter().copied())).claims()
        };
        assert!(claims(&[]).is_ok());
        let err = claims(&["--reconcile-stuck-after-seconds", "15"]).unwrap_err();
        assert_eq!(err.setting(), "RECONCILE_STUCK_AFTER_SECONDS", "{err}");
        assert!(
            err.to_string().contains("twice CLAIM_DEADLINE_SECONDS"),
            "{err}"
        );
        let err = claims(&["--claim-deadline-seconds", "0"]).unwrap_err();
        assert_eq!(err.setting(), "CLAIM_DEADLINE_SECONDS", "{err}");
    }
}
