//! The client layer's receive path: `cargo bench -p ratchetkit-benches --bench client`.
//!
//! `client/receive-sqlite` times `Client::receive` of a message on an established channel,
//! with the SQLite store (a file, WAL, one transaction per message, synchronous=NORMAL):
//! parse the envelope, load nothing (the session is cached), decrypt on a copy, seal the
//! session record and the kept message, commit; and the app's acknowledgement of the
//! messages, one transaction per 50. `client/receive-memory` is the same over `MemoryStore`, and
//! `channel/decrypt` a bare `Channel::decrypt` of the same kind of message, the floor.
//! Alongside, it prints the bytes a session takes in the store.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::client::{AccountId, Client, MemoryStore, RecordKind, SqliteStore, Store};
use ratchetkit::StorageKey;

mod common;
use common::established;

/// How many received messages the app acknowledges at once (one transaction).
const ACKNOWLEDGE_EVERY: usize = 50;

/// Two clients with an established channel (a round trip done), Bob's over `store`.
fn pair<S: Store>(rng: &mut ChaCha20Rng, store: S) -> (Client<MemoryStore>, Client<S>, AccountId)
where
    S::Error: std::fmt::Debug,
{
    let alice_key = StorageKey::generate(rng);
    let mut alice = Client::create(rng, MemoryStore::new(), alice_key, "alice", 0).unwrap();
    let bob_key = StorageKey::generate(rng);
    let mut bob = Client::create(rng, store, bob_key, "bob", 0).unwrap();
    let bob_account = alice
        .add_contact(rng, &bob.device_list().unwrap().to_bytes())
        .unwrap();
    let bundles = bob.bundles(rng, 1, 0).unwrap();
    alice.start_sessions(rng, &bundles[..1]).unwrap();
    let first = alice.encrypt_to(rng, bob_account, b"hello").unwrap();
    bob.receive(rng, first[0].bytes()).unwrap();
    let alice_account = alice.account_id().unwrap();
    let reply = bob.encrypt_to(rng, alice_account, b"hi").unwrap();
    alice.receive(rng, reply[0].bytes()).unwrap();
    (alice, bob, bob_account)
}

/// Times the receipt of `iters` messages of 100 bytes, encrypted beforehand.
fn receive_many<S: Store>(
    rng: &mut ChaCha20Rng,
    alice: &mut Client<MemoryStore>,
    bob: &mut Client<S>,
    bob_account: AccountId,
    iters: u64,
) -> Duration
where
    S::Error: std::fmt::Debug,
{
    let envelopes: Vec<Vec<u8>> = (0..iters)
        .map(|_| {
            alice
                .encrypt_to(rng, bob_account, &[7u8; 100])
                .unwrap()
                .remove(0)
                .into_bytes()
        })
        .collect();
    let start = Instant::now();
    let mut receipts = Vec::with_capacity(ACKNOWLEDGE_EVERY);
    for envelope in &envelopes {
        let received = bob.receive(rng, envelope).unwrap();
        receipts.extend(received.receipt());
        black_box(received);
        // As an app does: it stores what arrived and acknowledges it in batches.
        if receipts.len() == ACKNOWLEDGE_EVERY {
            bob.acknowledge(&receipts).unwrap();
            receipts.clear();
        }
    }
    bob.acknowledge(&receipts).unwrap();
    start.elapsed()
}

fn client(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let dir = std::env::temp_dir().join(format!("ratchetkit-bench-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(dir.join("bob.sqlite")).unwrap();
    let (mut alice, mut bob, bob_account) = pair(&mut rng, store);
    let (mut alice_mem, mut bob_mem, bob_mem_account) = pair(&mut rng, MemoryStore::new());

    // What a session costs in the store: the sealed record of an established channel.
    let sessions = bob_mem.store().load_kind(RecordKind::Session).unwrap();
    for (_, sealed) in &sessions {
        println!(
            "stored bytes per session (sealed record, established channel): {}",
            sealed.len()
        );
    }
    println!(
        "stored bytes, whole client (device, prekeys, one contact, one session): {}",
        bob_mem.store().stored_bytes()
    );

    let mut group = c.benchmark_group("client");
    group.throughput(Throughput::Elements(1));
    group.bench_function("receive-sqlite", |b| {
        b.iter_custom(|iters| receive_many(&mut rng, &mut alice, &mut bob, bob_account, iters))
    });
    group.bench_function("receive-memory", |b| {
        b.iter_custom(|iters| {
            receive_many(
                &mut rng,
                &mut alice_mem,
                &mut bob_mem,
                bob_mem_account,
                iters,
            )
        })
    });
    group.finish();

    let mut seeded = ChaCha20Rng::seed_from_u64(1);
    let mut channels = established(&mut seeded);
    let mut group = c.benchmark_group("channel");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decrypt", |b| {
        b.iter_custom(|iters| {
            let messages: Vec<Vec<u8>> = (0..iters)
                .map(|_| channels.alice.encrypt(&mut seeded, &[7u8; 100]).unwrap())
                .collect();
            let start = Instant::now();
            for message in &messages {
                black_box(channels.bob.decrypt(message).unwrap());
            }
            start.elapsed()
        })
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5)).sample_size(30);
    targets = client
}
criterion_main!(benches);
