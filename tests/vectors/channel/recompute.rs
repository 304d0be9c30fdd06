//! `primitives_recompute_every_byte` of `channel-v2.json`: every public key, signature, card,
//! bundle, DH output, KEM value, key, nonce, header, padded plaintext, ciphertext and
//! message, recomputed from the listed private keys and random inputs on the primitives
//! alone (no ratchetkit), with which chain each message is on, which values each call
//! draws and how each sender pads derived from the timeline.

use std::collections::BTreeSet;

use super::format::{Action, MessageVector, PaddingName, Vectors};
use super::rejected::{check_rejected, Store};
use crate::vectors::channel_view::ChannelView;
use crate::vectors::json::{array, bytes, ChainVector};
use crate::vectors::primitives::{
    x25519_public, CARD_CONTEXT, CHANNEL_ID_CONTEXT, CONTENT_APPLICATION, MESSAGE_INFO,
    MESSAGE_SALT_LEN, MIN_PADDED_LEN, ONE_TIME_PREKEY_CONTEXT, PQXDH_INFO, PREKEY_INFO_CONTEXT,
    PROTOCOL_VERSION, ROOT_INFO, SELF_SIGNER, SIGNED_PREKEY_CONTEXT,
};
use crate::vectors::recompute::{
    assert_rejected_kinds, check, check_channel_message, check_identity, check_prekey, check_start,
    listed_channel_message, listed_prekey, prekey_bundle, Expected, Pad, PrekeyKind, Start,
    StartInputs,
};

pub fn primitives_recompute_every_byte(v: &Vectors) {
    // The protocol's constants.
    let p = &v.protocol;
    assert_eq!(p.version, PROTOCOL_VERSION);
    assert_eq!(p.card_signature_context.as_bytes(), CARD_CONTEXT);
    assert_eq!(p.self_signer, SELF_SIGNER);
    assert_eq!(
        p.signed_prekey_signature_context.as_bytes(),
        SIGNED_PREKEY_CONTEXT
    );
    assert_eq!(
        p.one_time_prekey_signature_context.as_bytes(),
        ONE_TIME_PREKEY_CONTEXT
    );
    assert_eq!(p.pqxdh_info.as_bytes(), PQXDH_INFO);
    assert_eq!(p.channel_id_context.as_bytes(), CHANNEL_ID_CONTEXT);
    assert_eq!(p.prekey_info_context.as_bytes(), PREKEY_INFO_CONTEXT);
    assert_eq!(p.root_info.as_bytes(), ROOT_INFO);
    assert_eq!(p.message_info.as_bytes(), MESSAGE_INFO);
    assert_eq!(
        (p.message_salt_len, p.min_padded_len),
        (MESSAGE_SALT_LEN, MIN_PADDED_LEN)
    );

    // Identities and cards.
    let names: Vec<&str> = v.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
    let party = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("{name} is not one of the identities"))
    };
    let cards: Vec<Vec<u8>> = v.identities.iter().map(check_identity).collect();

    // Bob's prekeys and bundles.
    let prekeys = &v.prekeys;
    assert_eq!(prekeys.owner, "bob");
    let bob_seed = array::<32>(&v.identities[party("bob")].signing_seed);
    let signed = check_prekey(
        "bob's signed prekey",
        &listed_prekey!(prekeys.signed_prekey),
        PrekeyKind::Signed,
        &bob_seed,
    );
    let one_time: Vec<_> = prekeys
        .one_time_prekeys
        .iter()
        .map(|p| {
            check_prekey(
                &format!("bob's one-time prekey {}", p.id),
                &listed_prekey!(p),
                PrekeyKind::OneTime,
                &bob_seed,
            )
        })
        .collect();
    let ids: Vec<u32> = [signed.id]
        .into_iter()
        .chain(one_time.iter().map(|p| p.id))
        .collect();
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "prekey ids are distinct"
    );
    for (i, b) in prekeys.bundles.iter().enumerate() {
        let with = b.one_time_prekey_id.map(|id| {
            one_time
                .iter()
                .find(|p| p.id == id)
                .expect("the bundle's one-time prekey is listed")
        });
        let bundle = prekey_bundle(&cards[party("bob")], &signed, with);
        check!(b.bundle, bundle, "bundle {i}");
    }

    check_timeline(v);

    // The timeline, in order: each channel's start when it is created (from the bundle the
    // event names), then which chain each message is on, what each call draws and how each
    // sender pads, and every byte of every message from its chain's keys.
    let mut starts: Vec<Start> = Vec::new();
    let mut views: Vec<ChannelView> = Vec::new();
    let mut padding: Vec<[Pad; 2]> = Vec::new();
    for (step, event) in v.timeline.iter().enumerate() {
        let what = format!("step {step}");
        let sender = party(&event.party);
        match event.action {
            Action::Create => {
                assert_eq!(event.channel, starts.len(), "{what}: channels in order");
                let c = &v.channels[event.channel];
                assert_eq!(c.index, event.channel, "{what}: channel index");
                let bundle = &prekeys.bundles[event.bundle.expect("a bundle")];
                let one_time_prekey = bundle.one_time_prekey_id.map(|id| {
                    prekeys
                        .one_time_prekeys
                        .iter()
                        .find(|p| p.id == id)
                        .expect("a listed one-time prekey")
                });
                assert_eq!(
                    event.draws,
                    [c.ephemeral_secret.as_str(), &c.kem_randomness],
                    "{what}: create draws EK_A, then the ML-KEM randomness m"
                );
                let start = check_start(
                    &format!("channel {}", c.index),
                    c,
                    &StartInputs {
                        initiator: &v.identities[sender],
                        responder: &v.identities[party(&c.responder)],
                        initiator_card: &cards[sender],
                        signed_prekey: &listed_prekey!(prekeys.signed_prekey),
                        one_time_prekey: one_time_prekey.map(|p| listed_prekey!(p)).as_ref(),
                    },
                );
                let mut view = ChannelView::new(
                    sender,
                    start.associated_data.clone(),
                    start.prekey_info.clone(),
                    c.chains.len(),
                );
                view.create();
                views.push(view);
                starts.push(start);
                padding.push([Pad::Padme; 2]);
            }
            Action::Send => {
                let m = &v.messages[event.message.expect("a message")];
                let view = &mut views[event.channel];
                let prekey = view.prekey(sender);
                let position = view.send(sender);
                assert_eq!(m.chain, position.chain, "message {}: chain", m.index);
                let chain = &v.channels[event.channel].chains[position.chain];
                let mut draws = Vec::new();
                if position.starts_chain {
                    draws.push(chain.ratchet_secret.as_str());
                }
                draws.push(&m.salt);
                assert_eq!(
                    event.draws, draws,
                    "{what}: a send draws a new chain's ratchet key, then the salt"
                );
                let c = &v.channels[event.channel];
                let side = usize::from(sender != party(&c.initiator));
                let receiver = [&c.initiator, &c.responder][1 - side];
                assert_eq!(&m.receiver, receiver, "message {}: receiver", m.index);
                check_message(
                    m,
                    chain,
                    &Expected {
                        position: &position,
                        content_type: CONTENT_APPLICATION,
                        prekey: prekey.as_ref(),
                        padding: padding[event.channel][side],
                    },
                    &view.associated_data,
                );
            }
            Action::Join | Action::Receive => {
                let m = &v.messages[event.message.expect("a message")];
                let view = &mut views[event.channel];
                assert_eq!(
                    event.action == Action::Join,
                    view.joins(sender),
                    "{what}: bob joins from his first message of a channel"
                );
                view.receive(sender, m.chain);
            }
            Action::SetPadding => {
                let side = usize::from(sender != party(&v.channels[event.channel].initiator));
                padding[event.channel][side] = match event.padding.expect("a padding") {
                    PaddingName::Padme => Pad::Padme,
                    PaddingName::Minimal => Pad::Minimal,
                };
            }
        }
    }
    assert_eq!(starts.len(), v.channels.len(), "every channel is created");

    let store = Store::new(v);
    for (index, rejected) in v.rejected.iter().enumerate() {
        assert_eq!(
            rejected.index, index,
            "rejected inputs are numbered in order"
        );
        check_rejected(v, rejected, &starts, &store);
    }
    assert_rejected_kinds(
        v.rejected.iter().map(|r| r.expected_error.as_str()),
        &[
            "AuthenticationFailed",
            "BadPadding",
            "BadSignature",
            "Duplicate",
            "Decode",
            "UnsupportedVersion",
            "PrekeyInfoMismatch",
            "InvalidPublicKey",
            "InvalidLength",
            "TooFarAhead",
            "UnknownOneTimePrekey",
            "UnknownSignedPrekey",
            "NotAPrekeyMessage",
            "ReplayedFirstMessage",
        ],
    );
    check_coverage(v, &padding);
}

/// The timeline: each channel created once, before anything is sent on it; each message
/// sent once, in the order listed, then delivered once to the other side.
fn check_timeline(v: &Vectors) {
    let count = v.messages.len();
    let mut created = BTreeSet::new();
    let mut sent = vec![None; count];
    let mut delivered = vec![None; count];
    for (step, event) in v.timeline.iter().enumerate() {
        assert_eq!(event.step, step, "timeline step numbers");
        if event.action == Action::Create {
            assert!(created.insert(event.channel), "step {step}: created once");
            continue;
        }
        assert!(
            created.contains(&event.channel),
            "step {step}: the channel exists"
        );
        let Some(index) = event.message else {
            assert_eq!(event.action, Action::SetPadding, "step {step}: a message");
            continue;
        };
        let message = &v.messages[index];
        assert_eq!(message.index, index, "messages[{index}].index");
        assert_eq!(message.channel, event.channel, "step {step}: channel");
        match event.action {
            Action::Send => {
                assert_eq!(event.party, message.sender, "step {step}: sender");
                let previous = sent.iter().flatten().count();
                assert_eq!(index, previous, "messages are listed in sending order");
                assert!(sent[index].replace(step).is_none(), "sent twice");
            }
            _ => {
                assert_eq!(event.party, message.receiver, "step {step}: receiver");
                assert!(sent[index].is_some(), "step {step}: delivered before sent");
                assert!(delivered[index].replace(step).is_none(), "delivered twice");
            }
        }
    }
    assert!(
        sent.iter().chain(&delivered).all(Option::is_some),
        "every message sent and delivered"
    );
    let out_of_order = v.messages.iter().any(|late| {
        v.messages.iter().any(|early| {
            (early.channel, &early.sender) == (late.channel, &late.sender)
                && sent[early.index] > sent[late.index]
                && delivered[early.index] < delivered[late.index]
        })
    });
    assert!(
        out_of_order,
        "at least one message delivered after a later one"
    );
}

/// What the file claims to cover.
fn check_coverage(v: &Vectors, padding: &[[Pad; 2]]) {
    assert!(v.messages.len() >= 10, "at least 10 messages");
    let one_time: Vec<bool> = v
        .channels
        .iter()
        .map(|c| c.one_time_prekey_id.is_some())
        .collect();
    assert!(
        one_time.contains(&true) && one_time.contains(&false),
        "a channel with a one-time prekey, and one without"
    );
    assert!(
        v.channels.iter().any(|c| c.chains.len() >= 6),
        "a channel with five DH ratchet steps after the start"
    );
    for c in &v.channels {
        assert!(c.chains.len() >= 2, "channel {}: a reply", c.index);
        for party in [&c.initiator, &c.responder] {
            assert!(
                v.messages
                    .iter()
                    .any(|m| m.channel == c.index && &m.sender == party),
                "channel {}: {party} sends",
                c.index
            );
        }
    }
    assert!(
        padding.iter().flatten().any(|pad| *pad == Pad::Minimal),
        "a side pads minimally"
    );
    assert!(
        v.messages.iter().any(|m| m.plaintext.is_empty()),
        "an empty plaintext"
    );
    assert!(
        v.messages
            .iter()
            .any(|m| m.chain == 0 && m.message_number > 0 && {
                let joined = v
                    .timeline
                    .iter()
                    .find(|e| e.action == Action::Join && e.channel == m.channel);
                joined.and_then(|e| e.message) == Some(m.index)
            }),
        "a join from a first-chain message other than the first"
    );
}

/// Recomputes one message from its chain at its expected position.
fn check_message(m: &MessageVector, chain: &ChainVector, expected: &Expected, ad: &[u8]) {
    let what = format!("message {}", m.index);
    assert_eq!(
        m.ratchet_secret, chain.ratchet_secret,
        "{what}: ratchet_secret"
    );
    assert_eq!(m.root_key, chain.root_key, "{what}: root_key");
    let ratchet_public = x25519_public(&array(&m.ratchet_secret));
    check!(m.ratchet_public, ratchet_public, "{what}: ratchet_public");
    assert_eq!(
        m.plaintext_utf8.as_bytes(),
        bytes(&m.plaintext),
        "{what}: plaintext_utf8"
    );
    check_channel_message(&what, &listed_channel_message!(m), chain, expected, ad);
}
