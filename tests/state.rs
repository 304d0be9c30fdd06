//! Saved state: `to_bytes` / `from_bytes` round trips in the middle of conversations,
//! sealing with a `StorageKey`, and rejection of garbage, truncated or mistyped state.

mod common;

use common::{assert_decrypts, channel_secrets, raw_fields, rng, Pair, TestRng};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use ratchetkit::{
    Channel, ChannelId, Error, Fingerprint, Identity, PrekeyStore, PrekeyStoreId, SealableState,
    StorageKey,
};

/// Saves and restores `channel`, checking that the restored channel saves to the same
/// bytes and behaves exactly like the original (same message from the same randomness).
fn round_trip(channel: &mut Channel, probe_seed: u64) {
    let saved = channel.to_bytes();
    let restored = Channel::from_bytes(&saved).expect("saved state loads");
    assert!(
        *restored.to_bytes() == *saved,
        "the restored channel saves differently"
    );

    let (mut original, mut copy) = (channel.clone(), restored.clone());
    let a = original
        .encrypt(&mut rng(probe_seed), b"probe")
        .expect("encrypt");
    let b = copy
        .encrypt(&mut rng(probe_seed), b"probe")
        .expect("encrypt");
    assert_eq!(a, b);
    assert!(*original.to_bytes() == *copy.to_bytes());
    *channel = restored;
}

#[test]
fn round_trips_at_random_points_of_a_conversation() {
    let mut pair = Pair::new(70);
    let mut script = rng(700);
    // Messages held back by the network: (to Alice?, plaintext, message).
    let mut held: Vec<(bool, Vec<u8>, Vec<u8>)> = Vec::new();
    let (mut round_trips, mut with_skipped_keys) = (0, 0);

    for step in 0..400 {
        let from_alice = script.random_bool(0.5);
        let plaintext = format!("step {step}").into_bytes();
        let message = pair.send(from_alice, &plaintext);
        if script.random_range(0..10) < 2 {
            held.push((!from_alice, plaintext, message));
        } else {
            assert_decrypts(pair.channel(!from_alice), &message, &plaintext);
        }
        if !held.is_empty() && script.random_bool(0.1) {
            let (to_alice, plaintext, message) =
                held.swap_remove(script.random_range(0..held.len()));
            assert_decrypts(pair.channel(to_alice), &message, &plaintext);
        }
        if script.random_bool(0.25) {
            let side = script.random_bool(0.5);
            if pair.channel(side).skipped_keys() > 0 {
                with_skipped_keys += 1;
            }
            round_trip(pair.channel(side), step);
            round_trips += 1;
        }
    }
    assert!(
        round_trips > 50 && with_skipped_keys > 10,
        "{round_trips} / {with_skipped_keys}"
    );

    // Every held-back message still decrypts, on restored channels, in any order.
    held.shuffle(&mut script);
    for (to_alice, plaintext, message) in held {
        assert_decrypts(pair.channel(to_alice), &message, &plaintext);
    }
    assert_eq!(pair.alice.skipped_keys(), 0);
    assert_eq!(pair.bob.skipped_keys(), 0);
}

#[test]
fn round_trips_of_fresh_channels() {
    let mut pair = Pair::new(71);
    // An initiator that has sent but never received, and a responder that has only
    // received.
    round_trip(&mut pair.alice, 1);
    round_trip(&mut pair.bob, 2);
    let message = pair.send(true, b"after restoring");
    assert_decrypts(&mut pair.bob, &message, b"after restoring");
    let reply = pair.send(false, b"reply");
    assert_decrypts(&mut pair.alice, &reply, b"reply");
}

// ---------------------------------------------------------------------------------------
// Sealed state

fn check_sealed_round_trip<S: SealableState>(
    state: &S,
    key: &StorageKey,
    rng: &mut TestRng,
) -> Vec<u8> {
    let sealed = key.seal(rng, state).expect("seal");
    let opened: S = key.open(&sealed, &state.state_id()).expect("open");
    assert!(opened.state_id() == state.state_id());
    assert!(*opened.state_bytes() == *state.state_bytes());
    // A fresh nonce each time.
    assert_ne!(sealed, key.seal(rng, state).expect("seal"));
    sealed
}

#[test]
fn sealed_state_round_trips_and_rejects_the_wrong_key_or_kind() {
    let mut pair = Pair::established(72);
    let mut rng = rng(720);
    // Leave a skipped key in Bob's channel.
    let _lost = pair.send(true, b"lost");
    let later = pair.send(true, b"later");
    assert_decrypts(&mut pair.bob, &later, b"later");
    let key = StorageKey::generate(&mut rng);
    let wrong = StorageKey::generate(&mut rng);

    let channel = check_sealed_round_trip(&pair.bob, &key, &mut rng);
    let identity = check_sealed_round_trip(&pair.bob_identity, &key, &mut rng);
    let store = check_sealed_round_trip(&pair.bob_prekeys, &key, &mut rng);

    let rejected = Some(Error::SealedStateRejected);
    let channel_id = pair.bob.id();
    let fingerprint = pair.bob_identity.card().fingerprint();
    let store_id = pair.bob_prekeys.id();
    for sealed in [&channel, &identity, &store] {
        assert_eq!(wrong.open::<Channel>(sealed, &channel_id).err(), rejected);
        assert_eq!(wrong.open::<Identity>(sealed, &fingerprint).err(), rejected);
        assert_eq!(wrong.open::<PrekeyStore>(sealed, &store_id).err(), rejected);
    }
    // The right key, the wrong kind of state, even under an id of the right bytes.
    let as_fingerprint = |bytes: &[u8; 32]| Fingerprint::from_bytes(*bytes);
    let as_store_id = |bytes: &[u8; 32]| PrekeyStoreId::from_bytes(*bytes);
    let as_channel_id = |bytes: &[u8; 32]| ChannelId::from_bytes(*bytes);
    let open_identity = |sealed: &[u8], id| key.open::<Identity>(sealed, &id).err();
    let open_store = |sealed: &[u8], id| key.open::<PrekeyStore>(sealed, &id).err();
    let open_channel = |sealed: &[u8], id| key.open::<Channel>(sealed, &id).err();
    assert_eq!(
        open_identity(&channel, as_fingerprint(channel_id.as_bytes())),
        rejected
    );
    assert_eq!(
        open_store(&channel, as_store_id(channel_id.as_bytes())),
        rejected
    );
    assert_eq!(
        open_channel(&identity, as_channel_id(fingerprint.as_bytes())),
        rejected
    );
    assert_eq!(
        open_store(&identity, as_store_id(fingerprint.as_bytes())),
        rejected
    );
    assert_eq!(
        open_channel(&store, as_channel_id(store_id.as_bytes())),
        rejected
    );
    assert_eq!(
        open_identity(&store, as_fingerprint(store_id.as_bytes())),
        rejected
    );

    // A key restored from its bytes opens what the original sealed.
    let bytes = [7u8; 32];
    let sealed = StorageKey::from_bytes(bytes)
        .seal(&mut rng, &pair.bob)
        .expect("seal");
    let opened: Channel = StorageKey::from_bytes(bytes)
        .open(&sealed, &channel_id)
        .expect("open");
    assert!(*opened.to_bytes() == *pair.bob.to_bytes());

    // The sealed bytes hide the secrets.
    for secret in channel_secrets(&pair.bob.to_bytes()) {
        assert!(!channel
            .windows(secret.len())
            .any(|window| window == secret.as_slice()));
    }

    // The restored channel carries on.
    let mut restored: Channel = key.open(&channel, &channel_id).expect("open");
    let next = pair.send(true, b"next");
    assert_decrypts(&mut restored, &next, b"next");
}

#[test]
fn every_bit_flip_of_sealed_state_is_rejected() {
    let pair = Pair::new(73);
    let mut rng = rng(730);
    let key = StorageKey::generate(&mut rng);
    let sealed = key.seal(&mut rng, &pair.bob).expect("seal");
    let id = pair.bob.id();
    for bit in 0..sealed.len() * 8 {
        let result = key.open::<Channel>(&common::flip_bit(&sealed, bit), &id);
        assert!(
            result.is_err(),
            "flipping bit {bit} of sealed state was accepted"
        );
    }
    for len in 0..sealed.len() {
        assert!(
            key.open::<Channel>(&sealed[..len], &id).is_err(),
            "a {len}-byte prefix was accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Garbage and truncated state

#[test]
fn garbage_is_not_state() {
    let mut rng = rng(74);
    for _ in 0..500 {
        let mut garbage = vec![0; rng.random_range(0..400)];
        rng.fill_bytes(&mut garbage);
        assert!(Channel::from_bytes(&garbage).is_err());
        assert!(Identity::from_bytes(&garbage).is_err());
        assert!(PrekeyStore::from_bytes(&garbage).is_err());
    }
    assert_eq!(
        Channel::from_bytes(&[]).err(),
        Some(Error::UnsupportedVersion {
            what: "ChannelState",
            found: 0
        })
    );
    assert!(matches!(
        Channel::from_bytes(&[0xff; 64]),
        Err(Error::Decode {
            what: "ChannelState"
        })
    ));

    // One kind of state, or a message, is not another kind of state.
    let pair = Pair::established(75);
    let (channel, identity, store) = (
        pair.bob.to_bytes(),
        pair.bob_identity.to_bytes(),
        pair.bob_prekeys.to_bytes(),
    );
    assert!(Channel::from_bytes(&identity).is_err());
    assert!(Channel::from_bytes(&store).is_err());
    assert!(Channel::from_bytes(&pair.first_message).is_err());
    assert!(Identity::from_bytes(&channel).is_err());
    assert!(Identity::from_bytes(&store).is_err());
    assert!(PrekeyStore::from_bytes(&channel).is_err());
    assert!(PrekeyStore::from_bytes(&identity).is_err());
}

/// Saved channels with skipped keys and ended chains on both sides, and a fresh pair in
/// which Alice still attaches prekey information: (name, state).
fn saved_channels() -> Vec<(&'static str, Vec<u8>)> {
    let mut pair = Pair::established(76);
    for from_alice in [true, false] {
        let _lost = pair.send(from_alice, b"lost");
        let arrives = pair.send(from_alice, b"arrives");
        assert_decrypts(pair.channel(!from_alice), &arrives, b"arrives");
    }
    assert!(pair.alice.skipped_keys() > 0 && pair.bob.skipped_keys() > 0);
    let fresh = Pair::new(77);
    vec![
        ("established initiator", pair.alice.to_bytes().to_vec()),
        ("established responder", pair.bob.to_bytes().to_vec()),
        ("fresh initiator", fresh.alice.to_bytes().to_vec()),
        ("fresh responder", fresh.bob.to_bytes().to_vec()),
    ]
}

/// A prefix that cuts a field in two never loads, and one that ends between fields, if it
/// loads, saves back to exactly the prefix: a truncated state never loads as a different
/// state than the bytes say.
#[test]
fn truncated_state_never_loads_as_another_state() {
    for (name, state) in saved_channels() {
        assert!(Channel::from_bytes(&state).is_ok());
        let boundaries: Vec<usize> = raw_fields(&state).iter().map(|field| field.end).collect();
        for len in 0..state.len() {
            let prefix = &state[..len];
            if let Ok(channel) = Channel::from_bytes(prefix) {
                assert!(
                    boundaries.contains(&len),
                    "{name}: a {len}-byte prefix cutting a field loaded"
                );
                assert!(
                    *channel.to_bytes() == *prefix,
                    "{name}: a {len}-byte prefix loaded as something else"
                );
            }
        }
    }

    // Every saved channel ends with its checksum (field 15): without it the state is invalid.
    for (name, state) in saved_channels() {
        let last = raw_fields(&state).pop().expect("fields");
        assert_eq!(last.number, 15, "{name}");
        assert!(
            matches!(
                Channel::from_bytes(&state[..last.start]),
                Err(Error::InvalidState { .. })
            ),
            "{name}"
        );
    }

    // Identities and prekey stores: nothing panics, and whatever loads from a prefix saves
    // back to that prefix.
    let pair = Pair::new(79);
    for state in [pair.bob_identity.to_bytes(), pair.bob_prekeys.to_bytes()] {
        for len in 0..state.len() {
            if let Ok(identity) = Identity::from_bytes(&state[..len]) {
                assert!(*identity.to_bytes() == state[..len]);
            }
            if let Ok(store) = PrekeyStore::from_bytes(&state[..len]) {
                assert!(*store.to_bytes() == state[..len]);
            }
        }
    }
}

/// No strict prefix of a saved channel loads: a state file cut short (say by a crash
/// while writing it) is reported as corrupt instead of silently losing its last fields.
#[test]
fn truncated_state_is_rejected() {
    let mut loaded = Vec::new();
    for (name, state) in saved_channels() {
        for len in 0..state.len() {
            if Channel::from_bytes(&state[..len]).is_ok() {
                let kept: Vec<u32> = raw_fields(&state[..len])
                    .iter()
                    .map(|field| field.number)
                    .collect();
                let all: Vec<u32> = raw_fields(&state)
                    .iter()
                    .map(|field| field.number)
                    .collect();
                loaded.push(format!(
                    "{name}: {len} of {} bytes, fields {kept:?} of {all:?}",
                    state.len()
                ));
            }
        }
    }
    assert!(
        loaded.is_empty(),
        "truncated states loaded:\n{}",
        loaded.join("\n")
    );
}

/// The checksum as ratchetkit computes it: the first 8 bytes of SHA-256 of the state encoded
/// without its checksum field, appended as field 15.
fn with_checksum(body: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut state = body.to_vec();
    state.extend_from_slice(&[0x7a, 8]);
    state.extend_from_slice(&Sha256::digest(body)[..8]);
    state
}

/// `state` as an older format wrote it: `version`, without the fields `dropped` that later
/// versions added, with a valid checksum.
fn as_version(state: &[u8], version: u8, dropped: &[u32]) -> Vec<u8> {
    let mut body = vec![0x08, version];
    for field in raw_fields(state) {
        if field.number != 1 && field.number != 15 && !dropped.contains(&field.number) {
            body.extend_from_slice(&state[field.start..field.end]);
        }
    }
    with_checksum(&body)
}

/// Channel and prekey store state are at version 3. Version 1 lacked an id (`channel_id`,
/// field 13; `id`, field 6) that cannot be recomputed from it; version 2 channels kept the
/// responder's prekey digest and no padding, and version 2 stores had no ML-KEM keys, without
/// which a channel cannot start. Both are refused, whatever their fields.
#[test]
fn older_channel_and_prekey_store_state_is_refused() {
    let pair = Pair::established(81);
    let unsupported = |what, found| Some(Error::UnsupportedVersion { what, found });
    for (_, state) in saved_channels() {
        let fields = raw_fields(&state);
        assert_eq!(state[fields[0].value.clone()], [3]);
        let id = fields.iter().find(|field| field.number == 13).expect("id");
        assert_eq!(id.value.len(), 32);
        assert_eq!(
            Channel::from_bytes(&as_version(&state, 1, &[13, 14])).err(),
            unsupported("ChannelState", 1)
        );
        assert_eq!(
            Channel::from_bytes(&as_version(&state, 2, &[14])).err(),
            unsupported("ChannelState", 2)
        );
    }
    let store = pair.bob_prekeys.to_bytes();
    let fields = raw_fields(&store);
    assert_eq!(store[fields[0].value.clone()], [3]);
    assert_eq!(
        &store[fields
            .iter()
            .find(|f| f.number == 6)
            .expect("id")
            .value
            .clone()],
        pair.bob_prekeys.id().as_bytes()
    );
    assert_eq!(
        PrekeyStore::from_bytes(&as_version(&store, 1, &[6])).err(),
        unsupported("PrekeyStoreState", 1)
    );
    assert_eq!(
        PrekeyStore::from_bytes(&as_version(&store, 2, &[])).err(),
        unsupported("PrekeyStoreState", 2)
    );
    // Identity state did not change: still version 1.
    let identity = pair.bob_identity.to_bytes();
    assert_eq!(identity[raw_fields(&identity)[0].value.clone()], [1]);
}

#[test]
fn every_bit_flip_of_saved_state_is_rejected() {
    for (name, state) in saved_channels() {
        for bit in 0..state.len() * 8 {
            assert!(
                Channel::from_bytes(&common::flip_bit(&state, bit)).is_err(),
                "{name}: bit {bit} flipped still loads"
            );
        }
    }
}

#[test]
fn corrupted_state_loads_or_fails_but_never_panics() {
    // The checksum catches accidents, not attacks: anyone can recompute it. A flipped
    // bit with a recomputed checksum makes a well-formed state; whatever loads must save
    // and load again, and be usable (with errors, not panics).
    let mut pair = Pair::established(78);
    let _lost = pair.send(true, b"lost");
    let arrives = pair.send(true, b"arrives");
    assert_decrypts(&mut pair.bob, &arrives, b"arrives");
    let to_bob = pair.send(true, b"to bob");
    let to_alice = pair.send(false, b"to alice");
    let mut probe_rng = rng(780);
    let mut loaded = 0;
    for (state, incoming) in [
        (pair.alice.to_bytes(), &to_alice),
        (pair.bob.to_bytes(), &to_bob),
    ] {
        let body_len = raw_fields(&state).pop().expect("fields").start;
        let body = &state[..body_len];
        assert_eq!(with_checksum(body), *state);
        for bit in 0..body.len() * 8 {
            let corrupted = with_checksum(&common::flip_bit(body, bit));
            let Ok(mut channel) = Channel::from_bytes(&corrupted) else {
                continue;
            };
            loaded += 1;
            let saved = channel.to_bytes();
            let again =
                Channel::from_bytes(&saved).expect("a loaded state saves to a loadable one");
            assert!(
                *again.to_bytes() == *saved,
                "bit {bit}: saving is not stable"
            );
            let _ = channel.decrypt(incoming);
            let _ = channel.encrypt(&mut probe_rng, b"probe");
            let _ = format!("{channel:?}");
        }
    }
    assert!(loaded > 0);
}
