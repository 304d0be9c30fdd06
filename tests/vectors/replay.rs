//! What the two replays share: ratchetkit's identities and prekey stores, rebuilt from the
//! listed draws through a [`ScriptedRng`].

use ratchetkit::{Identity, PrekeyStore};

use crate::vectors::json::{bytes, IdentityVector};
use crate::vectors::rng::ScriptedRng;

/// The listed identity, made by `Identity::generate_at` from its two listed draws: its card
/// must come out byte for byte, with the listed fingerprint.
pub fn identity(listed: &IdentityVector) -> Identity {
    let mut rng = ScriptedRng::new(&[&listed.signing_seed, &listed.agreement_secret]);
    let identity = Identity::generate_at(&mut rng, &listed.name, listed.created_at).unwrap();
    rng.assert_used_up("Identity::generate_at");
    assert_eq!(
        identity.card().to_bytes(),
        bytes(&listed.card),
        "{}: card",
        listed.name
    );
    assert_eq!(
        identity.card().fingerprint().to_string(),
        listed.fingerprint,
        "{}: fingerprint",
        listed.name
    );
    identity
}

/// A prekey store made by `PrekeyStore::new` from the listed draws of its signed prekey (the
/// X25519 secret, then the ML-KEM seed), which must get the listed id.
pub fn prekey_store(signed_prekey: [&str; 2], signed_prekey_id: u32) -> PrekeyStore {
    let mut rng = ScriptedRng::new(&signed_prekey);
    let store = PrekeyStore::new(&mut rng);
    rng.assert_used_up("PrekeyStore::new");
    assert_eq!(store.signed_prekey_id(), signed_prekey_id);
    store
}
