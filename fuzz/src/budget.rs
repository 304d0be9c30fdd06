//! A heap budget for each input: the targets that parse untrusted bytes run each input with
//! [`run`], which fails (panics, so libFuzzer saves the input as a crash) when the heap in
//! use grew, at its peak, by more than [`FACTOR`] times the input's length plus [`BASE`]
//! bytes over what it was before the input.
//!
//! libFuzzer's `-malloc_limit_mb` does the like for single allocations, but only under a
//! sanitizer (it needs the sanitizer's malloc hooks: with `--sanitizer none` it is
//! silently ignored), and `-rss_limit_mb` watches the process, where a 1 MiB input that
//! takes 24 MiB is lost in the noise. This budget holds in every build, counts every
//! allocation of the input's run together, and is relative to the input's size, so it
//! fails on amplification, not on large genuine inputs.
//!
//! The counting allocator ([`Counting`]) is installed by [`hostile_input!`](crate::hostile_input)
//! (a fuzz target binary has one global allocator); fixtures must be built before [`run`]
//! (force their `LazyLock`s), or the first input pays for them. With the environment
//! variable `RATCHETKIT_FUZZ_SHOW_HEAP` set, every run prints its input's size and peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Heap an input may take beyond [`BASE`]: this many times its length. Genuine inputs of
/// the largest sizes the runs allow take under 6 times (see fuzz/README.md).
pub const FACTOR: usize = 8;
/// Heap any input may take: the fixture copies a run starts from and the fixed costs of a
/// protocol step (key schedules, signatures, a saved state or two).
pub const BASE: usize = 4 << 20;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes in use and their peak.
pub struct Counting;

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(by: usize) {
    LIVE.fetch_sub(by, Ordering::Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; the counters only observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Both blocks may be live during the move: count the new one before the old
            // one goes.
            grew(new_size);
            shrank(layout.size());
        }
        new
    }
}

/// Runs `target` on `data` and fails if the heap in use grew, at its peak, by more than
/// `FACTOR * data.len() + BASE` bytes.
pub fn run(data: &[u8], target: impl FnOnce(&[u8])) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    target(data);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    let budget = FACTOR * data.len() + BASE;
    if std::env::var_os("RATCHETKIT_FUZZ_SHOW_HEAP").is_some() {
        eprintln!(
            "heap: {} bytes in, {peak} bytes at the peak ({:.2} times; budget {budget})",
            data.len(),
            peak as f64 / data.len().max(1) as f64
        );
    }
    assert!(
        peak <= budget,
        "a {}-byte input took {peak} bytes of heap at its peak, over its budget of {budget} \
         ({FACTOR} times its length and {BASE})",
        data.len()
    );
}
