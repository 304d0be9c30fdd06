//! Group membership: create, add, remove, leave and rekey, and what each member can read.

mod common;

use common::groups::{abc, own_sender_secrets, World, ALICE, BOB, CAROL, DAVE, GROUP_ID};
use ratchetkit::{Error, Group, GroupEvent};

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
    for i in [ALICE, BOB, CAROL] {
        let group = world.group(i);
        assert_eq!(group.group_id(), GROUP_ID);
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
    assert_eq!(world.group(BOB).encrypt(b"x"), Err(Error::NoLongerMember));
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
        .encrypt(b"still here?")
        .expect("old state can encrypt");
    let bob = world.key(BOB);
    for reader in [ALICE, CAROL] {
        assert_eq!(
            world.decrypt(reader, &from_bob),
            Err(Error::NotGroupMember { member: bob })
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
        received.events,
        [GroupEvent::LeaveRequested { member: carol }]
    );
    assert!(received.outgoing.is_empty());
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
    let (_, outgoing) = world.new_group(0, &[1]);
    let alice = world.key(0);
    let bob_channel = world.members[1].channels.get_mut(&alice).expect("channel");
    let before = bob_channel.to_bytes();
    assert_eq!(
        bob_channel.decrypt(&outgoing[0].message),
        Err(Error::GroupControlMessage {
            group_id: GROUP_ID.to_vec()
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

#[test]
fn operations_without_a_channel_change_nothing() {
    let mut world = World::new(7, 3);
    // Carol has no channel to Alice.
    let carol = world.key(2);
    world.members[0].channels.remove(&carol);
    let cards = [
        world.members[1].identity.card().clone(),
        world.members[2].identity.card().clone(),
    ];
    let member = &mut world.members[0];
    let before = member
        .channels
        .values()
        .map(|c| c.to_bytes())
        .collect::<Vec<_>>();
    let result = Group::create(
        &mut world.rng,
        &member.identity,
        &GROUP_ID,
        &cards,
        &mut member.channels,
    );
    assert_eq!(result.err(), Some(Error::MissingChannel { member: carol }));
    let after = member
        .channels
        .values()
        .map(|c| c.to_bytes())
        .collect::<Vec<_>>();
    assert_eq!(before, after, "no channel moved");
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
        Err(Error::AlreadyGroupMember { member: alice })
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
        Err(Error::NotGroupMember { member: dave })
    );
}

#[test]
fn group_ids_are_checked() {
    let mut world = World::new(9, 2);
    let cards = [world.members[1].identity.card().clone()];
    let member = &mut world.members[0];
    for len in [0, 15, 65] {
        let id = vec![1u8; len];
        let result = Group::create(
            &mut world.rng,
            &member.identity,
            &id,
            &cards,
            &mut member.channels,
        );
        assert_eq!(result.err(), Some(Error::InvalidGroupId { len }));
    }
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
    let message = world.send(BOB, b"back again");
    world.assert_all_read(&[ALICE, CAROL], BOB, &message, b"back again");
    for from in [ALICE, CAROL] {
        let message = world.send(from, b"welcome back");
        world.assert_all_read(&[BOB], from, &message, b"welcome back");
    }
}
