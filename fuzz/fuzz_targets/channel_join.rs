//! Arbitrary bytes as the first message of a channel: `join` never panics, a rejected
//! first message leaves the prekey store byte-identical, and an accepted one gives a
//! channel that saves and loads.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::{Channel, PrekeyStore};
use ratchetkit_fuzz::{responder, Responder};

static RESPONDER: LazyLock<Responder> = LazyLock::new(responder);
/// The prekey store, saved: a store is not `Clone`, so every run loads its own.
static PREKEYS: LazyLock<Vec<u8>> = LazyLock::new(|| RESPONDER.prekeys.to_bytes().to_vec());

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&RESPONDER);
    LazyLock::force(&PREKEYS);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let mut prekeys = PrekeyStore::from_bytes(&PREKEYS).expect("the saved store loads");
    match Channel::join(&RESPONDER.bob, &mut prekeys, data) {
        Ok(joined) => {
            let saved = joined.channel().to_bytes();
            let again = Channel::from_bytes(&saved).expect("a joined channel loads");
            assert_eq!(*again.to_bytes(), *saved);
        }
        Err(_) => assert_eq!(
            *PREKEYS,
            *prekeys.to_bytes(),
            "a rejected join changed the store"
        ),
    }
}
