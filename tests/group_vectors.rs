//! Checks `tests/vectors/group-v2.json` four ways:
//!
//! 1. the committed file is exactly what the generator prints today
//!    (`committed_file_is_a_fresh_generation`);
//! 2. every public key, signature, card, bundle, DH output, root, chain and message key, AES
//!    key and nonce, header, ciphertext and channel message, the group id, every owner
//!    transfer, roster, sender key, distribution and `GroupControl`, and every group message
//!    with its signature, is recomputed from the listed private keys with the primitive
//!    crates alone (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2, aes-gcm, and prost with
//!    messages declared by hand from `proto/ratchetkit.proto`), never through ratchetkit.
//!    Which chain each channel message is on, which draws each call makes, what each group
//!    operation sends and which keys each member holds follow from the timeline and the
//!    protocol document alone, and so does the error each made-up control must give: the
//!    roster checks in their order, where it came from, and the parts of a control
//!    (`primitives_recompute_every_byte`);
//! 3. ratchetkit, given the listed private keys through a scripted RNG, replays the
//!    timeline and reproduces every channel message, control and group message byte for
//!    byte (`ratchetkit_replays_the_timeline`);
//! 4. every rejected input, given to ratchetkit at its point of the timeline, fails with
//!    the listed `Error` variant (for `BadSignature`, of the listed part) and leaves the
//!    party's group, channels and prekey store byte for byte unchanged
//!    (`ratchetkit_refuses_the_rejected_inputs`).
//!
//! The code lives under `tests/vectors/` (see its README); regenerate the file after an
//! intentional change with `cargo run --example generate_vectors -- group >
//! tests/vectors/group-v2.json`.

#[path = "vectors"]
mod vectors {
    // Shared with the channel vectors.
    pub mod channel_view;
    pub mod committed;
    pub mod json;
    pub mod primitives;
    pub mod proto;
    pub mod recompute;
    pub mod replay;
    pub mod rng;
    // The generators' model, shared with the channel vectors.
    pub mod channel_model;
    pub mod keys;

    pub mod group {
        pub mod format;
        pub mod generator;
        pub mod member;
        pub mod recompute;
        pub mod replay;
    }
}

use vectors::committed::VectorFile;
use vectors::group::{generator, recompute, replay};

const FILE: VectorFile = VectorFile {
    name: "group-v2.json",
    command: generator::COMMAND,
};

#[test]
fn committed_file_is_a_fresh_generation() {
    FILE.assert_is(&generator::to_json());
}

#[test]
fn primitives_recompute_every_byte() {
    recompute::primitives_recompute_every_byte(&FILE.parse());
}

#[test]
fn ratchetkit_replays_the_timeline() {
    replay::replay(&FILE.parse(), false);
}

#[test]
fn ratchetkit_refuses_the_rejected_inputs() {
    replay::replay(&FILE.parse(), true);
}
