//! Checks `tests/vectors/channel-v2.json` three ways:
//!
//! 1. the committed file is exactly what the generator prints today, so it is reproducible
//!    and up to date (`committed_file_is_a_fresh_generation`);
//! 2. every public key, signature, card, bundle, DH output, ML-KEM key, ciphertext and
//!    shared secret, key, nonce, header, padded plaintext, ciphertext and message in it is
//!    recomputed from the listed private keys and random inputs with the primitive crates
//!    alone (x25519-dalek, ed25519-dalek, libcrux-ml-kem, hkdf, hmac, sha2, aes-gcm, and
//!    prost with messages declared by hand from `proto/ratchetkit.proto`), never through
//!    ratchetkit (`primitives_recompute_every_byte`); the same independent implementation
//!    also derives, from the protocol document's check orders alone, the error each rejected
//!    input must give;
//! 3. ratchetkit, given the listed private keys and random inputs through a scripted RNG,
//!    rebuilds the cards, the prekey store and the bundles, creates both channels,
//!    re-encrypts every message byte for byte and decrypts every message in the listed
//!    delivery order, bob joining each channel from the first message he gets; and it
//!    refuses every rejected input at its point of the timeline with the listed error,
//!    leaving every channel and the prekey store byte for byte unchanged
//!    (`ratchetkit_replays_the_conversation`).
//!
//! The code lives under `tests/vectors/` (see its README); regenerate the file after an
//! intentional change with `cargo run --example generate_vectors >
//! tests/vectors/channel-v2.json`.

#[path = "vectors"]
mod vectors {
    // Shared with the group vectors.
    pub mod channel_view;
    pub mod committed;
    pub mod json;
    pub mod primitives;
    pub mod proto;
    pub mod recompute;
    pub mod replay;
    pub mod rng;
    // The generators' model, shared with the group vectors.
    pub mod channel_model;
    pub mod keys;

    pub mod channel {
        pub mod format;
        pub mod generate;
        pub mod recompute;
        pub mod rejected;
        pub mod replay;
        pub mod script;
        pub mod sides;
    }
}

use vectors::channel::{generate, recompute, replay};
use vectors::committed::VectorFile;

const FILE: VectorFile = VectorFile {
    name: "channel-v2.json",
    command: generate::COMMAND,
};

#[test]
fn committed_file_is_a_fresh_generation() {
    FILE.assert_is(&generate::to_json());
}

#[test]
fn primitives_recompute_every_byte() {
    recompute::primitives_recompute_every_byte(&FILE.parse());
}

#[test]
fn ratchetkit_replays_the_conversation() {
    replay::ratchetkit_replays_the_conversation(&FILE.parse());
}
