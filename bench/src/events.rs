//! A deterministic stream of game events sent to the handler over gRPC: 20 % logins, 80 %
//! statistic updates over many players and stat codes, as AccelByte's event bus sends them.

use anyhow::{Context, Result};
use pipeline::proto::iam::UserLoggedIn;
use pipeline::proto::iam::user_authentication_user_logged_in_service_client::UserAuthenticationUserLoggedInServiceClient;
use pipeline::proto::statistic::statistic_stat_item_updated_service_client::StatisticStatItemUpdatedServiceClient;
use pipeline::proto::statistic::{StatItem, StatItemUpdated};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Stat codes the example challenges (`challenges/`) listen to, and some nobody listens to.
pub const EXAMPLE_STAT_CODES: [&str; 12] = [
    "player_level",
    "ranked_points",
    "matches_won",
    "matches_lost",
    "snowmen_killed",
    "gifts_given",
    "shots_hit",
    "match_score",
    "matches_played",
    "tutorial_completed",
    "distance_run",
    "items_crafted",
];

/// Who the events are about and what they say.
#[derive(Debug, Clone)]
pub struct EventMix {
    pub stat_codes: Vec<String>,
    /// Players `{user_prefix}0` .. `{user_prefix}{users - 1}`.
    pub users: u64,
    pub user_prefix: String,
    pub namespace: String,
    /// Distinguishes the event ids of one run from another's (dedup would drop repeats).
    pub run: String,
}

impl EventMix {
    pub fn examples(users: u64, run: &str) -> Self {
        Self {
            stat_codes: EXAMPLE_STAT_CODES.iter().map(|s| s.to_string()).collect(),
            users,
            user_prefix: "load-user-".into(),
            namespace: "demo".into(),
            run: run.into(),
        }
    }
}

/// gRPC clients spread over several HTTP/2 connections.
#[derive(Clone)]
pub struct EventSender {
    health: Vec<HealthClient<Channel>>,
    stats: Vec<StatisticStatItemUpdatedServiceClient<Channel>>,
    logins: Vec<UserAuthenticationUserLoggedInServiceClient<Channel>>,
    mix: std::sync::Arc<EventMix>,
}

impl EventSender {
    pub async fn connect(target: &str, connections: usize, mix: EventMix) -> Result<Self> {
        let mut sender = Self {
            health: Vec::new(),
            stats: Vec::new(),
            logins: Vec::new(),
            mix: std::sync::Arc::new(mix),
        };
        for _ in 0..connections.max(1) {
            let channel = Channel::from_shared(target.to_string())?
                .connect()
                .await
                .with_context(|| format!("connecting to {target}"))?;
            sender.health.push(HealthClient::new(channel.clone()));
            sender
                .stats
                .push(StatisticStatItemUpdatedServiceClient::new(channel.clone()));
            sender
                .logins
                .push(UserAuthenticationUserLoggedInServiceClient::new(channel));
        }
        Ok(sender)
    }

    /// How many players the mix spreads its events over.
    pub fn users(&self) -> u64 {
        self.mix.users
    }

    /// Sends event `n` of the mix and waits for the handler's answer (given after commit).
    pub async fn send(&self, n: u64) -> Result<(), String> {
        let mix = &self.mix;
        let hash = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let user = format!("{}{}", mix.user_prefix, hash % mix.users);
        let connection = (n as usize) % self.stats.len();
        let id = format!("load-{}-{n}", mix.run);
        let result = if hash.is_multiple_of(5) {
            let mut client = self.logins[connection].clone();
            client
                .on_message(UserLoggedIn {
                    id,
                    namespace: mix.namespace.clone(),
                    user_id: user,
                    timestamp: chrono::Utc::now().to_rfc3339(),
                    ..Default::default()
                })
                .await
        } else {
            let code = &mix.stat_codes[(hash / 7) as usize % mix.stat_codes.len()];
            let mode = if hash.is_multiple_of(3) {
                "ranked"
            } else {
                "casual"
            };
            let fields = [(
                "mode".to_string(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue(mode.into())),
                },
            )]
            .into_iter()
            .collect();
            let update = Stat {
                id,
                user,
                code: code.clone(),
                value: (n % 1000) as f64,
                inc: 1.0 + (hash % 5) as f64,
                additional: Some(prost_types::Struct { fields }),
            };
            let mut client = self.stats[connection].clone();
            client.on_message(update.message(&mix.namespace)).await
        };
        result.map(drop).map_err(|status| status.to_string())
    }

    /// Player `user` of the mix plays the events that create their `assign: auto` rows in the
    /// example challenges (a login, a level, a ranked match): afterwards they are a returning
    /// player, as most of a live game's players are.
    pub async fn returning(&self, user: u64) -> Result<(), String> {
        let mix = &self.mix;
        let player = format!("{}{user}", mix.user_prefix);
        let connection = (user as usize) % self.stats.len();
        let mut logins = self.logins[connection].clone();
        logins
            .on_message(UserLoggedIn {
                id: format!("seed-{}-{user}-login", mix.run),
                namespace: mix.namespace.clone(),
                user_id: player.clone(),
                timestamp: chrono::Utc::now().to_rfc3339(),
                ..Default::default()
            })
            .await
            .map_err(|status| status.to_string())?;
        for code in ["player_level", "ranked_points"] {
            let fields = [(
                "mode".to_string(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("ranked".into())),
                },
            )]
            .into_iter()
            .collect();
            let update = Stat {
                id: format!("seed-{}-{user}-{code}", mix.run),
                user: player.clone(),
                code: code.into(),
                value: 1.0,
                inc: 1.0,
                additional: Some(prost_types::Struct { fields }),
            };
            let mut stats = self.stats[connection].clone();
            stats
                .on_message(update.message(&mix.namespace))
                .await
                .map_err(|status| status.to_string())?;
        }
        Ok(())
    }

    /// A health check: a unary call through the same server stack that does no work, so its
    /// cost is the floor of what any gRPC call costs the handler.
    pub async fn check(&self, n: u64) -> Result<(), String> {
        let mut client = self.health[(n as usize) % self.health.len()].clone();
        client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .map(drop)
            .map_err(|status| status.to_string())
    }

    /// One statistic update, outside the mix (to seed progress).
    pub async fn stat(&self, id: &str, user: &str, code: &str, value: f64) -> Result<()> {
        let update = Stat {
            id: id.into(),
            user: user.into(),
            code: code.into(),
            value,
            inc: value,
            additional: None,
        };
        let mut client = self.stats[0].clone();
        client
            .on_message(update.message(&self.mix.namespace))
            .await
            .with_context(|| format!("seeding {code} of {user}"))?;
        Ok(())
    }
}

/// A statistic update as the statistic service sends it.
struct Stat {
    id: String,
    user: String,
    code: String,
    value: f64,
    inc: f64,
    additional: Option<prost_types::Struct>,
}

impl Stat {
    fn message(self, namespace: &str) -> StatItemUpdated {
        StatItemUpdated {
            payload: Some(StatItem {
                namespace: namespace.to_string(),
                stat_code: self.code,
                user_id: self.user.clone(),
                latest_value: self.value,
                inc: self.inc,
                additional_data: self.additional,
                ..Default::default()
            }),
            id: self.id,
            namespace: namespace.to_string(),
            user_id: self.user,
            timestamp: chrono::Utc::now().to_rfc3339(),
            ..Default::default()
        }
    }
}
