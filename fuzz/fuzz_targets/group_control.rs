//! Arbitrary group control (rosters, sender-key distributions, leave and resync requests,
//! ownership offers) from a party of the fuzzer's choice, as a genuine channel message
//! carrying the fuzzer's plaintext, or as raw channel bytes. Bob, a member, processes it
//! with `receive`; Dave, outside the group, with `join`; Erin, who has no channel to the
//! sender, joins the channel from it as a first message and processes the control it
//! carries with `join_control`. Never a panic; on a rejection the group and every channel
//! are byte-identical; what is accepted saves and loads.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::{Channel, Group, PrekeyStore};
use ratchetkit_fuzz::rng;
use ratchetkit_fuzz::world::{World, BOB, DAVE, ERIN};

static WORLD: LazyLock<World> = LazyLock::new(World::new);

/// A channel from each of the first four parties to Erin, started from her bundle and
/// not used yet: what the fuzzer's control is the first message of.
static TO_ERIN: LazyLock<Vec<Channel>> = LazyLock::new(|| {
    let world = &*WORLD;
    let (_, bundle) = world.members[ERIN].prekeys.as_ref().expect("erin's bundle");
    let mut rng = rng(8);
    (0..ERIN)
        .map(|i| Channel::create(&mut rng, &world.members[i].identity, bundle).expect("create"))
        .collect()
});

fn snapshot(channels: &HashMap<[u8; 32], Channel>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut all: Vec<_> = channels
        .iter()
        .map(|(key, channel)| (key.to_vec(), channel.to_bytes().to_vec()))
        .collect();
    all.sort();
    all
}

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&WORLD);
    LazyLock::force(&TO_ERIN);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let world = &*WORLD;
    // Bits 0-1: the sender; bit 2: to Dave instead of Bob; bit 3: raw channel bytes;
    // bit 4: to Erin, as the first message of a new channel (bit 2 is then ignored).
    let from = usize::from(choice & 3);
    let to = match (choice & 16 != 0, choice & 4 != 0) {
        (true, _) => ERIN,
        (false, false) => BOB,
        (false, true) => DAVE,
    };
    if from == to {
        return;
    }
    let from_key = world.members[from].key;
    let mut rng = rng(6);
    let message = if choice & 8 == 0 {
        let mut sender = if to == ERIN {
            TO_ERIN[from].clone()
        } else {
            world.members[from].channels[&world.members[to].key].clone()
        };
        match sender.fuzzing_encrypt_group_control(&mut rng, input) {
            Ok(message) => message,
            Err(_) => return,
        }
    } else {
        input.to_vec()
    };
    let mut member = world.members[to].clone();
    if to == ERIN {
        let (saved, _) = member.prekeys.as_ref().expect("erin's prekeys");
        let mut prekeys = PrekeyStore::from_bytes(saved).expect("erin's prekeys load");
        let Ok(joined) = Channel::join(&member.identity, &mut prekeys, &message) else {
            return;
        };
        assert_eq!(
            joined.peer().signing_key(),
            from_key,
            "joined with the sender"
        );
        let (channel, plaintext, _, control) = joined.into_parts();
        let Some(control) = control else {
            assert_eq!(choice & 8, 8, "control stays control");
            return;
        };
        assert!(plaintext.is_empty(), "control has no app plaintext");
        assert_eq!(control.from(), from_key);
        member.channels.insert(from_key, channel);
        let channels_before = snapshot(&member.channels);
        match Group::join_control(&mut rng, &member.identity, &mut member.channels, &control) {
            Ok((group, _)) => {
                let saved = group.to_bytes();
                let again = Group::from_bytes(&saved).expect("the group loads");
                assert_eq!(*again.to_bytes(), *saved);
            }
            Err(_) => assert_eq!(
                channels_before,
                snapshot(&member.channels),
                "a rejection changed a channel"
            ),
        }
        return;
    }
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
}
