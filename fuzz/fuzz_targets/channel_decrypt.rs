//! Arbitrary bytes given to a live channel: never a panic, and a rejected input leaves the
//! channel's state byte-identical.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use ratchetkit::{Channel, Identity, PrekeyStore};

/// Bob's side of an established channel, with skipped keys stored, built once from a fixed
/// seed so that every run fuzzes the same state.
static BOB: LazyLock<Channel> = LazyLock::new(|| {
    let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(1);
    let alice_id = Identity::generate_at(&mut rng, "alice", 1).unwrap();
    let bob_id = Identity::generate_at(&mut rng, "bob", 1).unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let bundle = prekeys.bundle(&bob_id, None).unwrap();
    let mut alice = Channel::create(&mut rng, &alice_id, &bundle).unwrap();
    let first = alice.encrypt(&mut rng, b"first").unwrap();
    let mut bob = Channel::join(&bob_id, &mut prekeys, &first)
        .unwrap()
        .channel;
    let reply = bob.encrypt(&mut rng, b"reply").unwrap();
    alice.decrypt(&reply).unwrap();
    let _lost = alice.encrypt(&mut rng, b"lost").unwrap();
    let later = alice.encrypt(&mut rng, b"later").unwrap();
    bob.decrypt(&later).unwrap();
    bob
});

fuzz_target!(|data: &[u8]| {
    let mut bob = BOB.clone();
    let before = bob.to_bytes();
    if bob.decrypt(data).is_err() {
        assert_eq!(*before, *bob.to_bytes());
    }
});
