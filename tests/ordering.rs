//! Out-of-order and lost messages, and the documented limits: MAX_MESSAGE_GAP,
//! MAX_SKIPPED_KEYS, MAX_ENDED_CHAINS.

mod common;

use common::{
    assert_decrypts, assert_rejected, assert_rejected_with, decode_header, rng, Pair,
    FIRST_PLAINTEXT,
};
use rand::seq::SliceRandom;
use ratchetkit::{
    channel::MAX_ENDED_CHAINS, channel::MAX_MESSAGE_GAP, channel::MAX_SKIPPED_KEYS, Error,
};

/// `count` messages from one side, with their plaintexts.
fn burst(pair: &mut Pair, from_alice: bool, count: usize, tag: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let plaintext = format!("{tag} {i}").into_bytes();
            let message = pair.send(from_alice, &plaintext);
            (plaintext, message)
        })
        .collect()
}

#[test]
fn shuffled_delivery_within_one_chain() {
    let mut pair = Pair::established(10);
    let mut messages = burst(&mut pair, true, 40, "shuffled");
    messages.shuffle(&mut rng(11));
    for (plaintext, message) in &messages {
        assert_decrypts(&mut pair.bob, message, plaintext);
    }
    assert_eq!(pair.bob.skipped_keys(), 0);
}

#[test]
fn out_of_order_across_ratchet_steps() {
    let mut pair = Pair::established(12);
    let early = burst(&mut pair, true, 5, "early");
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let late = burst(&mut pair, true, 5, "late");
    assert_ne!(
        decode_header(&early[0].1).ratchet_key,
        decode_header(&late[0].1).ratchet_key
    );

    // The newer chain arrives first, in reverse; then the older one, also in reverse.
    for (plaintext, message) in late.iter().rev().chain(early.iter().rev()) {
        assert_decrypts(&mut pair.bob, message, plaintext);
    }
    assert_eq!(pair.bob.skipped_keys(), 0);
}

#[test]
fn lost_messages_do_not_block_later_ones() {
    let mut pair = Pair::established(13);
    let messages = burst(&mut pair, true, 10, "some lost");
    for (plaintext, message) in messages.iter().step_by(2) {
        assert_decrypts(&mut pair.bob, message, plaintext);
    }
    // 1, 3, 5, 7 were passed over (9 was sent after the last delivered one).
    assert_eq!(pair.bob.skipped_keys(), 4);

    // A whole burst from Bob is lost; his next message still arrives.
    burst(&mut pair, false, 3, "lost");
    let (plaintext, message) = burst(&mut pair, false, 1, "after the loss").remove(0);
    assert_decrypts(&mut pair.alice, &message, &plaintext);

    // The conversation goes on over ratchet steps with the lost messages never arriving.
    for round in 0..3 {
        for from_alice in [true, false] {
            let sent = burst(&mut pair, from_alice, 3, &format!("round {round}"));
            assert_decrypts(pair.channel(!from_alice), &sent[2].1, &sent[2].0);
        }
    }
    assert!(pair.bob.skipped_keys() >= 4);
}

#[test]
fn gap_limit_in_the_current_chain() {
    let mut pair = Pair::new(14);
    // Bob has decrypted message 0 of Alice's chain. Reaching message n skips the n - 1
    // keys of messages 1..n. Send messages 1..=MAX_MESSAGE_GAP + 2.
    let limit = MAX_MESSAGE_GAP as usize;
    let messages = burst(&mut pair, true, limit + 2, "gap");
    let at_limit = &messages[limit];
    let beyond = &messages[limit + 1];
    assert_eq!(
        decode_header(&at_limit.1).message_number,
        MAX_MESSAGE_GAP + 1
    );

    assert_rejected_with(
        &mut pair.bob,
        &beyond.1,
        Error::TooFarAhead {
            gap: u64::from(MAX_MESSAGE_GAP) + 1,
            max: MAX_MESSAGE_GAP,
        },
    );
    assert_eq!(pair.bob.skipped_keys(), 0);

    // Exactly MAX_MESSAGE_GAP keys skipped: accepted.
    assert_decrypts(&mut pair.bob, &at_limit.1, &at_limit.0);
    assert_eq!(pair.bob.skipped_keys(), limit);
    // Now everything is within reach: the one that was too far, and the skipped ones.
    assert_decrypts(&mut pair.bob, &beyond.1, &beyond.0);
    for index in [0, 1, limit / 2, limit - 1] {
        assert_decrypts(&mut pair.bob, &messages[index].1, &messages[index].0);
    }
    assert_eq!(pair.bob.skipped_keys(), limit - 4);
}

#[test]
fn gap_limit_in_a_new_chain() {
    let mut pair = Pair::established(15);
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    // Alice's new chain: messages 0..=MAX_MESSAGE_GAP + 1. Reaching n skips n keys.
    let limit = MAX_MESSAGE_GAP as usize;
    let messages = burst(&mut pair, true, limit + 2, "new chain");
    let at_limit = &messages[limit];
    let beyond = &messages[limit + 1];
    assert_eq!(decode_header(&at_limit.1).message_number, MAX_MESSAGE_GAP);

    assert_rejected_with(
        &mut pair.bob,
        &beyond.1,
        Error::TooFarAhead {
            gap: u64::from(MAX_MESSAGE_GAP) + 1,
            max: MAX_MESSAGE_GAP,
        },
    );
    assert_decrypts(&mut pair.bob, &at_limit.1, &at_limit.0);
    assert_eq!(pair.bob.skipped_keys(), limit);
    assert_decrypts(&mut pair.bob, &beyond.1, &beyond.0);
    assert_decrypts(&mut pair.bob, &messages[0].1, &messages[0].0);
    assert_decrypts(
        &mut pair.bob,
        &messages[limit - 1].1,
        &messages[limit - 1].0,
    );
}

#[test]
fn gap_limit_when_closing_the_previous_chain() {
    let mut pair = Pair::established(16);
    // Bob has decrypted message 0 of Alice's current chain and replies.
    let reply = pair.send(false, b"reply");
    // Before she reads the reply, Alice sends messages 1..=MAX_MESSAGE_GAP + 1 that are
    // all held up; then she reads it and starts a new chain.
    let limit = MAX_MESSAGE_GAP as usize;
    let held = burst(&mut pair, true, limit + 1, "held");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let next_chain = pair.send(true, b"next chain");
    assert_eq!(
        decode_header(&next_chain).previous_chain_length,
        MAX_MESSAGE_GAP + 2
    );

    // Closing Bob's chain would skip messages 1..=MAX_MESSAGE_GAP + 1.
    assert_rejected_with(
        &mut pair.bob,
        &next_chain,
        Error::TooFarAhead {
            gap: u64::from(MAX_MESSAGE_GAP) + 1,
            max: MAX_MESSAGE_GAP,
        },
    );
    // Once message 1 has arrived, closing skips exactly MAX_MESSAGE_GAP keys.
    assert_decrypts(&mut pair.bob, &held[0].1, &held[0].0);
    assert_decrypts(&mut pair.bob, &next_chain, b"next chain");
    assert_eq!(pair.bob.skipped_keys(), limit);
    for index in [1, limit] {
        assert_decrypts(&mut pair.bob, &held[index].1, &held[index].0);
    }
}

#[test]
fn skipped_keys_beyond_the_limit_evict_the_oldest() {
    assert!(
        MAX_SKIPPED_KEYS <= MAX_MESSAGE_GAP as usize,
        "this test fills the skipped keys from one chain"
    );
    let mut pair = Pair::new(17);
    // Alice's first chain: messages 1..=MAX_SKIPPED_KEYS + 1; the last one arrives and
    // makes Bob keep the keys of 1..=MAX_SKIPPED_KEYS.
    let first_chain = burst(&mut pair, true, MAX_SKIPPED_KEYS + 1, "first chain");
    let last = first_chain.last().expect("messages");
    assert_decrypts(&mut pair.bob, &last.1, &last.0);
    assert_eq!(pair.bob.skipped_keys(), MAX_SKIPPED_KEYS);

    // Saving and loading keeps the keys' age order.
    pair.bob = ratchetkit::Channel::from_bytes(&pair.bob.to_bytes()).expect("load");

    // A new chain of Alice's skips `extra` more: the `extra` oldest keys go.
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let extra = 10;
    let second_chain = burst(&mut pair, true, extra + 1, "second chain");
    assert_decrypts(
        &mut pair.bob,
        &second_chain[extra].1,
        &second_chain[extra].0,
    );
    assert_eq!(pair.bob.skipped_keys(), MAX_SKIPPED_KEYS);

    // first_chain[i] is message i + 1: messages 1..=extra were evicted.
    for evicted in &first_chain[..extra] {
        assert_rejected_with(&mut pair.bob, &evicted.1, Error::Duplicate);
    }
    for kept in [&first_chain[extra], &first_chain[MAX_SKIPPED_KEYS - 1]] {
        assert_decrypts(&mut pair.bob, &kept.1, &kept.0);
    }
    for kept in &second_chain[..extra] {
        assert_decrypts(&mut pair.bob, &kept.1, &kept.0);
    }
    assert_eq!(pair.bob.skipped_keys(), MAX_SKIPPED_KEYS - 2 - extra);
}

#[test]
fn ended_chains_are_remembered_up_to_the_limit() {
    let mut pair = Pair::new(18);
    // One late message on Alice's first chain, delivered only at the end.
    let late = pair.send(true, b"late on the first chain");
    // Alice's chains, one message each (the first one is the message Bob joined with).
    let mut chains = vec![(FIRST_PLAINTEXT.to_vec(), pair.first_message.clone())];
    for step in 0..=MAX_ENDED_CHAINS {
        let reply = pair.send(false, b"reply");
        assert_decrypts(&mut pair.alice, &reply, b"reply");
        let plaintext = format!("chain {}", step + 2).into_bytes();
        let message = pair.send(true, &plaintext);
        assert_decrypts(&mut pair.bob, &message, &plaintext);
        chains.push((plaintext, message));
    }
    // Bob has received MAX_ENDED_CHAINS + 2 chains: the current one, MAX_ENDED_CHAINS
    // remembered as ended, and the first, forgotten.
    assert_eq!(chains.len(), MAX_ENDED_CHAINS + 2);
    for (_, replay) in &chains[1..] {
        assert_rejected_with(&mut pair.bob, replay, Error::Duplicate);
    }
    assert_rejected_with(&mut pair.bob, &chains[0].1, Error::AuthenticationFailed);

    // A late message on the forgotten chain still decrypts: its key was kept.
    assert_decrypts(&mut pair.bob, &late, b"late on the first chain");
    let error = assert_rejected(&mut pair.bob, &late);
    assert_eq!(error, Error::AuthenticationFailed);
}
