//! How costs grow: `cargo bench -p ratchetkit-benches --bench growth`.
//!
//! - `growth_skipped_keys`: decrypting with 0, 100 and 1,000 skipped message keys stored,
//!   on a channel and in a group: a late message whose key is stored (looked up and
//!   removed), and the next new message (the keys are searched and kept). Skipped keys
//!   are in ordered maps, so a lookup is O(log n): the times should hardly move.
//! - `growth_group_removal`: removing a member from groups of 10, 100 and 500: the owner's
//!   `remove_member` (a roster signed and sent, with a new sender key, over N - 2
//!   channels), and one remaining member's share (the busiest: it processes the roster,
//!   sends its new key over N - 2 channels and takes the N - 3 keys of the others). Both
//!   grow linearly with N; the total over all members grows with N².
//! - The serialized state against the number of skipped keys, printed: about 73 bytes a
//!   key on a channel, 45 in a group.
//!
//! Building the 500-member world (a channel between every pair, the group created and a
//! removal processed by everyone but the measured member) takes a few minutes before the
//! first measurement; the whole run about ten minutes.

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Channel, Group};

mod common;
use common::{established, group_of, membership_world, prepared_removal};

const SKIPPED: [usize; 3] = [0, 100, 1_000];
const SIZES: [usize; 3] = [10, 100, 500];
const PAYLOAD: [u8; 100] = [0x5a; 100];

/// A receiving channel holding `skipped` skipped keys, a late message whose key is among
/// them (the first one skipped), and the next new message.
fn channel_with_skipped(skipped: usize) -> (Channel, Option<Vec<u8>>, Vec<u8>) {
    let mut rng = ChaCha20Rng::seed_from_u64(skipped as u64);
    let mut pair = established(&mut rng);
    let sent: Vec<Vec<u8>> = (0..=skipped)
        .map(|_| pair.alice.encrypt(&mut rng, &PAYLOAD).unwrap())
        .collect();
    pair.bob.decrypt(sent.last().unwrap()).unwrap();
    assert_eq!(pair.bob.skipped_keys(), skipped);
    let next = pair.alice.encrypt(&mut rng, &PAYLOAD).unwrap();
    let late = (skipped > 0).then(|| sent[0].clone());
    (pair.bob, late, next)
}

/// The same for a group member and one sender.
fn group_with_skipped(skipped: usize) -> (Group, Option<Vec<u8>>, Vec<u8>) {
    let (_, mut state) = group_of(3, 100 + skipped as u64);
    let mut sender = state.groups[1].take().unwrap();
    let mut receiver = state.groups[0].take().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(100 + skipped as u64);
    let sent: Vec<Vec<u8>> = (0..=skipped)
        .map(|_| sender.encrypt(&mut rng, &PAYLOAD).unwrap())
        .collect();
    receiver.decrypt(sent.last().unwrap()).unwrap();
    let next = sender.encrypt(&mut rng, &PAYLOAD).unwrap();
    let late = (skipped > 0).then(|| sent[0].clone());
    (receiver, late, next)
}

fn skipped_keys(c: &mut Criterion) {
    let mut group = c.benchmark_group("growth_skipped_keys");
    for skipped in SKIPPED {
        let (channel, late, next) = channel_with_skipped(skipped);
        let (member, group_late, group_next) = group_with_skipped(skipped);
        println!(
            "state size with {skipped} skipped keys: channel {} bytes, group member {} bytes",
            channel.to_bytes().len(),
            member.to_bytes().len()
        );
        if let Some(late) = &late {
            group.bench_with_input(
                BenchmarkId::new("channel_late", skipped),
                late,
                |b, late| {
                    b.iter_batched_ref(
                        || channel.clone(),
                        |channel| black_box(channel.decrypt(late).unwrap()),
                        BatchSize::SmallInput,
                    )
                },
            );
        }
        group.bench_with_input(
            BenchmarkId::new("channel_next", skipped),
            &next,
            |b, next| {
                b.iter_batched_ref(
                    || channel.clone(),
                    |channel| black_box(channel.decrypt(next).unwrap()),
                    BatchSize::SmallInput,
                )
            },
        );
        if let Some(late) = &group_late {
            group.bench_with_input(BenchmarkId::new("group_late", skipped), late, |b, late| {
                b.iter_batched_ref(
                    || member.clone(),
                    |member| black_box(member.decrypt(late).unwrap()),
                    BatchSize::SmallInput,
                )
            });
        }
        group.bench_with_input(
            BenchmarkId::new("group_next", skipped),
            &group_next,
            |b, next| {
                b.iter_batched_ref(
                    || member.clone(),
                    |member| black_box(member.decrypt(next).unwrap()),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    group.finish();
}

fn group_removal(c: &mut Criterion) {
    let mut group = c.benchmark_group("growth_group_removal");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for size in SIZES {
        let (people, state) = membership_world(size);
        let owner = (state.groups[0].clone().unwrap(), state.channels[0].clone());
        group.throughput(Throughput::Elements(size as u64 - 2));
        group.bench_with_input(BenchmarkId::new("owner", size), &owner, |b, owner| {
            let mut rng = ChaCha20Rng::seed_from_u64(1);
            b.iter_batched_ref(
                || owner.clone(),
                |(group, channels)| {
                    black_box(
                        group
                            .remove_member(
                                &mut rng,
                                &people.identities[0],
                                &people.keys[size - 1],
                                channels,
                            )
                            .unwrap(),
                    )
                },
                BatchSize::LargeInput,
            )
        });

        let (mine, held) = prepared_removal(&people, &state, size, 2);
        drop(state);
        group.bench_with_input(
            BenchmarkId::new("one_remaining_member", size),
            &mine,
            |b, mine| {
                let mut rng = ChaCha20Rng::seed_from_u64(3);
                b.iter_batched_ref(
                    || mine.clone(),
                    |(group, channels)| {
                        for (from, message) in &held {
                            black_box(
                                group
                                    .receive(&mut rng, channels, &people.keys[*from], message)
                                    .unwrap(),
                            );
                        }
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = skipped_keys, group_removal
}
criterion_main!(benches);
