//! Sealed message and stream benchmarks: `cargo bench -p ratchetkit-benches --bench sealed`.
//!
//! `seal` and `open` of 1 KiB for 1, 10, 100 and 1,000 recipients (the opening recipient
//! is the last listed, the worst case for finding its entry), and the throughput of
//! `seal_stream` and `open_stream` on 64 MiB held in memory.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ratchetkit::{open, open_stream, seal, seal_stream, Card, Identity};

const MESSAGE_LEN: usize = 1024;
const STREAM_LEN: usize = 64 * 1024 * 1024;

fn messages(c: &mut Criterion) {
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let senders = [alice.card().clone()];
    let plaintext = vec![0x42; MESSAGE_LEN];
    let recipients: Vec<Identity> = (0..1_000)
        .map(|i| Identity::generate(&mut rng, &format!("recipient-{i}")).unwrap())
        .collect();

    let mut group = c.benchmark_group("sealed");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    for count in [1, 10, 100, 1_000] {
        let readers = &recipients[..count];
        let cards: Vec<Card> = readers.iter().map(|id| id.card().clone()).collect();
        group.bench_with_input(BenchmarkId::new("seal-1KiB", count), &cards, |b, cards| {
            let mut rng = rand::rng();
            b.iter(|| black_box(seal(&mut rng, &alice, cards, &plaintext).unwrap()));
        });
        let sealed = seal(&mut rng, &alice, &cards, &plaintext).unwrap();
        let last = &readers[count - 1];
        group.bench_with_input(
            BenchmarkId::new("open-1KiB", count),
            &sealed,
            |b, sealed| {
                b.iter(|| black_box(open(last, &senders, sealed).unwrap()));
            },
        );
    }
    group.finish();
}

fn streams(c: &mut Criterion) {
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let (senders, recipients) = ([alice.card().clone()], [bob.card().clone()]);
    let plaintext = vec![0x42; STREAM_LEN];
    let mut sealed = Vec::with_capacity(STREAM_LEN + STREAM_LEN / 1000);
    seal_stream(&mut rng, &alice, &recipients, &plaintext[..], &mut sealed).unwrap();

    let mut group = c.benchmark_group("stream");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Bytes(STREAM_LEN as u64));
    // The output buffers are allocated once: the figures are the streams' own work.
    let mut output = Vec::with_capacity(sealed.capacity());
    group.bench_function("seal_stream-64MiB", |b| {
        let mut rng = rand::rng();
        b.iter(|| {
            output.clear();
            seal_stream(&mut rng, &alice, &recipients, &plaintext[..], &mut output).unwrap()
        });
    });
    group.bench_function("open_stream-64MiB", |b| {
        b.iter(|| {
            output.clear();
            open_stream(&bob, &senders, &sealed[..], &mut output).unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, messages, streams);
criterion_main!(benches);
