//! Arbitrary bytes given to Bob's live group, in which he holds keys of Alice and Carol
//! and a skipped key of Carol's: never a panic, and a rejected input leaves the group
//! byte-identical.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ratchetkit::Group;
use ratchetkit_fuzz::group_with_skipped;

static BOB: LazyLock<Group> = LazyLock::new(|| group_with_skipped().bob);

fuzz_target!(|data: &[u8]| {
    let mut bob = BOB.clone();
    let before = bob.to_bytes();
    if bob.decrypt(data).is_err() {
        assert_eq!(
            *before,
            *bob.to_bytes(),
            "a rejected input changed the group"
        );
    }
});
