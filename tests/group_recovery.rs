//! Group control lost for good with its channel message, and the recovery
//! docs/PROTOCOL.md 6.5 describes: the network simulator's limit bursts found it (a
//! member's roster update whose channel key went with the oldest skipped keys).

mod common;

use common::groups::{Mailbox, World};
use ratchetkit::{Error, MAX_SKIPPED_KEYS};

/// Takes every control message to `to` out of the mailbox, in the order sent.
fn take_to(world: &mut World, to: usize) -> Mailbox {
    let (taken, kept) = world.mailbox.drain(..).partition(|(_, t, _)| *t == to);
    world.mailbox = kept;
    taken
}

/// Delivers all control but what goes to `skip`, which is returned, in the order sent.
fn flush_except(world: &mut World, skip: usize) -> Mailbox {
    let mut aside = Mailbox::new();
    for _ in 0..1_000 {
        aside.extend(take_to(world, skip));
        let Some((from, to, message)) = world.mailbox.pop_front() else {
            return aside;
        };
        match world.deliver(from, to, &message) {
            Ok(()) => {}
            Err(Error::NotGroupMember { .. } | Error::RosterBehind { .. }) => {
                world.mailbox.push_back((from, to, message));
            }
            Err(error) => panic!("control from m{from} to m{to}: {error:?}"),
        }
    }
    panic!("control cannot make progress");
}

/// `from` sends application messages to `to` on their channel in two bursts, `to`
/// reading only the last of each: more than `MAX_SKIPPED_KEYS` keys are skipped, and the
/// oldest (those of the messages sent before the bursts) are dropped.
fn evict_skipped_keys(world: &mut World, from: usize, to: usize) {
    let (from_key, to_key) = (world.key(from), world.key(to));
    let burst = MAX_SKIPPED_KEYS * 3 / 4;
    for _ in 0..2 {
        let mut last = Vec::new();
        for _ in 0..burst {
            let channel = world.members[from]
                .channels
                .get_mut(&to_key)
                .expect("channel");
            last = channel.encrypt(&mut world.rng, b"burst").expect("encrypt");
        }
        let channel = world.members[to]
            .channels
            .get_mut(&from_key)
            .expect("channel");
        assert_eq!(channel.decrypt(&last).expect("the last decrypts"), b"burst");
    }
    let channel = world.members[to].channels.get(&from_key).expect("channel");
    assert_eq!(channel.skipped_keys(), MAX_SKIPPED_KEYS);
}

#[test]
fn a_member_that_lost_a_roster_update_is_stuck_until_added_back() {
    let mut world = World::new(11, 4);
    world.create_group(0, &[1, 2]);
    world.add(0, 3); // roster 2
    let lost = take_to(&mut world, 1);
    assert_eq!(lost.len(), 1, "roster 2 to m1");
    // m2 takes roster 2, m3 joins; what m3 sends m1 waits.
    let mut waiting = flush_except(&mut world, 1);
    assert_eq!(waiting.len(), 1, "m3's sender key to m1");

    // The channel key of roster 2 goes: the update is refused as a replay would be, and
    // nothing changes.
    evict_skipped_keys(&mut world, 0, 1);
    let before = world.group(1).to_bytes();
    let (from, _, update) = &lost[0];
    assert_eq!(world.deliver(*from, 1, update), Err(Error::Duplicate));
    assert_eq!(*world.group(1).to_bytes(), *before);

    // From now on m1 is stuck: every later update, and m3's key, sent under roster 2,
    // is behind, and m3 is unknown to it.
    world.remove(0, 2); // roster 3
    waiting.extend(flush_except(&mut world, 1));
    for (from, _, message) in &waiting {
        let result = world.deliver(*from, 1, message);
        assert!(
            matches!(result, Err(Error::RosterBehind { current: 1, .. })),
            "{result:?}"
        );
    }
    assert_eq!(world.group(1).roster_version(), 1);
    let from_m3 = world.send(3, b"m1 cannot read this");
    assert!(matches!(
        world.decrypt(1, &from_m3),
        Err(Error::NotGroupMember { .. })
    ));

    // The recovery: m1's app drops the group and what it kept for it; the owner removes
    // m1 and adds it back; m1 joins from the new welcome.
    world.members[1].group = None;
    drop(waiting);
    world.remove(0, 1); // roster 4
    let removal = take_to(&mut world, 1);
    assert_eq!(removal.len(), 1, "roster 4 to m1");
    let (from, _, removal) = &removal[0];
    let refused = world.deliver(*from, 1, removal);
    assert!(refused.is_err(), "m1 joined from its removal: {refused:?}");
    assert!(world.members[1].group.is_none());
    world.add(0, 1); // roster 5
    world.flush();
    assert_eq!(world.group(1).roster_version(), 5);
    for who in [0, 1, 3] {
        let message = world.send(who, b"after the recovery");
        let readers: Vec<usize> = [0, 1, 3].into_iter().filter(|&r| r != who).collect();
        world.assert_all_read(&readers, who, &message, b"after the recovery");
    }
}

#[test]
fn a_sender_key_the_owner_lost_is_replaced_by_a_rekey() {
    let mut world = World::new(12, 3);
    world.create_group(0, &[1, 2]);
    world.rekey(1);
    let mut lost = world.mailbox.clone();
    lost.retain(|(_, to, _)| *to == 0);
    world.mailbox.retain(|(_, to, _)| *to != 0);
    assert_eq!(lost.len(), 1, "m1's new key to the owner");
    world.flush();

    // Evicted on the m1 -> owner channel: the owner never gets m1's new epoch.
    evict_skipped_keys(&mut world, 1, 0);
    let (from, _, key) = &lost[0];
    assert_eq!(world.deliver(*from, 0, key), Err(Error::Duplicate));
    let unread = world.send(1, b"under the lost epoch");
    assert!(matches!(
        world.decrypt(0, &unread),
        Err(Error::UnknownEpoch { .. })
    ));

    // m1 rekeys: everyone, the owner too, reads it from then on.
    world.rekey(1);
    world.flush();
    let message = world.send(1, b"after the rekey");
    world.assert_all_read(&[0, 2], 1, &message, b"after the rekey");
}
