//! Channel benchmarks: `cargo bench --bench channel`.
//!
//! Besides timings it prints the serialized size of an established channel, the figure the
//! README reports next to them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ratchetkit::{Channel, Identity, PrekeyStore};

struct Pair {
    alice: Channel,
    bob: Channel,
}

/// Alice and Bob with a channel on which both have sent and received (each side has done
/// a DH ratchet step), so it is established in both directions.
fn established() -> Pair {
    let mut rng = rand::rng();
    let alice_id = Identity::generate(&mut rng, "alice").unwrap();
    let bob_id = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let ids = prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();
    let bundle = prekeys.bundle(&bob_id, Some(ids[0])).unwrap();
    let mut alice = Channel::create(&mut rng, &alice_id, &bundle).unwrap();
    let first = alice.encrypt(&mut rng, b"hello").unwrap();
    let mut bob = Channel::join(&bob_id, &mut prekeys, &first)
        .unwrap()
        .channel;
    let reply = bob.encrypt(&mut rng, b"hi").unwrap();
    alice.decrypt(&reply).unwrap();
    let again = alice.encrypt(&mut rng, b"again").unwrap();
    bob.decrypt(&again).unwrap();
    Pair { alice, bob }
}

fn channel(c: &mut Criterion) {
    let mut rng = rand::rng();
    let pair = established();
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
    let mut pair = established();
    c.bench_function("channel/encrypt+decrypt 100 B", |b| {
        b.iter(|| {
            let message = pair.alice.encrypt(&mut rng, black_box(&payload)).unwrap();
            black_box(pair.bob.decrypt(&message).unwrap());
        })
    });

    let mut pair = established();
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
    let mut pair = established();
    group.bench_function("encrypt", |b| {
        b.iter(|| black_box(pair.alice.encrypt(&mut rng, black_box(&big)).unwrap()))
    });
    let mut pair = established();
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
