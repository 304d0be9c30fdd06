//! Group messages delivered late, lost, duplicated and out of order, and group state
//! saved and restored along the way.

mod common;

use rand::seq::SliceRandom;
use rand::RngExt;
use ratchetkit::{group::MAX_GROUP_MESSAGE_GAP, Error, Group, GroupStateId, StorageKey};

use common::groups::{assert_group_rejects, World};

const MEMBERS: usize = 10;
const MESSAGES: usize = 2_000;

/// A message as sent: who sent it, the bytes, the plaintext.
struct Sent {
    from: usize,
    message: Vec<u8>,
    plaintext: Vec<u8>,
}

#[test]
fn ten_members_exchange_two_thousand_messages_reordered_lost_and_duplicated() {
    let mut world = World::new(100, MEMBERS);
    let everyone: Vec<usize> = (1..MEMBERS).collect();
    world.create_group(0, &everyone);
    let mut schedule = common::rng(101);

    let sent: Vec<Sent> = (0..MESSAGES)
        .map(|n| {
            let from = schedule.random_range(0..MEMBERS);
            let plaintext = format!("message {n} from m{from}").into_bytes();
            let message = world.send(from, &plaintext);
            Sent {
                from,
                message,
                plaintext,
            }
        })
        .collect();

    let mut decrypted = 0;
    for reader in 0..MEMBERS {
        // Each reader gets its own delivery: 5% lost, 10% twice, all shuffled.
        let mut deliveries: Vec<usize> = Vec::new();
        for (index, message) in sent.iter().enumerate() {
            if message.from == reader || schedule.random_bool(0.05) {
                continue;
            }
            deliveries.push(index);
            if schedule.random_bool(0.10) {
                deliveries.push(index);
            }
        }
        deliveries.shuffle(&mut schedule);

        let mut seen = vec![false; sent.len()];
        for index in deliveries {
            let Sent {
                from,
                message,
                plaintext,
            } = &sent[index];
            let group = world.group(reader);
            if seen[index] {
                assert_group_rejects(group, message, Error::Duplicate);
                continue;
            }
            let result = group.decrypt(message).unwrap_or_else(|error| {
                panic!("m{reader} cannot read message {index} from m{from}: {error:?}")
            });
            assert_eq!(result.plaintext(), *plaintext);
            assert_eq!(result.sender(), world.key(*from));
            seen[index] = true;
            decrypted += 1;
            // Now and then the app saves the group and loads it again.
            if schedule.random_bool(0.01) {
                let saved = world.group(reader).to_bytes();
                let restored = Group::from_bytes(&saved).expect("saved group loads");
                assert_eq!(*restored.to_bytes(), *saved);
                world.members[reader].group = Some(restored);
            }
        }
    }
    // Every reader got roughly 85% of the other members' messages.
    assert!(decrypted > MESSAGES * (MEMBERS - 1) * 8 / 10, "{decrypted}");
}

#[test]
fn a_gap_beyond_the_limit_is_refused_and_changes_nothing() {
    let mut world = World::new(102, 2);
    world.create_group(0, &[1]);
    for _ in 0..=MAX_GROUP_MESSAGE_GAP {
        world.send(0, b"lost");
    }
    let far = world.send(0, b"too far");
    assert_group_rejects(
        world.group(1),
        &far,
        Error::TooFarAhead {
            gap: u64::from(MAX_GROUP_MESSAGE_GAP) + 1,
            max: MAX_GROUP_MESSAGE_GAP,
        },
    );
}

#[test]
fn skipped_keys_are_kept_then_used_once() {
    let mut world = World::new(103, 2);
    world.create_group(0, &[1]);
    let messages: Vec<_> = (0..5u8).map(|n| world.send(0, &[n])).collect();
    let alice = world.key(0);
    assert_eq!(
        world.decrypt(1, &messages[4]).map(|d| d.into_plaintext()),
        Ok(vec![4])
    );
    assert_eq!(world.group(1).skipped_keys(&alice), 4);
    for n in [2, 0, 3, 1] {
        assert_eq!(
            world.decrypt(1, &messages[n]).map(|d| d.into_plaintext()),
            Ok(vec![n as u8])
        );
    }
    assert_eq!(world.group(1).skipped_keys(&alice), 0);
    for message in &messages {
        assert_group_rejects(world.group(1), message, Error::Duplicate);
    }
}

#[test]
fn state_round_trips_sealed_and_at_random_points() {
    let mut world = World::new(104, 4);
    world.create_group(0, &[1, 2]);
    let mut schedule = common::rng(105);
    let key = StorageKey::generate(&mut schedule);
    let mut pending = Vec::new();
    for step in 0..200 {
        let from = schedule.random_range(0..3);
        pending.push((from, world.send(from, b"hi")));
        if step == 50 {
            world.add(0, 3);
            world.flush();
        }
        if step == 120 {
            world.rekey(2);
            world.flush();
        }
        if schedule.random_bool(0.3) {
            let (from, message) = pending.swap_remove(schedule.random_range(0..pending.len()));
            for reader in (0..4).filter(|&r| r != from) {
                if world.members[reader].group.is_some() {
                    let _ = world.decrypt(reader, &message);
                }
            }
        }
        let who = schedule.random_range(0..4);
        if let Some(group) = world.members[who].group.as_ref() {
            let saved = group.to_bytes();
            let restored = Group::from_bytes(&saved).expect("loads");
            assert_eq!(*restored.to_bytes(), *saved);
            let sealed = key.seal(&mut schedule, group).expect("seal");
            let id = GroupStateId::new(group.group_id(), world.members[who].key);
            let opened: Group = key.open(&sealed, &id).expect("open");
            assert_eq!(*opened.to_bytes(), *saved);
            world.members[who].group = Some(opened);
        }
    }
}

#[test]
fn damaged_state_is_refused() {
    let mut world = World::new(106, 3);
    world.create_group(0, &[1, 2]);
    let message = world.send(1, b"x");
    world.decrypt(0, &message).expect("decrypts");
    let saved = world.group(0).to_bytes();
    for cut in [1, saved.len() / 2, saved.len() - 1] {
        assert!(
            Group::from_bytes(&saved[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    for bit in (0..saved.len() * 8).step_by(97) {
        assert!(
            Group::from_bytes(&common::flip_bit(&saved, bit)).is_err(),
            "bit {bit}"
        );
    }
}
