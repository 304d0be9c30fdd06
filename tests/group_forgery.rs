//! Forged and replayed group messages and roster updates: each is rejected with a typed
//! error, and the group (and every channel) is byte for byte as it was.

mod common;

use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_SIGNATURE_CONTEXT, group::GROUP_VERSION, group::OWNER_TRANSFER_CONTEXT,
    group::ROSTER_SIGNATURE_CONTEXT, Error, Group, Identity,
};
use sha2::Sha256;

use common::groups::{
    abc, assert_group_rejects, own_sender_secrets, seal_group_message, World, ALICE, BOB, CAROL,
    DAVE,
};
use common::{fields_at, sign_as};

fn decode(message: &[u8]) -> (v1::GroupMessage, v1::GroupHeader) {
    let message = v1::GroupMessage::decode(message).expect("a group message");
    let header = v1::GroupHeader::decode(message.header.as_slice()).expect("a header");
    (message, header)
}

/// A group message from `sender` with `plaintext` under `message_key`, signed by `key`.
fn group_message(
    group_id: &[u8],
    sender: &[u8; 32],
    message_key: &[u8],
    key: &SigningKey,
    plaintext: &[u8],
) -> Vec<u8> {
    let salt = [5; 16];
    let header = v1::GroupHeader {
        group_id: group_id.to_vec(),
        sender: sender.to_vec(),
        epoch: 0,
        iteration: 0,
        salt: salt.to_vec(),
    }
    .encode_to_vec();
    let ciphertext = seal_group_message(message_key, &salt, &header, plaintext);
    signed(key, header, ciphertext)
}

/// KDF_CK's message key of `chain_key`: HMAC-SHA256(chain key, 0x01).
fn message_key(chain_key: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(chain_key).expect("any key length");
    mac.update(&[0x01]);
    mac.finalize().into_bytes().to_vec()
}

/// Signs `header || ciphertext` as a group message with `key`.
fn signed(key: &SigningKey, header: Vec<u8>, ciphertext: Vec<u8>) -> Vec<u8> {
    let mut signed = GROUP_SIGNATURE_CONTEXT.to_vec();
    signed.extend_from_slice(&(header.len() as u32).to_be_bytes());
    signed.extend_from_slice(&header);
    signed.extend_from_slice(&ciphertext);
    v1::GroupMessage {
        version: GROUP_VERSION,
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
    // The chain key Carol holds belongs to whichever member sorts first; aim at it.
    let first_sender: [u8; 32] = fields_at(&carol_state, &[5, 1])[0]
        .try_into()
        .expect("32 bytes");
    let carol_epoch_key = SigningKey::from_bytes(&[3; 32]);
    let group_id = world.group(CAROL).group_id().to_vec();
    let forged = group_message(
        &group_id,
        &first_sender,
        &message_key(&chain_key),
        &carol_epoch_key,
        b"pay carol",
    );
    let target = if first_sender == bob { ALICE } else { BOB };
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
                group_id: vec![7; 32],
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
    // Dave runs a group of his own and writes into it: its id is not Alice's group's.
    let (mut daves, _) = world.new_group(DAVE, &[CAROL]);
    let message = daves
        .encrypt(&mut world.rng, b"let me in")
        .expect("encrypt");
    assert_group_rejects(world.group(ALICE), &message, Error::WrongGroup);
    // His client writes under Alice's group id with his own sender key: he is not in the
    // roster.
    let secrets = own_sender_secrets(&daves.to_bytes());
    let signing = SigningKey::from_bytes(&secrets[1].as_slice().try_into().expect("32 bytes"));
    let dave = world.key(DAVE);
    let group_id = world.group(ALICE).group_id().to_vec();
    let forged = group_message(
        &group_id,
        &dave,
        &message_key(&secrets[0]),
        &signing,
        b"let me in",
    );
    assert_group_rejects(
        world.group(ALICE),
        &forged,
        Error::NotGroupMember {
            member: dave.into(),
        },
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

/// The roster `group` holds, as signed.
fn held_roster(group: &Group) -> v1::SignedRoster {
    let state = group.to_bytes();
    v1::SignedRoster::decode(fields_at(&state, &[3])[0]).expect("a signed roster")
}

fn decode_roster(signed: &v1::SignedRoster) -> v1::Roster {
    v1::Roster::decode(signed.roster.as_slice()).expect("a roster")
}

/// `roster` signed by `identity`, as an owner signs it.
fn sign_roster(identity: &Identity, roster: &v1::Roster) -> v1::SignedRoster {
    let roster = roster.encode_to_vec();
    let signature = sign_as(identity, ROSTER_SIGNATURE_CONTEXT, &[&roster]);
    v1::SignedRoster { roster, signature }
}

/// A `GroupControl` with a roster and a sender key, sent under `roster_version`.
fn control(
    roster: Option<v1::SignedRoster>,
    sender_key: Option<v1::SenderKeyDistribution>,
    roster_version: u64,
) -> Vec<u8> {
    v1::GroupControl {
        version: GROUP_VERSION,
        roster,
        sender_key,
        leave: None,
        roster_version,
        resync: None,
        offer: None,
    }
    .encode_to_vec()
}

/// A `GroupControl` carrying only `roster`, sent under its version.
fn roster_control(signed: v1::SignedRoster) -> Vec<u8> {
    let roster_version = decode_roster(&signed).version;
    control(Some(signed), None, roster_version)
}

#[test]
fn a_roster_signed_by_someone_other_than_the_owner_is_rejected() {
    let mut world = abc(5);
    // Bob makes a group of his own, naming Carol and Dave, and sends Carol its roster:
    // its id hashes Bob's key, so it can never be Alice's group.
    let (_, outgoing) = world.new_group(BOB, &[CAROL, DAVE]);
    let carol = world.key(CAROL);
    let to_carol = outgoing
        .iter()
        .find(|out| out.to() == carol)
        .expect("a welcome for carol");
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        to_carol.message(),
        Error::WrongGroup,
    );

    // Bob's own client writes rosters of Alice's group and signs them himself.
    let genuine = decode_roster(&held_roster(world.group(BOB)));
    let dave_card = world.members[DAVE].identity.card().to_bytes();
    let mut with_dave = genuine.clone();
    with_dave.version = 2;
    with_dave.members.push(v1::RosterMember {
        card: dave_card,
        added_at: 2,
    });
    // Alice first, signed by Bob: the chain of owners says Alice signs.
    let forged = roster_control(sign_roster(&world.members[BOB].identity, &with_dave));
    let sealed = world.seal_control(BOB, CAROL, &forged);
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &sealed,
        Error::BadSignature { what: "roster" },
    );
    // Bob first: the same.
    let mut bob_first = with_dave.clone();
    bob_first.members.swap(0, 1);
    let forged = roster_control(sign_roster(&world.members[BOB].identity, &bob_first));
    let sealed = world.seal_control(BOB, CAROL, &forged);
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &sealed,
        Error::BadSignature { what: "roster" },
    );
    // Bob claims to have founded the group: the id is not the hash of his key.
    let mut founded_by_bob = bob_first.clone();
    founded_by_bob.founder = world.key(BOB).to_vec();
    let forged = roster_control(sign_roster(&world.members[BOB].identity, &founded_by_bob));
    let sealed = world.seal_control(BOB, CAROL, &forged);
    assert_control_rejected(&mut world, BOB, CAROL, &sealed, Error::GroupIdMismatch);
    // Bob hands himself the group: the transfer must be signed by Alice.
    let mut handed_over = bob_first.clone();
    let new_owner = world.key(BOB).to_vec();
    let signature = sign_as(
        &world.members[BOB].identity,
        OWNER_TRANSFER_CONTEXT,
        &[&genuine.group_id, &2u64.to_be_bytes(), &new_owner],
    );
    handed_over.transfers.push(v1::OwnerTransfer {
        version: 2,
        new_owner,
        signature,
    });
    let forged = roster_control(sign_roster(&world.members[BOB].identity, &handed_over));
    let sealed = world.seal_control(BOB, CAROL, &forged);
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &sealed,
        Error::BadSignature {
            what: "owner transfer",
        },
    );
    // A group id of the wrong length is refused before anything else, by a joiner too.
    let mut short_id = genuine.clone();
    short_id.group_id.truncate(16);
    let forged = roster_control(sign_roster(&world.members[ALICE].identity, &short_id));
    let sealed = world.seal_control(ALICE, DAVE, &forged);
    assert_eq!(
        world.deliver(ALICE, DAVE, &sealed),
        Err(Error::InvalidGroupId { len: 16 })
    );
    assert!(world.members[DAVE].group.is_none());

    // Nothing of it stuck: Alice's genuine roster still applies at Carol.
    world.add(ALICE, DAVE);
    world.flush();
    assert_eq!(world.group(CAROL).roster_version(), 2);
    let message = world.send(DAVE, b"dave in");
    world.assert_all_read(&[ALICE, BOB, CAROL], DAVE, &message, b"dave in");
}

#[test]
fn a_roster_relayed_by_another_member_is_rejected() {
    let mut world = abc(8);
    world.add(ALICE, DAVE);
    // Bob gets Alice's update first and relays its genuine roster to Carol: rosters come
    // only from their owner's channel, or one relayed could overtake the owner's own
    // control that carries it with a key.
    let to_carol = world.take_to(CAROL);
    world.flush_except(CAROL);
    let relayed = roster_control(held_roster(world.group(BOB)));
    let sealed = world.seal_control(BOB, CAROL, &relayed);
    let bob = world.key(BOB);
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &sealed,
        Error::RosterNotFromOwner { from: bob.into() },
    );
    // Alice's own copy applies.
    world.mailbox.extend(to_carol);
    world.flush();
    assert_eq!(world.group(CAROL).roster_version(), 2);
    let message = world.send(CAROL, b"carol to all");
    world.assert_all_read(&[ALICE, BOB, DAVE], CAROL, &message, b"carol to all");
}

#[test]
fn an_older_roster_is_rejected() {
    let mut world = abc(6);
    // The owner's app restores a backup from before Dave's addition.
    let backup = world.group(ALICE).clone();
    let first_roster = held_roster(&backup);
    world.add(ALICE, DAVE);
    world.flush();
    assert_eq!(world.group(CAROL).roster_version(), 2);

    // From the backup, the owner removes Bob: a roster of version 2 again, with a key.
    let bob = world.key(BOB);
    let member = &mut world.members[ALICE];
    let mut old = backup.clone();
    let outgoing = old
        .remove_member(&mut world.rng, &member.identity, &bob, &mut member.channels)
        .expect("remove from the backup")
        .into_parts()
        .1;
    let carol = world.key(CAROL);
    let to_carol = outgoing
        .iter()
        .find(|out| out.to() == carol)
        .expect("for carol");
    assert_control_rejected(
        &mut world,
        ALICE,
        CAROL,
        to_carol.message(),
        Error::StaleRoster {
            version: 2,
            current: 2,
        },
    );

    // The owner's very first roster, sent again on its own.
    let replayed = world.seal_control(ALICE, CAROL, &roster_control(first_roster));
    assert_control_rejected(
        &mut world,
        ALICE,
        CAROL,
        &replayed,
        Error::StaleRoster {
            version: 1,
            current: 2,
        },
    );
    // A fresh group of the same owner has an id of its own.
    let (_, outgoing) = world.new_group(ALICE, &[CAROL]);
    assert_control_rejected(
        &mut world,
        ALICE,
        CAROL,
        outgoing[0].message(),
        Error::WrongGroup,
    );
}

#[test]
fn a_sender_key_from_a_non_member_is_rejected() {
    let mut world = abc(7);
    // Dave, not a member, rekeys in a group of his own with Carol: its id is not Alice's
    // group's.
    let (mut daves, _) = world.new_group(DAVE, &[CAROL]);
    let outgoing = daves
        .rekey(&mut world.rng, &mut world.members[DAVE].channels)
        .expect("rekey")
        .into_parts()
        .1;
    assert_control_rejected(
        &mut world,
        DAVE,
        CAROL,
        outgoing[0].message(),
        Error::WrongGroup,
    );
    // His client sends a sender key of his under Alice's group id.
    let dave = world.key(DAVE);
    let group_id = world.group(CAROL).group_id().to_vec();
    let distribution = |sender: [u8; 32]| v1::SenderKeyDistribution {
        group_id: group_id.clone(),
        sender: sender.to_vec(),
        epoch: 0,
        iteration: 0,
        chain_key: vec![5; 32],
        signing_key: SigningKey::from_bytes(&[6; 32])
            .verifying_key()
            .to_bytes()
            .to_vec(),
    };
    let key_control = |distribution| control(None, Some(distribution), 1);
    let sealed = world.seal_control(DAVE, CAROL, &key_control(distribution(dave)));
    assert_control_rejected(
        &mut world,
        DAVE,
        CAROL,
        &sealed,
        Error::NotGroupMember {
            member: dave.into(),
        },
    );
    // Or as Bob's: the key must be the channel peer's own.
    let bob = world.key(BOB);
    let sealed = world.seal_control(DAVE, CAROL, &key_control(distribution(bob)));
    assert_control_rejected(&mut world, DAVE, CAROL, &sealed, Error::SenderMismatch);
    // Bob, a member, can't replace his epoch 0 with another key either.
    let sealed = world.seal_control(BOB, CAROL, &key_control(distribution(bob)));
    assert_control_rejected(
        &mut world,
        BOB,
        CAROL,
        &sealed,
        Error::StaleSenderKey { epoch: 0 },
    );
    let message = world.send(BOB, b"still bob");
    world.assert_all_read(&[ALICE, CAROL], BOB, &message, b"still bob");
}
