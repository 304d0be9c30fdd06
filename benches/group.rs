//! Group benchmarks: `cargo bench -p ratchetkit-benches --bench group`.
//!
//! - `group/message`: encrypting and decrypting one 100-byte group message, next to one
//!   Ed25519 sign and one strict verify of as many bytes as a group message signs (the
//!   target: each group operation within 10% of the signature operation it contains).
//! - `group/backlog`: one member decrypting 1,000 messages of one sender.
//! - `group/remove` and `group/add`: a membership change in groups of 10 to 100 members,
//!   as the total work of all members until every control message has been processed
//!   (for removal with the remaining members as throughput, so criterion also reports it
//!   per remaining member), and, for removal, the share of the busiest remaining member
//!   (target: under 15 ms at 100).
//!   `cargo bench -p ratchetkit-benches --bench group -- "one remaining member/100"`
//!   runs just that figure (the worlds of every size are still built first).
//!
//! The membership worlds (every pair of members with an established channel) take a few
//! seconds to build at 100 members; each is built once and every iteration runs on a
//! copy.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use ed25519_dalek::{Signer, SigningKey};
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::group::GROUP_SIGNATURE_CONTEXT;
use ratchetkit::wire::v1;

const PAYLOAD: [u8; 100] = [0x5a; 100];
const BACKLOG: usize = 1_000;
/// Group sizes of the membership benchmarks, the owner included.
const SIZES: [usize; 4] = [10, 25, 50, 100];

mod common;
use common::{membership_world, prepared_removal, trio, People, State};

fn message(c: &mut Criterion) {
    let mut state = trio(1);
    let mut sender = state.groups[1].take().unwrap();
    let receiver = state.groups[0].take().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(1);

    let first = sender.encrypt(&mut rng, &PAYLOAD).unwrap();
    let parsed = v1::GroupMessage::decode(first.as_slice()).unwrap();
    // What the sender signs: context || be32(len(header)) || header || ciphertext.
    let signed_len =
        GROUP_SIGNATURE_CONTEXT.len() + 4 + parsed.header.len() + parsed.ciphertext.len();
    println!(
        "group message with {} B of plaintext: {} bytes; its signature covers {signed_len} bytes",
        PAYLOAD.len(),
        first.len()
    );

    let mut group = c.benchmark_group("group/message");
    group.bench_function("encrypt 100 B", |b| {
        b.iter(|| black_box(sender.encrypt(&mut rng, black_box(&PAYLOAD)).unwrap()))
    });
    // Each decryption is of the first message, on a fresh copy of the receiver (copied
    // outside the measurement): one signature check, one chain step, one AES-GCM.
    group.bench_function("decrypt 100 B", |b| {
        b.iter_batched_ref(
            || receiver.clone(),
            |receiver| black_box(receiver.decrypt(black_box(&first)).unwrap()),
            BatchSize::SmallInput,
        )
    });

    let signing = SigningKey::generate(&mut ChaCha20Rng::seed_from_u64(2));
    let verifying = signing.verifying_key();
    let bytes = vec![0xa5_u8; signed_len];
    let signature = signing.sign(&bytes);
    group.bench_function(format!("ed25519 sign {signed_len} B"), |b| {
        b.iter(|| black_box(signing.sign(black_box(&bytes))))
    });
    group.bench_function(format!("ed25519 verify_strict {signed_len} B"), |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&bytes), black_box(&signature))
                .unwrap()
        })
    });
    group.finish();
}

fn backlog(c: &mut Criterion) {
    let mut state = trio(3);
    let mut sender = state.groups[1].take().unwrap();
    let receiver = state.groups[0].take().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let messages: Vec<Vec<u8>> = (0..BACKLOG)
        .map(|_| sender.encrypt(&mut rng, &PAYLOAD).unwrap())
        .collect();

    // About 40 ms an iteration: flat sampling fits 30 samples in the measurement time.
    let mut group = c.benchmark_group("group/backlog");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .throughput(Throughput::Elements(BACKLOG as u64));
    group.bench_function("decrypt 1000 in order", |b| {
        b.iter_batched_ref(
            || receiver.clone(),
            |receiver| {
                for message in &messages {
                    black_box(receiver.decrypt(message).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    // The newest first: the first decryption derives and keeps 999 skipped keys, which
    // the other 999 then use.
    group.bench_function("decrypt 1000 newest first", |b| {
        b.iter_batched_ref(
            || receiver.clone(),
            |receiver| {
                for message in messages.iter().rev() {
                    black_box(receiver.decrypt(message).unwrap());
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn membership(c: &mut Criterion) {
    let worlds: Vec<(usize, People, State)> = SIZES
        .iter()
        .map(|&size| {
            let (people, state) = membership_world(size);
            (size, people, state)
        })
        .collect();

    let mut remove = c.benchmark_group("group/remove");
    remove
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        // At 100 members one removal takes over a second, so criterion warns that the 10
        // samples (its minimum) need more than these 4 s: that is expected.
        .measurement_time(Duration::from_secs(4));
    for (size, people, state) in &worlds {
        let size = *size;
        // The owner removes the last member; everyone processes everything. Throughput
        // counts the members who remain, so its inverse is the time per member.
        remove.throughput(Throughput::Elements(size as u64 - 1));
        remove.bench_with_input(BenchmarkId::new("all members", size), state, |b, state| {
            let mut rng = ChaCha20Rng::seed_from_u64(4);
            b.iter_batched(
                || state.clone(),
                |mut state| {
                    let mut mailbox = state.remove(&mut rng, people, size - 1);
                    state.flush(&mut rng, people, &mut mailbox, None);
                    state
                },
                BatchSize::LargeInput,
            )
        });

        // One remaining member's share: it processes the owner's removal (moving to a new
        // epoch and sending it to the size - 2 others who remain), then the size - 3 new
        // sender keys of those others, prepared beforehand.
        //
        // The member is the last one who remains, the busiest: how the world was built
        // (member i created the channel to every j > i, and joined the group before j)
        // leaves the higher-numbered side of each channel due a new ratchet key pair when
        // it next sends, so it pays a key generation and a DH per peer where member 1
        // pays about one DH (member 1 measured about 25% cheaper at 100 members).
        let (mine, held) = prepared_removal(people, state, size, 5);
        remove.throughput(Throughput::Elements(1));
        remove.bench_with_input(
            BenchmarkId::new("one remaining member", size),
            &mine,
            |b, mine| {
                let mut rng = ChaCha20Rng::seed_from_u64(6);
                b.iter_batched_ref(
                    || mine.clone(),
                    |(group, channels)| {
                        let mut sent = 0;
                        for (from, message) in &held {
                            let received = group
                                .receive(&mut rng, channels, &people.keys[*from], message)
                                .unwrap();
                            sent += received.outgoing().len();
                        }
                        assert_eq!(sent, size - 2);
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    remove.finish();

    let mut add = c.benchmark_group("group/add");
    add.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (size, people, state) in &worlds {
        let size = *size;
        // The owner adds member `size`, who has channels to everyone; everyone processes
        // everything (the newcomer joins and sends its key to all).
        add.bench_with_input(BenchmarkId::new("all members", size), state, |b, state| {
            let mut rng = ChaCha20Rng::seed_from_u64(7);
            b.iter_batched(
                || state.clone(),
                |mut state| {
                    let mut mailbox = state.add(&mut rng, people, size);
                    state.flush(&mut rng, people, &mut mailbox, None);
                    state
                },
                BatchSize::LargeInput,
            )
        });
    }
    add.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = message, backlog, membership
}
criterion_main!(benches);
