//! Sealed state names the object it holds: channel ids, prekey store ids, and the sealed
//! state of one object refused in place of another's of the same kind, under the same key.

mod common;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use common::groups::{World, ALICE, BOB, CAROL};
use common::{raw_fields, rng, Pair, TestRng};
use prost::Message;
use rand::{Rng, RngExt};
use ratchetkit::limits::MAX_SEALED_STATE_LEN;
use ratchetkit::wire::v1;
use ratchetkit::{
    channel::CHANNEL_ID_CONTEXT, storage::PREKEY_STORE_ID_CONTEXT, storage::SEALED_STATE_CONTEXT,
    Channel, ChannelId, Error, Fingerprint, Group, GroupStateId, Identity, PrekeyStore,
    PrekeyStoreId, SealableState, StorageKey,
};
use sha2::{Digest, Sha256};

const REJECTED: Option<Error> = Some(Error::SealedStateRejected);

/// The storage key every test seals with, as raw bytes so the test can recompute the AEAD.
const KEY: [u8; 32] = [0x5e; 32];

fn key() -> StorageKey {
    StorageKey::from_bytes(KEY)
}

/// Seals `state`, checks that it opens under its own id to the same state, and returns it.
fn sealed<S: SealableState>(state: &S, rng: &mut TestRng) -> Vec<u8> {
    let sealed = key().seal(rng, state).expect("seal");
    let opened: S = key().open(&sealed, &state.state_id()).expect("open");
    assert!(*opened.state_bytes() == *state.state_bytes());
    sealed
}

/// A world of four members (m0 .. m3) with a channel between every pair; Alice (m0) owns
/// a group with Bob and Carol.
fn world(seed: u64) -> World {
    common::groups::abc(seed)
}

// ---------------------------------------------------------------------------------------
// Channel ids

/// SHA-256(CHANNEL_ID_CONTEXT || Ed25519 A || X25519 A || Ed25519 B || X25519 B || EK_A),
/// recomputed from the first message's prekey information and the responder's card. EK_A
/// is the ratchet key of the first message's header (the initiator's first chain runs
/// under its ephemeral key).
fn recomputed_channel_id(first_message: &[u8], responder: &Identity) -> [u8; 32] {
    let message = v1::ChannelMessage::decode(first_message).expect("a channel message");
    let prekey = message.prekey.expect("a first message");
    let initiator = ratchetkit::Card::from_bytes(&prekey.initiator_card).expect("a card");
    let mut hash = Sha256::new();
    hash.update(CHANNEL_ID_CONTEXT);
    hash.update(initiator.signing_key());
    hash.update(initiator.agreement_key());
    hash.update(responder.card().signing_key());
    hash.update(responder.card().agreement_key());
    let header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
    hash.update(&header.ratchet_key);
    hash.finalize().into()
}

#[test]
fn both_sides_compute_the_same_channel_id_as_specified() {
    assert_eq!(CHANNEL_ID_CONTEXT, b"ratchetkit/v2/channel-id");
    let mut pair = Pair::new(1400);
    let id = pair.alice.id();
    assert_eq!(pair.bob.id(), id);
    assert_eq!(
        *id.as_bytes(),
        recomputed_channel_id(&pair.first_message, &pair.bob_identity)
    );
    assert_eq!(id.to_string(), hex::encode(id.as_bytes()));
    assert_eq!(format!("{id:?}"), format!("ChannelId({id})"));
    assert_eq!(ChannelId::from_bytes(*id.as_bytes()), id);

    // The id stays through ratchet steps and saving.
    for step in 0..6 {
        let message = pair.send(step % 2 == 0, b"step");
        pair.receive(step % 2 != 0, &message).expect("decrypts");
    }
    for channel in [&pair.alice, &pair.bob] {
        assert_eq!(channel.id(), id);
        let loaded = Channel::from_bytes(&channel.to_bytes()).expect("loads");
        assert_eq!(loaded.id(), id);
    }
}

#[test]
fn every_channel_has_its_own_id() {
    let world = world(1401);
    let mut ids = std::collections::BTreeMap::new();
    for (i, member) in world.members.iter().enumerate() {
        for (peer, channel) in &member.channels {
            let j = world.index(peer);
            ids.entry(channel.id())
                .or_insert_with(Vec::new)
                .push((i.min(j), i.max(j)));
        }
    }
    // Six pairs, each one channel with the same id on both sides, and no id shared
    // between pairs.
    assert_eq!(ids.len(), 6);
    for sides in ids.values() {
        assert_eq!(sides.len(), 2);
        assert_eq!(sides[0], sides[1]);
    }

    // Two channels between the same identities, one created by each side, differ.
    let mut pair = Pair::new(1402);
    let alice_prekeys = PrekeyStore::new(&mut pair.rng);
    let bundle = alice_prekeys
        .bundle(&pair.alice_identity, None)
        .expect("bundle");
    let other = Channel::create(&mut pair.rng, &pair.bob_identity, &bundle).expect("create");
    assert_ne!(other.id(), pair.alice.id());
}

// ---------------------------------------------------------------------------------------
// Prekey store ids

#[test]
fn a_prekey_store_id_is_fixed_at_creation_as_specified() {
    assert_eq!(PREKEY_STORE_ID_CONTEXT, b"ratchetkit/v2/prekey-store-id");
    let mut rng = rng(1410);
    let bob = common::identity(&mut rng, "bob");
    let mut store = PrekeyStore::new(&mut rng);
    let id = store.id();
    let bundle = v1::PrekeyBundle::decode(
        store
            .bundle(&bob, None)
            .expect("bundle")
            .to_bytes()
            .as_slice(),
    )
    .expect("a bundle");
    let mut hash = Sha256::new();
    hash.update(PREKEY_STORE_ID_CONTEXT);
    hash.update(&bundle.signed_prekey);
    assert_eq!(*id.as_bytes(), <[u8; 32]>::from(hash.finalize()));
    assert_eq!(id.to_string(), hex::encode(id.as_bytes()));
    assert_eq!(PrekeyStoreId::from_bytes(*id.as_bytes()), id);

    // Rotations, one-time prekeys, joins and saving keep it.
    store.rotate_signed_prekey(&mut rng);
    store.rotate_signed_prekey(&mut rng);
    store
        .generate_one_time_prekeys(&mut rng, 3)
        .expect("room for prekeys");
    assert_eq!(store.id(), id);
    assert_eq!(
        PrekeyStore::from_bytes(&store.to_bytes())
            .expect("loads")
            .id(),
        id
    );
    assert_ne!(PrekeyStore::new(&mut rng).id(), id);
}

// ---------------------------------------------------------------------------------------
// Swapped state is refused

#[test]
fn a_channel_state_in_another_channels_place_is_refused() {
    let world = world(1420);
    let mut rng = rng(14200);
    let alice = &world.members[ALICE];
    let to_bob = &alice.channels[&world.key(BOB)];
    let to_carol = &alice.channels[&world.key(CAROL)];
    let (sealed_bob, sealed_carol) = (sealed(to_bob, &mut rng), sealed(to_carol, &mut rng));

    assert_eq!(
        key().open::<Channel>(&sealed_bob, &to_carol.id()).err(),
        REJECTED
    );
    assert_eq!(
        key().open::<Channel>(&sealed_carol, &to_bob.id()).err(),
        REJECTED
    );
    // The other side of the same channel has the same id: Bob's state opens under it.
    let bobs_side = &world.members[BOB].channels[&world.key(ALICE)];
    let sealed_bobs_side = sealed(bobs_side, &mut rng);
    let opened: Channel = key()
        .open(&sealed_bobs_side, &to_bob.id())
        .expect("the same channel's id");
    assert!(*opened.to_bytes() == *bobs_side.to_bytes());
    // The right id opens, and the opened channel carries on.
    let mut opened: Channel = key().open(&sealed_bob, &to_bob.id()).expect("open");
    let mut bobs_side = bobs_side.clone();
    let message = opened.encrypt(&mut rng, b"after opening").expect("encrypt");
    assert_eq!(
        bobs_side.decrypt(&message).expect("decrypt"),
        b"after opening"
    );
}

#[test]
fn a_group_state_in_another_members_or_groups_place_is_refused() {
    let mut world = world(1430);
    let mut rng = rng(14300);
    // Same group, two members.
    let alice_group = world.group(ALICE).clone();
    let bob_group = world.group(BOB).clone();
    let alice_id = GroupStateId::new(alice_group.group_id(), world.key(ALICE));
    let bob_id = GroupStateId::new(bob_group.group_id(), world.key(BOB));
    assert_eq!(alice_group.state_id(), alice_id);
    assert_eq!(alice_group.me(), world.key(ALICE));
    assert_ne!(alice_id, bob_id);
    let (sealed_alice, sealed_bob) = (sealed(&alice_group, &mut rng), sealed(&bob_group, &mut rng));
    assert_eq!(key().open::<Group>(&sealed_alice, &bob_id).err(), REJECTED);
    assert_eq!(key().open::<Group>(&sealed_bob, &alice_id).err(), REJECTED);

    // Two groups, same member: Alice founds a second group with Bob (its welcome is not
    // delivered; her state of it is all this needs).
    let (second, _welcome) = world.new_group(ALICE, &[BOB]);
    assert_ne!(second.group_id(), alice_group.group_id());
    let second_id = second.state_id();
    let sealed_second = sealed(&second, &mut rng);
    assert_eq!(
        key().open::<Group>(&sealed_second, &alice_id).err(),
        REJECTED
    );
    assert_eq!(
        key().open::<Group>(&sealed_alice, &second_id).err(),
        REJECTED
    );

    // The right ids open.
    let opened: Group = key().open(&sealed_alice, &alice_id).expect("open");
    assert!(*opened.to_bytes() == *alice_group.to_bytes());
    let opened: Group = key().open(&sealed_second, &second_id).expect("open");
    assert!(*opened.to_bytes() == *second.to_bytes());

    // Ids of a wrong length name no state.
    let short = GroupStateId::new(&alice_group.group_id()[1..], world.key(ALICE));
    assert_eq!(key().open::<Group>(&sealed_alice, &short).err(), REJECTED);
    let long = GroupStateId::new(&[0; 300], world.key(ALICE));
    assert_eq!(key().open::<Group>(&sealed_alice, &long).err(), REJECTED);
    assert_eq!(
        alice_id.to_string(),
        format!(
            "{}-{}",
            hex::encode(alice_group.group_id()),
            hex::encode(world.key(ALICE))
        )
    );
}

#[test]
fn an_identity_or_prekey_store_in_anothers_place_is_refused() {
    let mut rng = rng(1440);
    let alice = common::identity(&mut rng, "alice");
    let bob = common::identity(&mut rng, "bob");
    let (sealed_alice, sealed_bob) = (sealed(&alice, &mut rng), sealed(&bob, &mut rng));
    let (alice_id, bob_id) = (alice.card().fingerprint(), bob.card().fingerprint());
    assert_eq!(
        key().open::<Identity>(&sealed_alice, &bob_id).err(),
        REJECTED
    );
    assert_eq!(
        key().open::<Identity>(&sealed_bob, &alice_id).err(),
        REJECTED
    );
    let opened: Identity = key().open(&sealed_alice, &alice_id).expect("open");
    assert_eq!(opened.card(), alice.card());

    // A rotated identity is another object: its fingerprint names it.
    let rotated = alice.rotate(&mut rng).expect("rotate");
    let sealed_rotated = sealed(&rotated, &mut rng);
    assert_eq!(
        key().open::<Identity>(&sealed_rotated, &alice_id).err(),
        REJECTED
    );

    let first = PrekeyStore::new(&mut rng);
    let second = PrekeyStore::new(&mut rng);
    let (sealed_first, sealed_second) = (sealed(&first, &mut rng), sealed(&second, &mut rng));
    assert_eq!(
        key().open::<PrekeyStore>(&sealed_first, &second.id()).err(),
        REJECTED
    );
    assert_eq!(
        key().open::<PrekeyStore>(&sealed_second, &first.id()).err(),
        REJECTED
    );
    let opened: PrekeyStore = key().open(&sealed_first, &first.id()).expect("open");
    assert!(*opened.to_bytes() == *first.to_bytes());
}

// ---------------------------------------------------------------------------------------
// The associated data, as specified

/// The associated data PROTOCOL.md specifies: context || u8 len(kind) || kind || u8
/// len(id) || id.
fn specified_ad(kind: &str, id: &[u8]) -> Vec<u8> {
    let mut ad = SEALED_STATE_CONTEXT.to_vec();
    ad.push(u8::try_from(kind.len()).expect("short kind"));
    ad.extend_from_slice(kind.as_bytes());
    ad.push(u8::try_from(id.len()).expect("short id"));
    ad.extend_from_slice(id);
    ad
}

/// (version, nonce, ciphertext) of a `SealedState`, read field by field.
fn envelope(sealed: &[u8]) -> (u64, Vec<u8>, Vec<u8>) {
    let fields = raw_fields(sealed);
    assert_eq!(
        fields.iter().map(|f| f.number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let version = u64::from(sealed[fields[0].value.start]);
    let bytes = |i: usize| sealed[fields[i].value.clone()].to_vec();
    (version, bytes(1), bytes(2))
}

/// A `SealedState` of `version` with `nonce` and `ciphertext`, encoded by hand.
fn encode_envelope(version: u8, nonce: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, version, 0x12, nonce.len() as u8];
    out.extend_from_slice(nonce);
    out.push(0x1a);
    let mut len = ciphertext.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(ciphertext);
    out
}

fn aes(nonce: &[u8]) -> (Aes256Gcm, [u8; 12]) {
    let cipher = Aes256Gcm::new_from_slice(&KEY).expect("a 32-byte key");
    (cipher, nonce.try_into().expect("a 12-byte nonce"))
}

#[test]
fn the_associated_data_is_as_specified() {
    assert_eq!(SEALED_STATE_CONTEXT, b"ratchetkit/v2/sealed-state");
    let pair = Pair::established(1450);
    let mut world = world(1451);
    let group = world.group(BOB).clone();
    let mut rng = rng(14500);

    let check = |kind: &str, id: Vec<u8>, sealed: Vec<u8>, state: Vec<u8>| {
        let (version, nonce, ciphertext) = envelope(&sealed);
        assert_eq!(version, 2, "{kind}");
        let (cipher, nonce) = aes(&nonce);
        let aad = specified_ad(kind, &id);
        let plaintext = cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .unwrap_or_else(|_| panic!("{kind}: the specified associated data opens it"));
        assert!(plaintext == state, "{kind}");
    };
    check(
        "channel",
        pair.bob.id().as_bytes().to_vec(),
        sealed(&pair.bob, &mut rng),
        pair.bob.to_bytes().to_vec(),
    );
    check(
        "identity",
        pair.bob_identity.card().fingerprint().as_bytes().to_vec(),
        sealed(&pair.bob_identity, &mut rng),
        pair.bob_identity.to_bytes().to_vec(),
    );
    check(
        "prekey-store",
        pair.bob_prekeys.id().as_bytes().to_vec(),
        sealed(&pair.bob_prekeys, &mut rng),
        pair.bob_prekeys.to_bytes().to_vec(),
    );
    check(
        "group",
        [group.group_id(), &world.key(BOB)].concat(),
        sealed(&group, &mut rng),
        group.to_bytes().to_vec(),
    );
}

/// A state sealed by someone holding the key under an id that is not the state's own (the
/// tag verifies) is refused all the same: opening checks the loaded state's id too.
#[test]
fn a_state_sealed_under_an_id_not_its_own_is_refused() {
    let pair = Pair::new(1460);
    let mut rng = rng(14600);
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let other = ChannelId::from_bytes([9; 32]);
    let (cipher, aes_nonce) = aes(&nonce);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(aes_nonce),
            Payload {
                msg: &pair.bob.to_bytes(),
                aad: &specified_ad("channel", other.as_bytes()),
            },
        )
        .expect("encrypt");
    let lying = encode_envelope(2, &nonce, &ciphertext);
    assert_eq!(key().open::<Channel>(&lying, &other).err(), REJECTED);
    assert_eq!(
        key().open::<Channel>(&lying, &pair.bob.id()).err(),
        REJECTED
    );

    // Sealed the same way under the state's own id, it opens: the refusal above is the id.
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(aes_nonce),
            Payload {
                msg: &pair.bob.to_bytes(),
                aad: &specified_ad("channel", pair.bob.id().as_bytes()),
            },
        )
        .expect("encrypt");
    let honest = encode_envelope(2, &nonce, &ciphertext);
    let opened: Channel = key().open(&honest, &pair.bob.id()).expect("open");
    assert!(*opened.to_bytes() == *pair.bob.to_bytes());
}

// ---------------------------------------------------------------------------------------
// Envelope limits and versions

#[test]
fn oversized_or_old_sealed_state_is_refused_before_decrypting() {
    let pair = Pair::new(1470);
    let mut rng = rng(14700);
    let id = pair.bob.id();
    let too_large = Some(Error::TooLarge {
        what: "SealedState",
        limit: MAX_SEALED_STATE_LEN,
    });
    // Over the limit, whatever the bytes: refused before they are decoded (the zeroed
    // pages are never touched).
    let huge = vec![0u8; MAX_SEALED_STATE_LEN + 1];
    assert_eq!(key().open::<Channel>(&huge, &id).err(), too_large);
    let sealed = sealed(&pair.bob, &mut rng);
    let (_, nonce, ciphertext) = envelope(&sealed);

    // Version 1 (bound to the kind only) is refused by its version.
    let old = encode_envelope(1, &nonce, &ciphertext);
    assert_eq!(
        key().open::<Channel>(&old, &id).err(),
        Some(Error::UnsupportedVersion {
            what: "SealedState",
            found: 1
        })
    );
    assert_eq!(
        encode_envelope(2, &nonce, &ciphertext),
        sealed,
        "the hand encoding is the crate's"
    );
}

#[test]
fn opening_garbage_under_any_id_fails_without_panicking() {
    let mut rng = rng(1480);
    let pair = Pair::established(1481);
    let genuine = sealed(&pair.bob, &mut rng);
    for round in 0..300 {
        let mut garbage = vec![0; rng.random_range(0..200)];
        rng.fill_bytes(&mut garbage);
        if round % 3 == 0 {
            // Garbage behind a valid envelope start.
            garbage = [&genuine[..14], &garbage].concat();
        }
        let mut id = [0u8; 32];
        rng.fill_bytes(&mut id);
        assert!(key()
            .open::<Channel>(&garbage, &ChannelId::from_bytes(id))
            .is_err());
        assert!(key()
            .open::<Identity>(&garbage, &Fingerprint::from_bytes(id))
            .is_err());
        assert!(key()
            .open::<PrekeyStore>(&garbage, &PrekeyStoreId::from_bytes(id))
            .is_err());
        assert!(key()
            .open::<Group>(&garbage, &GroupStateId::new(&id, id))
            .is_err());
        assert_eq!(
            key()
                .open::<Channel>(&genuine, &ChannelId::from_bytes(id))
                .err(),
            REJECTED
        );
    }
}
