//! Regression tests for the flaws of version 1 channels that version 2 closes (issue 15),
//! each through the public API and named after the attack:
//! - prekey information changed in transit (every bit of it, and the signatures of a
//!   rotated card reordered) was not authenticated;
//! - restoring an older saved state and encrypting again reused AES-GCM keys and nonces;
//! - a first message without a one-time prekey could be joined again and again;
//! - a bundle could lose its post-quantum half on the way, and the session key must need
//!   both the X25519 agreements and the ML-KEM shared secret;
//! - ciphertext lengths gave plaintext lengths away.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;

use common::{
    assert_decrypts, assert_rejected, decode_header, decode_message, flip_bit, identity, prekeys,
    published_bundle, raw_fields, rng, Pair, TestRng, CREATED_AT,
};
use prost::Message as _;
use rand::{Rng, TryCryptoRng, TryRng};
use ratchetkit::wire::v1;
use ratchetkit::{
    channel::KEM_CIPHERTEXT_LEN, channel::MESSAGE_SALT_LEN, channel::MIN_PADDED_LEN,
    identity::KEM_SEED_LEN, identity::PREVIOUS_SIGNER, Channel, Error, Identity, Padding,
    PrekeyBundle, PrekeyStore,
};

/// Length of an AES-256-GCM tag.
const TAG_LEN: usize = 16;

/// Alice (rotated once, so her card carries a self-signature and a previous signature) and
/// Bob with a prekey store of two one-time prekeys.
struct Rotated {
    rng: TestRng,
    alice: Identity,
    bob: Identity,
    store: PrekeyStore,
    one_time_ids: Vec<u32>,
}

fn rotated(seed: u64) -> Rotated {
    let mut rng = rng(seed);
    let alice = identity(&mut rng, "alice")
        .rotate_at(&mut rng, CREATED_AT + 1)
        .expect("rotate");
    let card = v1::SignedCard::decode(alice.card().to_bytes().as_slice()).expect("a card");
    assert_eq!(card.signatures.len(), 2, "self and previous signatures");
    let bob = identity(&mut rng, "bob");
    let (store, one_time_ids) = prekeys(&mut rng, 2);
    Rotated {
        rng,
        alice,
        bob,
        store,
        one_time_ids,
    }
}

/// The `ChannelMessage` field that holds the prekey information (field 4), checked to be
/// exactly the `PrekeyInfo` encoding: a bit flipped in it is a bit flipped in the encoding.
fn prekey_field(message: &[u8]) -> std::ops::Range<usize> {
    let field = raw_fields(message)
        .into_iter()
        .find(|field| field.number == 4)
        .expect("prekey information");
    let prekey = decode_message(message).prekey.expect("prekey information");
    assert_eq!(message[field.value.clone()], prekey.encode_to_vec()[..]);
    field.value
}

/// Joins `message`, which must fail and leave `store` byte for byte as it was.
#[track_caller]
fn assert_join_refused(bob: &Identity, store: &mut PrekeyStore, message: &[u8]) -> Error {
    let before = store.to_bytes();
    let result = Channel::join(bob, store, message);
    assert!(
        *before == *store.to_bytes(),
        "a refused join ({:?}) changed the prekey store",
        result.as_ref().err()
    );
    match result {
        Ok(joined) => panic!("joined, with the plaintext {:?}", joined.plaintext()),
        Err(error) => error,
    }
}

// ---------------------------------------------------------------------------------------
// Prekey information changed in transit

#[test]
fn prekey_info_changed_in_transit_is_refused_and_leaves_the_channel_working() {
    let mut s = rotated(1500);
    let bundle = published_bundle(&s.store, &s.bob, Some(s.one_time_ids[0]));
    let mut to_bob = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = to_bob.encrypt(&mut s.rng, b"first").expect("encrypt");
    let field = prekey_field(&first);
    let prekey = decode_message(&first).prekey.expect("prekey information");
    assert_eq!(prekey.kem_ciphertext.len(), KEM_CIPHERTEXT_LEN);

    // Every bit of the encoding, one at a time: a flip either leaves no canonical
    // PrekeyInfo (refused when parsed) or makes another one, whose hash in the associated
    // data no longer matches (or whose card, KEM ciphertext or prekey ids are refused
    // first). Version 1 joined some of them, such as a flip in the card's previous
    // signature, and was then stuck with a card that does not verify.
    let previous = alice_card_signatures(&s.alice)
        .into_iter()
        .find(|entry| entry.signer == PREVIOUS_SIGNER)
        .expect("a previous signature");
    let previous_signature = find(&first, &previous.signature);
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for bit in field.start * 8..field.end * 8 {
        let tampered = flip_bit(&first, bit);
        let error = assert_join_refused(&s.bob, &mut s.store, &tampered);
        if previous_signature.contains(&(bit / 8)) {
            assert_eq!(error, Error::AuthenticationFailed, "bit {bit}");
        }
        *errors.entry(variant(&error)).or_default() += 1;
    }
    println!(
        "{} flips refused: {errors:?}",
        (field.end - field.start) * 8
    );
    assert!(errors["AuthenticationFailed"] >= KEM_CIPHERTEXT_LEN * 8 - 8);

    // The card's two signatures swapped: the same card to Card::from_bytes, another
    // PrekeyInfo to the associated data.
    let mut message = decode_message(&first);
    let prekey = message.prekey.as_mut().expect("prekey information");
    let mut card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("a card");
    card.signatures.swap(0, 1);
    prekey.initiator_card = card.encode_to_vec();
    let reordered = message.encode_to_vec();
    assert_ne!(reordered, first);
    assert_eq!(
        assert_join_refused(&s.bob, &mut s.store, &reordered),
        Error::AuthenticationFailed
    );

    // The genuine message still joins, with the genuine card, and the channel works both
    // ways.
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("the genuine message joins");
    assert_eq!(joined.plaintext(), b"first");
    assert_eq!(joined.peer(), s.alice.card());
    let mut to_alice = joined.into_channel();
    let second = to_bob.encrypt(&mut s.rng, b"second").expect("encrypt");
    assert_decrypts(&mut to_alice, &second, b"second");
    let reply = to_alice.encrypt(&mut s.rng, b"reply").expect("encrypt");
    assert_decrypts(&mut to_bob, &reply, b"reply");
}

/// The same without a one-time prekey: the replay guard's path, where the store would
/// remember a channel that a tampered message made.
#[test]
fn prekey_info_changed_in_transit_without_a_one_time_prekey_is_refused() {
    let mut s = rotated(1501);
    let bundle = published_bundle(&s.store, &s.bob, None);
    let mut to_bob = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = to_bob.encrypt(&mut s.rng, b"first").expect("encrypt");
    let field = prekey_field(&first);
    // Every bit outside the KEM ciphertext (those are covered above), and every eighth
    // inside it.
    let kem = find(
        &first,
        &decode_message(&first)
            .prekey
            .expect("prekey")
            .kem_ciphertext,
    );
    for bit in field.start * 8..field.end * 8 {
        if kem.contains(&(bit / 8)) && bit % 8 != 0 {
            continue;
        }
        assert_join_refused(&s.bob, &mut s.store, &flip_bit(&first, bit));
    }
    assert_eq!(s.store.signed_prekey_joins(), 0);
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("the genuine message joins");
    assert_eq!(joined.peer(), s.alice.card());
    assert_eq!(s.store.signed_prekey_joins(), 1);
}

#[test]
fn prekey_info_changed_in_transit_is_refused_by_an_established_responder() {
    let mut s = rotated(1502);
    let bundle = published_bundle(&s.store, &s.bob, Some(s.one_time_ids[0]));
    let mut to_bob = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = to_bob.encrypt(&mut s.rng, b"first").expect("encrypt");
    let second = to_bob.encrypt(&mut s.rng, b"second").expect("encrypt");
    assert_eq!(
        decode_message(&second).prekey,
        decode_message(&first).prekey,
        "the first chain's messages carry the same prekey information"
    );
    let mut to_alice = Channel::join(&s.bob, &mut s.store, &first)
        .expect("join")
        .into_channel();

    // Version 1 let the first such message through, and then refused the genuine ones with
    // PrekeyInfoMismatch.
    let field = prekey_field(&second);
    for bit in field.start * 8..field.end * 8 {
        assert_rejected(&mut to_alice, &flip_bit(&second, bit));
    }
    let mut message = decode_message(&second);
    let prekey = message.prekey.as_mut().expect("prekey information");
    let mut card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("a card");
    card.signatures.swap(0, 1);
    prekey.initiator_card = card.encode_to_vec();
    assert_eq!(
        assert_rejected(&mut to_alice, &message.encode_to_vec()),
        Error::AuthenticationFailed
    );
    // Without the prekey information at all: another associated data too.
    let stripped = v1::ChannelMessage {
        prekey: None,
        ..decode_message(&second)
    };
    assert_eq!(
        assert_rejected(&mut to_alice, &stripped.encode_to_vec()),
        Error::AuthenticationFailed
    );

    assert_decrypts(&mut to_alice, &second, b"second");
    let reply = to_alice.encrypt(&mut s.rng, b"reply").expect("encrypt");
    assert_decrypts(&mut to_bob, &reply, b"reply");
}

/// The signatures of `identity`'s card, in order.
fn alice_card_signatures(identity: &Identity) -> Vec<v1::CardSignature> {
    v1::SignedCard::decode(identity.card().to_bytes().as_slice())
        .expect("a card")
        .signatures
}

/// Where `needle` occurs in `haystack` (once).
fn find(haystack: &[u8], needle: &[u8]) -> std::ops::Range<usize> {
    let start = haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("found");
    assert!(
        haystack[start + 1..]
            .windows(needle.len())
            .all(|window| window != needle),
        "found once"
    );
    start..start + needle.len()
}

/// An error's variant name.
fn variant(error: &Error) -> String {
    format!("{error:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// Restoring an older state

/// `sender` saves, encrypts `p1`, is restored from the save and encrypts `p2` (as after a
/// crash before the save that should have followed the first message). Both messages use
/// the same message key; each decrypts at a copy of `receiver`, they differ in their salt,
/// and their ciphertexts are not under one key stream. Each copy refuses the other message
/// as a duplicate.
fn check_no_reuse_after_rollback(rng: &mut TestRng, sender: &Channel, receiver: &Channel) {
    let (p1, p2): (&[u8], &[u8]) = (b"transfer 100 to carol", b"transfer 900 to mally");
    assert_eq!(p1.len(), p2.len());
    let save = sender.to_bytes();
    let receiver_save = receiver.to_bytes();
    let c1 = Channel::from_bytes(&save)
        .expect("load")
        .encrypt(rng, p1)
        .expect("encrypt");
    let c2 = Channel::from_bytes(&save)
        .expect("load")
        .encrypt(rng, p2)
        .expect("encrypt");

    // The same chain and message number: the same message key, as before version 2.
    let (h1, h2) = (decode_header(&c1), decode_header(&c2));
    assert_eq!(h1.ratchet_key, h2.ratchet_key);
    assert_eq!(h1.message_number, h2.message_number);
    assert_eq!(h1.salt.len(), MESSAGE_SALT_LEN);
    assert_eq!(h2.salt.len(), MESSAGE_SALT_LEN);
    assert_ne!(h1.salt, h2.salt, "a fresh salt per message");
    assert_ne!(c1, c2);

    let mut receiver1 = Channel::from_bytes(&receiver_save).expect("load");
    let mut receiver2 = Channel::from_bytes(&receiver_save).expect("load");
    assert_decrypts(&mut receiver1, &c1, p1);
    assert_decrypts(&mut receiver2, &c2, p2);
    assert_eq!(receiver1.decrypt(&c2), Err(Error::Duplicate));
    assert_eq!(receiver2.decrypt(&c1), Err(Error::Duplicate));

    // Under one key and nonce the ciphertexts would XOR to the XOR of the padded
    // plaintexts.
    let padded = |plaintext: &[u8]| {
        let mut padded = [plaintext, &[0x80]].concat();
        padded.resize(Padding::Padme.padded_len(plaintext.len()), 0);
        padded
    };
    let (m1, m2) = (decode_message(&c1), decode_message(&c2));
    let body = padded(p1).len();
    assert_eq!(m1.ciphertext.len(), body + TAG_LEN);
    assert_eq!(m2.ciphertext.len(), body + TAG_LEN);
    let xor = |a: &[u8], b: &[u8]| -> Vec<u8> { a.iter().zip(b).map(|(x, y)| x ^ y).collect() };
    assert_ne!(
        xor(&m1.ciphertext[..body], &m2.ciphertext[..body]),
        xor(&padded(p1), &padded(p2)),
        "the two messages share a key stream"
    );
}

#[test]
fn restoring_an_older_state_and_encrypting_twice_reuses_no_key_and_nonce() {
    // An established initiator.
    let pair = Pair::established(1510);
    let mut rng = rng(15100);
    check_no_reuse_after_rollback(&mut rng, &pair.alice, &pair.bob);

    // A fresh initiator, whose messages carry the prekey information.
    let pair = Pair::new(1511);
    assert!(common::carries_prekey(
        &pair.alice.clone().encrypt(&mut rng, b"x").expect("encrypt")
    ));
    check_no_reuse_after_rollback(&mut rng, &pair.alice, &pair.bob);

    // Before the peer has joined: two first messages from one restored save, each joined
    // by a copy of the responder's store.
    let mut s = common::setup(1512);
    let save = Channel::create(&mut s.rng, &s.alice, &s.bundle)
        .expect("create")
        .to_bytes();
    let first1 = Channel::from_bytes(&save)
        .expect("load")
        .encrypt(&mut s.rng, b"first, once")
        .expect("encrypt");
    let first2 = Channel::from_bytes(&save)
        .expect("load")
        .encrypt(&mut s.rng, b"first, again")
        .expect("encrypt");
    assert_ne!(decode_header(&first1).salt, decode_header(&first2).salt);
    let store = s.store.to_bytes();
    for (message, plaintext) in [(&first1, &b"first, once"[..]), (&first2, b"first, again")] {
        let mut copy = PrekeyStore::from_bytes(&store).expect("load");
        let joined = Channel::join(&s.bob, &mut copy, message).expect("join");
        assert_eq!(joined.plaintext(), plaintext);
    }
}

#[test]
fn restoring_an_older_responder_state_and_encrypting_twice_reuses_no_key_and_nonce() {
    // Bob's first sending chain (the responder's first reply) ...
    let mut pair = Pair::new(1520);
    let mut rng = rng(15200);
    let reply = pair.send(false, b"reply starts bob's chain");
    check_no_reuse_after_rollback(&mut rng, &pair.bob, &pair.alice);
    assert_decrypts(&mut pair.alice, &reply, b"reply starts bob's chain");

    // ... and a later one, after a round trip.
    let mut pair = Pair::established(1521);
    let started = pair.send(false, b"bob's new chain");
    assert_decrypts(&mut pair.alice, &started, b"bob's new chain");
    check_no_reuse_after_rollback(&mut rng, &pair.bob, &pair.alice);
}

// ---------------------------------------------------------------------------------------
// Replayed first messages

#[test]
fn replayed_first_message_without_a_one_time_prekey_is_refused() {
    let mut s = common::setup(1530);
    let signed_id = s.store.signed_prekey_id();
    let bundle = published_bundle(&s.store, &s.bob, None);
    let mut to_bob = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = to_bob.encrypt(&mut s.rng, b"first").expect("encrypt");
    let second = to_bob.encrypt(&mut s.rng, b"second").expect("encrypt");

    assert_eq!(s.store.signed_prekey_joins(), 0);
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("join");
    assert_eq!(joined.plaintext(), b"first");
    assert_eq!(s.store.signed_prekey_joins(), 1);

    // The same first message again, or another of its first chain (same ephemeral key,
    // same channel): refused, and the store is unchanged.
    for message in [&first, &second] {
        assert_eq!(
            assert_join_refused(&s.bob, &mut s.store, message),
            Error::ReplayedFirstMessage
        );
    }
    // The record is saved with the store.
    let mut restored = PrekeyStore::from_bytes(&s.store.to_bytes()).expect("load");
    assert_eq!(restored.signed_prekey_joins(), 1);
    assert_eq!(
        assert_join_refused(&s.bob, &mut restored, &first),
        Error::ReplayedFirstMessage
    );

    // Another channel from the same bundle joins, and counts.
    let mut other = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let other_first = other.encrypt(&mut s.rng, b"another").expect("encrypt");
    Channel::join(&s.bob, &mut restored, &other_first).expect("another channel joins");
    assert_eq!(restored.signed_prekey_joins(), 2);
    assert_eq!(
        assert_join_refused(&s.bob, &mut restored, &other_first),
        Error::ReplayedFirstMessage
    );

    // A rotation keeps the previous signed prekey, with its record; the new one starts at
    // zero. A second drops it: then the prekey is unknown.
    restored.rotate_signed_prekey(&mut s.rng);
    assert_eq!(restored.signed_prekey_joins(), 0);
    assert_eq!(
        assert_join_refused(&s.bob, &mut restored, &first),
        Error::ReplayedFirstMessage
    );
    let restored_again = PrekeyStore::from_bytes(&restored.to_bytes()).expect("load");
    let mut restored = restored_again;
    assert_eq!(
        assert_join_refused(&s.bob, &mut restored, &second),
        Error::ReplayedFirstMessage
    );
    restored.rotate_signed_prekey(&mut s.rng);
    assert_eq!(
        assert_join_refused(&s.bob, &mut restored, &first),
        Error::UnknownSignedPrekey { id: signed_id }
    );
}

#[test]
fn replayed_first_message_with_a_one_time_prekey_is_refused() {
    let mut s = common::setup(1531);
    let (_, [first, second]) = s.alice_starts(["first", "second"]);
    Channel::join(&s.bob, &mut s.store, &first).expect("join");
    // The signed prekey remembers every channel it started, a one-time prekey or not.
    assert_eq!(s.store.signed_prekey_joins(), 1);
    assert!(!s.store.one_time_prekey_ids().contains(&s.one_time_id));
    for message in [&first, &second] {
        assert_eq!(
            assert_join_refused(&s.bob, &mut s.store, message),
            Error::ReplayedFirstMessage
        );
    }
}

/// A creator that reuses its ephemeral key with another one-time prekey would start a
/// second channel under the same channel id (the id hashes the identities and the
/// ephemeral key): refused as a replay, so channel ids stay unique per store.
#[test]
fn a_second_channel_under_the_same_ephemeral_key_is_refused() {
    let mut s = common::setup(1532);
    let other_one_time = *s
        .store
        .one_time_prekey_ids()
        .iter()
        .find(|&&id| id != s.one_time_id)
        .expect("a second one-time prekey");
    let other_bundle = common::published_bundle(&s.store, &s.bob, Some(other_one_time));
    // The ephemeral key is the first thing `create` draws: two creators from equal
    // generator states share it.
    let (mut one_rng, mut twin_rng) = (common::rng(99), common::rng(99));
    let mut first_channel = Channel::create(&mut one_rng, &s.alice, &s.bundle).expect("create");
    let mut second_channel =
        Channel::create(&mut twin_rng, &s.alice, &other_bundle).expect("create");
    assert_eq!(first_channel.id(), second_channel.id());
    let first = first_channel
        .encrypt(&mut one_rng, b"one")
        .expect("encrypt");
    let second = second_channel
        .encrypt(&mut twin_rng, b"two")
        .expect("encrypt");

    Channel::join(&s.bob, &mut s.store, &first).expect("join");
    let saved = s.store.to_bytes();
    assert_eq!(
        Channel::join(&s.bob, &mut s.store, &second).err(),
        Some(Error::ReplayedFirstMessage)
    );
    assert_eq!(
        *s.store.to_bytes(),
        *saved,
        "the other one-time prekey is kept"
    );
    assert!(s.store.one_time_prekey_ids().contains(&other_one_time));
}

// ---------------------------------------------------------------------------------------
// Bundles without their post-quantum half

#[test]
fn a_bundle_stripped_of_its_kem_prekey_is_refused() {
    let mut s = common::setup(1540);
    let genuine = v1::PrekeyBundle::decode(s.bundle.to_bytes().as_slice()).expect("a bundle");
    assert!(genuine.one_time_prekey_id.is_some());
    let parse = |bundle: v1::PrekeyBundle| PrekeyBundle::from_bytes(&bundle.encode_to_vec());
    assert!(parse(genuine.clone()).is_ok());

    // No last-resort KEM prekey: a version 1 bundle, or one downgraded on the way.
    for bundle in [
        v1::PrekeyBundle {
            kem_prekey: Vec::new(),
            ..genuine.clone()
        },
        v1::PrekeyBundle {
            kem_prekey: Vec::new(),
            one_time_prekey_id: None,
            one_time_prekey: Vec::new(),
            one_time_kem_prekey: Vec::new(),
            one_time_prekey_signature: Vec::new(),
            ..genuine.clone()
        },
    ] {
        assert_eq!(parse(bundle), Err(Error::MissingKemPrekey));
    }

    // Another valid ML-KEM key (someone else's) in place of either: the signatures cover
    // the KEM keys.
    let mut other_rng = rng(15400);
    let mut other_store_with_one = PrekeyStore::new(&mut other_rng);
    let other_id = other_store_with_one
        .generate_one_time_prekeys(&mut other_rng, 1)
        .expect("room")[0];
    let other_bob = identity(&mut other_rng, "bob");
    let other = v1::PrekeyBundle::decode(
        other_store_with_one
            .bundle(&other_bob, Some(other_id))
            .expect("bundle")
            .to_bytes()
            .as_slice(),
    )
    .expect("a bundle");
    assert_ne!(other.kem_prekey, genuine.kem_prekey);
    assert_eq!(
        parse(v1::PrekeyBundle {
            kem_prekey: other.kem_prekey.clone(),
            ..genuine.clone()
        }),
        Err(Error::BadSignature {
            what: "signed prekey"
        })
    );
    assert_eq!(
        parse(v1::PrekeyBundle {
            one_time_kem_prekey: other.one_time_kem_prekey.clone(),
            ..genuine.clone()
        }),
        Err(Error::BadSignature {
            what: "one-time prekey"
        })
    );

    // A one-time prekey missing a part: its KEM key, its signature, its X25519 key, or
    // present without an id.
    for bundle in [
        v1::PrekeyBundle {
            one_time_kem_prekey: Vec::new(),
            ..genuine.clone()
        },
        v1::PrekeyBundle {
            one_time_prekey_signature: Vec::new(),
            ..genuine.clone()
        },
        v1::PrekeyBundle {
            one_time_prekey: Vec::new(),
            ..genuine.clone()
        },
        v1::PrekeyBundle {
            one_time_prekey_id: None,
            ..genuine.clone()
        },
    ] {
        assert_eq!(parse(bundle), Err(Error::IncompleteOneTimePrekey));
    }

    // The one-time prekey dropped whole is a valid bundle (a directory serves such bundles
    // once one-time prekeys run out): the signed prekey's KEM key is then used, and the
    // channel joins.
    let without = parse(v1::PrekeyBundle {
        one_time_prekey_id: None,
        one_time_prekey: Vec::new(),
        one_time_kem_prekey: Vec::new(),
        one_time_prekey_signature: Vec::new(),
        ..genuine
    })
    .expect("a bundle without a one-time prekey");
    assert_eq!(without, s.bundle.without_one_time_prekey());
    let mut to_bob = Channel::create(&mut s.rng, &s.alice, &without).expect("create");
    let first = to_bob.encrypt(&mut s.rng, b"hello").expect("encrypt");
    assert_eq!(
        Channel::join(&s.bob, &mut s.store, &first)
            .expect("join")
            .plaintext(),
        b"hello"
    );
}

// ---------------------------------------------------------------------------------------
// Hybrid security: the session key needs both the X25519 agreements and the KEM secret

/// An RNG that hands out the given values in order, each to one `fill_bytes` of its
/// length, then draws from a seeded generator. A prekey store draws an X25519 secret (32
/// bytes) then an ML-KEM seed (64 bytes) per prekey, so two stores can be made to differ in
/// one part only.
struct ChosenRng {
    chosen: VecDeque<Vec<u8>>,
    rest: TestRng,
}

impl ChosenRng {
    fn new(chosen: &[&[u8]]) -> Self {
        Self {
            chosen: chosen.iter().map(|value| value.to_vec()).collect(),
            rest: rng(1550),
        }
    }
}

impl TryRng for ChosenRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        assert!(
            self.chosen.is_empty(),
            "a next_u32 in place of a chosen value"
        );
        Ok(self.rest.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        assert!(
            self.chosen.is_empty(),
            "a next_u64 in place of a chosen value"
        );
        Ok(self.rest.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        match self.chosen.pop_front() {
            Some(value) => {
                assert_eq!(value.len(), dst.len(), "a draw of another length");
                dst.copy_from_slice(&value);
            }
            None => self.rest.fill_bytes(dst),
        }
        Ok(())
    }
}

impl TryCryptoRng for ChosenRng {}

/// A store whose signed prekey has the X25519 secret `x25519` and the ML-KEM seed `kem`,
/// and whose one one-time prekey those of `one_time`.
fn chosen_store(
    x25519: [u8; 32],
    kem: [u8; KEM_SEED_LEN],
    one_time: ([u8; 32], [u8; KEM_SEED_LEN]),
) -> (PrekeyStore, u32) {
    let mut rng = ChosenRng::new(&[&x25519, &kem, &one_time.0, &one_time.1]);
    let mut store = PrekeyStore::new(&mut rng);
    let id = store.generate_one_time_prekeys(&mut rng, 1).expect("room")[0];
    assert!(rng.chosen.is_empty(), "every chosen value drawn");
    (store, id)
}

#[test]
fn the_session_key_depends_on_both_the_x25519_agreements_and_the_kem_secret() {
    let mut rng = rng(1551);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let (x, x2, y, y2) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32]);
    let (k, k2, l, l2) = (
        [5u8; KEM_SEED_LEN],
        [6u8; KEM_SEED_LEN],
        [7u8; KEM_SEED_LEN],
        [8u8; KEM_SEED_LEN],
    );
    let (genuine, id) = chosen_store(x, k, (y, l));
    // The same store again, and stores differing from it in one key only.
    let (same, _) = chosen_store(x, k, (y, l));
    let (other_signed_kem, _) = chosen_store(x, k2, (y, l));
    let (other_signed_x25519, _) = chosen_store(x2, k, (y, l));
    let (other_one_time_kem, _) = chosen_store(x, k, (y, l2));
    let (other_one_time_x25519, _) = chosen_store(x, k, (y2, l));

    // The bundles show it: each differs from the genuine one in the one key only.
    let keys = |store: &PrekeyStore| {
        let bundle = v1::PrekeyBundle::decode(
            store
                .bundle(&bob, Some(id))
                .expect("bundle")
                .to_bytes()
                .as_slice(),
        )
        .expect("a bundle");
        [
            bundle.signed_prekey,
            bundle.kem_prekey,
            bundle.one_time_prekey,
            bundle.one_time_kem_prekey,
        ]
    };
    let genuine_keys = keys(&genuine);
    assert_eq!(keys(&same), genuine_keys);
    for (store, differs) in [
        (&other_signed_x25519, 0),
        (&other_signed_kem, 1),
        (&other_one_time_x25519, 2),
        (&other_one_time_kem, 3),
    ] {
        let keys = keys(store);
        for (part, (key, genuine_key)) in keys.iter().zip(&genuine_keys).enumerate() {
            assert_eq!(key == genuine_key, part != differs, "key {part}");
        }
    }

    // A first message made from the genuine bundle, with and without the one-time prekey:
    // with the one-time prekey the KEM secret is the one-time KEM key's, else the signed
    // prekey's.
    let bundle = published_bundle(&genuine, &bob, Some(id));
    let with_one_time = Channel::create(&mut rng, &alice, &bundle)
        .expect("create")
        .encrypt(&mut rng, b"hybrid")
        .expect("encrypt");
    let without_one_time = Channel::create(&mut rng, &alice, &bundle.without_one_time_prekey())
        .expect("create")
        .encrypt(&mut rng, b"hybrid")
        .expect("encrypt");
    let refusing_with_one_time = vec![
        ("the one-time KEM secret", &other_one_time_kem),
        (
            "the one-time X25519 agreement (DH4)",
            &other_one_time_x25519,
        ),
        (
            "the signed X25519 agreements (DH1, DH3)",
            &other_signed_x25519,
        ),
    ];
    let refusing_without = vec![
        ("the signed prekey's KEM secret", &other_signed_kem),
        (
            "the signed X25519 agreements (DH1, DH3)",
            &other_signed_x25519,
        ),
    ];
    for (message, refusing) in [
        (&with_one_time, refusing_with_one_time),
        (&without_one_time, refusing_without),
    ] {
        // The same message, the same ids; only the store's secret for one part differs:
        // the responder derives another session key, and the message fails to open.
        for (part, store) in refusing {
            let mut store = PrekeyStore::from_bytes(&store.to_bytes()).expect("copy");
            assert_eq!(
                assert_join_refused(&bob, &mut store, message),
                Error::AuthenticationFailed,
                "a session key that does not depend on {part}"
            );
        }
        let mut store = PrekeyStore::from_bytes(&same.to_bytes()).expect("copy");
        let joined = Channel::join(&bob, &mut store, message).expect("the same keys join");
        assert_eq!(joined.plaintext(), b"hybrid");
    }
    // Without a one-time prekey, the one-time keys play no part.
    for store in [&other_one_time_kem, &other_one_time_x25519] {
        let mut store = PrekeyStore::from_bytes(&store.to_bytes()).expect("copy");
        Channel::join(&bob, &mut store, &without_one_time).expect("joins");
    }
}

/// Changing only the KEM ciphertext (here its every byte, the length kept) makes the join
/// fail: the message's own authentication of the prekey information catches it before the
/// session key matters, and the test above shows the key depends on the KEM secret too.
#[test]
fn a_first_message_with_another_kem_ciphertext_is_refused() {
    let mut s = common::setup(1552);
    let (_, [first]) = s.alice_starts(["first"]);
    let kem = find(
        &first,
        &decode_message(&first)
            .prekey
            .expect("prekey")
            .kem_ciphertext,
    );
    for byte in kem.clone() {
        let mut tampered = first.clone();
        tampered[byte] ^= 0x55;
        assert_eq!(
            assert_join_refused(&s.bob, &mut s.store, &tampered),
            Error::AuthenticationFailed
        );
    }
    // Another genuine ciphertext from another channel to the same one-time prekey.
    let mut other = Channel::create(&mut s.rng, &s.alice, &s.bundle).expect("create");
    let other_first = other.encrypt(&mut s.rng, b"other").expect("encrypt");
    let other_kem = decode_message(&other_first)
        .prekey
        .expect("prekey")
        .kem_ciphertext;
    let mut spliced = first.clone();
    spliced[kem].copy_from_slice(&other_kem);
    assert_eq!(
        assert_join_refused(&s.bob, &mut s.store, &spliced),
        Error::AuthenticationFailed
    );
    Channel::join(&s.bob, &mut s.store, &first).expect("the genuine message joins");
}

// ---------------------------------------------------------------------------------------
// Padding

#[test]
fn padding_hides_lengths_on_channels() {
    let mut pair = Pair::established(1560);
    assert_eq!(pair.alice.padding(), Padding::Padme);
    // Every plaintext of up to 31 bytes makes a message of one length.
    let mut lengths = Vec::new();
    for len in 0..MIN_PADDED_LEN {
        let plaintext = vec![b'x'; len];
        let message = pair.send(true, &plaintext);
        assert_eq!(
            decode_message(&message).ciphertext.len(),
            MIN_PADDED_LEN + TAG_LEN
        );
        lengths.push(message.len());
        assert_decrypts(&mut pair.bob, &message, &plaintext);
    }
    assert!(
        lengths.windows(2).all(|pair| pair[0] == pair[1]),
        "{lengths:?}"
    );
    // Above, the Padmé sizes.
    for len in [31, 32, 100, 1000, 4096, 65_537] {
        let plaintext = vec![b'y'; len];
        let message = pair.send(true, &plaintext);
        assert_eq!(
            decode_message(&message).ciphertext.len(),
            Padding::Padme.padded_len(len) + TAG_LEN
        );
        assert_decrypts(&mut pair.bob, &message, &plaintext);
    }

    // Minimal padding: one marker byte; a peer padding with Padmé reads it.
    pair.alice.set_padding(Padding::Minimal);
    for len in [0, 1, 31, 100] {
        let plaintext = vec![b'z'; len];
        let message = pair.send(true, &plaintext);
        assert_eq!(decode_message(&message).ciphertext.len(), len + 1 + TAG_LEN);
        assert_decrypts(&mut pair.bob, &message, &plaintext);
    }
    // The setting is saved with the channel, on its side only.
    let mut restored = Channel::from_bytes(&pair.alice.to_bytes()).expect("load");
    assert_eq!(restored.padding(), Padding::Minimal);
    assert_eq!(pair.bob.padding(), Padding::Padme);
    let message = restored.encrypt(&mut pair.rng, b"short").expect("encrypt");
    assert_eq!(decode_message(&message).ciphertext.len(), 6 + TAG_LEN);
    assert_decrypts(&mut pair.bob, &message, b"short");
    restored.set_padding(Padding::Padme);
    let restored = Channel::from_bytes(&restored.to_bytes()).expect("load");
    assert_eq!(restored.padding(), Padding::Padme);

    // A joined channel pads by default too, and the creator's first messages as well.
    let mut s = common::setup(1561);
    let (_, [short, longer]) = s.alice_starts(["a", "a somewhat longer first message"]);
    assert_eq!(
        decode_message(&short).ciphertext.len(),
        decode_message(&longer).ciphertext.len()
    );
    let mut to_alice = Channel::join(&s.bob, &mut s.store, &short)
        .expect("join")
        .into_channel();
    assert_eq!(to_alice.padding(), Padding::Padme);
    let reply = to_alice.encrypt(&mut s.rng, b"ok").expect("encrypt");
    assert_eq!(
        decode_message(&reply).ciphertext.len(),
        MIN_PADDED_LEN + TAG_LEN
    );
}
