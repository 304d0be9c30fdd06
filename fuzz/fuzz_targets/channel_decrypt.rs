//! Arbitrary bytes given to a live channel, one without and one with skipped keys stored
//! (the first input byte chooses): never a panic, and a rejected input leaves the channel's
//! state byte-identical.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::Channel;
use ratchetkit_fuzz::pair;

static LIVE: LazyLock<Channel> = LazyLock::new(|| pair(false).bob);
static WITH_SKIPPED: LazyLock<Channel> = LazyLock::new(|| pair(true).bob);

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&LIVE);
    LazyLock::force(&WITH_SKIPPED);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let Some((&choice, message)) = data.split_first() else {
        return;
    };
    let mut bob = if choice & 1 == 0 {
        LIVE.clone()
    } else {
        WITH_SKIPPED.clone()
    };
    let before = bob.to_bytes();
    if bob.decrypt(message).is_err() {
        assert_eq!(
            *before,
            *bob.to_bytes(),
            "a rejected input changed the channel"
        );
    }
}
