//! Long conversations: many messages, bursts in both directions, crossing in flight.

mod common;

use std::collections::HashSet;

use common::{assert_decrypts, carries_prekey, ratchet_key, rng, Pair};
use rand::{Rng, RngExt};
use ratchetkit::{channel::MAX_ENDED_CHAINS, Error};

/// A random plaintext of 0..200 bytes.
fn random_plaintext(script: &mut common::TestRng) -> Vec<u8> {
    let mut plaintext = vec![0; script.random_range(0..200)];
    script.fill_bytes(&mut plaintext);
    plaintext
}

#[test]
fn thousand_messages_in_random_bursts_all_decrypt() {
    const TOTAL: usize = 1_000;
    let mut pair = Pair::new(1);
    let mut script = rng(1_001);
    let mut sent = 1; // the first message, which Bob joined with
    let mut chains = HashSet::new();
    chains.insert(ratchet_key(&pair.first_message));
    let mut alice_has_decrypted = false;

    while sent < TOTAL {
        // Both sides may send a burst before either burst arrives: the bursts cross.
        let mut bursts: [Vec<(Vec<u8>, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
        for (side, burst) in bursts.iter_mut().enumerate() {
            let from_alice = side == 0;
            let count = script.random_range(0..=9).min(TOTAL - sent);
            for _ in 0..count {
                let plaintext = random_plaintext(&mut script);
                let message = pair.send(from_alice, &plaintext);
                if from_alice {
                    assert_eq!(carries_prekey(&message), !alice_has_decrypted);
                } else {
                    assert!(!carries_prekey(&message));
                }
                chains.insert(ratchet_key(&message));
                burst.push((plaintext, message));
                sent += 1;
            }
        }
        // Deliver both bursts in order, the one or the other first.
        let alice_first = script.random_bool(0.5);
        for side in [alice_first, !alice_first] {
            let burst = &bursts[usize::from(!side)];
            for (plaintext, message) in burst {
                assert_decrypts(pair.channel(!side), message, plaintext);
                if !side {
                    alice_has_decrypted = true;
                }
            }
        }
    }

    assert_eq!(sent, TOTAL);
    // Direction changes ratchet: a real conversation goes through many chains.
    assert!(chains.len() > 50, "only {} sending chains", chains.len());
    assert_eq!(pair.alice.skipped_keys(), 0);
    assert_eq!(pair.bob.skipped_keys(), 0);
    assert_eq!(
        pair.alice.peer_signing_key(),
        pair.bob_identity.card().signing_key()
    );
    assert_eq!(
        pair.bob.peer_signing_key(),
        pair.alice_identity.card().signing_key()
    );
}

#[test]
fn long_one_sided_chains_then_replies() {
    let mut pair = Pair::new(2);
    let first = pair.first_message.clone();
    // Each round is a chain of 150 messages from Alice, then one from Bob.
    let rounds = MAX_ENDED_CHAINS as u8 + 2;
    for round in 0..rounds {
        for from_alice in [true, false] {
            for i in 0..150u16 {
                let plaintext = [&[round, u8::from(from_alice)][..], &i.to_be_bytes()].concat();
                let message = pair.send(from_alice, &plaintext);
                assert_decrypts(pair.channel(!from_alice), &message, &plaintext);
            }
        }
        // Bob has received round + 1 chains of Alice's: her first one is remembered as
        // ended (a replay of it is a duplicate) for MAX_ENDED_CHAINS more chains; after
        // that a replay fails to authenticate instead.
        let expected = if usize::from(round) <= MAX_ENDED_CHAINS {
            Error::Duplicate
        } else {
            Error::AuthenticationFailed
        };
        common::assert_rejected_with(&mut pair.bob, &first, expected);
    }
}

#[test]
fn empty_and_large_plaintexts() {
    let mut pair = Pair::established(3);
    let large = vec![0xA5; 256 * 1024];
    for plaintext in [&[][..], &[0][..], &large[..]] {
        for from_alice in [true, false] {
            let message = pair.send(from_alice, plaintext);
            assert_decrypts(pair.channel(!from_alice), &message, plaintext);
        }
    }
}
