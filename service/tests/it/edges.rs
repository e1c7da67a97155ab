//! The HTTP front door under callers who do not play by the rules: made-up methods that would
//! grow the metrics, and connections that never finish their headers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use store::testing::TestDatabase;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(db: &TestDatabase, extra: &[&str]) -> service::config::ServeConfig {
    crate::support::config(&db.url, &crate::support::example_challenges(), extra)
}

async fn metrics_text(port: u16) -> String {
    reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

fn request_series(text: &str) -> usize {
    text.lines()
        .filter(|line| line.starts_with("challenge_api_request_duration_seconds_count{"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn made_up_methods_add_no_metric_series() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let served = crate::support::serve(
        config(&db, &[]),
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    let client = reqwest::Client::new();
    // One ordinary request of each kind the test then repeats with odd methods.
    for path in ["/v1/challenges", "/v1/nowhere"] {
        client
            .get(format!("{}{path}", served.base))
            .send()
            .await
            .expect("request");
    }
    let before = request_series(&metrics_text(served.metrics_port).await);
    for n in 0..30 {
        let method = reqwest::Method::from_bytes(format!("BREW{n}").as_bytes()).unwrap();
        for path in ["/v1/challenges", "/v1/nowhere"] {
            client
                .request(method.clone(), format!("{}{path}", served.base))
                .send()
                .await
                .expect("request");
        }
    }
    let text = metrics_text(served.metrics_port).await;
    let after = request_series(&text);
    assert!(
        after <= before + 2,
        "30 made-up methods added {} series:\n{}",
        after - before,
        text.lines()
            .filter(|l| l.starts_with("challenge_api_request_duration_seconds_count{"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        text.contains("method=\"other\""),
        "made-up methods are counted under `other`"
    );
    drop(served.stop);
}

/// Opens a connection that sends half a request line and then nothing.
async fn slow_connection(address: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /challenge/healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let db = TestDatabase::sqlite().expect("SQLite");
    let served = crate::support::serve(
        config(&db, &["--http-header-timeout-seconds", "2"]),
        Arc::new(service::rewards::MockRewards),
        engine::Clock::system(),
    )
    .await;
    let address = served
        .base
        .trim_start_matches("http://")
        .trim_end_matches("/challenge")
        .to_string();
    let mut slow = Vec::new();
    for _ in 0..45 {
        slow.push(slow_connection(&address).await);
    }
    // And some that send nothing at all.
    for _ in 0..5 {
        slow.push(
            tokio::net::TcpStream::connect(&address)
                .await
                .expect("connect"),
        );
    }
    // A normal player is answered while the slow ones hang.
    let answered = reqwest::Client::new()
        .get(format!("{}/v1/challenges", served.base))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a normal request is served beside 50 slow connections");
    assert!(answered.status().is_success());
    // Every slow connection is closed by the server (read returns 0 or an error) well before
    // the test's own limit.
    let started = Instant::now();
    for mut stream in slow {
        let mut buffer = [0_u8; 1024];
        loop {
            let read = tokio::time::timeout(Duration::from_secs(40), stream.read(&mut buffer))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "a slow connection was still open after {:?}",
                        started.elapsed()
                    )
                });
            match read {
                Ok(0) | Err(_) => break,
                Ok(_) => {} // a 408 answer, then the close
            }
        }
    }
    drop(served.stop);
}
