//! Joining channels: forged first messages burn nothing, one-time prekeys are used once,
//! lost first messages, the prekey information the creator attaches until it hears back,
//! and group control on a first message.

mod common;

use common::{
    assert_decrypts, assert_join_fails, carries_prekey, decode_message, flip_bit, identity,
    prekeys, published_bundle, rng, setup, sign_as, with_content,
};
use std::collections::HashMap;

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{identity::CARD_SIGNATURE_CONTEXT, Card, Channel, Error, Group, PrekeyStore};

const BAD_CARD: Error = Error::BadSignature { what: "card" };

#[test]
fn join_with_a_forged_initiator_card_fails_and_burns_nothing() {
    let mut s = setup(54);
    let mallory = identity(&mut s.rng, "mallory");
    let (_, [first]) = s.alice_starts(["first"]);
    let genuine = decode_message(&first);
    let prekey = genuine.prekey.clone().expect("prekey information");
    let alice_card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("card");
    let alice_content = v1::CardContent::decode(alice_card.content.as_slice()).expect("content");
    let with_card = |card: Vec<u8>| {
        v1::ChannelMessage {
            prekey: Some(v1::PrekeyInfo {
                initiator_card: card,
                ..prekey.clone()
            }),
            ..genuine.clone()
        }
        .encode_to_vec()
    };

    let renamed = with_content(
        &alice_card,
        v1::CardContent {
            identity: "alice2".into(),
            ..alice_content
        },
    );
    assert_join_fails(&mut s, &with_card(renamed), BAD_CARD);
    let unsigned = v1::SignedCard {
        signatures: Vec::new(),
        ..alice_card.clone()
    }
    .encode_to_vec();
    assert_join_fails(&mut s, &with_card(unsigned), Error::MissingSelfSignature);
    // Mallory's genuine card: the agreements of the start and the associated data differ.
    assert_join_fails(
        &mut s,
        &with_card(mallory.card().to_bytes()),
        Error::AuthenticationFailed,
    );

    assert!(s.store.one_time_prekey_ids().contains(&s.one_time_id));
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("the genuine message joins");
    assert_eq!(joined.peer(), s.alice.card());
    assert_eq!(joined.plaintext(), b"first");
    assert!(!s.store.one_time_prekey_ids().contains(&s.one_time_id));
}

#[test]
fn one_time_prekey_survives_a_forged_first_message_and_is_used_once() {
    let mut s = setup(55);
    let (_, [first, second]) = s.alice_starts(["first", "second"]);

    let mut forged = decode_message(&first);
    forged.ciphertext[0] ^= 1;
    assert_join_fails(&mut s, &forged.encode_to_vec(), Error::AuthenticationFailed);
    assert_eq!(s.store.one_time_prekey_ids().len(), 2);
    assert!(s.store.one_time_prekey_ids().contains(&s.one_time_id));

    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("join");
    assert_eq!(joined.plaintext(), b"first");
    assert!(!s.store.one_time_prekey_ids().contains(&s.one_time_id));
    assert_eq!(s.store.one_time_prekey_ids().len(), 1);

    // The channel cannot start again: neither a replay nor a later message of its first
    // chain (the signed prekey remembers the channel before the one-time prekey, now gone,
    // is even looked up).
    assert_join_fails(&mut s, &first, Error::ReplayedFirstMessage);
    assert_join_fails(&mut s, &second, Error::ReplayedFirstMessage);
    let mut bob_channel = joined.into_channel();
    assert_decrypts(&mut bob_channel, &second, b"second");
}

#[test]
fn every_bit_flip_of_a_first_message_fails_to_join() {
    let mut s = setup(56);
    let (_, [first]) = s.alice_starts(["first message"]);
    let before = s.store.to_bytes();
    let mut joined_with = Vec::new();
    for bit in 0..first.len() * 8 {
        let result = Channel::join(&s.bob, &mut s.store, &flip_bit(&first, bit));
        if result.is_ok() {
            joined_with.push(bit);
            s.store = PrekeyStore::from_bytes(&before).expect("load");
        } else {
            assert!(
                *before == *s.store.to_bytes(),
                "flipping bit {bit} changed the store"
            );
        }
    }
    assert!(
        joined_with.is_empty(),
        "a {}-byte first message still joined with bit {joined_with:?} flipped",
        first.len()
    );
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("join");
    assert_eq!(joined.plaintext(), b"first message");
}

/// Group control may start a channel (group protocol v2): `Channel::join` hands it to the
/// group rather than to the app, with no plaintext, and a tampered one joins nothing and
/// burns no prekey.
#[test]
fn a_first_message_with_group_control_hands_it_to_the_group() {
    let mut s = setup(61);
    let (alice, bob) = (s.alice.card().signing_key(), s.bob.card().signing_key());
    let to_bob = Channel::create(&mut s.rng, &s.alice, &s.bundle).expect("create");
    let mut channels = HashMap::from([(bob, to_bob)]);
    let (group, received) =
        Group::create(&mut s.rng, &s.alice, &[s.bob.card().clone()], &mut channels)
            .expect("a group over a channel nobody joined yet");
    let first = received.outgoing()[0].message();
    assert!(carries_prekey(first));

    let before = s.store.to_bytes();
    for bit in 0..first.len() * 8 {
        assert!(
            Channel::join(&s.bob, &mut s.store, &flip_bit(first, bit)).is_err(),
            "bit {bit}"
        );
        assert!(
            *before == *s.store.to_bytes(),
            "bit {bit} changed the store"
        );
    }
    let joined = Channel::join(&s.bob, &mut s.store, first).expect("join");
    assert!(joined.plaintext().is_empty());
    assert_eq!(joined.peer(), s.alice.card());
    assert!(!s.store.one_time_prekey_ids().contains(&s.one_time_id));
    let control = joined.group_control().expect("the welcome").clone();
    assert_eq!(control.from(), alice);
    assert_eq!(control.group_id(), Ok(group.group_id().to_vec()));

    // The joined channel goes on as any other.
    let mut to_alice = joined.into_channel();
    let later = channels
        .get_mut(&bob)
        .expect("alice's channel")
        .encrypt(&mut s.rng, b"chat")
        .expect("encrypt");
    assert_decrypts(&mut to_alice, &later, b"chat");

    // An application first message carries no control.
    let bundle = published_bundle(&s.store, &s.bob, None);
    let mut other = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let chat = other.encrypt(&mut s.rng, b"just chat").expect("encrypt");
    let joined = Channel::join(&s.bob, &mut s.store, &chat).expect("join");
    assert_eq!(joined.plaintext(), b"just chat");
    assert!(joined.group_control().is_none());
}

/// Someone on the path changes the first message without changing the hybrid start's
/// result. Version 1 let some such changes join (the prekey information was not
/// authenticated); in version 2 the header and the prekey information are both in the
/// message's associated data, so the join fails, burns nothing, and the genuine message
/// then joins and the channel goes on.
fn check_tampered_first_message(
    seed: u64,
    expected: Error,
    tamper: impl Fn(&mut v1::ChannelMessage),
) {
    let mut s = setup(seed);
    let (_, [first, second]) = s.alice_starts(["first", "second"]);
    let mut tampered = decode_message(&first);
    tamper(&mut tampered);
    let tampered = tampered.encode_to_vec();
    assert_ne!(tampered, first);

    assert_join_fails(&mut s, &tampered, expected);
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("the genuine message joins");
    assert_eq!(joined.plaintext(), b"first");
    let mut bob_channel = joined.into_channel();
    assert_decrypts(&mut bob_channel, &second, b"second");
}

/// X25519 ignores the top bit of a public key (RFC 7748), so the ephemeral key (the first
/// chain's ratchet key) with bit 255 set would give the same agreements: only the canonical
/// encoding is read.
#[test]
fn first_message_with_a_non_canonical_ephemeral_key() {
    let expected = Error::InvalidPublicKey {
        field: "ratchet key",
    };
    check_tampered_first_message(63, expected, |message| {
        let mut header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
        header.ratchet_key[31] ^= 0x80;
        message.header = header.encode_to_vec();
    });
}

/// A card may carry signatures by others besides its self-signature; an extra one added
/// on the path leaves the card's keys, and so the agreements, unchanged, but changes the
/// authenticated prekey information.
#[test]
fn first_message_with_an_extra_card_signature() {
    check_tampered_first_message(64, Error::AuthenticationFailed, |message| {
        let prekey = message.prekey.as_mut().expect("prekey information");
        let mut card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("card");
        card.signatures.push(v1::CardSignature {
            signer: "someone".into(),
            signature: vec![0; 64],
        });
        prekey.initiator_card = card.encode_to_vec();
    });
}

#[test]
fn other_join_failures_leave_the_store_unchanged() {
    let mut s = setup(57);
    let (_, [first]) = s.alice_starts(["first"]);
    let genuine = decode_message(&first);
    let prekey = genuine.prekey.clone().expect("prekey information");

    let without_prekey = v1::ChannelMessage {
        prekey: None,
        ..genuine.clone()
    }
    .encode_to_vec();
    assert_join_fails(&mut s, &without_prekey, Error::NotAPrekeyMessage);
    // The ephemeral key is the header's ratchet key.
    let mut low_order_header =
        v1::RatchetHeader::decode(genuine.header.as_slice()).expect("a header");
    low_order_header.ratchet_key = vec![0; 32];
    let low_order_ephemeral = v1::ChannelMessage {
        header: low_order_header.encode_to_vec(),
        ..genuine.clone()
    };
    assert_join_fails(
        &mut s,
        &low_order_ephemeral.encode_to_vec(),
        Error::NonContributoryKey,
    );
    // A properly self-signed card whose agreement key is a low-order point.
    let alice_card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("card");
    let content = v1::CardContent {
        agreement_key: vec![0; 32],
        ..v1::CardContent::decode(alice_card.content.as_slice()).expect("content")
    }
    .encode_to_vec();
    let low_order_card = v1::SignedCard {
        signatures: vec![v1::CardSignature {
            signer: "self".into(),
            signature: sign_as(&s.alice, CARD_SIGNATURE_CONTEXT, &[&content]),
        }],
        content,
    };
    assert!(Card::from_bytes(&low_order_card.encode_to_vec()).is_ok());
    let low_order_agreement = v1::ChannelMessage {
        prekey: Some(v1::PrekeyInfo {
            initiator_card: low_order_card.encode_to_vec(),
            ..prekey.clone()
        }),
        ..genuine.clone()
    };
    assert_join_fails(
        &mut s,
        &low_order_agreement.encode_to_vec(),
        Error::NonContributoryKey,
    );
    let unknown_signed = v1::ChannelMessage {
        prekey: Some(v1::PrekeyInfo {
            signed_prekey_id: 999,
            ..prekey.clone()
        }),
        ..genuine.clone()
    };
    assert_join_fails(
        &mut s,
        &unknown_signed.encode_to_vec(),
        Error::UnknownSignedPrekey { id: 999 },
    );
    let unknown_one_time = v1::ChannelMessage {
        prekey: Some(v1::PrekeyInfo {
            one_time_prekey_id: Some(998),
            ..prekey.clone()
        }),
        ..genuine.clone()
    };
    assert_join_fails(
        &mut s,
        &unknown_one_time.encode_to_vec(),
        Error::UnknownOneTimePrekey { id: 998 },
    );
    // The other one-time prekey of the same store: another session key.
    let other_id = s
        .store
        .one_time_prekey_ids()
        .into_iter()
        .find(|&id| id != s.one_time_id)
        .expect("id");
    let other_one_time = v1::ChannelMessage {
        prekey: Some(v1::PrekeyInfo {
            one_time_prekey_id: Some(other_id),
            ..prekey.clone()
        }),
        ..genuine.clone()
    };
    assert_join_fails(
        &mut s,
        &other_one_time.encode_to_vec(),
        Error::AuthenticationFailed,
    );
    let no_one_time = v1::ChannelMessage {
        prekey: Some(v1::PrekeyInfo {
            one_time_prekey_id: None,
            ..prekey
        }),
        ..genuine
    };
    assert_join_fails(
        &mut s,
        &no_one_time.encode_to_vec(),
        Error::AuthenticationFailed,
    );

    // Carol has a store with the same ids: the message is still not for her.
    let mut carol_rng = rng(570);
    let carol = identity(&mut carol_rng, "carol");
    let (mut carol_store, carol_ids) = prekeys(&mut carol_rng, 2);
    assert_eq!(carol_ids, s.store.one_time_prekey_ids());
    let carol_before = carol_store.to_bytes();
    assert_eq!(
        Channel::join(&carol, &mut carol_store, &first).err(),
        Some(Error::AuthenticationFailed)
    );
    assert!(*carol_before == *carol_store.to_bytes());

    assert!(Channel::join(&s.bob, &mut s.store, &first).is_ok());
}

#[test]
fn signed_prekey_rotation_keeps_one_previous_key() {
    let mut s = setup(58);
    let old_id = s.store.signed_prekey_id();
    let bundle = published_bundle(&s.store, &s.bob, None);
    let mut first_channel = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = first_channel
        .encrypt(&mut s.rng, b"one rotation old")
        .expect("encrypt");
    let mut second_channel = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let second = second_channel
        .encrypt(&mut s.rng, b"two rotations old")
        .expect("encrypt");

    s.store.rotate_signed_prekey(&mut s.rng);
    assert_ne!(s.store.signed_prekey_id(), old_id);
    let joined = Channel::join(&s.bob, &mut s.store, &first)
        .expect("the previous signed prekey still works");
    assert_eq!(joined.plaintext(), b"one rotation old");

    s.store.rotate_signed_prekey(&mut s.rng);
    assert_join_fails(&mut s, &second, Error::UnknownSignedPrekey { id: old_id });
}

#[test]
fn lost_first_message_does_not_break_the_channel() {
    let mut s = setup(59);
    let (mut alice_channel, [lost, second, third]) =
        s.alice_starts(["lost for a while", "second", "third"]);
    assert!(carries_prekey(&second));

    let joined = Channel::join(&s.bob, &mut s.store, &second).expect("the second message joins");
    assert_eq!(joined.plaintext(), b"second");
    let mut bob_channel = joined.into_channel();
    assert_decrypts(&mut bob_channel, &third, b"third");
    assert_decrypts(&mut bob_channel, &lost, b"lost for a while");
    assert_eq!(bob_channel.decrypt(&lost), Err(Error::Duplicate));

    let reply = bob_channel
        .encrypt(&mut s.rng, b"got them all")
        .expect("encrypt");
    assert_decrypts(&mut alice_channel, &reply, b"got them all");
}

#[test]
fn prekey_information_is_attached_until_a_reply_is_decrypted() {
    let mut s = setup(60);
    let mut alice_channel = Channel::create(&mut s.rng, &s.alice, &s.bundle).expect("create");
    let sent: Vec<Vec<u8>> = (0..3)
        .map(|i| alice_channel.encrypt(&mut s.rng, &[i]).expect("encrypt"))
        .collect();
    let joined = Channel::join(&s.bob, &mut s.store, &sent[0]).expect("join");
    let mut bob_channel = joined.into_channel();
    for (i, message) in sent.iter().enumerate().skip(1) {
        assert_decrypts(&mut bob_channel, message, &[i as u8]);
    }

    let reply = bob_channel.encrypt(&mut s.rng, b"reply").expect("encrypt");
    assert!(!carries_prekey(&reply));
    // Alice has not read the reply yet; a saved and restored channel keeps attaching too.
    let mut alice_channel = Channel::from_bytes(&alice_channel.to_bytes()).expect("restore");
    let before_reading = alice_channel
        .encrypt(&mut s.rng, b"before reading")
        .expect("encrypt");
    let prekey = decode_message(&sent[0]).prekey;
    assert!(prekey.is_some());
    for message in sent.iter().chain([&before_reading]) {
        assert_eq!(
            decode_message(message).prekey,
            prekey,
            "every prekey message carries the same information"
        );
    }
    assert_decrypts(&mut bob_channel, &before_reading, b"before reading");

    assert_decrypts(&mut alice_channel, &reply, b"reply");
    for i in 0..3 {
        let after = alice_channel
            .encrypt(&mut s.rng, &[b'a', i])
            .expect("encrypt");
        assert!(!carries_prekey(&after));
        assert_eq!(
            Channel::join(&s.bob, &mut s.store, &after).err(),
            Some(Error::NotAPrekeyMessage)
        );
        assert_decrypts(&mut bob_channel, &after, &[b'a', i]);
    }
    let mut restored = Channel::from_bytes(&alice_channel.to_bytes()).expect("restore");
    assert!(!carries_prekey(
        &restored
            .encrypt(&mut s.rng, b"still none")
            .expect("encrypt")
    ));
}
