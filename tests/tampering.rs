//! Rejected input: duplicates, bit flips, truncation, splicing, reflection, and messages of
//! other channels. Every rejection must leave the channel's state byte-identical.

mod common;

use common::{
    assert_decrypts, assert_rejected, assert_rejected_with, carries_prekey, decode_message,
    flip_bit, identity, prekeys, published_bundle, rng, Pair,
};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{Channel, Error};

// ---------------------------------------------------------------------------------------
// Duplicates

#[test]
fn duplicate_in_the_same_chain() {
    let mut pair = Pair::new(30);
    let first = pair.first_message.clone();
    assert_rejected_with(&mut pair.bob, &first, Error::Duplicate);
    let message = pair.send(true, b"once");
    assert_decrypts(&mut pair.bob, &message, b"once");
    assert_rejected_with(&mut pair.bob, &message, Error::Duplicate);
    assert_rejected_with(&mut pair.bob, &first, Error::Duplicate);

    let reply = pair.send(false, b"reply once");
    assert_decrypts(&mut pair.alice, &reply, b"reply once");
    assert_rejected_with(&mut pair.alice, &reply, Error::Duplicate);
}

#[test]
fn duplicate_on_an_ended_chain_after_a_ratchet_step() {
    let mut pair = Pair::new(31);
    let old = pair.send(true, b"old chain");
    assert_decrypts(&mut pair.bob, &old, b"old chain");
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let new = pair.send(true, b"new chain");
    assert_decrypts(&mut pair.bob, &new, b"new chain");

    // Alice's first chain has ended on Bob's side.
    assert_rejected_with(&mut pair.bob, &old, Error::Duplicate);
    let first = pair.first_message.clone();
    assert_rejected_with(&mut pair.bob, &first, Error::Duplicate);
    assert_rejected_with(&mut pair.bob, &new, Error::Duplicate);

    // Same on Alice's side for Bob's ended chain.
    let answer = pair.send(false, b"second reply");
    assert_decrypts(&mut pair.alice, &answer, b"second reply");
    assert_rejected_with(&mut pair.alice, &reply, Error::Duplicate);
}

#[test]
fn skipped_message_delivered_twice() {
    let mut pair = Pair::established(32);
    let a = pair.send(true, b"a");
    let b = pair.send(true, b"b");
    let c = pair.send(true, b"c");
    assert_decrypts(&mut pair.bob, &c, b"c");
    assert_decrypts(&mut pair.bob, &a, b"a");
    assert_rejected_with(&mut pair.bob, &a, Error::Duplicate);

    // A skipped message on a chain that has since ended.
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let d = pair.send(true, b"d");
    assert_decrypts(&mut pair.bob, &d, b"d");
    assert_decrypts(&mut pair.bob, &b, b"b");
    assert_rejected_with(&mut pair.bob, &b, Error::Duplicate);
    assert_rejected_with(&mut pair.bob, &c, Error::Duplicate);
    assert_eq!(pair.bob.skipped_keys(), 0);
}

// ---------------------------------------------------------------------------------------
// Bit flips and truncation

/// Every single-bit flip of `message` is rejected by `channel`, which stays unchanged.
fn assert_every_bit_flip_rejected(channel: &mut Channel, message: &[u8]) {
    for bit in 0..message.len() * 8 {
        let flipped = flip_bit(message, bit);
        let before = channel.to_bytes();
        let result = channel.decrypt(&flipped);
        assert!(
            result.is_err(),
            "flipping bit {bit} gave an accepted message: {result:?}"
        );
        assert!(
            *before == *channel.to_bytes(),
            "flipping bit {bit} changed the state"
        );
    }
}

/// Every proper prefix of `message` (including the empty one) is rejected, and leaves
/// `channel` unchanged.
fn assert_every_prefix_rejected(channel: &mut Channel, message: &[u8]) {
    let mut accepted = Vec::new();
    for len in 0..message.len() {
        let before = channel.to_bytes();
        let result = channel.decrypt(&message[..len]);
        if result.is_ok() {
            accepted.push(len);
            // Keep checking the other prefixes against the original state.
            *channel = Channel::from_bytes(&before).expect("load");
        } else {
            assert!(
                *before == *channel.to_bytes(),
                "the {len}-byte prefix changed the state"
            );
        }
    }
    assert!(
        accepted.is_empty(),
        "prefixes of a {}-byte message decrypted, of lengths {accepted:?}",
        message.len()
    );
}

#[test]
fn every_bit_flip_of_a_prekey_message_is_rejected_by_the_established_responder() {
    let mut pair = Pair::new(33);
    let message = pair.send(true, b"a second message, still with prekey information");
    assert!(carries_prekey(&message));
    assert_every_bit_flip_rejected(&mut pair.bob, &message);
    // And the first message, already decrypted.
    let first = pair.first_message.clone();
    assert_every_bit_flip_rejected(&mut pair.bob, &first);
    assert_decrypts(
        &mut pair.bob,
        &message,
        b"a second message, still with prekey information",
    );
}

#[test]
fn every_bit_flip_of_a_normal_message_is_rejected() {
    let mut pair = Pair::established(34);
    // In the current chain.
    let message = pair.send(true, b"a normal message in the current chain");
    assert!(!carries_prekey(&message));
    assert_every_bit_flip_rejected(&mut pair.bob, &message);
    assert_decrypts(
        &mut pair.bob,
        &message,
        b"a normal message in the current chain",
    );

    // Starting a new chain (a ratchet step on the receiving side).
    let reply = pair.send(false, b"a reply that starts a new chain");
    assert_every_bit_flip_rejected(&mut pair.alice, &reply);
    assert_decrypts(&mut pair.alice, &reply, b"a reply that starts a new chain");

    // From the skipped keys.
    let skipped = pair.send(true, b"skipped");
    let later = pair.send(true, b"later");
    assert_decrypts(&mut pair.bob, &later, b"later");
    assert_every_bit_flip_rejected(&mut pair.bob, &skipped);
    assert_decrypts(&mut pair.bob, &skipped, b"skipped");
}

#[test]
fn every_prefix_of_a_normal_message_is_rejected() {
    let mut pair = Pair::established(35);
    let message = pair.send(true, b"a normal message");
    assert_every_prefix_rejected(&mut pair.bob, &message);
    assert_decrypts(&mut pair.bob, &message, b"a normal message");

    let reply = pair.send(false, b"a reply that starts a new chain");
    assert_every_prefix_rejected(&mut pair.alice, &reply);
    assert_decrypts(&mut pair.alice, &reply, b"a reply that starts a new chain");
}

/// The prekey information is the last field of a message: the prefix that ends just before
/// it is a well-formed message without prekey information. Its associated data says so (flag
/// 0x00 instead of 0x01 and the hash), so it must not be accepted as the message it was cut
/// from.
#[test]
fn every_prefix_of_a_prekey_message_is_rejected_by_the_established_responder() {
    let mut pair = Pair::new(36);
    let message = pair.send(true, b"still with prekey information");
    assert!(carries_prekey(&message));
    assert_every_prefix_rejected(&mut pair.bob, &message);
    assert_decrypts(&mut pair.bob, &message, b"still with prekey information");
}

#[test]
fn empty_input_is_rejected() {
    let mut pair = Pair::established(37);
    for to_alice in [true, false] {
        let error = assert_rejected(pair.channel(to_alice), &[]);
        assert!(
            matches!(
                error,
                Error::UnsupportedVersion {
                    what: "ChannelMessage",
                    found: 0
                } | Error::Decode { .. }
            ),
            "{error:?}"
        );
    }
    let mut store = prekeys(&mut rng(1), 0).0;
    let bob = identity(&mut rng(2), "bob");
    assert!(Channel::join(&bob, &mut store, &[]).is_err());
}

#[test]
fn spliced_and_edited_messages_are_rejected() {
    let mut pair = Pair::established(38);
    let one = pair.send(true, b"message one");
    let two = pair.send(true, b"message two");
    let (m1, m2) = (decode_message(&one), decode_message(&two));

    // Header of one, ciphertext of the other.
    let spliced = v1::ChannelMessage {
        header: m2.header.clone(),
        ..m1.clone()
    }
    .encode_to_vec();
    assert_rejected_with(&mut pair.bob, &spliced, Error::AuthenticationFailed);

    // A canonically re-encoded header with another message number.
    let mut header = v1::RatchetHeader::decode(m1.header.as_slice()).expect("header");
    header.message_number += 1;
    let renumbered = v1::ChannelMessage {
        header: header.encode_to_vec(),
        ..m1.clone()
    }
    .encode_to_vec();
    assert_rejected_with(&mut pair.bob, &renumbered, Error::AuthenticationFailed);

    // Unknown fields or trailing bytes after a genuine message.
    let mut trailing = one.clone();
    trailing.extend_from_slice(&[0x28, 0x01]); // field 5, varint 1
    assert!(matches!(
        assert_rejected(&mut pair.bob, &trailing),
        Error::Decode { .. }
    ));
    // Another protocol version: the one before, and the one after.
    for version in [1, 3] {
        let versioned = v1::ChannelMessage {
            version,
            ..m1.clone()
        }
        .encode_to_vec();
        assert_rejected_with(
            &mut pair.bob,
            &versioned,
            Error::UnsupportedVersion {
                what: "ChannelMessage",
                found: version,
            },
        );
    }
    // A low-order ratchet key, on both sides (Alice has a sending chain, Bob has not).
    header.ratchet_key = vec![0; 32];
    let low_order = v1::ChannelMessage {
        header: header.encode_to_vec(),
        ..m1.clone()
    }
    .encode_to_vec();
    assert_rejected_with(&mut pair.alice, &low_order, Error::NonContributoryKey);
    assert_rejected_with(&mut pair.bob, &low_order, Error::AuthenticationFailed);
    // A ratchet key of the wrong length.
    header.ratchet_key.pop();
    let short_key = v1::ChannelMessage {
        header: header.encode_to_vec(),
        ..m1
    }
    .encode_to_vec();
    assert!(matches!(
        assert_rejected(&mut pair.bob, &short_key),
        Error::InvalidLength {
            expected: 32,
            found: 31,
            ..
        }
    ));

    assert_decrypts(&mut pair.bob, &one, b"message one");
    assert_decrypts(&mut pair.bob, &two, b"message two");
}

// ---------------------------------------------------------------------------------------
// Messages that belong elsewhere

#[test]
fn messages_of_a_third_party_channel_are_rejected() {
    let mut pair = Pair::established(39);
    let mut rng = rng(390);
    // Carol and Dave have their own channel.
    let carol = identity(&mut rng, "carol");
    let dave = identity(&mut rng, "dave");
    let (mut dave_prekeys, ids) = prekeys(&mut rng, 1);
    let bundle = published_bundle(&dave_prekeys, &dave, Some(ids[0]));
    let mut carol_channel = Channel::create(&mut rng, &carol, &bundle).expect("create");
    let carol_first = carol_channel
        .encrypt(&mut rng, b"carol to dave")
        .expect("encrypt");
    let mut dave_channel = Channel::join(&dave, &mut dave_prekeys, &carol_first)
        .expect("join")
        .into_channel();
    let dave_reply = dave_channel
        .encrypt(&mut rng, b"dave to carol")
        .expect("encrypt");
    assert_decrypts(&mut carol_channel, &dave_reply, b"dave to carol");
    let carol_normal = carol_channel.encrypt(&mut rng, b"normal").expect("encrypt");

    for to_alice in [true, false] {
        let channel = pair.channel(to_alice);
        // The creator refuses any prekey information at once; the joiner finds that it
        // does not authenticate.
        let expected = if to_alice {
            Error::PrekeyInfoMismatch
        } else {
            Error::AuthenticationFailed
        };
        assert_rejected_with(channel, &carol_first, expected);
        assert_rejected_with(channel, &dave_reply, Error::AuthenticationFailed);
        assert_rejected_with(channel, &carol_normal, Error::AuthenticationFailed);
    }
    // The other way round too.
    let alice_message = pair.send(true, b"for bob only");
    let bob_message = pair.send(false, b"for alice only");
    assert_rejected_with(
        &mut dave_channel,
        &alice_message,
        Error::AuthenticationFailed,
    );
    assert_rejected_with(
        &mut carol_channel,
        &bob_message,
        Error::AuthenticationFailed,
    );
    assert_decrypts(&mut pair.bob, &alice_message, b"for bob only");
    assert_decrypts(&mut pair.alice, &bob_message, b"for alice only");
}

#[test]
fn messages_of_another_channel_between_the_same_people_are_rejected() {
    let mut pair = Pair::new(40);
    // A second channel from Alice to Bob, from a bundle with Bob's other one-time prekey.
    let id = pair.bob_prekeys.one_time_prekey_ids()[0];
    let bundle = published_bundle(&pair.bob_prekeys, &pair.bob_identity, Some(id));
    let mut alice2 = Channel::create(&mut pair.rng, &pair.alice_identity, &bundle).expect("create");
    let first2 = alice2
        .encrypt(&mut pair.rng, b"second channel")
        .expect("encrypt");
    let mut bob2 = Channel::join(&pair.bob_identity, &mut pair.bob_prekeys, &first2)
        .expect("join")
        .into_channel();

    // Prekey messages carry the other channel's prekey information and ephemeral key: they
    // do not authenticate (version 1 refused them by a digest of the joined prekey
    // information, with PrekeyInfoMismatch).
    let first1 = pair.first_message.clone();
    assert_rejected_with(&mut bob2, &first1, Error::AuthenticationFailed);
    assert_rejected_with(&mut pair.bob, &first2, Error::AuthenticationFailed);

    // Without prekey information the ratchet keys do not match.
    let reply1 = pair.send(false, b"reply on channel one");
    let reply2 = bob2
        .encrypt(&mut pair.rng, b"reply on channel two")
        .expect("encrypt");
    assert_rejected_with(&mut alice2, &reply1, Error::AuthenticationFailed);
    assert_rejected_with(&mut pair.alice, &reply2, Error::AuthenticationFailed);
    assert_decrypts(&mut pair.alice, &reply1, b"reply on channel one");
    assert_decrypts(&mut alice2, &reply2, b"reply on channel two");
    let normal1 = pair.send(true, b"normal on channel one");
    let normal2 = alice2
        .encrypt(&mut pair.rng, b"normal on channel two")
        .expect("encrypt");
    assert_rejected_with(&mut bob2, &normal1, Error::AuthenticationFailed);
    assert_rejected_with(&mut pair.bob, &normal2, Error::AuthenticationFailed);
    assert_decrypts(&mut pair.bob, &normal1, b"normal on channel one");
    assert_decrypts(&mut bob2, &normal2, b"normal on channel two");
}

#[test]
fn reflected_messages_are_rejected() {
    let mut pair = Pair::new(41);
    // Alice's own prekey message back to Alice.
    let first = pair.first_message.clone();
    assert_rejected_with(&mut pair.alice, &first, Error::PrekeyInfoMismatch);
    let reply = pair.send(false, b"reply");
    assert_rejected_with(&mut pair.bob, &reply, Error::AuthenticationFailed);
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let normal = pair.send(true, b"normal");
    assert_rejected_with(&mut pair.alice, &normal, Error::AuthenticationFailed);
    assert_decrypts(&mut pair.bob, &normal, b"normal");
}
