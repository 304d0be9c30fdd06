//! Forward secrecy, post-compromise recovery, and secrets kept out of `Debug` output.

mod common;

use common::{
    assert_decrypts, assert_rejected, channel_secrets, identity_secrets, prekey_store_secrets, rng,
    Pair,
};
use rand::Rng;
use ratchetkit::{channel::MAX_ENDED_CHAINS, Channel, Error, StorageKey};

// ---------------------------------------------------------------------------------------
// Forward secrecy

/// A channel loaded from `later_state` cannot decrypt `message` (again): it must not
/// return the plaintext.
#[track_caller]
fn assert_forgotten(later_state: &[u8], message: &[u8]) -> Error {
    let mut copy = Channel::from_bytes(later_state).expect("state loads");
    let error = assert_rejected(&mut copy, message);
    assert!(
        matches!(error, Error::Duplicate | Error::AuthenticationFailed),
        "{error:?}"
    );
    error
}

/// The secrets in `earlier` that are gone from `later`: none of their bytes may remain.
fn dropped_secrets(earlier: &[u8], later: &[u8]) -> Vec<Vec<u8>> {
    let kept = channel_secrets(later);
    let dropped: Vec<Vec<u8>> = channel_secrets(earlier)
        .into_iter()
        .filter(|s| !kept.contains(s))
        .collect();
    for secret in &dropped {
        assert!(
            !later.windows(secret.len()).any(|w| w == secret.as_slice()),
            "a dropped key is still in the state"
        );
    }
    dropped
}

#[test]
fn decrypted_messages_cannot_be_decrypted_from_later_state() {
    let mut pair = Pair::established(80);
    let message = pair.send(true, b"read once");
    let earlier = pair.bob.to_bytes();
    // Sanity: the state from before decrypting can decrypt it.
    assert_decrypts(
        &mut Channel::from_bytes(&earlier).expect("load"),
        &message,
        b"read once",
    );

    assert_decrypts(&mut pair.bob, &message, b"read once");
    let later = pair.bob.to_bytes();
    assert_eq!(assert_forgotten(&later, &message), Error::Duplicate);
    assert!(
        !dropped_secrets(&earlier, &later).is_empty(),
        "the receiving chain key moved on"
    );

    // Still forgotten after more messages and ratchet steps, including once the chain is
    // no longer remembered at all.
    let mut saw_forgotten_chain = false;
    for round in 0..MAX_ENDED_CHAINS + 2 {
        for from_alice in [false, true] {
            let plaintext = format!("round {round}").into_bytes();
            let next = pair.send(from_alice, &plaintext);
            assert_decrypts(pair.channel(!from_alice), &next, &plaintext);
        }
        let error = assert_forgotten(&pair.bob.to_bytes(), &message);
        saw_forgotten_chain |= error == Error::AuthenticationFailed;
    }
    assert!(saw_forgotten_chain);
}

#[test]
fn messages_decrypted_from_skipped_keys_cannot_be_decrypted_from_later_state() {
    let mut pair = Pair::established(81);
    let first = pair.send(true, b"first");
    let second = pair.send(true, b"second");
    let third = pair.send(true, b"third");
    assert_decrypts(&mut pair.bob, &third, b"third");
    assert_eq!(pair.bob.skipped_keys(), 2);

    let earlier = pair.bob.to_bytes();
    assert_decrypts(
        &mut Channel::from_bytes(&earlier).expect("load"),
        &second,
        b"second",
    );
    assert_decrypts(&mut pair.bob, &second, b"second");
    let later = pair.bob.to_bytes();
    assert_eq!(assert_forgotten(&later, &second), Error::Duplicate);
    assert_eq!(
        dropped_secrets(&earlier, &later).len(),
        1,
        "exactly the used skipped key is gone"
    );
    // The other skipped message is still readable from the later state.
    assert_decrypts(
        &mut Channel::from_bytes(&later).expect("load"),
        &first,
        b"first",
    );

    // Out of order on an ended chain.
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    let next_chain = pair.send(true, b"next chain");
    assert_decrypts(&mut pair.bob, &next_chain, b"next chain");
    let earlier = pair.bob.to_bytes();
    assert_decrypts(&mut pair.bob, &first, b"first");
    let later = pair.bob.to_bytes();
    assert_eq!(assert_forgotten(&later, &first), Error::Duplicate);
    assert_eq!(dropped_secrets(&earlier, &later).len(), 1);
    assert_eq!(pair.bob.skipped_keys(), 0);
    for message in [&first, &second, &third] {
        assert_forgotten(&later, message);
    }
}

// ---------------------------------------------------------------------------------------
// Post-compromise recovery

/// The victim's state is stolen now. The thief can read the next message to the victim;
/// after a full ratchet round trip (victim receives, victim sends, peer receives, peer
/// sends) it cannot read the peer's new messages, whether it kept its copy up to date
/// with every message it could read or kept the stolen state as it was.
fn check_recovery(pair: &mut Pair, victim_is_alice: bool) {
    let (victim, peer) = (victim_is_alice, !victim_is_alice);
    let stolen = pair.channel(victim).to_bytes();
    let mut thief = Channel::from_bytes(&stolen).expect("load");

    let next = pair.send(peer, b"next message to the victim");
    assert_decrypts(&mut thief, &next, b"next message to the victim");
    assert_decrypts(pair.channel(victim), &next, b"next message to the victim");

    let victim_sends = pair.send(victim, b"the victim answers");
    assert_decrypts(pair.channel(peer), &victim_sends, b"the victim answers");
    for i in 0..3u8 {
        let new = pair.send(peer, &[b'n', i]);
        assert_rejected(&mut thief, &new);
        assert_rejected(&mut Channel::from_bytes(&stolen).expect("load"), &new);
        assert_decrypts(pair.channel(victim), &new, &[b'n', i]);
    }
    // And it stays locked out.
    for round in 0..3u8 {
        let answer = pair.send(victim, &[b'v', round]);
        assert_decrypts(pair.channel(peer), &answer, &[b'v', round]);
        let new = pair.send(peer, &[b'p', round]);
        assert_rejected(&mut thief, &new);
        assert_decrypts(pair.channel(victim), &new, &[b'p', round]);
    }
}

#[test]
fn alice_recovers_from_a_compromise_right_after_sending() {
    let mut pair = Pair::established(82);
    check_recovery(&mut pair, true);
}

#[test]
fn alice_recovers_from_a_compromise_right_after_receiving() {
    let mut pair = Pair::established(83);
    let message = pair.send(false, b"to alice");
    assert_decrypts(&mut pair.alice, &message, b"to alice");
    check_recovery(&mut pair, true);
}

#[test]
fn bob_recovers_from_a_compromise_right_after_joining() {
    let mut pair = Pair::new(84);
    check_recovery(&mut pair, false);
}

#[test]
fn bob_recovers_from_a_compromise_with_skipped_keys() {
    let mut pair = Pair::established(85);
    let _lost = pair.send(true, b"lost");
    let arrives = pair.send(true, b"arrives");
    assert_decrypts(&mut pair.bob, &arrives, b"arrives");
    assert_eq!(pair.bob.skipped_keys(), 1);
    check_recovery(&mut pair, false);
}

// ---------------------------------------------------------------------------------------
// Debug output

/// Whether `debug` shows any 16-byte run of `secret`: as hex (either case) or as a list
/// of decimal bytes (in any layout, `{:?}` or `{:#?}`).
fn shows(debug: &str, secret: &[u8]) -> bool {
    let compact: String = debug.chars().filter(|c| !c.is_whitespace()).collect();
    let lower = debug.to_lowercase();
    secret.windows(16.min(secret.len())).any(|run| {
        let decimal = run.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        lower.contains(&hex::encode(run)) || compact.contains(&decimal)
    })
}

#[track_caller]
fn assert_hides(value: &impl std::fmt::Debug, secrets: &[Vec<u8>]) {
    assert!(!secrets.is_empty());
    for debug in [format!("{value:?}"), format!("{value:#?}")] {
        for secret in secrets {
            assert!(matches!(secret.len(), 32 | 64), "keys and ML-KEM seeds");
            assert!(
                !shows(&debug, secret),
                "Debug output shows a secret: {debug}"
            );
        }
    }
}

#[test]
fn the_checker_finds_secrets() {
    let secret = [0xA7u8; 32]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ i as u8)
        .collect::<Vec<_>>();
    assert!(shows(&format!("{secret:?}"), &secret));
    assert!(shows(&format!("{secret:#?}"), &secret));
    assert!(shows(
        &format!("key: {}", hex::encode_upper(&secret[8..28])),
        &secret
    ));
    assert!(!shows("nothing here", &secret));
}

#[test]
fn debug_output_shows_no_secrets() {
    let mut pair = Pair::established(86);
    let _lost = pair.send(true, b"lost");
    let arrives = pair.send(true, b"arrives");
    assert_decrypts(&mut pair.bob, &arrives, b"arrives");
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
    assert!(pair.bob.skipped_keys() > 0);

    for channel in [&pair.alice, &pair.bob] {
        let secrets = channel_secrets(&channel.to_bytes());
        assert!(secrets.len() >= 2);
        assert_hides(channel, &secrets);
    }
    for identity in [&pair.alice_identity, &pair.bob_identity] {
        assert_hides(identity, &identity_secrets(&identity.to_bytes()));
    }
    let mut seeded = rng(860);
    pair.bob_prekeys.rotate_signed_prekey(&mut seeded);
    pair.bob_prekeys
        .generate_one_time_prekeys(&mut seeded, 5)
        .expect("room");
    let store_secrets = prekey_store_secrets(&pair.bob_prekeys.to_bytes());
    // Two signed and six one-time prekeys, each an X25519 secret and an ML-KEM seed.
    assert_eq!(store_secrets.len(), 2 * (2 + 6));
    assert_hides(&pair.bob_prekeys, &store_secrets);

    let mut key_bytes = [0u8; 32];
    seeded.fill_bytes(&mut key_bytes);
    assert_hides(&StorageKey::from_bytes(key_bytes), &[key_bytes.to_vec()]);

    // What join returns.
    let id = pair.bob_prekeys.one_time_prekey_ids()[0];
    let bundle = common::published_bundle(&pair.bob_prekeys, &pair.bob_identity, Some(id));
    let mut channel = Channel::create(&mut seeded, &pair.alice_identity, &bundle).expect("create");
    assert_hides(&channel, &channel_secrets(&channel.to_bytes()));
    let first = channel.encrypt(&mut seeded, b"first").expect("encrypt");
    let joined = Channel::join(&pair.bob_identity, &mut pair.bob_prekeys, &first).expect("join");
    assert_hides(&joined, &channel_secrets(&joined.channel().to_bytes()));
}
