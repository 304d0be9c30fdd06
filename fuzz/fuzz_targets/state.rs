//! Arbitrary bytes loaded as saved state (identity, prekey store, channel, group), plainly
//! and as sealed state: no panic, and what loads saves to bytes that load back to the same
//! bytes, and seals to bytes that open, under its own id only, to the same state. Sealed
//! input is opened with the ids of the seed corpus's states.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::{Channel, Group, Identity, PrekeyStore, SealableState, StorageKey};
use ratchetkit_fuzz::{group_with_skipped, pair, responder, rng};

/// The key the seed corpus's sealed states are sealed with.
const STORAGE_KEY: [u8; 32] = [7; 32];

/// The ids of the seed corpus's states (see `examples/seeds.rs`).
struct Ids {
    identity: <Identity as SealableState>::Id,
    prekeys: <PrekeyStore as SealableState>::Id,
    channel: <Channel as SealableState>::Id,
    group: <Group as SealableState>::Id,
}

static IDS: LazyLock<Ids> = LazyLock::new(|| {
    let responder = responder();
    Ids {
        identity: responder.bob.state_id(),
        prekeys: responder.prekeys.state_id(),
        channel: pair(true).bob.state_id(),
        group: group_with_skipped().bob.state_id(),
    }
});

macro_rules! load {
    ($kind:ty, $data:expr, $key:expr, $id:expr) => {
        if let Ok(loaded) = <$kind>::from_bytes($data) {
            let saved = loaded.to_bytes();
            let again = <$kind>::from_bytes(&saved).expect("saved state loads");
            assert_eq!(*again.to_bytes(), *saved, "loads back to the same bytes");
            let id = loaded.state_id();
            let sealed = $key.seal(&mut rng(10), &loaded).expect("seal");
            let opened = $key
                .open::<$kind>(&sealed, &id)
                .expect("open what was sealed");
            assert_eq!(*opened.to_bytes(), *saved, "opens to the same bytes");
            if id != *$id {
                assert!(
                    $key.open::<$kind>(&sealed, $id).is_err(),
                    "opened under another id"
                );
            }
        }
        if let Ok(opened) = $key.open::<$kind>($data, $id) {
            assert_eq!(
                opened.state_id(),
                *$id,
                "opened the state of another object"
            );
        }
    };
}

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&IDS);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let key = StorageKey::from_bytes(STORAGE_KEY);
    let ids = &*IDS;
    load!(Identity, data, key, &ids.identity);
    load!(PrekeyStore, data, key, &ids.prekeys);
    load!(Channel, data, key, &ids.channel);
    load!(Group, data, key, &ids.group);
}
