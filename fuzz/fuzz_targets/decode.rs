//! Every import of bytes from outside: none may panic, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratchetkit::{Card, Channel, Identity, PrekeyBundle, PrekeyStore, StorageKey};

fuzz_target!(|data: &[u8]| {
    let _ = Card::from_bytes(data);
    let _ = Card::from_base64(&String::from_utf8_lossy(data));
    let _ = PrekeyBundle::from_bytes(data);
    let _ = Identity::from_bytes(data);
    let _ = PrekeyStore::from_bytes(data);
    if let Ok(channel) = Channel::from_bytes(data) {
        // What loads must save, and load back to the same saved bytes.
        let saved = channel.to_bytes();
        let again = Channel::from_bytes(&saved).unwrap();
        assert_eq!(*again.to_bytes(), *saved);
    }
    let _ = StorageKey::from_bytes([7; 32]).open::<Channel>(data);
});
