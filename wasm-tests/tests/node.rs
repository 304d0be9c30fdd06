//! The crate's main paths on `wasm32-unknown-unknown`, run under node by
//! wasm-bindgen-test-runner (.ci/wasm): identities made at a given time, rotated, locked
//! and unlocked; prekey bundles; a channel both ways with messages out of order; a group;
//! a sealed message and a sealed stream for two recipients; state sealed, saved and loaded.
//! Natively the same tests are plain `#[test]`s.
//!
//! Every random number comes from a seeded ChaCha20 and every time from the caller, so the
//! tests need neither getrandom nor a clock, which this target does not have.

use std::collections::BTreeMap;

use rand::rngs::ChaCha20Rng;
use ratchetkit::identity::{MIN_LOCK_ITERATIONS, MIN_LOCK_MEMORY_KIB, MIN_LOCK_PARALLELISM};
use ratchetkit::{
    open, open_stream, seal, seal_stream, Card, CardChainBreak, Channel, Error, Group, Identity,
    LockParams, PrekeyBundle, PrekeyStore, StorageKey,
};
use ratchetkit_wasm_tests::{channel_pair, identity, seeded, CREATED_AT};
use wasm_bindgen_test::wasm_bindgen_test;

type Outcome = Result<(), Box<dyn std::error::Error>>;

/// Runs a test body; an error fails the test with its `Debug` form (a panic is what
/// wasm-bindgen-test reports as a failure).
fn check(body: impl FnOnce() -> Outcome) {
    if let Err(error) = body() {
        panic!("{error:?}");
    }
}

#[wasm_bindgen_test]
fn identity_at_a_given_time_rotates_and_round_trips() {
    check(|| {
        let mut rng = seeded(1);
        let alice = identity(&mut rng, "alice@example.org")?;
        assert_eq!(alice.card().created_at(), CREATED_AT);
        assert_eq!(alice.card().identity(), "alice@example.org");

        let again = Identity::from_bytes(&alice.to_bytes())?;
        assert_eq!(again.card(), alice.card());
        let card = Card::from_bytes(&alice.card().to_bytes())?;
        assert_eq!(card.fingerprint(), alice.card().fingerprint());

        let a_day_later = CREATED_AT + 86_400;
        let rotated = alice.rotate_at(&mut rng, a_day_later)?;
        assert_eq!(rotated.card().created_at(), a_day_later);
        assert_eq!(
            Card::verify_chain(alice.card(), std::slice::from_ref(rotated.card()))?,
            rotated.card()
        );
        // The caller's time is checked, not trusted: a rotation cannot predate its card.
        assert!(matches!(
            alice.rotate_at(&mut rng, CREATED_AT - 1),
            Err(Error::BrokenCardChain {
                reason: CardChainBreak::CreatedBeforePrevious,
                ..
            })
        ));
        Ok(())
    });
}

#[wasm_bindgen_test]
fn identity_locks_and_unlocks_with_argon2id() {
    check(|| {
        let mut rng = seeded(2);
        let alice = identity(&mut rng, "alice")?;
        let mut prekeys = PrekeyStore::new(&mut rng);
        prekeys.generate_one_time_prekeys(&mut rng, 2)?;
        // The cheapest parameters lock accepts (19 MiB, 2 passes, 1 lane): the same code
        // as the defaults, at a third of the memory.
        let params = LockParams::new(
            MIN_LOCK_MEMORY_KIB,
            MIN_LOCK_ITERATIONS,
            MIN_LOCK_PARALLELISM,
        )?;
        let locked = alice.lock(&mut rng, &prekeys, b"correct horse", &params)?;
        assert_eq!(LockParams::of_locked(&locked)?, params);

        let (again, again_prekeys) = Identity::unlock(&locked, b"correct horse")?;
        assert_eq!(again.card(), alice.card());
        assert_eq!(*again_prekeys.to_bytes(), *prekeys.to_bytes());
        assert!(matches!(
            Identity::unlock(&locked, b"battery staple"),
            Err(Error::WrongPassword)
        ));
        Ok(())
    });
}

#[wasm_bindgen_test]
fn prekey_bundle_round_trips_and_starts_a_channel() {
    check(|| {
        let mut rng = seeded(3);
        let alice = identity(&mut rng, "alice")?;
        let bob = identity(&mut rng, "bob")?;
        let mut prekeys = PrekeyStore::new(&mut rng);
        let ids = prekeys.generate_one_time_prekeys(&mut rng, 3)?;
        let one_time = ids.first().copied();

        let bundle = prekeys.bundle(&bob, one_time)?;
        let published = PrekeyBundle::from_bytes(&bundle.to_bytes())?;
        assert_eq!(published.card(), bob.card());
        assert_eq!(published.one_time_prekey_id(), one_time);
        assert_eq!(published.signed_prekey_id(), prekeys.signed_prekey_id());

        let mut to_bob = Channel::create(&mut rng, &alice, &published)?;
        let first = to_bob.encrypt(&mut rng, b"hello bob")?;
        let joined = Channel::join(&bob, &mut prekeys, &first)?;
        assert_eq!(joined.plaintext(), b"hello bob");
        assert_eq!(joined.peer(), alice.card());
        // The one-time prekey is used up: the store no longer offers it.
        assert!(!prekeys.one_time_prekey_ids().contains(&ids[0]));
        Ok(())
    });
}

#[wasm_bindgen_test]
fn channel_both_ways_out_of_order() {
    check(|| {
        let mut rng = seeded(4);
        let alice = identity(&mut rng, "alice")?;
        let bob = identity(&mut rng, "bob")?;
        let mut prekeys = PrekeyStore::new(&mut rng);
        let bundle = prekeys.bundle(&bob, None)?;
        let mut to_bob = Channel::create(&mut rng, &alice, &bundle)?;

        // Bob joins from Alice's second message; her first arrives after it.
        let a1 = to_bob.encrypt(&mut rng, b"a1")?;
        let a2 = to_bob.encrypt(&mut rng, b"a2")?;
        let joined = Channel::join(&bob, &mut prekeys, &a2)?;
        assert_eq!(joined.plaintext(), b"a2");
        let mut to_alice = joined.into_channel();
        assert_eq!(to_alice.id(), to_bob.id());
        assert_eq!(to_alice.decrypt(&a1)?, b"a1");

        // Both ways, each batch delivered last first.
        let replies: Vec<Vec<u8>> = (1..=3)
            .map(|n| to_alice.encrypt(&mut rng, format!("b{n}").as_bytes()))
            .collect::<Result<_, _>>()?;
        for n in [3, 1, 2] {
            assert_eq!(to_bob.decrypt(&replies[n - 1])?, format!("b{n}").as_bytes());
        }
        let more: Vec<Vec<u8>> = (3..=6)
            .map(|n| to_bob.encrypt(&mut rng, format!("a{n}").as_bytes()))
            .collect::<Result<_, _>>()?;
        for n in [6, 4, 3, 5] {
            assert_eq!(to_alice.decrypt(&more[n - 3])?, format!("a{n}").as_bytes());
        }

        // A replay is refused and changes nothing: the next message still decrypts.
        assert!(to_alice.decrypt(&more[0]).is_err());
        let last = to_alice.encrypt(&mut rng, b"b4")?;
        assert_eq!(to_bob.decrypt(&last)?, b"b4");
        assert_eq!(to_alice.skipped_keys(), 0);
        Ok(())
    });
}

/// A member of the group test: its identity, its channels to the others and its group.
struct Member {
    identity: Identity,
    channels: BTreeMap<[u8; 32], Channel>,
    group: Option<Group>,
}

impl Member {
    fn key(&self) -> [u8; 32] {
        self.identity.card().signing_key()
    }
}

/// Delivers the group's channel messages, first in first out, until none is left: a
/// welcome makes its recipient join, anything else goes to `Group::receive`.
fn deliver(
    rng: &mut ChaCha20Rng,
    members: &mut [Member],
    mut queue: Vec<([u8; 32], [u8; 32], Vec<u8>)>,
) -> Outcome {
    while !queue.is_empty() {
        let (from, to, message) = queue.remove(0);
        let member = members
            .iter_mut()
            .find(|member| member.key() == to)
            .ok_or("a message for someone outside the group")?;
        let received = match member.group.as_mut() {
            Some(group) => group.receive(rng, &mut member.channels, &from, &message)?,
            None => {
                let (group, received) =
                    Group::join(rng, &member.identity, &mut member.channels, &from, &message)?;
                member.group = Some(group);
                received
            }
        };
        let sender = member.key();
        queue.extend(
            received
                .outgoing()
                .iter()
                .map(|out| (sender, out.to(), out.message().to_vec())),
        );
    }
    Ok(())
}

#[wasm_bindgen_test]
fn group_of_three_with_a_message() {
    check(|| {
        let mut rng = seeded(5);
        let mut members = ["alice", "bob", "carol"]
            .into_iter()
            .map(|name| {
                Ok(Member {
                    identity: identity(&mut rng, name)?,
                    channels: BTreeMap::new(),
                    group: None,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        // A channel between every two members; the group travels over them.
        for (i, j) in [(0, 1), (0, 2), (1, 2)] {
            let mut prekeys = PrekeyStore::new(&mut rng);
            let (creator_side, joiner_side) = channel_pair(
                &mut rng,
                &members[i].identity,
                &members[j].identity,
                &mut prekeys,
                b"hello",
            )?;
            let (ki, kj) = (members[i].key(), members[j].key());
            members[i].channels.insert(kj, creator_side);
            members[j].channels.insert(ki, joiner_side);
        }

        let cards = [
            members[1].identity.card().clone(),
            members[2].identity.card().clone(),
        ];
        let alice = &mut members[0];
        let (group, welcome) =
            Group::create(&mut rng, &alice.identity, &cards, &mut alice.channels)?;
        alice.group = Some(group);
        let from = alice.key();
        let queue = welcome
            .outgoing()
            .iter()
            .map(|out| (from, out.to(), out.message().to_vec()))
            .collect();
        deliver(&mut rng, &mut members, queue)?;

        let keys: Vec<[u8; 32]> = members.iter().map(Member::key).collect();
        for member in &members {
            let group = member.group.as_ref().ok_or("a member did not join")?;
            assert_eq!(group.members().len(), 3);
            assert_eq!(group.owner(), members[0].identity.card());
        }
        let carol_group = members[2].group.as_mut().ok_or("carol did not join")?;
        let message = carol_group.encrypt(&mut rng, b"hello group")?;
        for member in &mut members[..2] {
            let group = member.group.as_mut().ok_or("a member did not join")?;
            let decrypted = group.decrypt(&message)?;
            assert_eq!(decrypted.plaintext(), b"hello group");
            assert_eq!(decrypted.sender(), keys[2]);
        }
        Ok(())
    });
}

#[wasm_bindgen_test]
fn sealed_message_and_stream_for_two_recipients() {
    check(|| {
        let mut rng = seeded(6);
        let alice = identity(&mut rng, "alice")?;
        let bob = identity(&mut rng, "bob")?;
        let carol = identity(&mut rng, "carol")?;
        let mallory = identity(&mut rng, "mallory")?;
        let recipients = [bob.card().clone(), carol.card().clone()];
        let senders = [alice.card().clone()];

        let sealed = seal(&mut rng, &alice, &recipients, b"minutes of the meeting")?;
        for recipient in [&bob, &carol] {
            let opened = open(recipient, &senders, &sealed)?;
            assert_eq!(opened.plaintext(), b"minutes of the meeting");
            assert_eq!(opened.sender(), alice.card().fingerprint());
        }
        assert!(matches!(
            open(&mallory, &senders, &sealed),
            Err(Error::NotARecipient)
        ));
        assert!(matches!(
            open(&bob, &[mallory.card().clone()], &sealed),
            Err(Error::NotFromSender)
        ));

        // Several chunks, the last one partial.
        let file: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
        let mut stream = Vec::new();
        seal_stream(&mut rng, &alice, &recipients, &file[..], &mut stream)?;
        for recipient in [&bob, &carol] {
            let mut plaintext = Vec::new();
            let opened = open_stream(recipient, &senders, &stream[..], &mut plaintext)?;
            assert_eq!(opened.bytes(), file.len() as u64);
            assert_eq!(plaintext, file);
        }
        Ok(())
    });
}

#[wasm_bindgen_test]
fn state_sealed_saved_and_loaded() {
    check(|| {
        let mut rng = seeded(7);
        let alice = identity(&mut rng, "alice")?;
        let bob = identity(&mut rng, "bob")?;
        let mut prekeys = PrekeyStore::new(&mut rng);
        prekeys.generate_one_time_prekeys(&mut rng, 2)?;
        let (mut to_bob, mut to_alice) =
            channel_pair(&mut rng, &alice, &bob, &mut prekeys, b"hello")?;
        let reply = to_alice.encrypt(&mut rng, b"hi")?;
        assert_eq!(to_bob.decrypt(&reply)?, b"hi");
        let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
        let mut alice_channels = BTreeMap::from([(b, to_bob)]);
        let mut bob_channels = BTreeMap::from([(a, to_alice)]);
        let (mut alice_group, welcome) =
            Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels)?;
        let (bob_group, joined) = Group::join(
            &mut rng,
            &bob,
            &mut bob_channels,
            &a,
            welcome.outgoing().first().ok_or("no welcome")?.message(),
        )?;
        alice_group.receive(
            &mut rng,
            &mut alice_channels,
            &b,
            joined.outgoing().first().ok_or("no sender key")?.message(),
        )?;
        let mut to_bob = alice_channels.remove(&b).ok_or("no channel to bob")?;

        // Bob's whole state, sealed with his storage key, dropped and loaded by id.
        let key = StorageKey::generate(&mut rng);
        let sealed_identity = key.seal(&mut rng, &bob)?;
        let sealed_prekeys = key.seal(&mut rng, &prekeys)?;
        let bob_channel = bob_channels.remove(&a).ok_or("no channel to alice")?;
        let sealed_channel = key.seal(&mut rng, &bob_channel)?;
        let sealed_group = key.seal(&mut rng, &bob_group)?;
        let ids = (
            bob.card().fingerprint(),
            prekeys.id(),
            bob_channel.id(),
            ratchetkit::GroupStateId::new(bob_group.group_id(), bob_group.me()),
        );
        drop((bob_channel, bob_group));

        let restored: Identity = key.open(&sealed_identity, &ids.0)?;
        assert_eq!(restored.card(), bob.card());
        let restored_prekeys: PrekeyStore = key.open(&sealed_prekeys, &ids.1)?;
        assert_eq!(*restored_prekeys.to_bytes(), *prekeys.to_bytes());
        let mut channel: Channel = key.open(&sealed_channel, &ids.2)?;
        let mut group: Group = key.open(&sealed_group, &ids.3)?;
        // A state opened under another's id is refused.
        assert!(matches!(
            key.open::<Identity>(&sealed_identity, &alice.card().fingerprint()),
            Err(Error::SealedStateRejected)
        ));

        // The loaded channel and group carry on where they were.
        let later = to_bob.encrypt(&mut rng, b"still there?")?;
        assert_eq!(channel.decrypt(&later)?, b"still there?");
        let answer = channel.encrypt(&mut rng, b"yes")?;
        assert_eq!(to_bob.decrypt(&answer)?, b"yes");
        let message = alice_group.encrypt(&mut rng, b"group after reload")?;
        assert_eq!(group.decrypt(&message)?.plaintext(), b"group after reload");
        let back = group.encrypt(&mut rng, b"and back")?;
        assert_eq!(alice_group.decrypt(&back)?.plaintext(), b"and back");
        Ok(())
    });
}
