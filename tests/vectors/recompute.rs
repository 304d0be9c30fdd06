//! What the two recompute tests share, on the primitives and the hand-declared messages only
//! (no ratchetkit): the [`check!`] of a listed field, the recomputation of identities, signed
//! prekeys and bundles, a channel's sending chains, the keys of a message and a whole channel
//! message, and the check that the rejected inputs give every error they should. Which chain
//! each channel message goes on is the
//! [`ChannelView`](crate::vectors::channel_view::ChannelView)'s.

use std::collections::BTreeSet;

use prost::Message;

use crate::vectors::channel_view::Position;
use crate::vectors::json::{array, bytes, ChainVector, IdentityVector};
use crate::vectors::primitives::{
    aes_gcm_open, aes_gcm_seal, chain_key_at, ed25519_public, ed25519_sign, kdf_ck, kdf_rk,
    message_aead, sha256, signed_prekey_input, x25519, x25519_public, CARD_CONTEXT, MESSAGE_INFO,
    SELF_SIGNER,
};
use crate::vectors::proto;

/// Asserts that a hex field of the file equals computed bytes, comparing hex strings so that
/// a failure prints both readably (and so that uppercase hex in the file would fail too).
macro_rules! check {
    ($listed:expr, $computed:expr, $($what:tt)+) => {
        assert_eq!(
            AsRef::<str>::as_ref(&$listed),
            hex::encode(&$computed).as_str(),
            $($what)+
        )
    };
}
pub(crate) use check;

/// Recomputes one identity; returns its card bytes.
pub fn check_identity(identity: &IdentityVector) -> Vec<u8> {
    let name = &identity.name;
    let seed = array::<32>(&identity.signing_seed);
    let signing_public = ed25519_public(&seed);
    let agreement_public = x25519_public(&array(&identity.agreement_secret));
    check!(
        identity.signing_public,
        signing_public,
        "{name}: signing_public"
    );
    check!(
        identity.agreement_public,
        agreement_public,
        "{name}: agreement_public"
    );
    let content = proto::CardContent {
        identity: identity.name.clone(),
        signing_key: signing_public.to_vec(),
        agreement_key: agreement_public.to_vec(),
        created_at: identity.created_at,
        previous_fingerprint: Vec::new(),
    }
    .encode_to_vec();
    check!(identity.card_content, content, "{name}: card_content");
    let input = [CARD_CONTEXT, &content].concat();
    check!(
        identity.card_signature_input,
        input,
        "{name}: card_signature_input"
    );
    let signature = ed25519_sign(&seed, &input);
    check!(identity.card_signature, signature, "{name}: card_signature");
    let card = proto::SignedCard {
        content: content.clone(),
        signatures: vec![proto::CardSignature {
            signer: SELF_SIGNER.into(),
            signature: signature.to_vec(),
        }],
    }
    .encode_to_vec();
    check!(identity.card, card, "{name}: card");
    check!(
        identity.fingerprint,
        sha256(&content),
        "{name}: fingerprint"
    );
    card
}

/// A signed prekey as a file lists it.
pub struct ListedSignedPrekey<'a> {
    pub id: u32,
    pub secret: &'a str,
    pub public: &'a str,
    pub signature_input: &'a str,
    pub signature: &'a str,
}

/// Recomputes a signed prekey of the identity with the Ed25519 seed `signing_seed`; returns
/// its public key and signature.
pub fn check_signed_prekey(
    what: &str,
    listed: &ListedSignedPrekey,
    signing_seed: &[u8; 32],
) -> ([u8; 32], [u8; 64]) {
    let public = x25519_public(&array(listed.secret));
    check!(listed.public, public, "{what}: signed prekey public");
    let input = signed_prekey_input(listed.id, &public);
    check!(
        listed.signature_input,
        input,
        "{what}: signed prekey signature_input"
    );
    let signature = ed25519_sign(signing_seed, &input);
    check!(
        listed.signature,
        signature,
        "{what}: signed prekey signature"
    );
    (public, signature)
}

/// A `PrekeyBundle`, with its one-time prekey (id, public key) if any.
pub fn prekey_bundle(
    card: &[u8],
    signed_prekey: (u32, [u8; 32], [u8; 64]),
    one_time_prekey: Option<(u32, [u8; 32])>,
) -> Vec<u8> {
    let (id, public, signature) = signed_prekey;
    proto::PrekeyBundle {
        card: card.to_vec(),
        signed_prekey_id: id,
        signed_prekey: public.to_vec(),
        signed_prekey_signature: signature.to_vec(),
        one_time_prekey_id: one_time_prekey.map(|(id, _)| id),
        one_time_prekey: one_time_prekey.map_or_else(Vec::new, |(_, key)| key.to_vec()),
    }
    .encode_to_vec()
}

/// Recomputes a channel's sending chains from SK: one DH ratchet step each, alternating
/// between the sides (`names`: the initiator's, then the responder's), each agreeing with
/// the ratchet key of the chain before (the first with the responder's signed prekey, its
/// first ratchet key pair) and stepping the root key on.
pub fn check_chains(
    what: &str,
    chains: &[ChainVector],
    names: [&str; 2],
    shared_secret: [u8; 32],
    signed_prekey_secret: [u8; 32],
) {
    let mut root_key = shared_secret;
    let mut peer = (
        names[1],
        signed_prekey_secret,
        x25519_public(&signed_prekey_secret),
    );
    for (i, chain) in chains.iter().enumerate() {
        let what = format!("{what}, chain {i}");
        assert_eq!(chain.index, i, "{what}: index");
        let sender = if peer.0 == names[1] {
            names[0]
        } else {
            names[1]
        };
        assert_eq!(
            chain.sender, sender,
            "{what}: chains alternate, the initiator first"
        );
        let secret = array::<32>(&chain.ratchet_secret);
        let public = x25519_public(&secret);
        check!(chain.ratchet_public, public, "{what}: ratchet_public");
        check!(
            chain.peer_ratchet_public,
            peer.2,
            "{what}: peer_ratchet_public"
        );
        let dh_output = x25519(&secret, &peer.2);
        assert_eq!(
            x25519(&peer.1, &public),
            dh_output,
            "{what}: both sides' DH agree"
        );
        check!(chain.dh_output, dh_output, "{what}: dh_output");
        check!(chain.root_key_before, root_key, "{what}: root_key_before");
        let (next_root, chain_key) = kdf_rk(&root_key, &dh_output);
        check!(chain.root_key, next_root, "{what}: root_key");
        check!(chain.chain_key, chain_key, "{what}: chain_key");
        root_key = next_root;
        peer = (sender, secret, public);
    }
}

/// The keys of a message, as the files list them (channel and group messages alike).
pub struct ListedKeys<'a> {
    pub chain_key: &'a str,
    pub message_key: &'a str,
    pub next_chain_key: &'a str,
    pub aes_key: &'a str,
    pub nonce: &'a str,
}

/// The [`ListedKeys`] of a listed message of either file.
macro_rules! listed_keys {
    ($m:expr) => {
        $crate::vectors::recompute::ListedKeys {
            chain_key: &$m.chain_key,
            message_key: &$m.message_key,
            next_chain_key: &$m.next_chain_key,
            aes_key: &$m.aes_key,
            nonce: &$m.nonce,
        }
    };
}
pub(crate) use listed_keys;

/// Recomputes the keys of the message `steps` KDF_CK steps into the chain that starts at
/// `chain_key`, its AES key and nonce derived with `info`; returns the AES key and nonce.
pub fn check_message_keys(
    what: &str,
    listed: &ListedKeys,
    chain_key: &[u8; 32],
    steps: u32,
    info: &[u8],
) -> ([u8; 32], [u8; 12]) {
    let chain_key = chain_key_at(chain_key, steps);
    check!(listed.chain_key, chain_key, "{what}: chain_key");
    let (message_key, next_chain_key) = kdf_ck(&chain_key);
    check!(listed.message_key, message_key, "{what}: message_key");
    check!(
        listed.next_chain_key,
        next_chain_key,
        "{what}: next_chain_key"
    );
    let (aes_key, nonce) = message_aead(&message_key, info);
    check!(listed.aes_key, aes_key, "{what}: aes_key");
    check!(listed.nonce, nonce, "{what}: nonce");
    (aes_key, nonce)
}

/// The fields of a channel message the two files list alike.
pub struct ListedChannelMessage<'a> {
    pub sender: &'a str,
    pub previous_chain_length: u32,
    pub message_number: u32,
    pub keys: ListedKeys<'a>,
    pub header: &'a str,
    pub prekey_info: Option<&'a str>,
    pub aad: &'a str,
    pub plaintext: &'a str,
    pub ciphertext: &'a str,
    pub message: &'a str,
}

/// The [`ListedChannelMessage`] of a listed channel message of either file.
macro_rules! listed_channel_message {
    ($m:expr) => {
        $crate::vectors::recompute::ListedChannelMessage {
            sender: &$m.sender,
            previous_chain_length: $m.previous_chain_length,
            message_number: $m.message_number,
            keys: $crate::vectors::recompute::listed_keys!($m),
            header: &$m.header,
            prekey_info: $m.prekey_info.as_deref(),
            aad: &$m.aad,
            plaintext: &$m.plaintext,
            ciphertext: &$m.ciphertext,
            message: &$m.message,
        }
    };
}
pub(crate) use listed_channel_message;

/// Recomputes a channel message at `position` on `chain` from the chain's keys, with
/// `content_type`, the channel's `associated_data` and the prekey information it must carry.
pub fn check_channel_message(
    what: &str,
    m: &ListedChannelMessage,
    chain: &ChainVector,
    position: &Position,
    content_type: u32,
    associated_data: &[u8],
    prekey: Option<&proto::PrekeyInfo>,
) {
    let number = position.message_number;
    assert_eq!(m.sender, chain.sender, "{what}: sender");
    assert_eq!(
        m.previous_chain_length, position.previous_chain_length,
        "{what}: previous_chain_length"
    );
    assert_eq!(m.message_number, number, "{what}: message_number");
    let (aes_key, nonce) = check_message_keys(
        what,
        &m.keys,
        &array(&chain.chain_key),
        number,
        MESSAGE_INFO,
    );
    let header = proto::RatchetHeader {
        ratchet_key: x25519_public(&array(&chain.ratchet_secret)).to_vec(),
        previous_chain_length: position.previous_chain_length,
        message_number: number,
        content_type,
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    assert_eq!(
        m.prekey_info.map(bytes),
        prekey.map(Message::encode_to_vec),
        "{what}: prekey_info"
    );
    let aad = [associated_data, &header].concat();
    check!(m.aad, aad, "{what}: aad");
    let plaintext = bytes(m.plaintext);
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, &plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    assert_eq!(
        aes_gcm_open(&aes_key, &nonce, &aad, &ciphertext),
        Some(plaintext)
    );
    let message = proto::ChannelMessage {
        version: 1,
        header,
        ciphertext,
        prekey: prekey.cloned(),
    }
    .encode_to_vec();
    check!(m.message, message, "{what}: message");
}

/// Asserts that the rejected inputs give every error of `kinds`.
pub fn assert_rejected_kinds<'a>(expected_errors: impl Iterator<Item = &'a str>, kinds: &[&str]) {
    let given: BTreeSet<&str> = expected_errors.collect();
    for kind in kinds {
        assert!(given.contains(kind), "a rejected input gives {kind}");
    }
}
