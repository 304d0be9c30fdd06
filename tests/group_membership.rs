//! Group membership: create, add, remove, leave and rekey, and what each member can read.

mod common;

use common::fields_at;
use common::groups::{
    abc, assert_group_rejects, own_sender_secrets, World, ALICE, BOB, CAROL, DAVE,
};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_ID_CONTEXT, group::GROUP_ID_LEN, group::GROUP_SALT_LEN, Error, Group, GroupEvent,
};
use sha2::{Digest, Sha256};

/// The roster `group` holds, as signed (`GroupState.roster`).
fn held_roster(group: &Group) -> v1::Roster {
    let state = group.to_bytes();
    let signed = v1::SignedRoster::decode(fields_at(&state, &[3])[0]).expect("a signed roster");
    v1::Roster::decode(signed.roster.as_slice()).expect("a roster")
}

#[test]
fn everyone_reads_everyone() {
    let mut world = abc(1);
    for from in [ALICE, BOB, CAROL] {
        let text = format!("from m{from}").into_bytes();
        let message = world.send(from, &text);
        let readers: Vec<_> = [ALICE, BOB, CAROL]
            .into_iter()
            .filter(|&r| r != from)
            .collect();
        world.assert_all_read(&readers, from, &message, &text);
        assert_eq!(world.decrypt(from, &message), Err(Error::OwnGroupMessage));
    }
    let group_id = world.group(ALICE).group_id().to_vec();
    assert_eq!(group_id.len(), GROUP_ID_LEN);
    let alice = world.key(ALICE);
    for i in [ALICE, BOB, CAROL] {
        let group = world.group(i);
        assert_eq!(group.group_id(), group_id);
        assert_eq!(group.founder(), alice);
        assert_eq!(group.members().len(), 3);
        assert_eq!(group.roster_version(), 1);
        assert!(group.is_member());
    }
    let alice_card = world.members[ALICE].identity.card().clone();
    assert_eq!(*world.group(BOB).owner(), alice_card);
}

#[test]
fn a_new_member_reads_only_what_follows_its_addition() {
    let mut world = abc(2);
    let before: Vec<_> = [ALICE, BOB, CAROL]
        .into_iter()
        .map(|from| (from, world.send(from, b"before dave")))
        .collect();
    world.add(ALICE, DAVE);
    world.flush();
    assert_eq!(world.group(DAVE).roster_version(), 2);
    assert_eq!(world.group(CAROL).members().len(), 4);

    for (from, message) in &before {
        let error = world.decrypt(DAVE, message).unwrap_err();
        assert!(
            matches!(error, Error::SentBeforeKeyReceived { .. }),
            "m{from}'s earlier message: {error:?}"
        );
    }
    for from in [ALICE, BOB, CAROL] {
        let message = world.send(from, b"welcome dave");
        world.assert_all_read(&[DAVE], from, &message, b"welcome dave");
    }
    let message = world.send(DAVE, b"hello all");
    world.assert_all_read(&[ALICE, BOB, CAROL], DAVE, &message, b"hello all");
}

#[test]
fn a_removed_member_reads_nothing_after_the_removal_even_with_its_old_state() {
    let mut world = abc(3);
    let in_flight = world.send(CAROL, b"sent before the removal");
    let bob_old_state = world.group(BOB).to_bytes();
    world.remove(ALICE, BOB);
    world.flush();

    assert!(!world.group(BOB).is_member(), "bob learned of his removal");
    assert_eq!(
        world.members[BOB].group().encrypt(&mut world.rng, b"x"),
        Err(Error::NoLongerMember)
    );
    // A message in flight during the change still decrypts for those who remain.
    world.assert_all_read(&[ALICE], CAROL, &in_flight, b"sent before the removal");

    let mut bob_old = Group::from_bytes(&bob_old_state).expect("bob's old state loads");
    for from in [ALICE, CAROL] {
        let message = world.send(from, b"after bob");
        let other = if from == ALICE { CAROL } else { ALICE };
        world.assert_all_read(&[other], from, &message, b"after bob");
        let mut bob_now = world.group(BOB).clone();
        for group in [&mut bob_now, &mut bob_old] {
            let before = group.to_bytes();
            assert_eq!(
                group.decrypt(&message),
                Err(Error::UnknownEpoch { epoch: 1 })
            );
            assert_eq!(*group.to_bytes(), *before);
        }
    }
    // Bob's own messages are refused by the others, whatever key he uses.
    let from_bob = bob_old
        .encrypt(&mut world.rng, b"still here?")
        .expect("old state can encrypt");
    let bob = world.key(BOB);
    for reader in [ALICE, CAROL] {
        assert_eq!(
            world.decrypt(reader, &from_bob),
            Err(Error::RemovedGroupMember { member: bob.into() })
        );
    }
}

#[test]
fn a_member_who_left_reads_nothing_after_the_owner_removed_it() {
    let mut world = abc(4);
    let carol_old_state = world.group(CAROL).to_bytes();
    world.leave(CAROL);
    assert!(!world.group(CAROL).is_member());
    // The request reaches Alice, whose app removes Carol.
    let (from, to, request) = world.mailbox.pop_front().expect("a leave request");
    assert_eq!((from, to), (CAROL, ALICE));
    let carol = world.key(CAROL);
    let member = &mut world.members[ALICE];
    let received = member
        .group
        .as_mut()
        .expect("alice's group")
        .receive(&mut world.rng, &mut member.channels, &carol, &request)
        .expect("leave request");
    assert_eq!(
        received.events(),
        [GroupEvent::LeaveRequested { member: carol }]
    );
    assert!(received.outgoing().is_empty());
    world.remove(ALICE, CAROL);
    world.flush();

    let mut carol_old = Group::from_bytes(&carol_old_state).expect("old state loads");
    for from in [ALICE, BOB] {
        let message = world.send(from, b"after carol");
        assert!(carol_old.decrypt(&message).is_err());
        assert!(world.group(CAROL).decrypt(&message).is_err());
    }
    assert_eq!(world.group(BOB).members().len(), 2);
}

#[test]
fn a_stolen_state_reads_nothing_after_its_owner_rekeys() {
    let mut world = abc(5);
    let bob_stolen = world.group(BOB).to_bytes();
    let carol_stolen = world.group(CAROL).to_bytes();
    let before = world.send(BOB, b"before the rekey");
    world.rekey(BOB);
    world.flush();
    let bob = world.key(BOB);
    assert_eq!(world.group(BOB).epoch(), Some(1));
    assert_eq!(world.group(ALICE).sender_epoch(&bob), Some(1));

    // A message of the old epoch still decrypts for the members.
    world.assert_all_read(&[ALICE, CAROL], BOB, &before, b"before the rekey");
    let after = world.send(BOB, b"after the rekey");
    world.assert_all_read(&[ALICE, CAROL], BOB, &after, b"after the rekey");

    // A copy of Carol's state from before holds only Bob's old key.
    let mut carol_old = Group::from_bytes(&carol_stolen).expect("stolen state loads");
    assert_eq!(
        carol_old.decrypt(&after),
        Err(Error::UnknownEpoch { epoch: 1 })
    );
    // Bob's own stolen state shares no secret with his new sender key.
    let new_secrets = own_sender_secrets(&world.group(BOB).to_bytes());
    assert_eq!(new_secrets.len(), 2);
    for secret in &new_secrets {
        assert!(!bob_stolen
            .windows(secret.len())
            .any(|window| window == secret.as_slice()));
    }
}

#[test]
fn channel_decrypt_never_hands_out_group_control() {
    let mut world = World::new(6, 2);
    let (group, outgoing) = world.new_group(0, &[1]);
    let alice = world.key(0);
    let bob_channel = world.members[1].channels.get_mut(&alice).expect("channel");
    let before = bob_channel.to_bytes();
    assert_eq!(
        bob_channel.decrypt(outgoing[0].message()),
        Err(Error::GroupControlMessage {
            group_id: group.group_id().to_vec()
        })
    );
    assert_eq!(*bob_channel.to_bytes(), *before);
    // An ordinary message is not control.
    let bob = world.key(1);
    let ordinary = world.members[0]
        .channels
        .get_mut(&bob)
        .expect("channel")
        .encrypt(&mut world.rng, b"just chat")
        .expect("encrypt");
    let member = &mut world.members[1];
    let joined = Group::join(
        &mut world.rng,
        &member.identity,
        &mut member.channels,
        &alice,
        &ordinary,
    );
    assert_eq!(joined.err(), Some(Error::NotGroupControl));
}

/// v1 refused to create a group while a member had no channel (`MissingChannel`). In v2
/// the member's welcome waits in the group, which asks the app for a channel once.
#[test]
fn a_member_without_a_channel_is_welcomed_once_there_is_one() {
    let mut world = World::new(7, 3);
    // Carol has no channel to Alice.
    world.disconnect(0, 2);
    let (bob, carol) = (world.key(1), world.key(2));
    let cards = [
        world.members[1].identity.card().clone(),
        world.members[2].identity.card().clone(),
    ];
    let member = &mut world.members[0];
    let (group, received) = Group::create(
        &mut world.rng,
        &member.identity,
        &cards,
        &mut member.channels,
    )
    .expect("a missing channel is no error");
    assert_eq!(
        received.events(),
        [GroupEvent::ChannelNeeded {
            member: carol,
            name: "m2".to_owned(),
            fingerprint: cards[1].fingerprint(),
        }]
    );
    let recipients: Vec<_> = received.outgoing().iter().map(|out| out.to()).collect();
    assert_eq!(recipients, [bob]);
    assert_eq!(group.pending_members().collect::<Vec<_>>(), [&carol]);
    member.group = Some(group);
    world.post(0, received.outgoing().to_vec());
    // Bob joins; his key for Carol waits with Carol's welcome.
    let held = world.flush_except(2);
    assert!(world.group(1).is_member());

    // Alice starts a channel to Carol; the welcome rides on its first message.
    world.start_channel(0, 2);
    assert_eq!(world.deliver_pending(0), []);
    assert_eq!(world.group(0).pending_members().count(), 0);
    let (from, to, welcome) = world.mailbox.pop_front().expect("carol's welcome");
    assert_eq!((from, to), (0, 2));
    let events = world.deliver_events(0, 2, &welcome).expect("carol joins");
    let alice = world.key(0);
    assert_eq!(
        events,
        [
            GroupEvent::Joined { version: 1 },
            GroupEvent::SenderKey {
                sender: alice,
                epoch: 0
            }
        ]
    );
    world.mailbox.extend(held);
    world.flush();
    for from in 0..3 {
        let message = world.send(from, b"all here");
        let readers: Vec<_> = (0..3).filter(|&r| r != from).collect();
        world.assert_all_read(&readers, from, &message, b"all here");
    }
}

#[test]
fn only_the_owner_changes_the_roster() {
    let mut world = abc(8);
    let card = world.members[DAVE].identity.card().clone();
    let (alice, dave) = (world.key(ALICE), world.key(DAVE));
    let member = &mut world.members[BOB];
    let group = member.group.as_mut().expect("group");
    let before = group.to_bytes();
    assert_eq!(
        group.add_member(
            &mut world.rng,
            &member.identity,
            &card,
            &mut member.channels
        ),
        Err(Error::NotGroupOwner)
    );
    assert_eq!(
        group.remove_member(
            &mut world.rng,
            &member.identity,
            &alice,
            &mut member.channels
        ),
        Err(Error::NotGroupOwner)
    );
    assert_eq!(*group.to_bytes(), *before);

    let member = &mut world.members[ALICE];
    let group = member.group.as_mut().expect("group");
    let alice_card = member.identity.card().clone();
    assert_eq!(
        group.add_member(
            &mut world.rng,
            &member.identity,
            &alice_card,
            &mut member.channels
        ),
        Err(Error::AlreadyGroupMember {
            member: alice.into()
        })
    );
    assert_eq!(
        group.remove_member(
            &mut world.rng,
            &member.identity,
            &alice,
            &mut member.channels
        ),
        Err(Error::OwnerCannotLeave)
    );
    assert_eq!(
        group.leave(&mut world.rng, &mut member.channels),
        Err(Error::OwnerCannotLeave)
    );
    assert_eq!(
        group.remove_member(
            &mut world.rng,
            &member.identity,
            &dave,
            &mut member.channels
        ),
        Err(Error::NotGroupMember {
            member: dave.into()
        })
    );
}

/// v1 took the group id from the app (and checked its length). In v2 it is
/// SHA-256(GROUP_ID_CONTEXT || founder || salt), the salt 16 bytes the founder draws from
/// its rng first, so nobody else can make a group under it and one founder's groups differ.
#[test]
fn group_ids_are_bound_to_the_founder() {
    let mut world = World::new(9, 2);
    // The same seed twice: one for the group, one to see what it drew first.
    let mut draws = common::rng(90);
    let mut salt = [0u8; GROUP_SALT_LEN];
    rand::Rng::fill_bytes(&mut draws, &mut salt);
    let cards = [world.members[1].identity.card().clone()];
    let member = &mut world.members[0];
    let (group, _) = Group::create(
        &mut common::rng(90),
        &member.identity,
        &cards,
        &mut member.channels,
    )
    .expect("create");
    let founder = world.key(0);
    let expected: Vec<u8> = Sha256::new()
        .chain_update(GROUP_ID_CONTEXT)
        .chain_update(founder)
        .chain_update(salt)
        .finalize()
        .to_vec();
    assert_eq!(group.group_id(), expected);
    assert_eq!(group.founder(), founder);
    let roster = held_roster(&group);
    assert_eq!(roster.group_id, expected);
    assert_eq!(roster.founder, founder);
    assert_eq!(roster.salt, salt);
    assert!(roster.transfers.is_empty());
    assert!(roster.members.iter().all(|member| member.added_at == 1));

    let (again, _) = world.new_group(0, &[1]);
    assert_ne!(again.group_id(), group.group_id(), "a fresh salt");
    assert_eq!(again.group_id().len(), GROUP_ID_LEN);
    // Another founder with the same members has another id.
    let (bobs, _) = world.new_group(1, &[0]);
    assert_ne!(bobs.group_id(), group.group_id());
    assert_eq!(bobs.founder(), world.key(1));
}

#[test]
fn a_removed_member_added_again_keeps_its_state_and_takes_part_again() {
    let mut world = abc(10);
    world.remove(ALICE, BOB);
    world.flush();
    assert!(!world.group(BOB).is_member());
    // Bob's app keeps the old group, so the new welcome arrives through `receive`.
    world.add(ALICE, BOB);
    world.flush();
    assert!(world.group(BOB).is_member());
    assert_eq!(world.group(BOB).roster_version(), 3);
    // The roster says which version added Bob back.
    let bob = world.key(BOB);
    let added_at: Vec<(Vec<u8>, u64)> = held_roster(world.group(CAROL))
        .members
        .into_iter()
        .map(|member| (member.card, member.added_at))
        .collect();
    let bob_card = world.members[BOB].identity.card().to_bytes();
    assert!(added_at.contains(&(bob_card, 3)), "bob added at 3");
    assert!(world.group(ALICE).member(&bob).is_some());
    let message = world.send(BOB, b"back again");
    world.assert_all_read(&[ALICE, CAROL], BOB, &message, b"back again");
    for from in [ALICE, CAROL] {
        let message = world.send(from, b"welcome back");
        world.assert_all_read(&[BOB], from, &message, b"welcome back");
    }
}

#[test]
fn a_removed_senders_messages_are_refused_as_removed_but_not_once_it_is_added_back() {
    let mut world = abc(11);
    let late = world.send(CAROL, b"sent before the removal");
    world.remove(ALICE, CAROL);
    world.flush();
    let carol = world.key(CAROL);
    let removed = Error::RemovedGroupMember {
        member: carol.into(),
    };
    assert!(removed.is_permanent() && !removed.is_retryable());
    // The owner who removed her and a member who processed it: final, nothing changed.
    for reader in [ALICE, BOB] {
        assert_group_rejects(world.group(reader), &late, removed.clone());
    }
    // The removed list is saved with the group.
    let saved = world.group(BOB).to_bytes();
    let mut loaded = Group::from_bytes(&saved).expect("bob's group loads");
    assert_eq!(*loaded.to_bytes(), *saved);
    assert_group_rejects(&mut loaded, &late, removed.clone());
    // In carol's name but not signed with a key bob held of her: not shown as hers.
    let mut forged = late.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_group_rejects(
        world.group(BOB),
        &forged,
        Error::NotGroupMember {
            member: carol.into(),
        },
    );

    // Carol added back. Her first message under her new key overtakes, at bob's, the
    // roster that adds her back: not final, since that roster is on its way.
    world.add(ALICE, CAROL);
    let to_bob = world.flush_except(BOB);
    assert!(world.group(CAROL).is_member());
    let again = world.send(CAROL, b"back again");
    assert_group_rejects(
        world.group(BOB),
        &again,
        Error::NotGroupMember {
            member: carol.into(),
        },
    );
    world.mailbox.extend(to_bob);
    world.flush();
    world.assert_all_read(&[ALICE, BOB], CAROL, &again, b"back again");
    // Added back, she is off the list: her old message is checked against her new epoch 0,
    // whose key did not sign it.
    let result = world.decrypt(BOB, &late);
    assert!(
        matches!(result, Err(Error::BadSignature { .. })),
        "{result:?}"
    );
}
