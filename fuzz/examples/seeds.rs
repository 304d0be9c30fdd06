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
use ratchetkit::{Channel, Group, StorageKey};
use ratchetkit_fuzz::world::{World, ALICE, BOB, CAROL, DAVE};
use ratchetkit_fuzz::{group_with_skipped, pair, responder, rng, sealed};

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
    let owner = ALICE;
    for (to, from, plaintext) in world.control_log.clone() {
        if to == BOB {
            write(
                "group_control",
                &format!("create-{from}-to-bob"),
                &prefixed(from as u8, plaintext.as_slice()),
            );
        }
    }
    // Add Dave, then remove Carol, then Bob rekeys: their control to Bob and to Dave.
    let logged = world.control_log.len();
    let card = world.members[DAVE].identity.card().clone();
    let member = &mut world.members[owner];
    let identity = member.identity.clone();
    let outgoing = member
        .group
        .as_mut()
        .expect("owner")
        .add_member(&mut rng, &identity, &card, &mut member.channels)
        .expect("add dave");
    world.post(owner, outgoing);
    world.flush().expect("control of the addition");
    let carol = world.members[CAROL].key;
    let member = &mut world.members[owner];
    let outgoing = member
        .group
        .as_mut()
        .expect("owner")
        .remove_member(&mut rng, &identity, &carol, &mut member.channels)
        .expect("remove carol");
    world.post(owner, outgoing);
    world.flush().expect("control of the removal");
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

    // Wire messages and public data.
    let card = world.members[ALICE].identity.card().to_bytes();
    write("decode", "card", &card);
    write("decode", "bundle", &responder.bundle.to_bytes());
    write("decode", "channel-message", &next);
    write("decode", "group-message", &group.undelivered[0]);
    if let Some((_, _, plaintext)) = world.control_log.last() {
        write("decode", "group-control", plaintext);
    }

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
    let sealed_channel = storage.seal(&mut rng, &skipped.bob).expect("seal");
    write("state", "sealed-channel", &sealed_channel);
    let sealed_group = storage.seal(&mut rng, &group.bob).expect("seal");
    write("state", "sealed-group", &sealed_group);
    assert!(storage.open::<Channel>(&sealed_channel).is_ok());
    assert!(storage.open::<Group>(&sealed_group).is_ok());

    // The conversation target reads its input as a list of operations (`arbitrary`):
    // random bytes are a valid start.
    for i in 0..4 {
        let mut bytes = vec![0; 256 << i];
        rng.fill_bytes(&mut bytes);
        write("conversation", &format!("random-{i}"), &bytes);
    }
}
