//! The time source that use-cases read "now" from: the system clock in production, a clock the
//! test sets and moves in tests, so that daily and weekly behaviour is tested at fixed instants
//! instead of whatever today is.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from. Cloning shares the clock: moving a set clock moves every clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    set: Option<Arc<Mutex<DateTime<Utc>>>>,
}

impl Clock {
    /// The system's clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// A clock standing at `at` until moved with [`Clock::advance`] or [`Clock::set`].
    pub fn at(at: DateTime<Utc>) -> Self {
        Self {
            set: Some(Arc::new(Mutex::new(at))),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.set {
            Some(at) => *at.lock().unwrap_or_else(PoisonError::into_inner),
            None => Utc::now(),
        }
    }

    /// Moves a set clock forward by `by`; the system clock cannot be moved (no effect).
    pub fn advance(&self, by: Duration) {
        if let Some(at) = &self.set {
            *at.lock().unwrap_or_else(PoisonError::into_inner) += by;
        }
    }

    /// Puts a set clock at `at`; the system clock cannot be moved (no effect).
    pub fn set(&self, to: DateTime<Utc>) {
        if let Some(at) = &self.set {
            *at.lock().unwrap_or_else(PoisonError::into_inner) = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_clock_stands_still_until_moved_and_clones_share_it() {
        let start: DateTime<Utc> = "2026-06-10T12:00:00Z".parse().unwrap();
        let clock = Clock::at(start);
        let shared = clock.clone();
        assert_eq!(clock.now(), start);
        shared.advance(Duration::days(1));
        assert_eq!(clock.now(), start + Duration::days(1));
        clock.set(start);
        assert_eq!(shared.now(), start);
    }
}
