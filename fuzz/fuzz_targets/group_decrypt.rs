//! Arbitrary bytes given to Bob's live group, in which he holds keys of Alice and Carol
//! and a skipped key of Carol's: never a panic, and a rejected input leaves the group
//! byte-identical.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::Group;
use ratchetkit_fuzz::group_with_skipped;

static BOB: LazyLock<Group> = LazyLock::new(|| group_with_skipped().bob);

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&BOB);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let mut bob = BOB.clone();
    let before = bob.to_bytes();
    if bob.decrypt(data).is_err() {
        assert_eq!(
            *before,
            *bob.to_bytes(),
            "a rejected input changed the group"
        );
    }
}
