//! `primitives_recompute_every_byte` of `group-v2.json`: every byte recomputed from the listed
//! private keys on the primitives alone (no ratchetkit). This module recomputes what stands
//! on its own (identities, prekeys, channels and their chains, the group id, owner
//! transfers, rosters, sender keys); [`walk`] and [`timeline`] derive from the timeline and
//! the protocol document which chain each channel message is on, which draws each call
//! makes, what each group operation sends and which keys each member holds, and check every
//! message on the way; [`rejected`] checks the rejected inputs, and [`refusal`] derives the
//! error each must give.

mod refusal;
mod rejected;
mod timeline;
mod walk;

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::format::GroupVectors;
use crate::vectors::channel_view::ChannelView;
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    ed25519_public, ed25519_sign, group_id, group_id_input, owner_transfer_input, CARD_CONTEXT,
    CHANNEL_ID_CONTEXT, GROUP_ID_CONTEXT, GROUP_ID_LEN, GROUP_MESSAGE_INFO, GROUP_SALT_LEN,
    GROUP_SIGNATURE_CONTEXT, GROUP_VERSION, MESSAGE_INFO, OWNER_TRANSFER_CONTEXT, PQXDH_INFO,
    PREKEY_INFO_CONTEXT, PROTOCOL_VERSION, ROOT_INFO, ROSTER_CONTEXT, SELF_SIGNER,
    SIGNED_PREKEY_CONTEXT,
};
use crate::vectors::proto;
use crate::vectors::recompute::{
    assert_rejected_kinds, check, check_identity, check_prekey, check_start, listed_prekey,
    prekey_bundle, PrekeyKind, StartInputs,
};
use walk::Walk;

/// The members by name: the identities, in the file's order.
pub struct Names(pub Vec<String>);

impl Names {
    pub fn of(&self, name: &str) -> usize {
        self.0
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} is not one of the identities"))
    }
}

pub fn primitives_recompute_every_byte(v: &GroupVectors) {
    // The protocol's constants.
    let p = &v.protocol;
    assert_eq!(
        (p.channel_version, p.group_version),
        (PROTOCOL_VERSION, GROUP_VERSION)
    );
    assert_eq!(p.card_signature_context.as_bytes(), CARD_CONTEXT);
    assert_eq!(p.self_signer, SELF_SIGNER);
    assert_eq!(
        p.signed_prekey_signature_context.as_bytes(),
        SIGNED_PREKEY_CONTEXT
    );
    assert_eq!(p.pqxdh_info.as_bytes(), PQXDH_INFO);
    assert_eq!(p.channel_id_context.as_bytes(), CHANNEL_ID_CONTEXT);
    assert_eq!(p.prekey_info_context.as_bytes(), PREKEY_INFO_CONTEXT);
    assert_eq!(p.root_info.as_bytes(), ROOT_INFO);
    assert_eq!(p.message_info.as_bytes(), MESSAGE_INFO);
    assert_eq!(p.group_message_info.as_bytes(), GROUP_MESSAGE_INFO);
    assert_eq!(
        p.group_signature_context.as_bytes(),
        GROUP_SIGNATURE_CONTEXT
    );
    assert_eq!(p.roster_signature_context.as_bytes(), ROSTER_CONTEXT);
    assert_eq!(p.owner_transfer_context.as_bytes(), OWNER_TRANSFER_CONTEXT);
    assert_eq!(p.group_id_context.as_bytes(), GROUP_ID_CONTEXT);
    assert_eq!(
        (p.content_type_application, p.content_type_group_control),
        (0, 1)
    );

    // Identities and cards.
    let names = Names(v.identities.iter().map(|i| i.name.clone()).collect());
    assert_eq!(names.0, ["alice", "bob", "carol"]);
    let cards: Vec<Vec<u8>> = v.identities.iter().map(check_identity).collect();

    // The group id: the founder's identity key and a 16-byte salt, hashed.
    let group = &v.group;
    let founder = &v.identities[names.of(&group.founder)];
    assert_eq!(
        group.founder_key, founder.signing_public,
        "group: founder_key"
    );
    let salt = bytes(&group.salt);
    assert_eq!(salt.len(), GROUP_SALT_LEN, "group: a 16-byte salt");
    let input = group_id_input(&bytes(&group.founder_key), &salt);
    check!(group.group_id_input, input, "group: group_id_input");
    let group_id = group_id(&bytes(&group.founder_key), &salt).to_vec();
    check!(group.group_id, group_id, "group: group_id");
    assert_eq!(group_id.len(), GROUP_ID_LEN);

    // Prekeys and bundles.
    for prekey in &v.prekeys {
        let owner = names.of(&prekey.owner);
        let signed = check_prekey(
            &format!("{}'s signed prekey", prekey.owner),
            &listed_prekey!(prekey),
            PrekeyKind::Signed,
            &array(&v.identities[owner].signing_seed),
        );
        let bundle = prekey_bundle(&cards[owner], &signed, None);
        check!(prekey.bundle, bundle, "{}: bundle", prekey.owner);
    }

    let channels = check_channels(v, &names, &cards);
    check_transfers(v, &names, &group_id);
    check_rosters(v, &names, &cards, &group_id);

    // Sender keys.
    for key in &v.sender_keys {
        check!(
            key.signing_public,
            ed25519_public(&array(&key.signing_seed)),
            "{} epoch {}: signing_public",
            key.member,
            key.epoch
        );
    }

    // The timeline.
    let members = names.0.len();
    let mut walk = Walk {
        v,
        names,
        group_id,
        channels,
        roster: vec![None; members],
        removed_seen: vec![BTreeSet::new(); members],
        own: vec![None; members],
        offer: vec![None; members],
        held: BTreeMap::new(),
        decrypted: BTreeMap::new(),
        sent_channel_messages: 0,
        sent_group_messages: 0,
        signed_transfers: 0,
        received: BTreeSet::new(),
        lost: BTreeSet::new(),
        iterations: BTreeMap::new(),
    };
    let coverage = walk.timeline();
    assert_eq!(
        walk.sent_channel_messages,
        v.channel_messages.len(),
        "every channel message is sent"
    );
    assert_eq!(
        walk.sent_group_messages,
        v.group_messages.len(),
        "every group message is sent"
    );
    assert_eq!(
        walk.signed_transfers,
        v.owner_transfers.len(),
        "every owner transfer is offered"
    );
    assert_eq!(
        coverage.errors_derived,
        v.rejected.len(),
        "the error of every rejected input is derived from the protocol"
    );
    assert!(
        coverage.signatures_checked >= 6,
        "the signature rule is checked on the rejected group messages ({})",
        coverage.signatures_checked
    );
    assert_eq!(
        coverage.rejected_checked,
        v.rejected.len(),
        "every rejected input is at a step of the timeline"
    );
    for (i, r) in v.rejected.iter().enumerate() {
        assert_eq!(r.index, i);
    }

    // What the file claims to cover.
    let actions: BTreeSet<_> = v
        .timeline
        .iter()
        .map(|e| format!("{:?}", e.action))
        .collect();
    for action in [
        "GroupCreate",
        "GroupJoin",
        "GroupReceive",
        "RemoveMember",
        "Rekey",
        "Resync",
        "OfferOwnership",
        "AcceptOwnership",
        "Leave",
        "Lost",
        "Encrypt",
        "Decrypt",
    ] {
        assert!(actions.contains(action), "the timeline has {action}");
    }
    for name in ["alice", "bob", "carol"] {
        assert!(
            v.group_messages.iter().any(|m| m.sender == name),
            "{name} sends a group message"
        );
    }
    assert!(
        coverage.out_of_order,
        "a group message is read after a later one of its chain"
    );
    assert!(
        coverage.old_epoch_read_late,
        "a message of an old epoch is read after the next epoch's key"
    );
    assert!(
        v.rosters.iter().any(|r| !r.transfers.is_empty()),
        "a roster carries a change of owner"
    );
    let events: BTreeSet<String> = v
        .timeline
        .iter()
        .flat_map(|e| &e.events)
        .map(|event| {
            format!("{event:?}")
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    for kind in [
        "Joined",
        "SenderKey",
        "RosterChanged",
        "Removed",
        "OwnerChanged",
        "LeaveRequested",
        "ResyncRequested",
        "OwnershipOffered",
    ] {
        assert!(events.contains(kind), "the timeline reports {kind}");
    }
    assert_rejected_kinds(
        v.rejected.iter().map(|r| r.expected_error.as_str()),
        &[
            "GroupIdMismatch",
            "RosterNotFromOwner",
            "InvalidGroupId",
            "InvalidOwnerChain",
            "SentBeforeKeyReceived",
            "BadSignature",
            "AuthenticationFailed",
            "BadPadding",
            "Duplicate",
            "UnknownEpoch",
            "NotGroupMember",
            "RemovedGroupMember",
            "StaleRoster",
            "WrongGroup",
            "NotGroupOwner",
            "StaleSenderKey",
            "RosterBehind",
            "SenderMismatch",
            "OwnGroupMessage",
            "TooFarAhead",
            "Decode",
            "UnsupportedVersion",
            "InvalidLength",
            "NotGroupControl",
            "NotAGroupWelcome",
            "GroupControlMessage",
        ],
    );
    let signatures: BTreeSet<&str> = v
        .rejected
        .iter()
        .filter_map(|r| r.signature_of.as_deref())
        .collect();
    assert_eq!(
        signatures,
        BTreeSet::from(["group message", "owner transfer", "roster"]),
        "a bad signature of each kind"
    );
}

/// The channels: each one's hybrid start (from a bundle without a one-time prekey), then its
/// chains. Returns each channel's view, for the walk.
fn check_channels(v: &GroupVectors, names: &Names, cards: &[Vec<u8>]) -> Vec<ChannelView> {
    let mut views = Vec::new();
    for (index, c) in v.channels.iter().enumerate() {
        let what = format!("channel {index}");
        assert_eq!(c.index, index);
        let a = names.of(&c.initiator);
        let prekey = v
            .prekeys
            .iter()
            .find(|p| p.owner == c.responder && p.id == c.signed_prekey_id)
            .expect("the responder's signed prekey");
        let start = check_start(
            &what,
            c,
            &StartInputs {
                initiator: &v.identities[a],
                responder: &v.identities[names.of(&c.responder)],
                initiator_card: &cards[a],
                signed_prekey: &listed_prekey!(prekey),
                one_time_prekey: None,
            },
        );
        views.push(ChannelView::new(
            a,
            start.associated_data,
            start.prekey_info,
            c.chains.len(),
        ));
    }
    views
}

/// The owner transfers: each signed by its previous owner over the group id, the version
/// and the new owner's key.
fn check_transfers(v: &GroupVectors, names: &Names, group_id: &[u8]) {
    for (i, t) in v.owner_transfers.iter().enumerate() {
        let what = format!("owner transfer {i}");
        assert_eq!(t.index, i, "{what}: index");
        let previous = &v.identities[names.of(&t.previous_owner)];
        let new_owner = bytes(&v.identities[names.of(&t.new_owner)].signing_public);
        let input = owner_transfer_input(group_id, t.version, &new_owner);
        check!(t.signature_input, input, "{what}: signature_input");
        let signature = ed25519_sign(&array(&previous.signing_seed), &input);
        check!(t.signature, signature, "{what}: signature");
        let transfer = proto::OwnerTransfer {
            version: t.version,
            new_owner,
            signature: signature.to_vec(),
        };
        check!(t.bytes, transfer.encode_to_vec(), "{what}: bytes");
    }
}

/// The rosters, their versions counting up from 1, each signed by its owner: the founder,
/// or the new owner of the last transfer it carries, listed first. Each carries the
/// transfers of the one before, and perhaps one more.
fn check_rosters(v: &GroupVectors, names: &Names, cards: &[Vec<u8>], group_id: &[u8]) {
    let mut previous_transfers: &[usize] = &[];
    for (i, r) in v.rosters.iter().enumerate() {
        let what = format!("roster {i}");
        let owner = match r.transfers.last() {
            Some(&t) => names.of(&v.owner_transfers[t].new_owner),
            None => names.of(&v.group.founder),
        };
        assert_eq!(names.of(&r.owner), owner, "{what}: the owner");
        assert_eq!(
            names.of(&r.members[0].member),
            owner,
            "{what}: the owner first"
        );
        assert!(
            r.transfers.starts_with(previous_transfers)
                && r.transfers.len() <= previous_transfers.len() + 1,
            "{what}: the chain of owners grows by one at most"
        );
        let mut chain_version = 1;
        for &t in &r.transfers {
            let transfer = &v.owner_transfers[t];
            assert!(
                transfer.version > chain_version && transfer.version <= r.version,
                "{what}: transfer versions"
            );
            chain_version = transfer.version;
        }
        previous_transfers = &r.transfers;
        for m in &r.members {
            assert!(
                (1..=r.version).contains(&m.added_at),
                "{what}: added_at in 1..=version"
            );
        }
        let content = proto::Roster {
            group_id: group_id.to_vec(),
            version: r.version,
            members: r
                .members
                .iter()
                .map(|m| proto::RosterMember {
                    card: cards[names.of(&m.member)].clone(),
                    added_at: m.added_at,
                })
                .collect(),
            founder: bytes(&v.group.founder_key),
            salt: bytes(&v.group.salt),
            transfers: r
                .transfers
                .iter()
                .map(|&t| {
                    proto::OwnerTransfer::decode(bytes(&v.owner_transfers[t].bytes).as_slice())
                        .unwrap()
                })
                .collect(),
        }
        .encode_to_vec();
        check!(r.content, content, "{what}: content");
        let input = [ROSTER_CONTEXT, &content].concat();
        check!(r.signature_input, input, "{what}: signature_input");
        let signature = ed25519_sign(&array(&v.identities[owner].signing_seed), &input);
        check!(r.signature, signature, "{what}: signature");
        let signed = proto::SignedRoster {
            roster: content,
            signature: signature.to_vec(),
        };
        check!(
            r.signed_roster,
            signed.encode_to_vec(),
            "{what}: signed_roster"
        );
    }
    assert_eq!(
        v.rosters.iter().map(|r| r.version).collect::<Vec<_>>(),
        (1..=v.rosters.len() as u64).collect::<Vec<_>>(),
        "roster versions count up from 1"
    );
}
