//! ratchetkit and vodozemac's Olm measured in turns, on this thread's CPU time:
//! `cargo bench -p ratchetkit-benches --bench interleaved` (about a minute).
//!
//! On a shared machine wall-clock times drift by 10-30% between runs, and criterion
//! measures each library in its own stretch of time, so a ratio of two criterion figures
//! carries the drift of both. Here each round measures both libraries back to back (which
//! one goes first alternates), each timing covers only the operation (inputs are prepared
//! outside it), the time is the thread's CPU time, and the figure reported for a ratio is
//! the median over the rounds of that round's ratio.
//!
//! - session setup: from the peer's published keys (ratchetkit: the bundle's bytes, which
//!   are parsed and verified) to the first decrypted message, with a one-time prekey (the
//!   hybrid start: X25519 and ML-KEM-768) against Olm with a one-time key;
//! - encrypt + decrypt of 100 B on an established chain, padding and message salts on;
//! - the primitives, for the floor: X25519 DH, Ed25519 verification, ML-KEM-768
//!   encapsulation and decapsulation (with key expansion from the seed, as a join does).

use std::hint::black_box;
use std::time::Duration;

use cpu_time::ThreadTime;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Identity, PrekeyStore};

mod common;
use common::compare::*;
use common::established;

/// Rounds of each comparison; the medians settle well before this.
const ROUNDS: usize = 301;
/// Encrypt + decrypt pairs timed together in one round of the chain comparison (one
/// takes a few microseconds, too close to the clock's own cost to time alone).
const CHAIN_BATCH: usize = 200;

fn timed(f: impl FnOnce()) -> Duration {
    let start = ThreadTime::now();
    f();
    start.elapsed()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Times `a` and `b` in turns for `ROUNDS` rounds; returns the medians of each (µs per
/// call, `per` calls per timing) and the median of the per-round ratios a / b.
fn interleave(
    per: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) -> (f64, f64, f64) {
    let (mut times_a, mut times_b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let (ta, tb) = if round % 2 == 0 {
            let ta = a();
            (ta, b())
        } else {
            let tb = b();
            (a(), tb)
        };
        let (ta, tb) = (ta.as_secs_f64() * 1e6, tb.as_secs_f64() * 1e6);
        times_a.push(ta / per as f64);
        times_b.push(tb / per as f64);
        ratios.push(ta / tb);
    }
    (
        median(&mut times_a),
        median(&mut times_b),
        median(&mut ratios),
    )
}

fn report(what: &str, (a, b, ratio): (f64, f64, f64), names: (&str, &str)) {
    println!(
        "{what:<44} {:>10} {a:>9.2} µs   {:>10} {b:>9.2} µs   median ratio {ratio:.3}",
        names.0, names.1
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, quickly.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("interleaved: run with `cargo bench -p ratchetkit-benches --bench interleaved`");
        return;
    }
    let mut seeded = ChaCha20Rng::seed_from_u64(11);
    let alice = Identity::generate_at(&mut seeded, "alice", common::CREATED_AT).unwrap();
    let bob = ratchetkit_bob(&mut seeded);
    let olm_alice = vodozemac::olm::Account::new();
    let olm_bob = olm_bob();
    let mut rng = rand::rng();

    let setup = interleave(
        1,
        || {
            let mut store = PrekeyStore::from_bytes(&bob.store).unwrap();
            timed(|| {
                black_box(ratchetkit_setup(&mut rng, &alice, &bob, &mut store));
            })
        },
        || {
            let mut account = olm_account(&olm_bob.pickle);
            timed(|| {
                black_box(olm_setup(&olm_alice, &mut account, &olm_bob));
            })
        },
    );
    report(
        "session setup, one-time prekey",
        setup,
        ("ratchetkit", "Olm"),
    );

    let mut pair = established(&mut seeded);
    let mut olm = olm_established();
    let mut rng = rand::rng();
    let chain = interleave(
        CHAIN_BATCH,
        || {
            timed(|| {
                for _ in 0..CHAIN_BATCH {
                    let message = pair.alice.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap();
                    black_box(pair.bob.decrypt(&message).unwrap());
                }
            })
        },
        || {
            timed(|| {
                for _ in 0..CHAIN_BATCH {
                    let wire = olm_wire(&olm.alice.encrypt(black_box(PAYLOAD)).unwrap());
                    black_box(olm.bob.decrypt(&olm_parse(&wire)).unwrap());
                }
            })
        },
    );
    report(
        "encrypt + decrypt 100 B, established chain",
        chain,
        ("ratchetkit", "Olm"),
    );
    // Padding's share: the same chain work with Padmé (4 bytes added to 100) and with the
    // single marker byte, in turns.
    let mut minimal = established(&mut seeded);
    minimal.alice.set_padding(ratchetkit::Padding::Minimal);
    let mut other_rng = rand::rng();
    let padding = interleave(
        CHAIN_BATCH,
        || {
            timed(|| {
                for _ in 0..CHAIN_BATCH {
                    let message = pair.alice.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap();
                    black_box(pair.bob.decrypt(&message).unwrap());
                }
            })
        },
        || {
            timed(|| {
                for _ in 0..CHAIN_BATCH {
                    let message = minimal
                        .alice
                        .encrypt(&mut other_rng, black_box(&PAYLOAD))
                        .unwrap();
                    black_box(minimal.bob.decrypt(&message).unwrap());
                }
            })
        },
    );
    report(
        "encrypt + decrypt 100 B: Padmé, minimal",
        padding,
        ("Padmé", "minimal"),
    );
    let message = pair.alice.encrypt(&mut rng, &PAYLOAD).unwrap();
    pair.bob.decrypt(&message).unwrap();
    let olm_message = olm_wire(&olm.alice.encrypt(PAYLOAD).unwrap()).1;
    println!(
        "100 B message on the wire: ratchetkit {} B, Olm {} B",
        message.len(),
        olm_message.len()
    );

    sizes(&mut seeded);
    primitives(&mut seeded, setup.0);
}

/// What the hybrid start puts on the wire, against Olm's.
fn sizes(seeded: &mut ChaCha20Rng) {
    let bob = ratchetkit_bob(seeded);
    let bundle = ratchetkit::PrekeyBundle::from_bytes(&bob.bundle).unwrap();
    let alice = Identity::generate_at(seeded, "alice", common::CREATED_AT).unwrap();
    let mut channel = ratchetkit::Channel::create(seeded, &alice, &bundle).unwrap();
    let first = channel.encrypt(seeded, &PAYLOAD).unwrap();
    let olm_alice = vodozemac::olm::Account::new();
    let olm_bob = olm_bob();
    let mut olm = olm_alice
        .create_outbound_session(olm_config(), olm_bob.identity_key, olm_bob.one_time_key)
        .unwrap();
    let olm_first = olm_wire(&olm.encrypt(PAYLOAD).unwrap()).1;
    println!(
        "bundle: {} B with a one-time prekey, {} B without; first message with 100 B: {} B (Olm pre-key message: {} B)",
        bob.bundle.len(),
        bundle.without_one_time_prekey().to_bytes().len(),
        first.len(),
        olm_first.len()
    );
}

/// The primitives a setup is made of, each timed against one X25519 DH in turns, so the
/// floor of a setup can be added up in DH units of the same run.
fn primitives(seeded: &mut ChaCha20Rng, setup_us: f64) {
    use x25519_dalek::{PublicKey, StaticSecret};
    let secret = StaticSecret::random_from_rng(&mut *seeded);
    let peer = PublicKey::from(&StaticSecret::random_from_rng(&mut *seeded));
    let dh = || timed(|| drop(black_box(secret.diffie_hellman(black_box(&peer)))));

    let kem = libcrux_ml_kem::mlkem768::generate_key_pair([7; 64]);
    let (ciphertext, _) = libcrux_ml_kem::mlkem768::encapsulate(kem.public_key(), [9; 32]);
    let encaps = interleave(
        1,
        || {
            timed(|| {
                black_box(libcrux_ml_kem::mlkem768::encapsulate(
                    black_box(kem.public_key()),
                    [9; 32],
                ));
            })
        },
        dh,
    );
    report("ML-KEM-768 encapsulate", encaps, ("ML-KEM", "X25519 DH"));
    let decaps = interleave(
        1,
        || {
            timed(|| {
                let pair = libcrux_ml_kem::mlkem768::generate_key_pair(black_box([7; 64]));
                black_box(libcrux_ml_kem::mlkem768::decapsulate(
                    pair.private_key(),
                    &ciphertext,
                ));
            })
        },
        dh,
    );
    report(
        "ML-KEM-768 key expansion + decapsulate",
        decaps,
        ("ML-KEM", "X25519 DH"),
    );

    use ed25519_dalek::{Signer, SigningKey};
    let signing = SigningKey::generate(&mut *seeded);
    let verifying = signing.verifying_key();
    let signed = [0x42u8; 1300];
    let signature = signing.sign(&signed);
    let verify = interleave(
        1,
        || {
            timed(|| {
                black_box(verifying.verify_strict(black_box(&signed), &signature)).unwrap();
            })
        },
        dh,
    );
    report(
        "Ed25519 verify_strict, 1,300 B",
        verify,
        ("verify", "X25519 DH"),
    );
    let dh_us = encaps.1;
    println!(
        "setup in X25519 DH of this run: {:.1} (X25519 DH {:.1} µs)",
        setup_us / dh_us,
        dh_us
    );
}
