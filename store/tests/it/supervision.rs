//! A writer flusher that panics (a bug, a poisoned dependency) is logged, counted and
//! restarted; the writer reports itself unhealthy while it is down, and events keep flowing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use store::{QueryObserver, WriteError, Writer, WriterConfig, WriterObserver};

use crate::support::{TestDb, rules, stat_event, test_now};

/// Panics (on the flusher's task) the first time a batch is applied.
struct PanicOnFirstFlush(AtomicUsize);

impl QueryObserver for PanicOnFirstFlush {
    fn query(&self, operation: &'static str, _: Duration, _: bool) {
        if operation == "apply_events" && self.0.fetch_add(1, Ordering::SeqCst) == 0 {
            panic!("injected flusher fault");
        }
    }
}

#[derive(Default)]
struct Panics(AtomicUsize);

impl WriterObserver for Panics {
    fn flushed(&self, _: usize, _: Duration, _: bool) {}
    fn flusher_panicked(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_flusher_is_restarted() {
    let db = TestDb::sqlite().await;
    let observer = Arc::new(PanicOnFirstFlush(AtomicUsize::new(0)));
    let store = db.store_with(store::Probe::new(observer, None)).await;
    let panics = Arc::new(Panics::default());
    let config = WriterConfig {
        flushers: 1,
        clock: engine::Clock::at(test_now()),
        ..WriterConfig::default()
    };
    let writer = Writer::start_observed(store, config, panics.clone());
    let rules = rules();
    let submit =
        |id: &str| writer.submit(rules.clone(), stat_event(id, "u1", "kills", 1, test_now()));
    // The batch whose flush panicked is not confirmed: its caller hears a retryable error.
    let first = submit("e1").await;
    assert!(
        matches!(&first, Err(err @ WriteError::Lost) if err.is_retryable()),
        "{first:?}"
    );
    // The only flusher is back: the next event (and the retry) commit. Without a restart this
    // waits forever; the timeout only turns that hang into a failure.
    for id in ["e2", "e1"] {
        let next = tokio::time::timeout(Duration::from_secs(60), submit(id))
            .await
            .expect("a flusher is running again");
        assert!(next.is_ok(), "{next:?}");
    }
    assert_eq!(panics.0.load(Ordering::SeqCst), 1);
    assert!(writer.is_healthy());
    writer.shutdown().await;
}
