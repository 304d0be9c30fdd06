//! Roster updates that channels deliver out of order. The network simulator found all
//! three cases: a member that jumped over a roster version missed the removal and add-back
//! in it, a new member joined from a roster update that overtook its welcome, and a
//! removed member was added back by such an update.

mod common;

use common::groups::World;
use ratchetkit::Error;

/// Takes the control messages from `from` to `to` out of the mailbox, in the order sent.
fn take(world: &mut World, from: usize, to: usize) -> Vec<Vec<u8>> {
    let (taken, kept) = world
        .mailbox
        .drain(..)
        .partition::<Vec<_>, _>(|(f, t, _)| (*f, *t) == (from, to));
    world.mailbox.extend(kept);
    taken.into_iter().map(|(_, _, message)| message).collect()
}

#[test]
fn a_roster_update_waits_for_the_one_before_it() {
    let mut world = World::new(0, 3);
    world.create_group(0, &[1, 2]);
    let mut m2_at_removal = world.group(2).clone();
    world.remove(0, 2); // roster 2
    world.add(0, 2); // roster 3: m2 added back
    let to_m1 = take(&mut world, 0, 1);
    assert_eq!(to_m1.len(), 2);

    // Roster 3 overtook roster 2: refused as behind, with nothing changed.
    let before = world.group(1).to_bytes();
    assert!(matches!(
        world.deliver(0, 1, &to_m1[1]),
        Err(Error::RosterBehind {
            version: 3,
            current: 1
        })
    ));
    assert_eq!(*world.group(1).to_bytes(), *before);

    // In order, m1 sees the removal (and rekeys) and then the add-back.
    world.deliver(0, 1, &to_m1[0]).expect("roster 2");
    world
        .deliver(0, 1, &to_m1[1])
        .expect("roster 3 after roster 2");
    world.flush();

    let from_m1 = world.send(1, b"after m2 was removed and added back");
    assert!(
        m2_at_removal.decrypt(&from_m1).is_err(),
        "m2's state from before its removal reads m1"
    );
    let forged = m2_at_removal
        .encrypt(b"old state")
        .expect("old state encrypts");
    assert!(world.decrypt(1, &forged).is_err(), "m1 took m2's old key");
    let from_m2 = world.send(2, b"m2 back");
    world.assert_all_read(&[0, 1], 2, &from_m2, b"m2 back");
    let from_owner = world.send(0, b"owner");
    world.assert_all_read(&[1, 2], 0, &from_owner, b"owner");
}

#[test]
fn a_roster_update_that_overtakes_the_welcome_is_not_taken_for_it() {
    let mut world = World::new(1, 5);
    world.create_group(0, &[1, 2]);
    world.add(0, 3); // roster 2: the welcome to m3
    world.add(0, 4); // roster 3: an update to m1, m2 and m3
    let to_m3 = take(&mut world, 0, 3);
    assert_eq!(to_m3.len(), 2);

    assert_eq!(world.deliver(0, 3, &to_m3[1]), Err(Error::NotAGroupWelcome));
    assert!(world.members[3].group.is_none());
    world.deliver(0, 3, &to_m3[0]).expect("the welcome");
    world
        .deliver(0, 3, &to_m3[1])
        .expect("the update after the welcome");
    world.flush();

    let from_owner = world.send(0, b"hello all");
    world.assert_all_read(&[1, 2, 3, 4], 0, &from_owner, b"hello all");
    let from_m3 = world.send(3, b"m3 here");
    world.assert_all_read(&[0, 1, 2, 4], 3, &from_m3, b"m3 here");
}

#[test]
fn a_removed_member_is_added_back_only_by_the_welcome() {
    let mut world = World::new(2, 5);
    world.create_group(0, &[1, 2]);
    world.remove(0, 2); // roster 2
    world.flush(); // m2 learns of its removal and keeps its group
    world.add(0, 2); // roster 3: the welcome to m2, with the owner's key
    world.add(0, 3); // roster 4: a bare update to m1 and m2
    let to_m2 = take(&mut world, 0, 2);
    assert_eq!(to_m2.len(), 2);

    // The update overtook the welcome: taking it would leave m2 without the owner's key
    // (and the welcome stale), so it waits, with nothing changed.
    let before = world.group(2).to_bytes();
    assert!(matches!(
        world.deliver(0, 2, &to_m2[1]),
        Err(Error::NotAGroupWelcome)
    ));
    assert_eq!(*world.group(2).to_bytes(), *before);
    world.deliver(0, 2, &to_m2[0]).expect("the welcome");
    world
        .deliver(0, 2, &to_m2[1])
        .expect("the update after the welcome");
    world.flush();

    let from_owner = world.send(0, b"owner");
    world.assert_all_read(&[1, 2, 3], 0, &from_owner, b"owner");
    let from_m2 = world.send(2, b"m2 back");
    world.assert_all_read(&[0, 1, 3], 2, &from_m2, b"m2 back");
}
