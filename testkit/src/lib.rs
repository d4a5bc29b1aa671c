//! Test support shared by the workspace's suites: an allocation-counting global allocator, so a
//! test can assert a ceiling on the memory a piece of work holds at once, not only its answer
//! (issue 19: a bound that is not measured is only hoped for).
//!
//! A test binary opts in with
//! `#[global_allocator] static ALLOCATOR: madang_testkit::CountingAlloc = madang_testkit::CountingAlloc;`
//! and measures with [`measure`] or a [`Mark`]. The counters are process-wide, so a binary runs
//! its measured tests one at a time (each file keeps a lock for that).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The system allocator with two counters: bytes live now, and the most live at once.
pub struct CountingAlloc;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to the system allocator; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Counted as a fresh block while the old one is still held: what a moving
            // reallocation costs at its peak.
            grew(new_size);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

/// The start of a measurement: what was live then, and when.
pub struct Mark {
    base: usize,
    started: Instant,
}

impl Mark {
    /// Starts measuring now: the peak is reset to what is live.
    pub fn start() -> Mark {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        Mark { base, started: Instant::now() }
    }

    /// The most bytes held at once since the mark, beyond what was live at it.
    pub fn peak_bytes(&self) -> usize {
        PEAK.load(Ordering::Relaxed).saturating_sub(self.base)
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// Runs `f`; returns its value, the most memory it held at once beyond what was live before,
/// and the time it took.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let mark = Mark::start();
    let value = f();
    let took = mark.elapsed();
    (value, mark.peak_bytes(), took)
}

/// Asserts a measured piece of work stayed under both ceilings, and prints what it took so a
/// run with `--nocapture` shows the figures.
#[track_caller]
pub fn assert_bounded(what: &str, peak: usize, took: Duration, max_peak: usize, max_time: Duration) {
    eprintln!("{what}: peak {:.2} MiB, {took:?}", peak as f64 / (1 << 20) as f64);
    assert!(peak <= max_peak, "{what}: peak {peak} bytes, ceiling {max_peak}");
    assert!(took <= max_time, "{what}: took {took:?}, ceiling {max_time:?}");
}

/// The RRULE of issue 19's recurrence bomb: BYMONTH × BYMONTHDAY × BYHOUR × BYMINUTE × BYSECOND,
/// 31.6 million instances a year in a few hundred bytes (the class of CVE-2025-59045).
pub fn recurrence_bomb_rule() -> String {
    let list = number_list;
    format!(
        "FREQ=YEARLY;BYMONTH={};BYMONTHDAY={};BYHOUR={};BYMINUTE={};BYSECOND={}",
        list(1, 12),
        list(1, 31),
        list(0, 23),
        list(0, 59),
        list(0, 59)
    )
}

/// `a,a+1,…,b`: a BYxxx value list.
pub fn number_list(a: u32, b: u32) -> String {
    (a..=b).map(|n| n.to_string()).collect::<Vec<_>>().join(",")
}
