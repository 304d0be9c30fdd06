//! Group control lost for good with its channel message, and the recovery
//! docs/PROTOCOL.md 6.5 describes: the network simulator's limit bursts found it (a
//! member's roster update whose channel key went with the oldest skipped keys).

mod common;

use common::groups::World;
use ratchetkit::{channel::MAX_SKIPPED_KEYS, Error, GroupEvent};

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

/// Group protocol v1 left such a member stuck until the owner removed it and added it
/// back. In v2 it asks for what it missed ([`Group::resync`]): the owner answers with its
/// roster and key, the others with their keys, nobody is removed, and what waited for
/// the roster (m3's key) then installs, so nothing sent in the meantime is lost.
#[test]
fn a_member_that_lost_a_roster_update_recovers_by_resync() {
    let mut world = World::new(11, 4);
    world.create_group(0, &[1, 2]);
    world.add(0, 3); // roster 2
    let lost = world.take_to(1);
    assert_eq!(lost.len(), 1, "roster 2 to m1");
    // m2 takes roster 2, m3 joins; what m3 sends m1 waits.
    let waiting = world.flush_except(1);
    assert_eq!(waiting.len(), 1, "m3's sender key to m1");

    // The channel key of roster 2 goes: the update is refused as a replay would be, and
    // nothing changes.
    evict_skipped_keys(&mut world, 0, 1);
    let before = world.group(1).to_bytes();
    let (from, _, update) = &lost[0];
    assert_eq!(world.deliver(*from, 1, update), Err(Error::Duplicate));
    assert_eq!(*world.group(1).to_bytes(), *before);

    // m3's key, sent under roster 2, is ahead of m1, and m3 is unknown to it.
    for (from, _, message) in &waiting {
        assert_eq!(
            world.deliver(*from, 1, message),
            Err(Error::RosterBehind {
                version: 2,
                current: 1
            })
        );
        assert_eq!(*world.group(1).to_bytes(), *before);
    }
    let from_m3 = world.send(3, b"sent while m1 is behind");
    let from_owner = world.send(0, b"the owner goes on");
    world.assert_all_read(&[1, 2, 3], 0, &from_owner, b"the owner goes on");
    let m3 = world.key(3);
    assert_eq!(
        world.decrypt(1, &from_m3),
        Err(Error::NotGroupMember { member: m3.into() })
    );

    // m1 asks the members it knows for what it missed, with a fresh key of its own.
    let m1 = world.key(1);
    world.resync(1);
    let requests: Vec<_> = world.mailbox.drain(..).collect();
    let recipients: Vec<_> = requests.iter().map(|(f, t, _)| (*f, *t)).collect();
    assert_eq!(recipients, [(1, 0), (1, 2)]);
    let epoch = world.group(1).epoch().expect("a member");
    assert!(epoch > 0, "resync starts a new epoch");
    for (from, to, request) in &requests {
        let events = world
            .deliver_events(*from, *to, request)
            .expect("a resync request");
        assert_eq!(
            events,
            [
                GroupEvent::SenderKey { sender: m1, epoch },
                GroupEvent::ResyncRequested { member: m1 }
            ]
        );
    }
    // The owner's answer brings roster 2 (its key, held already, is skipped); m2's key
    // is held already. m3's key installs once m1 has the roster.
    world.mailbox.extend(waiting);
    world.flush();
    assert_eq!(world.group(1).roster_version(), 2);
    assert_eq!(world.group(1).sender_epoch(&m3), Some(0));
    for who in 0..4 {
        assert!(world.group(who).is_member(), "m{who} is still in");
    }

    // Nothing was lost: what m3 sent while m1 was behind reads now.
    world.assert_all_read(&[1], 3, &from_m3, b"sent while m1 is behind");
    for who in 0..4 {
        let message = world.send(who, b"after the recovery");
        let readers: Vec<usize> = (0..4).filter(|&r| r != who).collect();
        world.assert_all_read(&readers, who, &message, b"after the recovery");
    }
}

/// A member that missed a roster update is not stuck in v2 even without asking: the
/// owner's next roster skips the version it missed and applies.
#[test]
fn a_member_that_lost_a_roster_update_catches_up_with_the_next() {
    let mut world = World::new(13, 4);
    world.create_group(0, &[1, 2]);
    world.add(0, 3); // roster 2
    let lost = world.take_to(1);
    assert_eq!(lost.len(), 1, "roster 2 to m1");
    let mut waiting = world.flush_except(1);
    evict_skipped_keys(&mut world, 0, 1);
    let (from, _, update) = &lost[0];
    assert_eq!(world.deliver(*from, 1, update), Err(Error::Duplicate));

    // Roster 3 removes m2: m1 goes from roster 1 to 3, adding m3 and dropping m2.
    world.remove(0, 2);
    waiting.extend(world.flush_except(1));
    world.mailbox.extend(waiting);
    world.flush();
    assert_eq!(world.group(1).roster_version(), 3);
    assert!(!world.group(2).is_member());
    for who in [0, 1, 3] {
        let message = world.send(who, b"without m2");
        let readers: Vec<usize> = [0, 1, 3].into_iter().filter(|&r| r != who).collect();
        world.assert_all_read(&readers, who, &message, b"without m2");
        assert!(
            world.decrypt(2, &message).is_err(),
            "m2 reads after removal"
        );
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

/// v2: the owner asks instead of waiting for m1's next rekey. m1 answers with its key as
/// it is now, so what it sent under the lost key before the answer stays unread (a key is
/// only ever given from its current iteration on), and everything after reads.
#[test]
fn a_sender_key_the_owner_lost_comes_back_by_resync() {
    let mut world = World::new(14, 3);
    world.create_group(0, &[1, 2]);
    world.rekey(1);
    let lost = world.take_to(0);
    assert_eq!(lost.len(), 1, "m1's new key to the owner");
    world.flush();
    evict_skipped_keys(&mut world, 1, 0);
    let (from, _, key) = &lost[0];
    assert_eq!(world.deliver(*from, 0, key), Err(Error::Duplicate));
    let unread = world.send(1, b"under the lost epoch");
    assert_eq!(
        world.decrypt(0, &unread),
        Err(Error::UnknownEpoch { epoch: 1 })
    );

    world.resync(0);
    let owner = world.key(0);
    let m1 = world.key(1);
    // m1 answers the owner with its key of epoch 1, at its current iteration.
    let request = world.take_to(1);
    assert_eq!(request.len(), 1);
    let (from, to, request) = &request[0];
    let events = world.deliver_events(*from, *to, request).expect("request");
    assert!(events.contains(&GroupEvent::ResyncRequested { member: owner }));
    let reply = world.take_to(0);
    assert_eq!(reply.len(), 1);
    let (from, to, reply) = &reply[0];
    let events = world.deliver_events(*from, *to, reply).expect("reply");
    assert_eq!(
        events,
        [GroupEvent::SenderKey {
            sender: m1,
            epoch: 1
        }]
    );
    world.flush();
    assert!(matches!(
        world.decrypt(0, &unread),
        Err(Error::SentBeforeKeyReceived { .. })
    ));
    let message = world.send(1, b"after the resync");
    world.assert_all_read(&[0, 2], 1, &message, b"after the resync");
    let message = world.send(0, b"the owner's new epoch");
    world.assert_all_read(&[1, 2], 0, &message, b"the owner's new epoch");
}
