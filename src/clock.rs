//! The one source of "now", passed in so tests can fix or advance time.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// Wall-clock time for timestamps that are stored, and a monotonic instant
/// for expiry and back-off, which must not jump when the wall clock does.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
    fn instant(&self) -> Instant;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock for tests that only moves when told to.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<(DateTime<Utc>, Instant)>,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self { state: Mutex::new((start, Instant::now())) }
    }

    pub fn advance(&self, by: std::time::Duration) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.0 += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        state.1 += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    fn instant(&self) -> Instant {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}
