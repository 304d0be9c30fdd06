//! Group messages are safe to send from a restored older state (each carries a random salt
//! its AES key and nonce are derived with), and their plaintexts are padded. Each attack
//! runs through the public API: a rolled-back sender, a length observer, a forged salt, a
//! sender that does not pad.

mod common;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::Nonce;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    channel::MESSAGE_SALT_LEN, channel::MIN_PADDED_LEN, group::GROUP_SIGNATURE_CONTEXT,
    group::GROUP_VERSION, Error, Group, Padding,
};
use sha2::Sha256;

use common::groups::{
    abc, assert_group_rejects, group_message_cipher, open_group_message, own_sender_secrets, World,
    ALICE, BOB, CAROL,
};
use common::raw_fields;

fn decode(message: &[u8]) -> (v1::GroupMessage, v1::GroupHeader) {
    let message = v1::GroupMessage::decode(message).expect("a group message");
    let header = v1::GroupHeader::decode(message.header.as_slice()).expect("a header");
    (message, header)
}

/// `message` with its header replaced, its ciphertext and signature kept.
fn with_header(message: &v1::GroupMessage, header: &v1::GroupHeader) -> Vec<u8> {
    v1::GroupMessage {
        header: header.encode_to_vec(),
        ..message.clone()
    }
    .encode_to_vec()
}

/// The length of a message's padded plaintext: its ciphertext without the 16-byte tag.
fn padded_len(message: &[u8]) -> usize {
    decode(message).0.ciphertext.len() - 16
}

fn send(world: &mut World, from: usize, plaintext: &[u8]) -> Vec<u8> {
    world.send(from, plaintext)
}

#[test]
fn a_sender_restored_from_an_older_save_never_reuses_a_key_and_nonce() {
    let mut world = abc(1);
    send(&mut world, ALICE, b"before the save");
    // Alice saves, and so does Bob (he has read everything so far).
    let alice_saved = world.group(ALICE).to_bytes();
    let bob_saved = world.group(BOB).to_bytes();
    let first: &[u8] = b"transfer 100 to carol, reference 2024-0001";
    let second: &[u8] = b"the meeting moved to Thursday at 10 in room B";
    let m1 = send(&mut world, ALICE, first);
    // Alice crashes before saving again, and her app loads the older save: her next message
    // is at the same iteration, under the same message key.
    let mut restored = Group::from_bytes(&alice_saved).expect("the save loads");
    let m2 = restored
        .encrypt(&mut world.rng, second)
        .expect("the restored state encrypts");
    let ((c1, h1), (c2, h2)) = (decode(&m1), decode(&m2));
    assert_eq!(
        (h1.epoch, h1.iteration),
        (h2.epoch, h2.iteration),
        "one message key"
    );
    assert_eq!(h1.salt.len(), MESSAGE_SALT_LEN);
    assert_ne!(h1.salt, h2.salt, "each message draws its own salt");

    // Both are genuine: fresh receivers restored from Bob's save read each.
    let mut reads_first = Group::from_bytes(&bob_saved).expect("bob's save loads");
    let mut reads_second = Group::from_bytes(&bob_saved).expect("bob's save loads");
    assert_eq!(reads_first.decrypt(&m1).expect("m1").plaintext(), first);
    assert_eq!(reads_second.decrypt(&m2).expect("m2").plaintext(), second);

    // Under one (key, nonce), AES-GCM's keystream would cancel out: ct1 xor ct2 would be
    // pt1 xor pt2. Here it is not, at any position of the common prefix but by chance.
    let common = first.len().min(second.len());
    let ct_xor: Vec<u8> = (0..common)
        .map(|i| c1.ciphertext[i] ^ c2.ciphertext[i])
        .collect();
    let pt_xor: Vec<u8> = (0..common).map(|i| first[i] ^ second[i]).collect();
    assert_ne!(ct_xor, pt_xor, "the keystreams of the two messages differ");
    let equal = (0..common).filter(|&i| ct_xor[i] == pt_xor[i]).count();
    assert!(
        equal < common / 4,
        "{equal} of {common} bytes agree: a shared keystream"
    );

    // The numbers still count: a receiver that read one refuses the other as a copy.
    assert_group_rejects(&mut reads_first, &m2, Error::Duplicate);
    assert_group_rejects(&mut reads_second, &m1, Error::Duplicate);
}

#[test]
fn padding_hides_the_length_of_short_messages_and_blurs_longer_ones() {
    let mut world = abc(2);
    // Iteration 0 has no iteration field; from 1 to 127 it takes one byte.
    send(&mut world, BOB, b"first");
    let short: Vec<Vec<u8>> = (1..=31)
        .map(|len| send(&mut world, BOB, &vec![b'x'; len]))
        .collect();
    for (len, message) in (1..).zip(&short) {
        assert_eq!(
            message.len(),
            short[0].len(),
            "a {len}-byte plaintext shows"
        );
        assert_eq!(padded_len(message), MIN_PADDED_LEN);
    }
    world.assert_all_read(&[ALICE], BOB, &short[30], &[b'x'; 31]);

    let long = send(&mut world, CAROL, &[9; 5_000]);
    world.assert_all_read(&[ALICE, BOB], CAROL, &long, &[9; 5_000]);

    let mut previous = MIN_PADDED_LEN;
    for len in (32..3_000).chain((3_000..70_000).step_by(997)) {
        let message = send(&mut world, CAROL, &vec![7; len]);
        let padded = padded_len(&message);
        assert!(padded > len, "{len}: room for the marker");
        assert!(padded >= previous, "{len}: lengths never shrink");
        assert!(
            (padded - len - 1) * 100 <= len * 12,
            "{len} bytes padded to {padded}: more than 12%"
        );
        assert_eq!(padded, Padding::Padme.padded_len(len));
        previous = padded;
    }
}

#[test]
fn a_member_sending_with_minimal_padding_is_read_by_padme_members() {
    let mut world = abc(3);
    world.group(BOB).set_padding(Padding::Minimal);
    let hi = send(&mut world, BOB, b"hi");
    assert_eq!(padded_len(&hi), 3, "the plaintext and the marker byte");
    world.assert_all_read(&[ALICE, CAROL], BOB, &hi, b"hi");
    let empty = send(&mut world, BOB, b"");
    assert_eq!(padded_len(&empty), 1);
    world.assert_all_read(&[ALICE, CAROL], BOB, &empty, b"");
    // And the other way round: Bob strips Alice's Padmé padding.
    let reply = send(&mut world, ALICE, b"hello bob");
    assert_eq!(padded_len(&reply), MIN_PADDED_LEN);
    world.assert_all_read(&[BOB, CAROL], ALICE, &reply, b"hello bob");
}

#[test]
fn a_forged_salt_is_refused_and_leaves_the_group_working() {
    let mut world = abc(4);
    let genuine = send(&mut world, BOB, b"genuine");
    let (message, header) = decode(&genuine);
    // Every bit of the salt: the header is signed, so a changed salt (which would give
    // another AES key and nonce) fails the signature, before any decryption.
    for bit in 0..MESSAGE_SALT_LEN * 8 {
        let mut forged = header.clone();
        forged.salt[bit / 8] ^= 1 << (bit % 8);
        assert_group_rejects(
            world.group(ALICE),
            &with_header(&message, &forged),
            Error::BadSignature {
                what: "group message",
            },
        );
    }
    // A salt of another length is malformed, whoever signed it.
    for len in [0, 15, 17, 32] {
        let mut forged = header.clone();
        forged.salt.resize(len, 0xa5);
        assert_group_rejects(
            world.group(ALICE),
            &with_header(&message, &forged),
            Error::InvalidLength {
                field: "salt",
                expected: MESSAGE_SALT_LEN,
                found: len,
            },
        );
    }
    world.assert_all_read(&[ALICE, CAROL], BOB, &genuine, b"genuine");
    let next = send(&mut world, BOB, b"and the next one");
    world.assert_all_read(&[ALICE, CAROL], BOB, &next, b"and the next one");
}

/// KDF_CK's message key: HMAC-SHA256(chain key, 0x01).
fn message_key(chain_key: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(chain_key).expect("any key length");
    mac.update(&[0x01]);
    mac.finalize().into_bytes().to_vec()
}

#[test]
fn a_message_its_sender_did_not_pad_is_refused_and_changes_nothing() {
    let mut world = abc(5);
    // Bob's own client: the chain key and epoch signing secret of his saved state, before
    // he sends the message whose number it reuses.
    let secrets = own_sender_secrets(&world.group(BOB).to_bytes());
    let signing = SigningKey::from_bytes(&secrets[1].as_slice().try_into().expect("32 bytes"));
    let genuine = send(&mut world, BOB, b"genuine");
    let (_, header) = decode(&genuine);
    let key = message_key(&secrets[0]);
    let header_bytes = header.encode_to_vec();
    let unpadded: [&[u8]; 3] = [b"no marker at all", &[0; 40], b"zeros after 0x81\x81\0\0"];
    for plaintext in unpadded {
        let (cipher, nonce) = group_message_cipher(&key, &header.salt);
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &header_bytes,
                },
            )
            .expect("encrypt");
        let signed = [
            GROUP_SIGNATURE_CONTEXT,
            &(header_bytes.len() as u32).to_be_bytes(),
            &header_bytes,
            &ciphertext,
        ]
        .concat();
        let forged = v1::GroupMessage {
            version: GROUP_VERSION,
            header: header_bytes.clone(),
            ciphertext,
            signature: signing.sign(&signed).to_bytes().to_vec(),
        }
        .encode_to_vec();
        assert_eq!(
            open_group_message(&key, &forged),
            None,
            "not the protocol's padding"
        );
        assert_group_rejects(world.group(ALICE), &forged, Error::BadPadding);
        // In a batch, too: the forgery fails alone, and nothing was committed for it.
        let mut carol = world.group(CAROL).clone();
        let results = carol.decrypt_batch(&[forged.as_slice(), &genuine]);
        assert_eq!(results[0], Err(Error::BadPadding));
        assert_eq!(
            results[1].as_ref().map(|d| d.plaintext().to_vec()),
            Ok(b"genuine".to_vec())
        );
    }
    // The genuine message at the same number still decrypts everywhere.
    world.assert_all_read(&[ALICE, CAROL], BOB, &genuine, b"genuine");
}

#[test]
fn the_padding_setting_survives_save_and_restore() {
    let mut world = abc(6);
    let default = world.group(ALICE).to_bytes();
    assert_eq!(
        Group::from_bytes(&default).expect("loads").padding(),
        Padding::Padme
    );
    // Padmé, the default, is left out of the saved state (field 11).
    assert!(raw_fields(&default).iter().all(|field| field.number != 11));

    world.group(ALICE).set_padding(Padding::Minimal);
    let saved = world.group(ALICE).to_bytes();
    assert!(raw_fields(&saved).iter().any(|field| field.number == 11));
    let mut restored = Group::from_bytes(&saved).expect("loads");
    assert_eq!(restored.padding(), Padding::Minimal);
    assert_eq!(*restored.to_bytes(), *saved, "saved again byte for byte");
    // Back to the default: the very state saved before.
    restored.set_padding(Padding::Padme);
    assert_eq!(*restored.to_bytes(), *default);

    // The restored member sends as it was set to.
    let mut restored = Group::from_bytes(&saved).expect("loads");
    let message = restored.encrypt(&mut world.rng, b"hi").expect("encrypts");
    assert_eq!(padded_len(&message), 3);
    world.assert_all_read(&[BOB, CAROL], ALICE, &message, b"hi");
}
