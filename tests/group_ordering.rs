//! Roster updates that channels deliver out of order. The network simulator found all
//! three cases: a member that jumped over a roster version missed the removal and add-back
//! in it, a new member joined from a roster update that overtook its welcome, and a
//! removed member was added back by such an update.
//!
//! Group protocol v1 made such an update wait for the one before it. In v2 a roster may
//! skip versions: each member's `added_at` says who was (re-)added since the roster held,
//! so the later roster applies at once, and the owner's sender key that came with the
//! earlier one still installs when it arrives (the older roster in it is skipped).

mod common;

use common::groups::World;
use ratchetkit::{Error, GroupEvent};

/// Takes the control messages from `from` to `to` out of the mailbox, in the order sent.
fn take(world: &mut World, from: usize, to: usize) -> Vec<Vec<u8>> {
    let (taken, kept) = world
        .mailbox
        .drain(..)
        .partition::<Vec<_>, _>(|(f, t, _)| (*f, *t) == (from, to));
    world.mailbox.extend(kept);
    taken.into_iter().map(|(_, _, message)| message).collect()
}

/// Delivering `message` again is refused as a duplicate, with nothing changed.
fn assert_redelivery_refused(world: &mut World, from: usize, to: usize, message: &[u8]) {
    let before = world.group(to).to_bytes();
    assert_eq!(world.deliver(from, to, message), Err(Error::Duplicate));
    assert_eq!(*world.group(to).to_bytes(), *before);
}

#[test]
fn a_roster_update_that_overtakes_the_one_before_it_applies_at_once() {
    let mut world = World::new(0, 3);
    world.create_group(0, &[1, 2]);
    let mut m2_at_removal = world.group(2).clone();
    world.remove(0, 2); // roster 2, with the owner's new key
    world.add(0, 2); // roster 3: m2 added back
    let to_m1 = take(&mut world, 0, 1);
    assert_eq!(to_m1.len(), 2);
    let (owner, m2) = (world.key(0), world.key(2));
    let m2_card = world.members[2].identity.card().clone();

    // Roster 3 overtook roster 2: m1 applies it, and reads from `added_at` that m2 was
    // removed and added back in between, so it drops m2's old key and rekeys.
    let events = world.deliver_events(0, 1, &to_m1[1]).expect("roster 3");
    assert_eq!(
        events,
        [GroupEvent::RosterChanged {
            version: 3,
            added: vec![m2_card.clone()],
            removed: vec![m2_card],
        }]
    );
    assert_eq!(world.group(1).roster_version(), 3);
    assert_eq!(world.group(1).epoch(), Some(1), "m1 rekeyed");
    assert_eq!(
        world.group(1).sender_epoch(&m2),
        None,
        "m2's old key dropped"
    );
    assert_eq!(world.group(1).sender_epoch(&owner), Some(0));

    // Roster 2 comes late: its roster is skipped, the owner's new key in it installs.
    let events = world.deliver_events(0, 1, &to_m1[0]).expect("roster 2");
    assert_eq!(
        events,
        [GroupEvent::SenderKey {
            sender: owner,
            epoch: 1
        }]
    );
    assert_eq!(world.group(1).roster_version(), 3);
    assert_redelivery_refused(&mut world, 0, 1, &to_m1[0]);
    world.flush();

    let from_m1 = world.send(1, b"after m2 was removed and added back");
    assert!(
        m2_at_removal.decrypt(&from_m1).is_err(),
        "m2's state from before its removal reads m1"
    );
    let forged = m2_at_removal
        .encrypt(&mut world.rng, b"old state")
        .expect("old state encrypts");
    assert!(world.decrypt(1, &forged).is_err(), "m1 took m2's old key");
    world.assert_all_read(&[0, 2], 1, &from_m1, b"after m2 was removed and added back");
    let from_m2 = world.send(2, b"m2 back");
    world.assert_all_read(&[0, 1], 2, &from_m2, b"m2 back");
    let from_owner = world.send(0, b"owner");
    world.assert_all_read(&[1, 2], 0, &from_owner, b"owner");
}

#[test]
fn a_new_member_joins_from_an_update_that_overtook_its_welcome() {
    let mut world = World::new(1, 5);
    world.create_group(0, &[1, 2]);
    world.add(0, 3); // roster 2: the welcome to m3, with the owner's key
    let early = world.send(0, b"sent just after m3 was added");
    world.add(0, 4); // roster 3: an update to m1, m2 and m3
    let to_m3 = take(&mut world, 0, 3);
    assert_eq!(to_m3.len(), 2);
    let owner = world.key(0);

    // m3 joins from the update: any roster from the owner that lists it will do.
    let events = world
        .deliver_events(0, 3, &to_m3[1])
        .expect("joins from roster 3");
    assert_eq!(events, [GroupEvent::Joined { version: 3 }]);
    assert_eq!(world.group(3).roster_version(), 3);
    assert_eq!(
        world.group(3).sender_epoch(&owner),
        None,
        "no owner key yet"
    );
    assert!(matches!(
        world.decrypt(3, &early),
        Err(Error::UnknownEpoch { epoch: 0 })
    ));

    // The welcome comes late: its roster is skipped, the owner's key in it installs.
    let events = world.deliver_events(0, 3, &to_m3[0]).expect("the welcome");
    assert_eq!(
        events,
        [GroupEvent::SenderKey {
            sender: owner,
            epoch: 0
        }]
    );
    assert_eq!(world.group(3).roster_version(), 3);
    assert_redelivery_refused(&mut world, 0, 3, &to_m3[0]);
    world.flush();

    // Nothing was lost: m3 reads what the owner sent once it was added.
    world.assert_all_read(&[1, 2, 3], 0, &early, b"sent just after m3 was added");
    assert!(matches!(
        world.decrypt(4, &early),
        Err(Error::SentBeforeKeyReceived { .. })
    ));
    let from_owner = world.send(0, b"hello all");
    world.assert_all_read(&[1, 2, 3, 4], 0, &from_owner, b"hello all");
    let from_m3 = world.send(3, b"m3 here");
    world.assert_all_read(&[0, 1, 2, 4], 3, &from_m3, b"m3 here");
}

#[test]
fn a_removed_member_is_added_back_by_an_update_that_overtook_its_welcome() {
    let mut world = World::new(2, 5);
    world.create_group(0, &[1, 2]);
    world.remove(0, 2); // roster 2
    world.flush(); // m2 learns of its removal and keeps its group
    assert!(!world.group(2).is_member());
    world.add(0, 2); // roster 3: the welcome to m2, with the owner's key
    world.add(0, 3); // roster 4: a bare update to m1 and m2
    let to_m2 = take(&mut world, 0, 2);
    assert_eq!(to_m2.len(), 2);
    let (owner, m1) = (world.key(0), world.key(1));
    let m3_card = world.members[3].identity.card().clone();

    // The update overtook the welcome: m2 is back from it, with a fresh sender key, and
    // without the owner's key, which comes with the welcome.
    let events = world.deliver_events(0, 2, &to_m2[1]).expect("roster 4");
    assert_eq!(
        events,
        [
            GroupEvent::RosterChanged {
                version: 4,
                added: vec![m3_card],
                removed: Vec::new(),
            },
            GroupEvent::Joined { version: 4 },
        ]
    );
    assert!(world.group(2).is_member());
    assert_eq!(world.group(2).roster_version(), 4);
    assert_eq!(world.group(2).epoch(), Some(0));
    assert_eq!(world.group(2).sender_epoch(&owner), None);
    assert_eq!(world.group(2).sender_epoch(&m1), None);

    let events = world.deliver_events(0, 2, &to_m2[0]).expect("the welcome");
    assert_eq!(
        events,
        [GroupEvent::SenderKey {
            sender: owner,
            epoch: 1
        }]
    );
    assert_redelivery_refused(&mut world, 0, 2, &to_m2[0]);
    world.flush();

    let from_owner = world.send(0, b"owner");
    world.assert_all_read(&[1, 2, 3], 0, &from_owner, b"owner");
    let from_m2 = world.send(2, b"m2 back");
    world.assert_all_read(&[0, 1, 3], 2, &from_m2, b"m2 back");
    let from_m1 = world.send(1, b"m1");
    world.assert_all_read(&[0, 2, 3], 1, &from_m1, b"m1");
}
