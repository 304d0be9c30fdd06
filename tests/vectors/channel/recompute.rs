//! `primitives_recompute_every_byte` of `channel-v1.json`: every public key, signature, card,
//! bundle, DH output, key, nonce, header, ciphertext and message, recomputed from the listed
//! private keys on the primitives alone (no ratchetkit), with which chain each message is
//! on derived from the timeline.

use std::collections::BTreeSet;

use prost::Message;

use super::format::{Action, MessageVector, Vectors};
use super::rejected::check_rejected;
use crate::vectors::channel_view::{ChannelView, Position};
use crate::vectors::json::{array, bytes, ChainVector};
use crate::vectors::primitives::{
    ed25519_public, x25519_public, x3dh_shared_secret, X3dhSecrets, CARD_CONTEXT,
    CONTENT_APPLICATION, MESSAGE_INFO, ROOT_INFO, SELF_SIGNER, SIGNED_PREKEY_CONTEXT, X3DH_INFO,
};
use crate::vectors::proto;
use crate::vectors::recompute::{
    assert_rejected_kinds, check, check_chains, check_channel_message, check_identity,
    check_signed_prekey, listed_channel_message, prekey_bundle, ListedSignedPrekey,
};

pub fn primitives_recompute_every_byte(v: &Vectors) {
    // The protocol's constants.
    assert_eq!(v.protocol.version, 1);
    assert_eq!(v.protocol.card_signature_context.as_bytes(), CARD_CONTEXT);
    assert_eq!(
        v.protocol.signed_prekey_signature_context.as_bytes(),
        SIGNED_PREKEY_CONTEXT
    );
    assert_eq!(v.protocol.self_signer, SELF_SIGNER);
    assert_eq!(v.protocol.x3dh_info.as_bytes(), X3DH_INFO);
    assert_eq!(v.protocol.root_info.as_bytes(), ROOT_INFO);
    assert_eq!(v.protocol.message_info.as_bytes(), MESSAGE_INFO);

    // Identities and cards.
    let [alice, bob] = v.identities.as_slice() else {
        panic!("two identities")
    };
    assert_eq!((alice.name.as_str(), bob.name.as_str()), ("alice", "bob"));
    let alice_card = check_identity(alice);
    let bob_card = check_identity(bob);

    // Bob's prekeys and bundle.
    let prekeys = &v.prekeys;
    assert_eq!(prekeys.owner, "bob");
    let spk = &prekeys.signed_prekey;
    let listed = ListedSignedPrekey {
        id: spk.id,
        secret: &spk.secret,
        public: &spk.public,
        signature_input: &spk.signature_input,
        signature: &spk.signature,
    };
    let (spk_public, spk_signature) =
        check_signed_prekey("bob", &listed, &array(&bob.signing_seed));
    let mut ids = vec![spk.id];
    for one_time in &prekeys.one_time_prekeys {
        let public = x25519_public(&array(&one_time.secret));
        check!(one_time.public, public, "one-time prekey {}", one_time.id);
        ids.push(one_time.id);
    }
    let distinct: BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "prekey ids are distinct");
    let otpk = prekeys
        .one_time_prekeys
        .iter()
        .find(|one_time| one_time.id == prekeys.bundle_one_time_prekey_id)
        .expect("the bundle's one-time prekey is listed");
    let otpk_secret = array::<32>(&otpk.secret);
    let bundle = prekey_bundle(
        &bob_card,
        (spk.id, spk_public, spk_signature),
        Some((otpk.id, x25519_public(&otpk_secret))),
    );
    check!(prekeys.bundle, bundle, "bundle");

    // X3DH, computed by both sides.
    let x = &v.x3dh;
    assert_eq!(
        (x.initiator.as_str(), x.responder.as_str()),
        ("alice", "bob")
    );
    assert_eq!(
        (x.signed_prekey_id, x.one_time_prekey_id),
        (spk.id, otpk.id)
    );
    let ek_secret = array::<32>(&x.ephemeral_secret);
    let ek_public = x25519_public(&ek_secret);
    check!(x.ephemeral_public, ek_public, "ephemeral_public");
    let spk_secret = array::<32>(&spk.secret);
    let dh = X3dhSecrets {
        initiator_identity: array(&alice.agreement_secret),
        ephemeral: ek_secret,
        responder_identity: array(&bob.agreement_secret),
        signed_prekey: spk_secret,
        one_time_prekey: Some(otpk_secret),
    }
    .dh_outputs();
    for (i, (listed, computed)) in [&x.dh1, &x.dh2, &x.dh3, &x.dh4].iter().zip(&dh).enumerate() {
        check!(listed, computed, "dh{}", i + 1);
    }
    let (ikm, shared_secret) = x3dh_shared_secret(&dh);
    check!(x.ikm, ikm, "ikm");
    check!(x.shared_secret, shared_secret, "shared_secret");
    let ad = [
        ed25519_public(&array(&alice.signing_seed)),
        array(&alice.agreement_public),
        ed25519_public(&array(&bob.signing_seed)),
        array(&bob.agreement_public),
    ]
    .concat();
    check!(x.associated_data, ad, "associated_data");
    let prekey_info = proto::PrekeyInfo {
        initiator_card: alice_card,
        ephemeral_key: ek_public.to_vec(),
        signed_prekey_id: spk.id,
        one_time_prekey_id: Some(otpk.id),
    };
    check!(x.prekey_info, prekey_info.encode_to_vec(), "prekey_info");

    // The sending chains.
    assert!(
        v.chains.len() >= 4,
        "at least three DH ratchet steps after the first"
    );
    check_chains(
        "channel",
        &v.chains,
        ["alice", "bob"],
        shared_secret,
        spk_secret,
    );

    check_timeline(v);

    // The messages, in the order they were sent: which chain each is on follows from the
    // timeline (a side that has received a chain newer than its own starts the next one),
    // and every byte from the chain's keys. Bob joins from the first message he receives.
    let mut view = ChannelView::new(0, ad, prekey_info.clone(), v.chains.len());
    view.create();
    for (step, event) in v.timeline.iter().enumerate() {
        let message = &v.messages[event.message];
        let party = usize::from(event.party == "bob");
        if event.action != Action::Send {
            assert_eq!(
                event.action == Action::Join,
                view.joins(party),
                "step {step}: bob joins from his first message"
            );
            view.receive(party, message.chain);
            continue;
        }
        let prekey = view.prekey(party);
        let position = view.send(party);
        assert_eq!(
            message.chain, position.chain,
            "message {}: chain",
            message.index
        );
        check_message(
            message,
            &v.chains[position.chain],
            &position,
            &view.associated_data,
            prekey.as_ref(),
        );
    }

    for (index, rejected) in v.rejected.iter().enumerate() {
        assert_eq!(
            rejected.index, index,
            "rejected inputs are numbered in order"
        );
        check_rejected(v, rejected, &view.associated_data, &prekey_info);
    }
    assert_rejected_kinds(
        v.rejected.iter().map(|r| r.expected_error.as_str()),
        &[
            "AuthenticationFailed",
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
        ],
    );
}

/// The timeline: each message sent once, in the order listed, then delivered once to the
/// other side; both sides send, and a message is delivered after a later one of its sender.
fn check_timeline(v: &Vectors) {
    let count = v.messages.len();
    assert!(count >= 10, "at least 10 messages");
    let mut sent = vec![None; count];
    let mut delivered = vec![None; count];
    for (step, event) in v.timeline.iter().enumerate() {
        assert_eq!(event.step, step, "timeline step numbers");
        let message = &v.messages[event.message];
        assert_eq!(
            message.index, event.message,
            "messages[{}].index",
            event.message
        );
        match event.action {
            Action::Send => {
                assert_eq!(event.party, message.sender, "step {step}: sender");
                let previous = sent.iter().flatten().count();
                assert_eq!(
                    event.message, previous,
                    "messages are listed in sending order"
                );
                assert!(sent[event.message].replace(step).is_none(), "sent twice");
            }
            Action::Join | Action::Receive => {
                assert_eq!(event.party, message.receiver, "step {step}: receiver");
                assert!(
                    sent[event.message].is_some(),
                    "step {step}: delivered before sent"
                );
                assert!(
                    delivered[event.message].replace(step).is_none(),
                    "delivered twice"
                );
            }
        }
    }
    assert!(
        sent.iter().chain(&delivered).all(Option::is_some),
        "every message sent and delivered"
    );
    let out_of_order = v.messages.iter().any(|late| {
        v.messages.iter().any(|early| {
            early.sender == late.sender
                && sent[early.index] > sent[late.index]
                && delivered[early.index] < delivered[late.index]
        })
    });
    assert!(
        out_of_order,
        "at least one message delivered after a later one"
    );
    for party in ["alice", "bob"] {
        assert!(
            v.messages.iter().any(|m| m.sender == party),
            "{party} sends"
        );
    }
}

/// Recomputes one message from its chain at `position`, `prekey` attached.
fn check_message(
    m: &MessageVector,
    chain: &ChainVector,
    position: &Position,
    ad: &[u8],
    prekey: Option<&proto::PrekeyInfo>,
) {
    let what = format!("message {}", m.index);
    let receiver = if m.sender == "alice" { "bob" } else { "alice" };
    assert_eq!(m.receiver, receiver, "{what}: receiver");
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
    check_channel_message(
        &what,
        &listed_channel_message!(m),
        chain,
        position,
        CONTENT_APPLICATION,
        ad,
        prekey,
    );
}
