//! Writes the seed corpora in `fuzz/seeds/<target>/`: genuine inputs for the fixture state
//! of each target, so that the fuzzer starts from messages that get past parsing and
//! signature checks. Deterministic; run from `fuzz/` after a protocol change with
//!
//! ```text
//! RUSTFLAGS="--cfg fuzzing" cargo run --release --example seeds
//! ```
//!
//! (`--cfg fuzzing` because the group control seeds need the crate's fuzzing entry points.)

use std::fs;
use std::path::Path;

use rand::Rng;
use ratchetkit::{AppKey, Channel, Group, PrekeyStore, SealableState, StorageKey};
use ratchetkit_fuzz::conversation::{encode, Op};
use ratchetkit_fuzz::world::{World, ALICE, BOB, CAROL, DAVE, ERIN};
use ratchetkit_fuzz::{bundles, cards, group_with_skipped, pair, responder, rng, sealed};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    fs::create_dir_all(&dir).expect("create the seed directory");
    fs::write(dir.join(name), bytes).expect("write a seed");
}

fn prefixed(choice: u8, bytes: &[u8]) -> Vec<u8> {
    let mut input = vec![choice];
    input.extend_from_slice(bytes);
    input
}

fn main() {
    let mut rng = rng(7);
    let storage = StorageKey::from_bytes([7; 32]);

    // Channels.
    let live = pair(false);
    let skipped = pair(true);
    let mut alice = live.alice.clone();
    let next = alice.encrypt(&mut rng, b"next").expect("encrypt");
    write("channel_decrypt", "live-next", &prefixed(0, &next));
    write(
        "channel_decrypt",
        "live-replay",
        &prefixed(0, &live.delivered[2]),
    );
    for (i, late) in skipped.undelivered.iter().enumerate() {
        write(
            "channel_decrypt",
            &format!("skipped-late-{i}"),
            &prefixed(1, late),
        );
    }
    let responder = responder();
    write("channel_join", "first", &responder.first);

    // Groups.
    let group = group_with_skipped();
    for (i, message) in group.undelivered.iter().enumerate() {
        write("group_decrypt", &format!("message-{i}"), message);
    }
    let mut world = World::new();
    for (to, from, plaintext) in world.control_log.clone() {
        if to == BOB {
            write(
                "group_control",
                &format!("create-{from}-to-bob"),
                &prefixed(from as u8, plaintext.as_slice()),
            );
        }
    }
    // Erin's welcome as the first message of a channel from Alice: made on a copy of the
    // world in which Erin has an established channel with Alice, so that the log can read
    // it; the target sends the same plaintext on a new channel.
    {
        let mut copy = World::new();
        let erin = copy.members[ERIN].key;
        let alice = copy.members[ALICE].key;
        let (saved, bundle) = copy.members[ERIN].prekeys.clone().expect("erin's bundle");
        let mut prekeys = PrekeyStore::from_bytes(&saved).expect("erin's prekeys");
        let mut created = Channel::create(&mut rng, &copy.members[ALICE].identity, &bundle)
            .expect("a channel to erin");
        let hello = created.encrypt(&mut rng, b"hello").expect("encrypt");
        let mut joined = Channel::join(&copy.members[ERIN].identity, &mut prekeys, &hello)
            .expect("join")
            .into_channel();
        created
            .decrypt(&joined.encrypt(&mut rng, b"hi").expect("encrypt"))
            .expect("reply");
        copy.members[ALICE].channels.insert(erin, created);
        copy.members[ERIN].channels.insert(alice, joined);
        let card = copy.members[ERIN].identity.card().clone();
        let logged = copy.control_log.len();
        copy.act(ALICE, |group, identity, channels, rng| {
            group.add_member(rng, identity, &card, channels)
        })
        .expect("add erin");
        for (to, from, plaintext) in &copy.control_log[logged..] {
            if *to == ERIN {
                write(
                    "group_control",
                    &format!("first-{from}-to-erin"),
                    &prefixed(*from as u8 | 16, plaintext),
                );
            }
        }
    }
    // Add Dave, remove Carol; Bob resyncs; Alice offers Bob the group, Bob takes it,
    // Alice leaves and Bob removes her: their control to Bob and to Dave.
    let logged = world.control_log.len();
    let card = world.members[DAVE].identity.card().clone();
    world
        .act(ALICE, |group, identity, channels, rng| {
            group.add_member(rng, identity, &card, channels)
        })
        .expect("add dave");
    let carol = world.members[CAROL].key;
    world
        .act(ALICE, |group, identity, channels, rng| {
            group.remove_member(rng, identity, &carol, channels)
        })
        .expect("remove carol");
    world
        .act(BOB, |group, _, channels, rng| group.resync(rng, channels))
        .expect("bob resyncs");
    let bob = world.members[BOB].key;
    world
        .act(ALICE, |group, identity, channels, rng| {
            group.offer_ownership(rng, identity, &bob, channels)
        })
        .expect("offer bob the group");
    world
        .act(BOB, |group, identity, channels, rng| {
            group.accept_ownership(rng, identity, channels)
        })
        .expect("bob takes the group");
    world
        .act(ALICE, |group, _, channels, rng| group.leave(rng, channels))
        .expect("alice leaves");
    let alice = world.members[ALICE].key;
    world
        .act(BOB, |group, identity, channels, rng| {
            group.remove_member(rng, identity, &alice, channels)
        })
        .expect("bob removes alice");
    assert_eq!(
        world.members[DAVE]
            .group
            .as_ref()
            .map(|g| g.owner().signing_key()),
        Some(bob)
    );
    for (i, (to, from, plaintext)) in world.control_log[logged..].iter().enumerate() {
        let choice = match *to {
            BOB => *from as u8,
            DAVE => *from as u8 | 4,
            _ => continue,
        };
        write(
            "group_control",
            &format!("change-{i}"),
            &prefixed(choice, plaintext),
        );
    }
    // A raw channel message carrying control, and one carrying app data.
    let mut alice_to_bob = world.members[ALICE].channels[&world.members[BOB].key].clone();
    let data = alice_to_bob
        .encrypt(&mut rng, b"app data")
        .expect("encrypt");
    write("group_control", "raw-app-data", &prefixed(8, &data));

    // A first message that carries group control.
    let mut to_bob = Channel::create(&mut rng, &responder.alice, &responder.bundle)
        .expect("a channel to the responder");
    if let Some((_, _, plaintext)) = world.control_log.last() {
        let first = to_bob
            .fuzzing_encrypt_group_control(&mut rng, plaintext)
            .expect("control on a first message");
        write("channel_join", "first-control", &first);
    }

    // Wire messages and public data.
    let card = world.members[ALICE].identity.card().to_bytes();
    write("decode", "card", &card);
    write("decode", "bundle", &responder.bundle.to_bytes());
    write("decode", "channel-message", &next);
    write("decode", "group-message", &group.undelivered[0]);
    for (i, (_, _, plaintext)) in world.control_log.iter().rev().take(6).enumerate() {
        write("decode", &format!("group-control-{i}"), plaintext);
    }

    // Cards (plain, approved by an app, rotated, rotated and approved), as bytes and as
    // base64 text; and prekey bundles, without a one-time prekey and with each, and with
    // the card as an app approved it.
    let cards = cards();
    for (name, card) in [
        ("plain", &cards.first),
        ("approved", &cards.approved),
        ("rotated", &cards.rotated),
        ("rotated-approved", &cards.rotated_approved),
    ] {
        write("card", name, &card.to_bytes());
        write(
            "card",
            &format!("{name}-base64"),
            card.to_base64().as_bytes(),
        );
    }
    let bundles = bundles();
    for (i, bundle) in bundles.genuine.iter().enumerate() {
        let name = match bundle.one_time_prekey_id() {
            None => "fallback".to_owned(),
            Some(_) => format!("one-time-{i}"),
        };
        write("bundle", &name, &bundle.to_bytes());
    }
    let approved = bundles
        .responder
        .bob
        .card()
        .approve(&AppKey::from_bytes(&[5; 32]));
    let approved = bundles.genuine[1]
        .with_card(&approved.expect("approve"))
        .expect("the same card");
    write("bundle", "one-time-approved", &approved.to_bytes());

    // Sealed messages and streams.
    let sealed = sealed();
    write("sealed_open", "message", &prefixed(0, &sealed.message));
    for (i, stream) in sealed.streams.iter().enumerate() {
        write("sealed_open", &format!("stream-{i}"), &prefixed(1, stream));
    }
    write("decode", "sealed-message", &sealed.message);

    // Saved and sealed state.
    write("state", "identity", &responder.bob.to_bytes());
    write("state", "prekeys", &responder.prekeys.to_bytes());
    write("state", "channel", &skipped.bob.to_bytes());
    write("state", "group", &group.bob.to_bytes());
    // A group with control waiting for a channel (Erin's welcome) and an offer out.
    let mut waiting = World::new();
    let card = waiting.members[ERIN].identity.card().clone();
    let carol = waiting.members[CAROL].key;
    waiting
        .act(ALICE, |group, identity, channels, rng| {
            let mut received = group.add_member(rng, identity, &card, channels)?;
            let offered = group.offer_ownership(rng, identity, &carol, channels)?;
            received.append(offered);
            Ok(received)
        })
        .expect("add erin, offer carol the group");
    let alice_group = waiting.members[ALICE]
        .group
        .as_ref()
        .expect("alice's group");
    assert!(alice_group.pending_members().next().is_some());
    write("state", "group-pending", &alice_group.to_bytes());
    let carol_group = waiting.members[CAROL]
        .group
        .as_ref()
        .expect("carol's group");
    write("state", "group-offered", &carol_group.to_bytes());
    let sealed_channel = storage.seal(&mut rng, &skipped.bob).expect("seal");
    write("state", "sealed-channel", &sealed_channel);
    let sealed_group = storage.seal(&mut rng, &group.bob).expect("seal");
    write("state", "sealed-group", &sealed_group);
    assert!(storage
        .open::<Channel>(&sealed_channel, &skipped.bob.id())
        .is_ok());
    assert!(storage
        .open::<Group>(&sealed_group, &group.bob.state_id())
        .is_ok());
    write(
        "state",
        "sealed-identity",
        &storage
            .seal(&mut ratchetkit_fuzz::rng(12), &responder.bob)
            .expect("seal"),
    );
    write(
        "state",
        "sealed-prekeys",
        &storage
            .seal(&mut ratchetkit_fuzz::rng(13), &responder.prekeys)
            .expect("seal"),
    );

    // The conversation target reads its input as a list of operations (`arbitrary`):
    // random bytes are a valid start.
    for i in 0..4 {
        let mut bytes = vec![0; 256 << i];
        rng.fill_bytes(&mut bytes);
        write("conversation", &format!("random-{i}"), &bytes);
    }
    // And scripted conversations, one per feature of group protocol version 2.
    for (name, ops) in scripts() {
        write("conversation", name, &encode(&ops));
    }
}

/// Operation lists that reach each v2 feature: a lost roster and a resync, an ownership
/// transfer after which the old owner leaves, and a newcomer without channels whose
/// welcome and keys ride the first messages of the channels started to her.
fn scripts() -> Vec<(&'static str, Vec<Op>)> {
    let say = |who: u8| Op::GroupSend { who, len: 20 };
    let read = |pick: u8, to: u8| Op::GroupDeliver { pick, to };
    let (alice, bob, carol, dave, erin) = (0, 1, 2, 3, 4);
    vec![
        (
            "script-resync",
            vec![
                Op::LoseControl { to: carol, skip: 0 },
                Op::Add { who: dave },
                say(dave),
                read(0, carol),
                Op::Resync { who: carol },
                say(dave),
                read(1, carol),
                read(1, alice),
                read(1, bob),
            ],
        ),
        (
            "script-transfer",
            vec![
                Op::Offer { who: bob },
                Op::Accept { who: bob },
                Op::Leave { who: alice },
                say(carol),
                read(0, bob),
                read(0, alice),
                Op::Add { who: dave },
                say(bob),
                read(1, dave),
            ],
        ),
        (
            "script-newcomer",
            vec![
                Op::Add { who: erin },
                Op::Connect { who: alice },
                Op::Connect { who: bob },
                Op::Connect { who: carol },
                say(erin),
                read(0, bob),
                say(carol),
                read(1, erin),
                Op::Remove { who: erin },
                say(bob),
                read(2, erin),
            ],
        ),
    ]
}
