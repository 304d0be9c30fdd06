//! Errors that say what to do: parties named by name and fingerprint, I/O errors with
//! their message, and the retryable / permanent sorting of the variants an app meets.

mod common;

use std::collections::HashMap;
use std::io::{self, Read};

use ratchetkit::{seal_stream, Channel, Error, Group, Identity, Party, PrekeyStore};

use common::{identity, rng, TestRng};

/// Alice's group with Bob, both with their channels and the sender keys exchanged.
struct Pair {
    rng: TestRng,
    alice: Identity,
    bob: Identity,
    alice_group: Group,
    bob_group: Group,
    alice_channels: HashMap<[u8; 32], Channel>,
    bob_channels: HashMap<[u8; 32], Channel>,
}

fn pair(seed: u64) -> Pair {
    let mut rng = rng(seed);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
    let mut bob_prekeys = PrekeyStore::new(&mut rng);
    let bundle = bob_prekeys.bundle(&bob, None).unwrap();
    let mut to_bob = Channel::create(&mut rng, &alice, &bundle).unwrap();
    let hello = to_bob.encrypt(&mut rng, b"hello").unwrap();
    let to_alice = Channel::join(&bob, &mut bob_prekeys, &hello)
        .unwrap()
        .into_channel();
    let mut alice_channels = HashMap::from([(b, to_bob)]);
    let mut bob_channels = HashMap::from([(a, to_alice)]);
    let (mut alice_group, welcome) =
        Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels).unwrap();
    let (bob_group, joined) = Group::join(
        &mut rng,
        &bob,
        &mut bob_channels,
        &a,
        welcome.outgoing()[0].message(),
    )
    .unwrap();
    alice_group
        .receive(
            &mut rng,
            &mut alice_channels,
            &b,
            joined.outgoing()[0].message(),
        )
        .unwrap();
    Pair {
        rng,
        alice,
        bob,
        alice_group,
        bob_group,
        alice_channels,
        bob_channels,
    }
}

#[test]
fn a_missing_channel_names_the_member_by_name_and_fingerprint() {
    let mut p = pair(1);
    let a = p.alice.card().signing_key();
    let control = p
        .alice_group
        .rekey(&mut p.rng, &mut p.alice_channels)
        .unwrap()
        .into_parts()
        .1
        .remove(0);
    let before = p.bob_group.to_bytes();
    let mut no_channels: HashMap<[u8; 32], Channel> = HashMap::new();
    let error = p
        .bob_group
        .receive(&mut p.rng, &mut no_channels, &a, control.message())
        .unwrap_err();
    let Error::MissingChannel { member } = &error else {
        panic!("expected MissingChannel, got {error:?}");
    };
    assert_eq!(member.key(), a);
    assert_eq!(member.name(), Some("alice"));
    assert_eq!(member.fingerprint(), Some(p.alice.card().fingerprint()));
    let shown = error.to_string();
    assert!(shown.contains("\"alice\""), "{shown}");
    assert!(
        shown.contains(&p.alice.card().fingerprint().to_string()),
        "{shown}"
    );
    // No raw bytes: neither the decimal array a derived Debug would print, nor the key.
    let debug = format!("{error:?}");
    assert!(!debug.contains(&format!("{:?}", a)), "{debug}");
    assert!(debug.contains("alice"), "{debug}");
    assert!(error.is_retryable() && !error.is_permanent());
    // Nothing changed, and with the channel the same control goes through.
    assert!(*p.bob_group.to_bytes() == *before);
    p.bob_group
        .receive(&mut p.rng, &mut p.bob_channels, &a, control.message())
        .unwrap();
}

#[test]
fn a_party_outside_the_roster_is_named_by_its_key_and_is_not_sorted() {
    let mut p = pair(2);
    let mut rng = rng(20);
    let carol = identity(&mut rng, "carol");
    let c = carol.card().signing_key();
    let error = p
        .alice_group
        .remove_member(&mut p.rng, &p.alice, &c, &mut p.alice_channels)
        .unwrap_err();
    assert_eq!(
        error,
        Error::NotGroupMember {
            member: Party::from(c)
        }
    );
    let Error::NotGroupMember { member } = &error else {
        unreachable!()
    };
    assert_eq!((member.name(), member.fingerprint()), (None, None));
    assert!(
        error.to_string().contains(&hex::encode(c)),
        "the key is all there is to show: {error}"
    );
    // Removed, never added, or not processed yet: the error alone cannot say.
    assert!(!error.is_retryable() && !error.is_permanent());
}

#[test]
fn adding_a_member_twice_names_it_by_its_card() {
    let mut p = pair(3);
    let bob_card = p.bob.card().clone();
    let error = p
        .alice_group
        .add_member(&mut p.rng, &p.alice, &bob_card, &mut p.alice_channels)
        .unwrap_err();
    let Error::AlreadyGroupMember { member } = &error else {
        panic!("expected AlreadyGroupMember, got {error:?}");
    };
    assert_eq!(member.name(), Some("bob"));
    assert_eq!(member.fingerprint(), Some(bob_card.fingerprint()));
    assert!(error.is_permanent());
}

#[test]
fn a_replayed_channel_message_is_a_permanent_duplicate() {
    let mut rng = rng(4);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let mut prekeys = PrekeyStore::new(&mut rng);
    let bundle = prekeys.bundle(&bob, None).unwrap();
    let mut to_bob = Channel::create(&mut rng, &alice, &bundle).unwrap();
    let first = to_bob.encrypt(&mut rng, b"one").unwrap();
    let mut to_alice = Channel::join(&bob, &mut prekeys, &first)
        .unwrap()
        .into_channel();
    let reply = to_alice.encrypt(&mut rng, b"two").unwrap();
    assert_eq!(to_bob.decrypt(&reply).unwrap(), b"two");
    let before = to_bob.to_bytes();
    let error = to_bob.decrypt(&reply).unwrap_err();
    assert_eq!(error, Error::Duplicate);
    assert!(error.is_permanent() && !error.is_retryable());
    assert!(*to_bob.to_bytes() == *before);

    let mut altered = to_alice.encrypt(&mut rng, b"three").unwrap();
    if let Some(last) = altered.last_mut() {
        *last ^= 1;
    }
    let error = to_bob.decrypt(&altered).unwrap_err();
    assert_eq!(error, Error::AuthenticationFailed);
    assert!(error.is_permanent());
}

#[test]
fn the_outlook_sorts_retry_later_from_drop_and_from_depends() {
    let error = Error::RosterBehind {
        version: 3,
        current: 2,
    };
    assert!(error.is_retryable() && !error.is_permanent());
    assert!(Error::InvalidState { reason: "test" }.is_permanent());
    assert!(!Error::WrongPassword.is_retryable() && !Error::WrongPassword.is_permanent());
}

/// A reader that fails the way a dropped connection does, with its own message.
struct Dropped;

impl Read for Dropped {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the peer hung up at byte 4096",
        ))
    }
}

#[test]
fn an_io_error_keeps_its_message() {
    let mut rng = rng(5);
    let alice = identity(&mut rng, "alice");
    let error = seal_stream(
        &mut rng,
        &alice,
        &[alice.card().clone()],
        Dropped,
        &mut Vec::new(),
    )
    .unwrap_err();
    let Error::Io {
        kind,
        during,
        message,
    } = &error
    else {
        panic!("expected Io, got {error:?}");
    };
    assert_eq!(*kind, io::ErrorKind::ConnectionReset);
    assert_eq!(*during, "reading the input");
    assert_eq!(message, "the peer hung up at byte 4096");
    assert!(
        error.to_string().contains("the peer hung up at byte 4096"),
        "{error}"
    );
    assert!(error.is_retryable());
}
