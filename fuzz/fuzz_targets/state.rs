//! Arbitrary bytes loaded as saved state (identity, prekey store, channel, group), plainly
//! and as sealed state: no panic, and what loads saves to bytes that load back to the same
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratchetkit::{Channel, Group, Identity, PrekeyStore, StorageKey};

/// The key the seed corpus's sealed states are sealed with.
const STORAGE_KEY: [u8; 32] = [7; 32];

macro_rules! load {
    ($kind:ty, $data:expr) => {
        if let Ok(loaded) = <$kind>::from_bytes($data) {
            let saved = loaded.to_bytes();
            let again = <$kind>::from_bytes(&saved).expect("saved state loads");
            assert_eq!(*again.to_bytes(), *saved, "loads back to the same bytes");
        }
    };
}

fuzz_target!(|data: &[u8]| {
    load!(Identity, data);
    load!(PrekeyStore, data);
    load!(Channel, data);
    load!(Group, data);
    let key = StorageKey::from_bytes(STORAGE_KEY);
    let _ = key.open::<Identity>(data);
    let _ = key.open::<PrekeyStore>(data);
    let _ = key.open::<Channel>(data);
    let _ = key.open::<Group>(data);
});
