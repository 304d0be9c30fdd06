//! Forged and replayed group messages and roster updates: each is rejected with a typed
//! error, and the group (and every channel) is byte for byte as it was.

mod common;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{Error, GROUP_MESSAGE_INFO, GROUP_SIGNATURE_CONTEXT};
use sha2::Sha256;

use common::fields_at;
use common::groups::{abc, assert_group_rejects, World, ALICE, BOB, CAROL, DAVE, GROUP_ID};

fn decode(message: &[u8]) -> (v1::GroupMessage, v1::GroupHeader) {
    let message = v1::GroupMessage::decode(message).expect("a group message");
    let header = v1::GroupHeader::decode(message.header.as_slice()).expect("a header");
    (message, header)
}

/// Signs `header || ciphertext` as a group message with `key`.
fn signed(key: &SigningKey, header: Vec<u8>, ciphertext: Vec<u8>) -> Vec<u8> {
    let mut signed = GROUP_SIGNATURE_CONTEXT.to_vec();
    signed.extend_from_slice(&(header.len() as u32).to_be_bytes());
    signed.extend_from_slice(&header);
    signed.extend_from_slice(&ciphertext);
    v1::GroupMessage {
        version: 1,
        header,
        ciphertext,
        signature: key.sign(&signed).to_bytes().to_vec(),
    }
    .encode_to_vec()
}

#[test]
fn a_message_signed_with_another_key_is_rejected() {
    let mut world = abc(1);
    let genuine = world.send(BOB, b"genuine");
    let (message, _) = decode(&genuine);
    let other = SigningKey::from_bytes(&[9; 32]);
    let forged = signed(&other, message.header, message.ciphertext);
    assert_group_rejects(
        world.group(CAROL),
        &forged,
        Error::BadSignature {
            what: "group message",
        },
    );
    // The genuine message still decrypts afterwards.
    world.assert_all_read(&[CAROL], BOB, &genuine, b"genuine");
}

#[test]
fn a_member_holding_a_senders_chain_key_cannot_forge_its_messages() {
    let mut world = abc(2);
    let bob = world.key(BOB);
    // Carol holds Bob's chain key (GroupState.senders.chains.chain_key): enough to
    // encrypt a message under Bob's name, not to sign it.
    let carol_state = world.group(CAROL).to_bytes();
    let chain_key = fields_at(&carol_state, &[5, 2, 2])
        .into_iter()
        .next()
        .expect("carol holds a sender chain")
        .to_vec();
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&chain_key).expect("any key length");
    mac.update(&[0x01]);
    let message_key = mac.finalize().into_bytes();
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(&[0u8; 32]), &message_key)
        .expand(GROUP_MESSAGE_INFO, &mut okm)
        .expect("44 bytes");
    // The chain key Carol holds belongs to whichever member sorts first; aim at it.
    let first_sender = fields_at(&carol_state, &[5, 1])[0].to_vec();
    let header = v1::GroupHeader {
        group_id: GROUP_ID.to_vec(),
        sender: first_sender.clone(),
        epoch: 0,
        iteration: 0,
    }
    .encode_to_vec();
    let key: [u8; 32] = okm[..32].try_into().expect("32 bytes");
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    let ciphertext = Aes256Gcm::new(&key.into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: b"pay carol".as_slice(),
                aad: &header,
            },
        )
        .expect("encrypt");
    let carol_epoch_key = SigningKey::from_bytes(&[3; 32]);
    let forged = signed(&carol_epoch_key, header, ciphertext);
    let target = if first_sender == bob.to_vec() {
        ALICE
    } else {
        BOB
    };
    assert_group_rejects(
        world.group(target),
        &forged,
        Error::BadSignature {
            what: "group message",
        },
    );
}

#[test]
fn an_altered_header_is_rejected() {
    let mut world = abc(3);
    let genuine = world.send(BOB, b"genuine");
    let (message, header) = decode(&genuine);
    let carol = world.key(CAROL);
    let alterations: [(v1::GroupHeader, Error); 4] = [
        (
            v1::GroupHeader {
                iteration: header.iteration + 1,
                ..header.clone()
            },
            Error::BadSignature {
                what: "group message",
            },
        ),
        (
            v1::GroupHeader {
                sender: carol.to_vec(),
                ..header.clone()
            },
            Error::BadSignature {
                what: "group message",
            },
        ),
        (
            v1::GroupHeader {
                epoch: 7,
                ..header.clone()
            },
            Error::UnknownEpoch { epoch: 7 },
        ),
        (
            v1::GroupHeader {
                group_id: b"another-group-id".to_vec(),
                ..header.clone()
            },
            Error::WrongGroup,
        ),
    ];
    for (altered, expected) in alterations {
        let forged = v1::GroupMessage {
            header: altered.encode_to_vec(),
            ..message.clone()
        }
        .encode_to_vec();
        assert_group_rejects(world.group(ALICE), &forged, expected);
    }
    for bit in (0..genuine.len() * 8).step_by(5) {
        let forged = common::flip_bit(&genuine, bit);
        let before = world.group(ALICE).to_bytes();
        assert!(world.group(ALICE).decrypt(&forged).is_err(), "bit {bit}");
        assert_eq!(*world.group(ALICE).to_bytes(), *before);
    }
    world.assert_all_read(&[ALICE, CAROL], BOB, &genuine, b"genuine");
}

#[test]
fn a_sender_outside_the_roster_is_rejected() {
    let mut world = abc(4);
    // Dave runs a group of his own under the same id and writes into it.
    let (mut daves, _) = world.new_group(DAVE, &[CAROL]);
    let message = daves.encrypt(b"let me in").expect("encrypt");
    let dave = world.key(DAVE);
    assert_group_rejects(
        world.group(ALICE),
        &message,
        Error::NotGroupMember { member: dave },
    );
}

/// Delivers control from `from` to `to` and checks it is rejected with `expected`,
/// leaving the recipient's group and channels byte for byte as they were.
fn assert_control_rejected(
    world: &mut World,
    from: usize,
    to: usize,
    message: &[u8],
    expected: Error,
) {
    let group_before = world.group(to).to_bytes();
    let channels_before: Vec<_> = {
        let mut channels: Vec<_> = world.members[to].channels.iter().collect();
        channels.sort_by_key(|(key, _)| **key);
        channels
            .iter()
            .map(|(_, channel)| channel.to_bytes())
            .collect()
    };
    assert_eq!(world.deliver(from, to, message), Err(expected));
    assert_eq!(*world.group(to).to_bytes(), *group_before);
    let mut channels: Vec<_> = world.members[to].channels.iter().collect();
    channels.sort_by_key(|(key, _)| **key);
    let channels_after: Vec<_> = channels
        .iter()
        .map(|(_, channel)| channel.to_bytes())
        .collect();
    assert_eq!(channels_before, channels_after);
}

#[test]
fn a_roster_signed_by_someone_other_than_the_owner_is_rejected() {
    let mut world = abc(5);
    // Bob makes a group of his own under the same id, naming Carol and Dave, and sends
    // Carol its roster: to Carol's group it is a roster update not signed by Alice.
    let (_, outgoing) = world.new_group(BOB, &[CAROL, DAVE]);
    let carol = world.key(CAROL);
    let to_carol = outgoing
        .iter()
        .find(|out| out.to == carol)
        .expect("a welcome for carol");
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &to_carol.message,
        Error::BadSignature { what: "roster" },
    );
}

#[test]
fn an_older_roster_is_rejected() {
    let mut world = abc(6);
    // The owner's app restores a backup from before Dave's addition.
    let backup = world.group(ALICE).clone();
    world.add(ALICE, DAVE);
    world.flush();
    assert_eq!(world.group(CAROL).roster_version(), 2);

    // From the backup, the owner removes Bob: a roster of version 2 again.
    let bob = world.key(BOB);
    let member = &mut world.members[ALICE];
    let mut old = backup.clone();
    let outgoing = old
        .remove_member(&mut world.rng, &member.identity, &bob, &mut member.channels)
        .expect("remove from the backup");
    let carol = world.key(CAROL);
    let to_carol = outgoing
        .iter()
        .find(|out| out.to == carol)
        .expect("for carol");
    assert_control_rejected(
        &mut world,
        ALICE,
        CAROL,
        &to_carol.message,
        Error::StaleRoster {
            version: 2,
            current: 2,
        },
    );

    // A fresh group of version 1 under the same id replays the very first roster.
    let (_, outgoing) = world.new_group(ALICE, &[CAROL]);
    assert_control_rejected(
        &mut world,
        ALICE,
        CAROL,
        &outgoing[0].message,
        Error::StaleRoster {
            version: 1,
            current: 2,
        },
    );
}

#[test]
fn a_sender_key_from_a_non_member_is_rejected() {
    let mut world = abc(7);
    // Dave, not a member, rekeys in a group of his own with Carol under the same id: to
    // Carol's group the sender key comes from a non-member.
    let (mut daves, _) = world.new_group(DAVE, &[CAROL]);
    let outgoing = daves
        .rekey(&mut world.rng, &mut world.members[DAVE].channels)
        .expect("rekey");
    let dave = world.key(DAVE);
    assert_control_rejected(
        &mut world,
        DAVE,
        CAROL,
        &outgoing[0].message,
        Error::NotGroupMember { member: dave },
    );
}
