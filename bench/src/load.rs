//! Two ways to drive load: closed loop (a fixed number of clients, each sending its next call
//! when the last one answered: the most the target does) and open loop (calls sent on a
//! schedule whatever the answers: latency at a given rate).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, Semaphore};

/// What a run did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    /// One per successful call.
    pub latencies: Vec<Duration>,
    /// The first failure seen, to say why calls failed.
    pub first_error: Option<String>,
}

impl Outcome {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// What a single-purpose driver prints: counts and rate of `unit`s, the first failure, the
    /// latency percentiles. `target` is the rate asked for (0: flat out).
    pub fn print_summary(self, unit: &str, target: u64) {
        let asked = match target {
            0 => " (flat out)".to_string(),
            rate => format!(" (target {rate}/s)"),
        };
        println!(
            "{} {unit} OK, {} failed in {:.1} s = {:.0} {unit}/s{asked}",
            self.ok,
            self.failed,
            self.elapsed.as_secs_f64(),
            self.rate()
        );
        if let Some(error) = &self.first_error {
            println!("first failure: {error}");
        }
        if let Some(latencies) = crate::Latencies::of(self.latencies) {
            println!("latency: {latencies}");
        }
    }
}

/// Flat out from `clients` loops when `rate` is 0, else `rate` calls per second with at most
/// `clients` in flight.
pub async fn at_rate<F, Fut>(rate: u64, clients: usize, duration: Duration, call: F) -> Outcome
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    if rate == 0 {
        closed_loop(clients, duration, None, call).await
    } else {
        open_loop(rate as f64, duration, clients, call).await
    }
}

#[derive(Default)]
struct Shared {
    ok: AtomicU64,
    failed: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    first_error: std::sync::Mutex<Option<String>>,
}

impl Shared {
    fn failed(&self, error: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }

    async fn into_outcome(self: Arc<Self>, elapsed: Duration) -> Outcome {
        let latencies = std::mem::take(&mut *self.latencies.lock().await);
        let first_error = self.first_error.lock().ok().and_then(|mut e| e.take());
        Outcome {
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            elapsed,
            latencies,
            first_error,
        }
    }
}

/// `clients` loops, each calling `call(n)` with the next `n` until `duration` passed or `limit`
/// calls were started.
pub async fn closed_loop<F, Fut>(
    clients: usize,
    duration: Duration,
    limit: Option<u64>,
    call: F,
) -> Outcome
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let shared = Arc::new(Shared::default());
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients.max(1) {
        let (shared, next, call) = (shared.clone(), next.clone(), call.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while started.elapsed() < duration {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if limit.is_some_and(|limit| n >= limit) {
                    break;
                }
                let sent = Instant::now();
                match call(n).await {
                    Ok(()) => {
                        shared.ok.fetch_add(1, Ordering::Relaxed);
                        mine.push(sent.elapsed());
                    }
                    Err(error) => shared.failed(error),
                }
            }
            shared.latencies.lock().await.extend(mine);
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    shared.into_outcome(started.elapsed()).await
}

/// `call(n)` at `rate` per second for `duration`, at most `max_in_flight` at once. Latency is
/// measured from each call's scheduled time, so a stall shows in the percentiles instead of
/// slowing the schedule down (no coordinated omission).
pub async fn open_loop<F, Fut>(
    rate: f64,
    duration: Duration,
    max_in_flight: usize,
    call: F,
) -> Outcome
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let shared = Arc::new(Shared::default());
    let permits = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let started = Instant::now();
    let total = (rate * duration.as_secs_f64()).round() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let scheduled = started + Duration::from_secs_f64(n as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (shared, call) = (shared.clone(), call.clone());
        tasks.spawn(async move {
            let result = call(n).await;
            drop(permit);
            match result {
                Ok(()) => {
                    shared.ok.fetch_add(1, Ordering::Relaxed);
                    shared.latencies.lock().await.push(scheduled.elapsed());
                }
                Err(error) => shared.failed(error),
            }
        });
        // Reap finished calls as we go, so a long run does not hold every handle.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    shared.into_outcome(started.elapsed()).await
}
