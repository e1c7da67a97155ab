//! A running handler for a test: fresh database, rules in a temporary folder, free ports.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use pipeline::proto::iam::user_authentication_user_logged_in_service_client::UserAuthenticationUserLoggedInServiceClient;
use pipeline::proto::iam::{UserLoggedIn, UserLoggedInPayload};
use pipeline::proto::statistic::statistic_stat_item_updated_service_client::StatisticStatItemUpdatedServiceClient;
use pipeline::proto::statistic::{StatItem, StatItemUpdated};
use pipeline::{Config, Listeners};
use store::testing::TestDatabase;
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub const RULES: &str = r#"
version: 1
challenges:
  - id: season
    name: Season
    goals:
      - { id: logins, name: Logins, on: login, count: events, target: 100 }
      - { id: kills, name: Kills, on: stat, stat: kills, target: 10 }
      - { id: tundra-kills, name: Tundra, on: stat, stat: kills, count: events, when: 'event.additional.biome == "tundra"', target: 100 }
      - { id: manual-kills, name: Manual, on: stat, stat: kills, count: events, target: 100, assign: manual }
      - { id: total, name: Total, on: stat, stat: kills, count: events, target: 1000000, assign: auto }
      - { id: broken-when, name: W, on: stat, stat: broken, count: events, when: 'event.value < 5 || event.additional.missing.deeper == 1', target: 5, assign: auto }
      - { id: broken-amount, name: A, on: stat, stat: broken, count: sum, amount: 'event.inc / (event.value - 5)', target: 5, assign: auto }
      - { id: typed-when, name: T, on: stat, stat: typed, count: events, when: 'event.additional.biome >= 10', target: 5, assign: auto }
      - { id: broken-progress, name: P, on: stat, stat: broken, count: expr, progress: 'if event.value < 5 { progress + 1 } else { progress + event.additional.missing.deeper }', target: 5, assign: auto }
"#;

pub struct TestHandler {
    pub db: TestDatabase,
    pub grpc_port: u16,
    pub metrics_port: u16,
    pub rules_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestHandler {
    pub async fn start() -> Self {
        let db = TestDatabase::postgres().await.expect("PostgreSQL");
        let url = db.url.clone();
        Self::start_with(db, &url).await
    }

    /// Starts on `db`, connecting through `url` (which may go through an outage proxy).
    pub async fn start_with(db: TestDatabase, url: &str) -> Self {
        let rules_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(rules_dir.path().join("rules.yaml"), RULES).expect("rules");
        let grpc = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let metrics = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (grpc_port, metrics_port) = (
            grpc.local_addr().unwrap().port(),
            metrics.local_addr().unwrap().port(),
        );
        let config = Config::parse_from([
            "handler",
            "--database-url",
            url,
            "--challenges",
            rules_dir.path().to_str().unwrap(),
            "--namespace",
            "game",
            "--migrate",
            "--reload-debounce-ms",
            "100",
            "--pool-size",
            "4",
        ]);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(pipeline::run(config, Listeners { grpc, metrics }, async {
            let _ = stopped.await;
        }));
        let mut handler = Self {
            db,
            grpc_port,
            metrics_port,
            rules_dir,
            stop: Some(stop),
            task: Some(task),
        };
        handler.wait_ready().await;
        handler
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.task.as_ref().is_some_and(|task| task.is_finished()) {
                let ended = self.task.take().expect("task").await.expect("join");
                panic!("the handler stopped at start: {ended:?}");
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.grpc_port))
                .await
                .is_ok()
                && self.metrics("/healthz").await.is_some()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the handler did not start");
    }

    pub async fn channel(&self) -> Channel {
        grpc_channel(self.grpc_port).await
    }

    pub async fn stats(&self) -> StatisticStatItemUpdatedServiceClient<Channel> {
        StatisticStatItemUpdatedServiceClient::new(self.channel().await)
    }

    pub async fn logins(&self) -> UserAuthenticationUserLoggedInServiceClient<Channel> {
        UserAuthenticationUserLoggedInServiceClient::new(self.channel().await)
    }

    /// GET on the metrics port: (status, body).
    pub async fn metrics(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.metrics_port, path).await
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.db.url)
            .await
            .expect("direct pool")
    }

    pub fn rules_file(&self) -> PathBuf {
        self.rules_dir.path().join("rules.yaml")
    }

    /// Sends the shutdown signal without waiting for the handler to stop.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
    }
}

/// A minimal HTTP/1.1 GET, enough for /metrics and /healthz.
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

pub fn stat(id: &str, user: &str, code: &str, value: f64, biome: Option<&str>) -> StatItemUpdated {
    let additional_data = biome.map(|biome| prost_types::Struct {
        fields: [(
            "biome".to_string(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(biome.into())),
            },
        )]
        .into_iter()
        .collect(),
    });
    StatItemUpdated {
        payload: Some(StatItem {
            namespace: "game".into(),
            stat_code: code.into(),
            user_id: user.into(),
            latest_value: value,
            inc: 1.0,
            additional_data,
            ..Default::default()
        }),
        id: id.into(),
        namespace: "game".into(),
        user_id: user.into(),
        timestamp: sent_at(),
        ..Default::default()
    }
}

/// When the test's game sent its events: one time for the whole run, so the same event sent
/// again is a redelivery (Extend redelivers the message as it was: same id, same timestamp).
fn sent_at() -> String {
    static SENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SENT.get_or_init(|| chrono::Utc::now().to_rfc3339()).clone()
}

pub fn login(id: &str, user: &str) -> UserLoggedIn {
    UserLoggedIn {
        payload: Some(UserLoggedInPayload::default()),
        id: id.into(),
        namespace: "game".into(),
        user_id: user.into(),
        timestamp: sent_at(),
        ..Default::default()
    }
}

/// Progress of a user's goal, straight from the database.
pub async fn progress(pool: &sqlx::PgPool, user: &str, goal: &str) -> Option<i64> {
    sqlx::query_scalar(
        "SELECT progress FROM user_goal_progress WHERE user_id = $1 AND goal_id = $2",
    )
    .bind(user)
    .bind(goal)
    .fetch_optional(pool)
    .await
    .expect("query")
}

/// Assigns the default goals of `user`, as `initialize` will.
pub async fn initialize(url: &str, user: &str) {
    let store = store::open(url, 1).await.expect("store");
    let compiled = engine::compile(&engine::Sources {
        files: vec![engine::SourceFile::new("rules.yaml", RULES)],
        unreadable: Vec::new(),
    });
    let rules = compiled.rules.expect("rules");
    let defaults: Vec<_> = rules
        .goals()
        .iter()
        .filter(|g| g.assign == engine::Assign::Default)
        .collect();
    store
        .initialize_for_user(
            &engine::UserId::new(user),
            "game",
            &defaults,
            chrono::Utc::now(),
        )
        .await
        .expect("initialize");
}

/// The handler binary running as a process of its own on a database, with [`RULES`].
pub struct HandlerProcess {
    pub child: tokio::process::Child,
    pub grpc_port: u16,
    /// Where the rules file is (removed when this is dropped).
    pub rules_dir: tempfile::TempDir,
}

impl HandlerProcess {
    /// Starts `target/…/handler` on `database_url` (migrating it) and waits for /healthz.
    pub async fn spawn(database_url: &str) -> Self {
        let rules_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(rules_dir.path().join("rules.yaml"), RULES).expect("rules");
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (grpc_port, metrics_port) = (free_port(), free_port());
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_handler"))
            .env("DATABASE_URL", database_url)
            .env("CHALLENGE_CONFIG_PATH", rules_dir.path())
            .env("AB_NAMESPACE", "game")
            .env("GRPC_PORT", grpc_port.to_string())
            .env("METRICS_PORT", metrics_port.to_string())
            .env("MIGRATE_ON_START", "true")
            .env("LOG_LEVEL", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("handler binary starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http_get(metrics_port, "/healthz").await.map(|r| r.0) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "the handler binary did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            child,
            grpc_port,
            rules_dir,
        }
    }

    pub async fn stats(&self) -> StatisticStatItemUpdatedServiceClient<Channel> {
        StatisticStatItemUpdatedServiceClient::new(grpc_channel(self.grpc_port).await)
    }
}

/// A connection to a handler's gRPC port on this machine.
async fn grpc_channel(port: u16) -> Channel {
    Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await
        .expect("connect")
}
