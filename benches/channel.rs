//! Channel benchmarks: `cargo bench -p ratchetkit-benches --bench channel`.
//!
//! Besides timings it prints the serialized size of an established channel, the figure the
//! README reports next to them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Channel, Identity, PrekeyStore};

mod common;
use common::established;

fn channel(c: &mut Criterion) {
    let mut rng = rand::rng();
    let mut seeded = ChaCha20Rng::seed_from_u64(1);
    let pair = established(&mut seeded);
    println!(
        "state size, established channel without skipped keys: alice (creator) {} bytes, bob (joiner) {} bytes",
        pair.alice.to_bytes().len(),
        pair.bob.to_bytes().len()
    );

    let alice_id = Identity::generate(&mut rng, "alice").unwrap();
    let bob_id = Identity::generate(&mut rng, "bob").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let bundle = prekeys.bundle(&bob_id, None).unwrap();
    c.bench_function("channel/create+join", |b| {
        b.iter_batched(
            || PrekeyStore::from_bytes(&prekeys.to_bytes()).unwrap(),
            |mut store| {
                let mut rng = rand::rng();
                let mut alice = Channel::create(&mut rng, &alice_id, &bundle).unwrap();
                let first = alice.encrypt(&mut rng, b"hello").unwrap();
                black_box(Channel::join(&bob_id, &mut store, &first).unwrap());
            },
            BatchSize::SmallInput,
        )
    });

    let payload = [0x5a_u8; 100];
    let mut pair = established(&mut seeded);
    c.bench_function("channel/encrypt+decrypt 100 B", |b| {
        b.iter(|| {
            let message = pair.alice.encrypt(&mut rng, black_box(&payload)).unwrap();
            black_box(pair.bob.decrypt(&message).unwrap());
        })
    });

    let mut pair = established(&mut seeded);
    c.bench_function("channel/ping-pong round trip 100 B", |b| {
        b.iter(|| {
            let ping = pair.alice.encrypt(&mut rng, black_box(&payload)).unwrap();
            pair.bob.decrypt(&ping).unwrap();
            let pong = pair.bob.encrypt(&mut rng, black_box(&payload)).unwrap();
            black_box(pair.alice.decrypt(&pong).unwrap());
        })
    });

    let big = vec![0xa5_u8; 64 * 1024];
    let mut group = c.benchmark_group("channel/64 KiB");
    group.throughput(Throughput::Bytes(big.len() as u64));
    let mut pair = established(&mut seeded);
    group.bench_function("encrypt", |b| {
        b.iter(|| black_box(pair.alice.encrypt(&mut rng, black_box(&big)).unwrap()))
    });
    let mut pair = established(&mut seeded);
    group.bench_function("encrypt+decrypt", |b| {
        b.iter(|| {
            let message = pair.alice.encrypt(&mut rng, black_box(&big)).unwrap();
            black_box(pair.bob.decrypt(&message).unwrap());
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = channel
}
criterion_main!(benches);
