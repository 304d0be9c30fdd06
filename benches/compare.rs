//! ratchetkit side by side with vodozemac (Olm and Megolm), and the primitives both are
//! made of: `cargo bench -p ratchetkit-benches --bench compare`, then
//! `cargo run -p ratchetkit-benches --release --example bench_report` for the table
//! (operation, ratchetkit, vodozemac, ratio, target).
//!
//! Both crates do the same work in each pair of benchmarks, messages included as bytes
//! (encoded by the sender, parsed by the receiver), on the same X25519/Ed25519
//! implementations (vodozemac uses the same dalek crates):
//!
//! - `compare_setup`: from the peer's published keys to the first decrypted message.
//!   ratchetkit parses and verifies the bundle (card and signed prekey signatures), does
//!   X3DH with a one-time prekey, encrypts, and the peer joins (checking the creator's
//!   card); vodozemac creates an outbound Olm session with a one-time key, encrypts, and
//!   the peer creates the inbound session from the pre-key message.
//! - `compare_chain_100B`: encrypt and decrypt 100 B on an established chain.
//! - `compare_ping_pong`: A sends to B, B replies: a DH ratchet step each way.
//! - `compare_group_encrypt_100B`, `compare_group_decrypt_100B`: one group message
//!   (Megolm for vodozemac), decrypted in order by a receiver that keeps up.
//! - `compare_catch_up_1000`: a receiver decrypting a backlog of 1,000 group messages from
//!   four senders, interleaved: ratchetkit with `Group::decrypt_batch` and one by one,
//!   vodozemac one by one (it has no batch API).
//! - `compare_64KiB`: encrypting and decrypting 64 KiB on an established chain.
//! - `primitives`: the floor, what the operations above must compute.
//!
//! A full run takes about three minutes.

use std::hint::black_box;
use std::time::Duration;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Identity, PrekeyStore};
use sha2::Sha256;
use vodozemac::megolm::{InboundGroupSession, MegolmMessage};
use x25519_dalek::{PublicKey, StaticSecret};

mod common;
use common::compare::*;
use common::{established, group_of};

/// The bytes a 100 B group message's signature covers (context, header length, header,
/// ciphertext), as `benches/group.rs` prints it.
const GROUP_SIGNED_LEN: usize = 201;
const BIG: usize = 64 * 1024;

fn setup(c: &mut Criterion) {
    let mut seeded = ChaCha20Rng::seed_from_u64(1);
    let alice = Identity::generate_at(&mut seeded, "alice", common::CREATED_AT).unwrap();
    let bob = ratchetkit_bob(&mut seeded);
    let olm_alice = vodozemac::olm::Account::new();
    let olm_bob = olm_bob();

    let mut group = c.benchmark_group("compare_setup");
    group.bench_function("ratchetkit", |b| {
        let mut rng = rand::rng();
        b.iter_batched_ref(
            || PrekeyStore::from_bytes(&bob.store).unwrap(),
            |store| black_box(ratchetkit_setup(&mut rng, &alice, &bob, store)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("vodozemac", |b| {
        b.iter_batched_ref(
            || olm_account(&olm_bob.pickle),
            |account| black_box(olm_setup(&olm_alice, account, &olm_bob)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn chain(c: &mut Criterion) {
    let mut seeded = ChaCha20Rng::seed_from_u64(2);
    let mut group = c.benchmark_group("compare_chain_100B");
    let mut pair = established(&mut seeded);
    group.bench_function("ratchetkit", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            let message = pair.alice.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap();
            black_box(pair.bob.decrypt(&message).unwrap());
        })
    });
    let mut olm = olm_established();
    group.bench_function("vodozemac", |b| {
        b.iter(|| {
            let wire = olm_wire(&olm.alice.encrypt(black_box(PAYLOAD)).unwrap());
            black_box(olm.bob.decrypt(&olm_parse(&wire)).unwrap());
        })
    });
    group.finish();

    let mut group = c.benchmark_group("compare_ping_pong");
    let mut pair = established(&mut seeded);
    group.bench_function("ratchetkit", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            let ping = pair.alice.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap();
            pair.bob.decrypt(&ping).unwrap();
            let pong = pair.bob.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap();
            black_box(pair.alice.decrypt(&pong).unwrap());
        })
    });
    let mut olm = olm_established();
    group.bench_function("vodozemac", |b| {
        b.iter(|| {
            let ping = olm_wire(&olm.alice.encrypt(black_box(PAYLOAD)).unwrap());
            olm.bob.decrypt(&olm_parse(&ping)).unwrap();
            let pong = olm_wire(&olm.bob.encrypt(black_box(PAYLOAD)).unwrap());
            black_box(olm.alice.decrypt(&olm_parse(&pong)).unwrap());
        })
    });
    group.finish();

    let big = vec![0xa5_u8; BIG];
    let mut group = c.benchmark_group("compare_64KiB");
    group.throughput(Throughput::Bytes(BIG as u64));
    let mut pair = established(&mut seeded);
    group.bench_function("ratchetkit_encrypt", |b| {
        let mut rng = rand::rng();
        b.iter(|| black_box(pair.alice.encrypt(&mut rng, black_box(&big)).unwrap()))
    });
    // Each decryption is of the next message, encrypted outside the measurement (on
    // another pair: the encryptions above were never delivered).
    let mut pair = established(&mut seeded);
    group.bench_function("ratchetkit_decrypt", |b| {
        let mut rng = rand::rng();
        b.iter_batched(
            || pair.alice.encrypt(&mut rng, &big).unwrap(),
            |message| black_box(pair.bob.decrypt(&message).unwrap()),
            BatchSize::SmallInput,
        )
    });
    let mut olm = olm_established();
    group.bench_function("vodozemac_encrypt", |b| {
        b.iter(|| black_box(olm_wire(&olm.alice.encrypt(black_box(&big)).unwrap())))
    });
    let mut olm = olm_established();
    group.bench_function("vodozemac_decrypt", |b| {
        b.iter_batched(
            || olm_wire(&olm.alice.encrypt(&big).unwrap()),
            |wire| black_box(olm.bob.decrypt(&olm_parse(&wire)).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn groups(c: &mut Criterion) {
    let (_, mut state) = group_of(3, 3);
    let mut sender = state.groups[1].take().unwrap();
    let (mut outbound, _) = megolm_pair();
    let mut rng = ChaCha20Rng::seed_from_u64(3);

    let mut group = c.benchmark_group("compare_group_encrypt_100B");
    group.bench_function("ratchetkit", |b| {
        b.iter(|| black_box(sender.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap()))
    });
    group.bench_function("vodozemac", |b| {
        b.iter(|| black_box(outbound.encrypt(black_box(PAYLOAD)).to_bytes()))
    });
    group.finish();

    // The receiver keeps up: each decryption is of the sender's next message, encrypted
    // outside the measurement (by senders whose encryptions above were never delivered).
    let (_, mut state) = group_of(3, 4);
    let mut sender = state.groups[1].take().unwrap();
    let mut receiver = state.groups[0].take().unwrap();
    let (mut outbound, mut inbound) = megolm_pair();
    let mut group = c.benchmark_group("compare_group_decrypt_100B");
    group.bench_function("ratchetkit", |b| {
        b.iter_batched(
            || sender.encrypt(&mut rng, &PAYLOAD).unwrap(),
            |message| black_box(receiver.decrypt(&message).unwrap()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("vodozemac", |b| {
        b.iter_batched(
            || outbound.encrypt(PAYLOAD).to_bytes(),
            |message| {
                let message = MegolmMessage::from_bytes(&message).unwrap();
                black_box(inbound.decrypt(&message).unwrap())
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();

    // Each iteration starts from a receiver that holds every sender's key and has read
    // nothing yet (set up outside the measurement).
    let backlog = catch_up(5);
    let mut group = c.benchmark_group("compare_catch_up_1000");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .throughput(Throughput::Elements(CATCH_UP_MESSAGES as u64));
    group.bench_function("ratchetkit_decrypt_batch", |b| {
        b.iter_batched_ref(
            || backlog.receiver.clone(),
            |receiver| {
                let results = receiver.decrypt_batch(&backlog.messages);
                assert!(results.iter().all(Result::is_ok));
                black_box(results)
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("ratchetkit_decrypt", |b| {
        b.iter_batched_ref(
            || backlog.receiver.clone(),
            |receiver| {
                for message in &backlog.messages {
                    black_box(receiver.decrypt(message).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("vodozemac", |b| {
        b.iter_batched_ref(
            || {
                backlog
                    .megolm_keys
                    .iter()
                    .map(|key| InboundGroupSession::new(key, megolm_config()))
                    .collect::<Vec<_>>()
            },
            |sessions| {
                for (i, message) in backlog.megolm_messages.iter().enumerate() {
                    let message = MegolmMessage::from_bytes(message).unwrap();
                    black_box(sessions[i % CATCH_UP_SENDERS].decrypt(&message).unwrap());
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn primitives(c: &mut Criterion) {
    let mut seeded = ChaCha20Rng::seed_from_u64(5);
    let mut group = c.benchmark_group("primitives");
    group.bench_function("x25519_keygen", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            let secret = StaticSecret::random_from_rng(&mut rng);
            black_box(PublicKey::from(&secret))
        })
    });
    let secret = StaticSecret::random_from_rng(&mut seeded);
    let public = PublicKey::from(&StaticSecret::random_from_rng(&mut seeded));
    group.bench_function("x25519_dh", |b| {
        b.iter(|| black_box(secret.diffie_hellman(black_box(&public))))
    });

    let signing = SigningKey::generate(&mut seeded);
    let verifying = signing.verifying_key();
    let signed = vec![0xa5_u8; GROUP_SIGNED_LEN];
    let signature = signing.sign(&signed);
    group.bench_function("ed25519_sign_201B", |b| {
        b.iter(|| black_box(signing.sign(black_box(&signed))))
    });
    group.bench_function("ed25519_verify_strict_201B", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&signed), black_box(&signature))
                .unwrap()
        })
    });
    // The verification equation alone (`verify`, no strictness checks): ratchetkit's strict
    // verification costs this plus a few byte comparisons.
    group.bench_function("ed25519_verify_201B", |b| {
        b.iter(|| {
            ed25519_dalek::Verifier::verify(&verifying, black_box(&signed), black_box(&signature))
                .unwrap()
        })
    });
    // Per signature: a batch of 256 (the most ratchetkit puts in one batch), each signature
    // by one of four keys.
    let keys: Vec<SigningKey> = (0..4).map(|_| SigningKey::generate(&mut seeded)).collect();
    let messages: Vec<Vec<u8>> = (0..256u32)
        .map(|i| {
            let mut message = signed.clone();
            message[..4].copy_from_slice(&i.to_be_bytes());
            message
        })
        .collect();
    let signatures: Vec<_> = (0..256).map(|i| keys[i % 4].sign(&messages[i])).collect();
    let verifying_keys: Vec<_> = (0..256).map(|i| keys[i % 4].verifying_key()).collect();
    let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    group.throughput(Throughput::Elements(256));
    group.bench_function("ed25519_verify_batch_256x201B", |b| {
        b.iter(|| {
            ed25519_dalek::verify_batch(black_box(&slices), &signatures, &verifying_keys).unwrap()
        })
    });

    group.throughput(Throughput::Elements(1));
    // ML-KEM-768 as a channel's start uses it: the creator checks the bundle's key and
    // encapsulates; the joiner expands its key pair from the seed and decapsulates.
    let kem = libcrux_ml_kem::mlkem768::generate_key_pair([7; 64]);
    let (kem_ciphertext, _) = libcrux_ml_kem::mlkem768::encapsulate(kem.public_key(), [9; 32]);
    group.bench_function("mlkem768_encapsulate", |b| {
        b.iter(|| {
            assert!(libcrux_ml_kem::mlkem768::validate_public_key(black_box(
                kem.public_key()
            )));
            black_box(libcrux_ml_kem::mlkem768::encapsulate(
                kem.public_key(),
                [9; 32],
            ))
        })
    });
    group.bench_function("mlkem768_expand_decapsulate", |b| {
        b.iter(|| {
            let pair = libcrux_ml_kem::mlkem768::generate_key_pair(black_box([7; 64]));
            black_box(libcrux_ml_kem::mlkem768::decapsulate(
                pair.private_key(),
                &kem_ciphertext,
            ))
        })
    });
    let key = [7u8; 32];
    group.bench_function("hmac_sha256_1B", |b| {
        b.iter(|| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key)).unwrap();
            mac.update(&[1]);
            black_box(mac.finalize())
        })
    });
    group.bench_function("hkdf_sha256_44B", |b| {
        b.iter(|| {
            let mut okm = [0u8; 44];
            Hkdf::<Sha256>::new(Some(&[0u8; 32]), black_box(&key))
                .expand(b"ratchetkit/v1/message", &mut okm)
                .unwrap();
            black_box(okm)
        })
    });
    let cipher_key = [9u8; 32];
    let nonce = Nonce::from([3u8; 12]);
    group.bench_function("aes256gcm_encrypt_100B", |b| {
        b.iter(|| {
            let cipher = Aes256Gcm::new(&black_box(cipher_key).into());
            black_box(cipher.encrypt(&nonce, black_box(&PAYLOAD[..])).unwrap())
        })
    });
    let big = vec![0xa5_u8; BIG];
    let sealed = Aes256Gcm::new(&cipher_key.into())
        .encrypt(&nonce, big.as_slice())
        .unwrap();
    group.throughput(Throughput::Bytes(BIG as u64));
    group.bench_function("aes256gcm_encrypt_64KiB", |b| {
        b.iter(|| {
            let cipher = Aes256Gcm::new(&black_box(cipher_key).into());
            black_box(cipher.encrypt(&nonce, black_box(big.as_slice())).unwrap())
        })
    });
    group.bench_function("aes256gcm_decrypt_64KiB", |b| {
        b.iter(|| {
            let cipher = Aes256Gcm::new(&black_box(cipher_key).into());
            black_box(
                cipher
                    .decrypt(&nonce, black_box(sealed.as_slice()))
                    .unwrap(),
            )
        })
    });
    group.finish();
}

fn sizes(_: &mut Criterion) {
    for row in common::compare::sizes() {
        println!(
            "size, {}: ratchetkit {} bytes, vodozemac {} bytes ({}); target {}: {}",
            row.what,
            row.ratchetkit,
            row.vodozemac,
            row.vodozemac_form,
            row.target,
            if row.met { "met" } else { "missed" }
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = sizes, setup, chain, groups, primitives
}
criterion_main!(benches);
