//! Arbitrary group control (roster updates, sender-key distributions, leave requests) from
//! a party of the fuzzer's choice, as a genuine channel message carrying the fuzzer's
//! plaintext, or as raw channel bytes. Bob, a member, processes it with `receive`; Dave,
//! outside the group, with `join`. Never a panic; on a rejection the group and every
//! channel are byte-identical; what is accepted saves and loads.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use ratchetkit::{Channel, Group};
use ratchetkit_fuzz::rng;
use ratchetkit_fuzz::world::{World, BOB, DAVE};

static WORLD: LazyLock<World> = LazyLock::new(World::new);

fn snapshot(channels: &HashMap<[u8; 32], Channel>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all: Vec<_> = channels
        .iter()
        .map(|(key, channel)| (key.to_vec(), channel.to_bytes().to_vec()))
        .collect();
    all.sort();
    all
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let world = &*WORLD;
    // Bits 0-1: the sender; bit 2: to Dave instead of Bob; bit 3: raw channel bytes.
    let from = usize::from(choice & 3);
    let to = if choice & 4 == 0 { BOB } else { DAVE };
    if from == to {
        return;
    }
    let from_key = world.members[from].key;
    let mut rng = rng(6);
    let message = if choice & 8 == 0 {
        let mut sender = world.members[from].channels[&world.members[to].key].clone();
        match sender.fuzzing_encrypt_group_control(&mut rng, input) {
            Ok(message) => message,
            Err(_) => return,
        }
    } else {
        input.to_vec()
    };
    let mut member = world.members[to].clone();
    let channels_before = snapshot(&member.channels);
    match member.group.as_mut() {
        Some(group) => {
            let before = group.to_bytes();
            match group.receive(&mut rng, &mut member.channels, &from_key, &message) {
                Ok(_) => {
                    let saved = group.to_bytes();
                    let again = Group::from_bytes(&saved).expect("the group loads");
                    assert_eq!(*again.to_bytes(), *saved);
                }
                Err(_) => {
                    assert_eq!(*before, *group.to_bytes(), "a rejection changed the group");
                    assert_eq!(channels_before, snapshot(&member.channels), "or a channel");
                }
            }
        }
        None => {
            let joined = Group::join(
                &mut rng,
                &member.identity,
                &mut member.channels,
                &from_key,
                &message,
            );
            if joined.is_err() {
                assert_eq!(
                    channels_before,
                    snapshot(&member.channels),
                    "a rejection changed a channel"
                );
            }
        }
    }
});
