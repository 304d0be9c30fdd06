//! The group API that protocol version 2 added: control on a channel's first message,
//! control that waits for a channel (`ChannelNeeded`, `deliver_pending`), resync and its
//! rate limit, ownership transfer, and saved groups that carry all of it.

mod common;

use common::groups::{abc, World, ALICE, BOB, CAROL, DAVE};
use common::{carries_prekey, fields_at, raw_fields};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_VERSION, group::MAX_PENDING_CONTROLS, group::MAX_RESYNC_REPLIES, Channel, Error,
    Group, GroupEvent,
};
use sha2::{Digest, Sha256};

/// Saving `group` and loading it back gives the same bytes, and the loaded group.
fn reloaded(group: &Group) -> Group {
    let saved = group.to_bytes();
    let loaded = Group::from_bytes(&saved).expect("a saved group loads");
    assert_eq!(*loaded.to_bytes(), *saved, "to_bytes(from_bytes(x)) != x");
    loaded
}

/// Every member in `members` reads a message from every other.
fn all_read_all(world: &mut World, members: &[usize]) {
    for &from in members {
        let message = world.send(from, b"to everyone");
        let readers: Vec<_> = members.iter().copied().filter(|&r| r != from).collect();
        world.assert_all_read(&readers, from, &message, b"to everyone");
    }
}

/// Delivers `message` and expects `expected`, with the recipient's group unchanged.
#[track_caller]
fn assert_refused(world: &mut World, from: usize, to: usize, message: &[u8], expected: Error) {
    let before = world.group(to).to_bytes();
    assert_eq!(world.deliver(from, to, message), Err(expected));
    assert_eq!(*world.group(to).to_bytes(), *before);
}

// ---------------------------------------------------------------------------------------
// Control on a channel's first message

#[test]
fn a_welcome_rides_on_a_channels_first_message() {
    let mut world = World::new(21, 2);
    world.disconnect(0, 1);
    let (alice, bob) = (world.key(0), world.key(1));
    let (group, outgoing) = world.new_group(0, &[1]);
    assert!(outgoing.is_empty(), "no channel to bob yet");
    assert_eq!(group.pending_members().collect::<Vec<_>>(), [&bob]);
    let group_id = group.group_id().to_vec();
    world.members[0].group = Some(group);

    // Alice starts a channel from Bob's bundle; the welcome is its first message.
    world.start_channel(0, 1);
    assert_eq!(world.deliver_pending(0), []);
    let (_, to, welcome) = world.mailbox.pop_front().expect("the welcome");
    assert_eq!(to, 1);
    assert!(carries_prekey(&welcome));
    // A second control before Bob replies also rides on the first chain.
    world.rekey(0);
    let (_, _, rekey) = world.mailbox.pop_front().expect("alice's new key");
    assert!(carries_prekey(&rekey));

    let member = &mut world.members[1];
    let joined = Channel::join(&member.identity, &mut member.prekeys, &welcome).expect("join");
    assert!(joined.plaintext().is_empty(), "control is no plaintext");
    assert_eq!(joined.peer().signing_key(), alice);
    let control = joined
        .group_control()
        .expect("the welcome, for the group")
        .clone();
    assert_eq!(control.from(), alice);
    assert_eq!(control.group_id(), Ok(group_id.clone()));
    let debug = format!("{control:?}");
    assert!(debug.contains(&hex::encode(alice)), "{debug}");
    let mut channel = joined.into_channel();
    // Channel::decrypt still never hands out control, on the first chain neither.
    let before = channel.to_bytes();
    assert_eq!(
        channel.decrypt(&rekey),
        Err(Error::GroupControlMessage {
            group_id: group_id.clone()
        })
    );
    assert_eq!(*channel.to_bytes(), *before);

    member.channels.insert(alice, channel);
    let (group, received) = Group::join_control(
        &mut world.rng,
        &member.identity,
        &mut member.channels,
        &control,
    )
    .expect("join the group");
    assert_eq!(
        received.events(),
        [
            GroupEvent::Joined { version: 1 },
            GroupEvent::SenderKey {
                sender: alice,
                epoch: 0
            }
        ]
    );
    assert_eq!(group.group_id(), group_id);
    let to: Vec<_> = received.outgoing().iter().map(|out| out.to()).collect();
    assert_eq!(to, [alice], "bob's key goes back on the joined channel");
    member.group = Some(group);
    world.post(1, received.outgoing().to_vec());
    let events = world.deliver_events(0, 1, &rekey).expect("the rekey");
    assert_eq!(
        events,
        [GroupEvent::SenderKey {
            sender: alice,
            epoch: 1
        }]
    );
    world.flush();
    all_read_all(&mut world, &[0, 1]);
}

#[test]
fn a_member_takes_a_key_from_a_first_message_and_keeps_one_that_came_too_early() {
    let mut world = World::new(22, 3);
    // m1 and m2 have no channel to each other.
    world.disconnect(1, 2);
    let (m1, m2) = (world.key(1), world.key(2));
    let (group, outgoing) = world.new_group(0, &[1, 2]);
    world.members[0].group = Some(group);
    world.post(0, outgoing);
    // m1 joins first; its key for m2 waits for a channel.
    let (_, _, welcome) = world.take_to(1).pop_front().expect("m1's welcome");
    let events = world.deliver_events(0, 1, &welcome).expect("m1 joins");
    let m2_card = world.members[2].identity.card().clone();
    assert!(events.contains(&GroupEvent::ChannelNeeded {
        member: m2,
        name: "m2".to_owned(),
        fingerprint: m2_card.fingerprint(),
    }));
    assert_eq!(world.group(1).pending_members().collect::<Vec<_>>(), [&m2]);

    // m1 starts the channel; its key reaches m2 before m2's welcome.
    world.start_channel(1, 2);
    world.deliver_pending(1);
    assert_eq!(world.group(1).pending_members().count(), 0);
    let mut to_m2 = world.take_to(2);
    let (from, _, first) = to_m2.pop_back().expect("m1's key");
    assert_eq!(from, 1);
    let welcome_to_m2 = to_m2;
    let member = &mut world.members[2];
    let joined = Channel::join(&member.identity, &mut member.prekeys, &first).expect("join");
    let control = joined.group_control().expect("m1's key").clone();
    assert_eq!(control.from(), m1);
    member.channels.insert(m1, joined.into_channel());
    // Not a welcome: m2 keeps the control (and the channel) and joins from its welcome.
    let refused = Group::join_control(
        &mut world.rng,
        &member.identity,
        &mut member.channels,
        &control,
    );
    assert_eq!(refused.err(), Some(Error::NotAGroupWelcome));
    world.mailbox.extend(welcome_to_m2);
    let to_m1 = world.flush_except(1);
    assert!(world.group(2).is_member());
    // Its key for m1 goes on the channel m1 started: nothing waits.
    assert_eq!(world.group(2).pending_members().count(), 0);
    world.mailbox.extend(to_m1);
    assert_eq!(world.group(2).sender_epoch(&m1), None);

    let member = &mut world.members[2];
    let received = member
        .group
        .as_mut()
        .expect("m2's group")
        .receive_control(&mut world.rng, &mut member.channels, &control)
        .expect("the key that came too early");
    assert_eq!(
        received.events(),
        [GroupEvent::SenderKey {
            sender: m1,
            epoch: 0
        }]
    );
    // Once is enough: the same control again has nothing new.
    let before = world.group(2).to_bytes();
    let member = &mut world.members[2];
    let again = member.group.as_mut().expect("m2's group").receive_control(
        &mut world.rng,
        &mut member.channels,
        &control,
    );
    assert_eq!(again, Err(Error::Duplicate));
    assert_eq!(*world.group(2).to_bytes(), *before);
    world.flush();
    all_read_all(&mut world, &[0, 1, 2]);
}

// ---------------------------------------------------------------------------------------
// Control that waits for a channel

#[test]
fn control_waits_for_a_channel_across_a_reload_and_keeps_the_newest() {
    let mut world = World::new(23, 2);
    world.disconnect(0, 1);
    let (alice, bob) = (world.key(0), world.key(1));
    let bob_card = world.members[1].identity.card().clone();
    let member = &mut world.members[0];
    let (mut group, received) = Group::create(
        &mut world.rng,
        &member.identity,
        std::slice::from_ref(&bob_card),
        &mut member.channels,
    )
    .expect("create");
    assert_eq!(
        received.events(),
        [GroupEvent::ChannelNeeded {
            member: bob,
            name: "m1".to_owned(),
            fingerprint: bob_card.fingerprint(),
        }]
    );
    assert!(received.outgoing().is_empty());
    // Asked for once: later control for Bob joins what waits, without another event.
    let rekeys = MAX_PENDING_CONTROLS as u32 + 2;
    for _ in 0..rekeys {
        let received = group
            .rekey(&mut world.rng, &mut member.channels)
            .expect("rekey");
        assert_eq!(received.events(), []);
        assert!(received.outgoing().is_empty());
    }
    // Nothing to send yet, and nothing asked again.
    let received = group.deliver_pending(&mut world.rng, &mut member.channels);
    assert!(received.events().is_empty() && received.outgoing().is_empty());
    let saved = group.to_bytes();
    assert_eq!(
        fields_at(&saved, &[6, 3]).len(),
        MAX_PENDING_CONTROLS,
        "the newest controls are kept"
    );
    // The app restarts: what waits is in the saved group.
    let group = reloaded(&group);
    assert_eq!(group.pending_members().collect::<Vec<_>>(), [&bob]);
    world.members[0].group = Some(group);

    world.start_channel(0, 1);
    assert_eq!(world.deliver_pending(0), []);
    assert_eq!(world.mailbox.len(), MAX_PENDING_CONTROLS);
    assert_eq!(world.group(0).pending_members().count(), 0);
    let (_, _, first) = world.mailbox.pop_front().expect("the first");
    let events = world.deliver_events(0, 1, &first).expect("bob joins");
    // The first control carries the roster, with the oldest key kept.
    let oldest = rekeys + 1 - MAX_PENDING_CONTROLS as u32;
    assert_eq!(
        events,
        [
            GroupEvent::Joined { version: 1 },
            GroupEvent::SenderKey {
                sender: alice,
                epoch: oldest
            }
        ]
    );
    world.flush();
    assert_eq!(world.group(1).sender_epoch(&alice), Some(rekeys));
    all_read_all(&mut world, &[0, 1]);
}

// ---------------------------------------------------------------------------------------
// Resync

/// A resync request as a client of Bob's own could send it: no sender key with it.
fn bare_resync_request(world: &mut World, from: usize, to: usize) -> Vec<u8> {
    let group_id = world.group(from).group_id().to_vec();
    let roster_version = world.group(from).roster_version();
    let control = v1::GroupControl {
        version: GROUP_VERSION,
        roster: None,
        sender_key: None,
        leave: None,
        roster_version,
        resync: Some(v1::ResyncRequest { group_id }),
        offer: None,
    }
    .encode_to_vec();
    world.seal_control(from, to, &control)
}

#[test]
fn resync_replies_are_rate_limited_until_the_answerer_moves_on() {
    let mut world = abc(24);
    let bob = world.key(BOB);
    for round in 1..=MAX_RESYNC_REPLIES {
        world.resync(BOB);
        // Bob, waiting for answers, saves and loads.
        let group = reloaded(world.group(BOB));
        world.members[BOB].group = Some(group);
        let epoch = world.group(BOB).epoch().expect("bob is a member");
        let requests: Vec<_> = world.mailbox.drain(..).collect();
        assert_eq!(requests.len(), 2, "to alice and carol");
        for (from, to, request) in &requests {
            let events = world.deliver_events(*from, *to, request).expect("answered");
            assert_eq!(
                events,
                [
                    GroupEvent::SenderKey { sender: bob, epoch },
                    GroupEvent::ResyncRequested { member: bob }
                ],
                "round {round}"
            );
        }
        // The answers hold nothing Bob lacks: harmless duplicates, nothing changes.
        let replies: Vec<_> = world.mailbox.drain(..).collect();
        assert_eq!(replies.len(), 2);
        for (from, to, reply) in &replies {
            assert_refused(&mut world, *from, *to, reply, Error::Duplicate);
        }
    }
    // The counts are saved.
    for who in [ALICE, CAROL] {
        let saved = world.group(who).to_bytes();
        assert_eq!(
            fields_at(&saved, &[7]).len(),
            1,
            "m{who} counts bob's requests"
        );
        let group = reloaded(world.group(who));
        world.members[who].group = Some(group);
    }

    // One more: no answer. Its sender key (Bob moved to that epoch) still installs, so
    // nothing Bob sends goes unread.
    world.resync(BOB);
    let epoch = world.group(BOB).epoch().expect("bob is a member");
    let requests: Vec<_> = world.mailbox.drain(..).collect();
    for (from, to, request) in &requests {
        let events = world.deliver_events(*from, *to, request).expect("the key");
        assert_eq!(events, [GroupEvent::SenderKey { sender: bob, epoch }]);
    }
    assert!(world.mailbox.is_empty(), "no answers");
    all_read_all(&mut world, &[ALICE, BOB, CAROL]);
    // A request with nothing else in it is refused, with nothing changed.
    for to in [ALICE, CAROL] {
        let request = bare_resync_request(&mut world, BOB, to);
        assert_refused(
            &mut world,
            BOB,
            to,
            &request,
            Error::ResyncRateLimited { member: bob.into() },
        );
    }

    // Alice moves to a new epoch: she answers Bob again; Carol does not yet.
    world.rekey(ALICE);
    world.flush();
    let request = bare_resync_request(&mut world, BOB, ALICE);
    let events = world
        .deliver_events(BOB, ALICE, &request)
        .expect("answered");
    assert_eq!(events, [GroupEvent::ResyncRequested { member: bob }]);
    assert_eq!(world.mailbox.len(), 1, "alice's answer");
    world.flush();
    let request = bare_resync_request(&mut world, BOB, CAROL);
    assert_refused(
        &mut world,
        BOB,
        CAROL,
        &request,
        Error::ResyncRateLimited { member: bob.into() },
    );
    // A roster change resets every count.
    world.add(ALICE, DAVE);
    world.flush();
    let events = world
        .deliver_events(BOB, CAROL, &request)
        .expect("answered");
    assert_eq!(events, [GroupEvent::ResyncRequested { member: bob }]);
    world.flush();
    all_read_all(&mut world, &[ALICE, BOB, CAROL, DAVE]);
}

// ---------------------------------------------------------------------------------------
// Ownership transfer

#[test]
fn the_owner_hands_the_group_over_and_leaves() {
    let mut world = abc(25);
    let (alice, bob, dave) = (world.key(ALICE), world.key(BOB), world.key(DAVE));
    let group_id = world.group(ALICE).group_id().to_vec();
    let alice_backup = world.group(ALICE).clone();

    // Only the owner offers, only to another member.
    let member = &mut world.members[BOB];
    let offered = member.group.as_mut().expect("bob's group").offer_ownership(
        &mut world.rng,
        &member.identity,
        &alice,
        &mut member.channels,
    );
    assert_eq!(offered, Err(Error::NotGroupOwner));
    let accepted = member
        .group
        .as_mut()
        .expect("bob's group")
        .accept_ownership(&mut world.rng, &member.identity, &mut member.channels);
    assert_eq!(accepted, Err(Error::NoOwnershipOffer));
    let member = &mut world.members[ALICE];
    let group = member.group.as_mut().expect("alice's group");
    for (to, expected) in [
        (
            dave,
            Error::NotGroupMember {
                member: dave.into(),
            },
        ),
        (
            alice,
            Error::AlreadyGroupMember {
                member: alice.into(),
            },
        ),
    ] {
        let offered =
            group.offer_ownership(&mut world.rng, &member.identity, &to, &mut member.channels);
        assert_eq!(offered, Err(expected));
    }

    // Alice offers Bob the group.
    let received = group
        .offer_ownership(&mut world.rng, &member.identity, &bob, &mut member.channels)
        .expect("offer");
    assert_eq!(received.events(), []);
    let to: Vec<_> = received.outgoing().iter().map(|out| out.to()).collect();
    assert_eq!(to, [bob]);
    world.post(ALICE, received.outgoing().to_vec());
    // Until Bob takes it, Alice changes nothing (no two rosters of one version).
    let group = reloaded(world.group(ALICE));
    world.members[ALICE].group = Some(group);
    let dave_card = world.members[DAVE].identity.card().clone();
    let member = &mut world.members[ALICE];
    let group = member.group.as_mut().expect("alice's group");
    let before = group.to_bytes();
    assert_eq!(
        group.add_member(
            &mut world.rng,
            &member.identity,
            &dave_card,
            &mut member.channels
        ),
        Err(Error::OwnershipTransferPending)
    );
    assert_eq!(
        group.remove_member(&mut world.rng, &member.identity, &bob, &mut member.channels),
        Err(Error::OwnershipTransferPending)
    );
    // Nor is the group offered to anyone else meanwhile.
    let carol = world.key(CAROL);
    let member = &mut world.members[ALICE];
    let group = member.group.as_mut().expect("alice's group");
    assert_eq!(
        group.offer_ownership(
            &mut world.rng,
            &member.identity,
            &carol,
            &mut member.channels
        ),
        Err(Error::OwnershipTransferPending)
    );
    assert_eq!(*group.to_bytes(), *before);

    let (_, _, offer) = world.mailbox.pop_front().expect("the offer");
    let events = world.deliver_events(ALICE, BOB, &offer).expect("offer");
    assert_eq!(
        events,
        [GroupEvent::OwnershipOffered {
            owner: alice,
            version: 2
        }]
    );
    // Carol was offered nothing.
    let member = &mut world.members[CAROL];
    let accepted = member
        .group
        .as_mut()
        .expect("carol's group")
        .accept_ownership(&mut world.rng, &member.identity, &mut member.channels);
    assert_eq!(accepted, Err(Error::NoOwnershipOffer));
    // Bob's app restarts before he accepts: the offer is in his saved group.
    let group = reloaded(world.group(BOB));
    world.members[BOB].group = Some(group);
    let member = &mut world.members[BOB];
    let received = member
        .group
        .as_mut()
        .expect("bob's group")
        .accept_ownership(&mut world.rng, &member.identity, &mut member.channels)
        .expect("accept");
    assert_eq!(
        received.events(),
        [GroupEvent::OwnerChanged {
            version: 2,
            owner: bob
        }]
    );
    assert_eq!(received.outgoing().len(), 2, "to alice and carol");
    world.post(BOB, received.outgoing().to_vec());
    for who in [ALICE, CAROL] {
        let (from, to, update) = world.take_to(who).pop_front().expect("roster 2");
        let events = world.deliver_events(from, to, &update).expect("roster 2");
        assert_eq!(
            events,
            [
                GroupEvent::OwnerChanged {
                    version: 2,
                    owner: bob
                },
                GroupEvent::RosterChanged {
                    version: 2,
                    added: Vec::new(),
                    removed: Vec::new()
                }
            ]
        );
    }
    let bob_card = world.members[BOB].identity.card().clone();
    for who in [ALICE, BOB, CAROL] {
        let group = world.group(who);
        assert_eq!(*group.owner(), bob_card);
        assert_eq!(group.members()[0], bob_card);
        assert_eq!(group.founder(), alice, "the id stays bound to its founder");
        assert_eq!(group.group_id(), group_id);
        assert_eq!(group.roster_version(), 2);
        reloaded(group);
    }
    all_read_all(&mut world, &[ALICE, BOB, CAROL]);

    // A roster Alice signs from a backup of her days as owner has no place in the chain
    // of owners.
    let mut backup = alice_backup;
    let member = &mut world.members[ALICE];
    let outgoing = backup
        .add_member(
            &mut world.rng,
            &member.identity,
            &dave_card,
            &mut member.channels,
        )
        .expect("the backup still thinks it owns the group")
        .into_parts()
        .1;
    let carol = world.key(CAROL);
    let to_carol = outgoing
        .iter()
        .find(|out| out.to() == carol)
        .expect("to carol");
    assert_refused(
        &mut world,
        ALICE,
        CAROL,
        to_carol.message(),
        Error::InvalidOwnerChain,
    );

    // Alice is an ordinary member now: she leaves, and Bob removes her.
    let member = &mut world.members[ALICE];
    assert_eq!(
        member.group.as_mut().expect("alice's group").add_member(
            &mut world.rng,
            &member.identity,
            &dave_card,
            &mut member.channels
        ),
        Err(Error::NotGroupOwner)
    );
    world.leave(ALICE);
    let (from, to, request) = world.mailbox.pop_front().expect("the leave request");
    assert_eq!(to, BOB);
    let events = world.deliver_events(from, to, &request).expect("leave");
    assert_eq!(events, [GroupEvent::LeaveRequested { member: alice }]);
    world.remove(BOB, ALICE);
    world.add(BOB, DAVE);
    world.flush();
    assert!(!world.group(ALICE).is_member());
    assert_eq!(world.group(DAVE).roster_version(), 4);
    all_read_all(&mut world, &[BOB, CAROL, DAVE]);
    let message = world.send(BOB, b"without alice");
    assert!(world.decrypt(ALICE, &message).is_err());
}

// ---------------------------------------------------------------------------------------
// Saved groups

/// `state` with its version field set to `version` and the checksum recomputed.
fn with_version(state: &[u8], version: u8) -> Vec<u8> {
    let fields = raw_fields(state);
    assert_eq!((fields[0].number, fields[0].wire_type), (1, 0));
    assert_eq!(&state[fields[0].start..fields[0].end], [0x08, 2]);
    let checksum = fields.last().expect("fields");
    assert_eq!(checksum.number, 15);
    let mut body = state[..checksum.start].to_vec();
    body[1] = version;
    let digest = Sha256::digest(&body);
    body.extend_from_slice(&[0x7a, 8]);
    body.extend_from_slice(&digest[..8]);
    body
}

#[test]
fn saved_groups_are_of_version_2() {
    let mut world = abc(26);
    let saved = world.group(CAROL).to_bytes();
    assert_eq!(
        with_version(&saved, 2),
        *saved,
        "the checksum is recomputed right"
    );
    for version in [1, 3] {
        assert_eq!(
            Group::from_bytes(&with_version(&saved, version)).err(),
            Some(Error::UnsupportedVersion {
                what: "GroupState",
                found: u32::from(version)
            })
        );
    }
    reloaded(world.group(CAROL));
}

/// A first message whose control does not parse fails the join and burns no one-time
/// prekey: the check comes before the prekey is consumed.
#[test]
fn a_first_message_with_unparsable_control_burns_no_one_time_prekey() {
    let mut world = World::new(31, 2);
    world.disconnect(ALICE, BOB);
    let member = &mut world.members[BOB];
    member
        .prekeys
        .generate_one_time_prekeys(&mut world.rng, 1)
        .expect("one-time prekey");
    let id = member.prekeys.one_time_prekey_ids()[0];
    let bundle = member
        .prekeys
        .bundle(&member.identity, Some(id))
        .expect("bundle");
    let created =
        Channel::create(&mut world.rng, &world.members[ALICE].identity, &bundle).expect("create");
    let bob = world.key(BOB);
    world.members[ALICE].channels.insert(bob, created);
    let junk = world.seal_control(ALICE, BOB, b"not a GroupControl");
    assert!(carries_prekey(&junk));
    let member = &mut world.members[BOB];
    let joined = Channel::join(&member.identity, &mut member.prekeys, &junk);
    assert!(
        matches!(joined, Err(Error::Decode { .. })),
        "{:?}",
        joined.err()
    );
    assert_eq!(member.prekeys.one_time_prekey_ids(), vec![id]);
}

/// The previous owner's update that arrives after the new owner's roster (a shorter chain
/// of owners, from before the transfer) is skipped as old, and the key it carries still
/// installs: before, the whole control was refused and the key lost.
#[test]
fn the_previous_owners_late_update_still_brings_its_key() {
    let mut world = World::new(41, 4);
    world.create_group(ALICE, &[BOB, CAROL, DAVE]);
    let bob = world.key(BOB);
    // Alice removes Dave: roster 2 with her new epoch. Everything to Carol is held back.
    world.remove(ALICE, DAVE);
    let mut for_carol = world.flush_except(CAROL);
    // Alice hands the group to Bob, who signs roster 3.
    let member = &mut world.members[ALICE];
    let offer = member
        .group
        .as_mut()
        .expect("alice's group")
        .offer_ownership(&mut world.rng, &member.identity, &bob, &mut member.channels)
        .expect("offer");
    world.post(ALICE, offer.outgoing().to_vec());
    for_carol.extend(world.flush_except(CAROL));
    let member = &mut world.members[BOB];
    let accepted = member
        .group
        .as_mut()
        .expect("bob's group")
        .accept_ownership(&mut world.rng, &member.identity, &mut member.channels)
        .expect("accept");
    world.post(BOB, accepted.outgoing().to_vec());
    for_carol.extend(world.flush_except(CAROL));
    // Carol gets everything from Bob first (his roster 3 among it), then Alice's.
    let (from_bob, from_others): (Vec<_>, Vec<_>) =
        for_carol.into_iter().partition(|(from, _, _)| *from == BOB);
    world.mailbox.extend(from_bob);
    world.flush();
    assert_eq!(world.group(CAROL).owner().signing_key(), bob);
    assert_eq!(world.group(CAROL).roster_version(), 3);
    world.mailbox.extend(from_others);
    world.flush();
    let message = world.send(ALICE, b"under alice's new epoch");
    world.assert_all_read(&[BOB, CAROL], ALICE, &message, b"under alice's new epoch");
}

/// A leave request lost on the way is asked again: `leave` works until the removal
/// arrives, and only then says `NoLongerMember`.
#[test]
fn a_member_that_left_asks_again_until_it_is_removed() {
    let mut world = abc(43);
    world.leave(BOB);
    let lost = world.take_to(ALICE);
    assert_eq!(lost.len(), 1);
    assert!(!world.group(BOB).is_member());
    world.leave(BOB);
    let again = world.take_to(ALICE);
    assert_eq!(again.len(), 1);
    let (from, to, message) = again.into_iter().next().expect("one request");
    let events = world.deliver_events(from, to, &message).expect("request");
    assert_eq!(
        events,
        [GroupEvent::LeaveRequested {
            member: world.key(BOB)
        }]
    );
    world.remove(ALICE, BOB);
    world.flush();
    let member = &mut world.members[BOB];
    let group = member.group.as_mut().expect("bob keeps his group");
    assert_eq!(
        group.leave(&mut world.rng, &mut member.channels),
        Err(Error::NoLongerMember)
    );
}
