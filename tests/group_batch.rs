//! `Group::decrypt_batch` gives exactly what `Group::decrypt` gives on each message in
//! order, results and state alike, on mixes of valid, forged, tampered, repeated,
//! unknown-epoch, too-far-ahead and malformed messages from several senders.

mod common;

use ed25519_dalek::{Signer, SigningKey};
use prost::Message as _;
use rand::seq::SliceRandom;
use rand::RngExt;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_SIGNATURE_CONTEXT, group::MAX_GROUP_MESSAGE_GAP, Decrypted, Error, Group,
};

use common::groups::World;
use common::rng;

/// The reader of every batch.
const READER: usize = 0;
const SENDERS: [usize; 3] = [1, 2, 3];

/// Flips one bit of byte `at` of field `field` of a `GroupMessage` (2 = header,
/// 3 = ciphertext, 4 = signature), re-encoding the message.
fn tamper(message: &[u8], field: u32, at: usize) -> Vec<u8> {
    let mut decoded = v1::GroupMessage::decode(message).unwrap();
    let bytes = match field {
        2 => &mut decoded.header,
        3 => &mut decoded.ciphertext,
        _ => &mut decoded.signature,
    };
    let at = at % bytes.len();
    bytes[at] ^= 1;
    decoded.encode_to_vec()
}

/// The message re-signed with a key that is not the sender's.
fn forge(message: &[u8]) -> Vec<u8> {
    let mut decoded = v1::GroupMessage::decode(message).unwrap();
    let mut signed = GROUP_SIGNATURE_CONTEXT.to_vec();
    signed.extend_from_slice(&(decoded.header.len() as u32).to_be_bytes());
    signed.extend_from_slice(&decoded.header);
    signed.extend_from_slice(&decoded.ciphertext);
    decoded.signature = SigningKey::from_bytes(&[0x33; 32])
        .sign(&signed)
        .to_bytes()
        .to_vec();
    decoded.encode_to_vec()
}

/// The reader's group before any message, and a pool of messages of every kind.
fn fixture(seed: u64) -> (Group, Vec<Vec<u8>>) {
    let mut world = World::new(seed, 5);
    world.create_group(0, &[1, 2, 3, 4]);
    let mut valid = Vec::new();
    for round in 0..12 {
        for &sender in &SENDERS {
            valid.push(world.send(sender, format!("m{sender} #{round}").as_bytes()));
        }
    }
    // The reader as it is now: it will not process the rekey below.
    let reader = world.group(READER).clone();
    // Member 3 rekeys: what it sends next is of an epoch the reader does not hold.
    world.rekey(3);
    world.flush();
    let unknown_epoch: Vec<Vec<u8>> = (0..3).map(|i| world.send(3, &[i])).collect();
    // Member 4 sends enough for its last message to be too far ahead.
    let mut far = Vec::new();
    for i in 0..=MAX_GROUP_MESSAGE_GAP + 1 {
        let message = world.send(4, &i.to_be_bytes());
        if i > MAX_GROUP_MESSAGE_GAP - 2 {
            far.push(message);
        }
    }
    let own = world.send(READER, b"mine");

    let mut pool = valid.clone();
    pool.extend(unknown_epoch);
    pool.extend(far);
    pool.push(own);
    for (i, message) in valid.iter().enumerate().take(12) {
        pool.push(tamper(message, 4, i * 5)); // signature
        pool.push(tamper(message, 3, i * 7)); // ciphertext
        pool.push(tamper(message, 2, i * 3)); // header
        pool.push(forge(message));
    }
    pool.push(b"not a group message".to_vec());
    pool.push(Vec::new());
    (reader, pool)
}

/// Decrypts `batch` both ways from `reader`, asserting the same results and the same
/// state; returns the results.
fn compare(reader: &Group, batch: &[Vec<u8>]) -> Vec<Result<Decrypted, Error>> {
    let mut sequential = reader.clone();
    let expected: Vec<_> = batch.iter().map(|m| sequential.decrypt(m)).collect();
    let mut batched = reader.clone();
    let results = batched.decrypt_batch(batch);
    assert_eq!(results, expected);
    assert_eq!(*batched.to_bytes(), *sequential.to_bytes());
    results
}

#[test]
fn a_batch_equals_decrypting_one_by_one() {
    let mut kinds = std::collections::BTreeSet::new();
    for seed in 0..4 {
        let (reader, pool) = fixture(seed);
        let mut schedule = rng(1_000 + seed);
        for _ in 0..12 {
            // Any of the pool, some twice, in any order.
            let len = schedule.random_range(1..=90);
            let mut batch: Vec<Vec<u8>> = (0..len)
                .map(|_| pool[schedule.random_range(0..pool.len())].clone())
                .collect();
            batch.shuffle(&mut schedule);
            for result in compare(&reader, &batch) {
                kinds.insert(match result {
                    Ok(_) => "ok".to_string(),
                    Err(error) => format!("{error:?}")
                        .split([' ', '{', '('])
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                });
            }
        }
    }
    // Every kind of message of the pool was met.
    for kind in [
        "ok",
        "BadSignature",
        "Duplicate",
        "UnknownEpoch",
        "TooFarAhead",
        "OwnGroupMessage",
        "Decode",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn a_bad_signature_is_reported_for_exactly_its_message() {
    let mut world = World::new(7, 4);
    world.create_group(0, &[1, 2, 3]);
    let reader = world.group(READER).clone();
    let mut batch: Vec<Vec<u8>> = (0..60u8)
        .map(|i| world.send(SENDERS[usize::from(i) % 3], &[i]))
        .collect();
    for bad in [0, 29, 30, 59] {
        let mut batch = batch.clone();
        batch[bad] = tamper(&batch[bad], 4, 17);
        let results = compare(&reader, &batch);
        for (i, result) in results.iter().enumerate() {
            if i == bad {
                assert_eq!(
                    *result,
                    Err(Error::BadSignature {
                        what: "group message"
                    })
                );
            } else {
                assert_eq!(result.as_ref().unwrap().plaintext(), [i as u8]);
            }
        }
    }
    // Two forgeries next to each other, and a batch of only forgeries.
    batch[10] = forge(&batch[10]);
    batch[11] = forge(&batch[11]);
    let results = compare(&reader, &batch);
    let bad: Vec<usize> = (0..60).filter(|&i| results[i].is_err()).collect();
    assert_eq!(bad, [10, 11]);
    let forged: Vec<Vec<u8>> = batch.iter().map(|m| forge(m)).collect();
    assert!(compare(&reader, &forged).iter().all(Result::is_err));
}

#[test]
fn a_repeat_within_a_batch_is_a_duplicate() {
    let mut world = World::new(8, 3);
    world.create_group(0, &[1, 2]);
    let reader = world.group(READER).clone();
    let first = world.send(1, b"first");
    let second = world.send(1, b"second");
    let results = compare(
        &reader,
        &[second.clone(), first.clone(), second.clone(), first],
    );
    assert!(results[0].is_ok() && results[1].is_ok());
    assert_eq!(results[2], Err(Error::Duplicate));
    assert_eq!(results[3], Err(Error::Duplicate));
    assert!(compare(&reader, &[] as &[Vec<u8>]).is_empty());
}
