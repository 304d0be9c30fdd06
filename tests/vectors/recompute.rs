//! What the two recompute tests share, on the primitives and the hand-declared messages only
//! (no ratchetkit): the [`check!`] of a listed field, the recomputation of identities,
//! prekeys and bundles, a channel's hybrid start and sending chains, the keys of a message
//! and a whole channel message, and the check that the rejected inputs give every error they
//! should. Which chain each channel message goes on is the
//! [`ChannelView`](crate::vectors::channel_view::ChannelView)'s.

use std::collections::BTreeSet;

use prost::Message;

use crate::vectors::channel_view::Position;
use crate::vectors::json::{array, bytes, ChainVector, ChannelVector, IdentityVector};
use crate::vectors::primitives::{
    aes_gcm_open, aes_gcm_seal, chain_key_at, channel_associated_data, channel_id, ed25519_public,
    ed25519_sign, kdf_ck, kdf_rk, message_associated_data, mlkem_decapsulate, mlkem_encapsulate,
    mlkem_public, one_time_prekey_input, padded, padded_minimally, pqxdh_keys, prekey_info_hash,
    salted_message_aead, sha256, signed_prekey_input, unpadded, x25519, x25519_public,
    StartSecrets, CARD_CONTEXT, KEM_CIPHERTEXT_LEN, MESSAGE_INFO, MESSAGE_SALT_LEN,
    PROTOCOL_VERSION, SELF_SIGNER,
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

/// A prekey as a file lists it: its X25519 and ML-KEM-768 key pairs under one id, and the
/// owner's signature.
pub struct ListedPrekey<'a> {
    pub id: u32,
    pub secret: &'a str,
    pub public: &'a str,
    pub kem_seed: &'a str,
    pub kem_public: &'a str,
    pub signature_input: &'a str,
    pub signature: &'a str,
}

/// The [`ListedPrekey`] of a listed prekey of either file.
macro_rules! listed_prekey {
    ($p:expr) => {
        $crate::vectors::recompute::ListedPrekey {
            id: $p.id,
            secret: &$p.secret,
            public: &$p.public,
            kem_seed: &$p.kem_seed,
            kem_public: &$p.kem_public,
            signature_input: &$p.signature_input,
            signature: &$p.signature,
        }
    };
}
pub(crate) use listed_prekey;

/// A prekey's public part, as a bundle carries it.
pub struct PublicPrekey {
    pub id: u32,
    pub public: [u8; 32],
    pub kem_public: Vec<u8>,
    pub signature: [u8; 64],
}

/// Which of the two signed strings of section 3 a prekey's signature is over.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PrekeyKind {
    Signed,
    #[allow(dead_code)] // The group vectors' bundles have no one-time prekey.
    OneTime,
}

/// Recomputes a prekey of the identity with the Ed25519 seed `signing_seed`: its public
/// keys, and its signature as a signed or a one-time prekey.
pub fn check_prekey(
    what: &str,
    listed: &ListedPrekey,
    kind: PrekeyKind,
    signing_seed: &[u8; 32],
) -> PublicPrekey {
    let public = x25519_public(&array(listed.secret));
    check!(listed.public, public, "{what}: public");
    let kem_public = mlkem_public(&array(listed.kem_seed));
    check!(listed.kem_public, kem_public, "{what}: kem_public");
    let input = match kind {
        PrekeyKind::Signed => signed_prekey_input(listed.id, &public, &kem_public),
        PrekeyKind::OneTime => one_time_prekey_input(listed.id, &public, &kem_public),
    };
    check!(listed.signature_input, input, "{what}: signature_input");
    let signature = ed25519_sign(signing_seed, &input);
    check!(listed.signature, signature, "{what}: signature");
    PublicPrekey {
        id: listed.id,
        public,
        kem_public,
        signature,
    }
}

/// A `PrekeyBundle` of the owner's `card`, with its one-time prekey if any.
pub fn prekey_bundle(
    card: &[u8],
    signed: &PublicPrekey,
    one_time: Option<&PublicPrekey>,
) -> Vec<u8> {
    proto::PrekeyBundle {
        card: card.to_vec(),
        signed_prekey_id: signed.id,
        signed_prekey: signed.public.to_vec(),
        signed_prekey_signature: signed.signature.to_vec(),
        one_time_prekey_id: one_time.map(|p| p.id),
        one_time_prekey: one_time.map_or_else(Vec::new, |p| p.public.to_vec()),
        kem_prekey: signed.kem_public.clone(),
        one_time_kem_prekey: one_time.map_or_else(Vec::new, |p| p.kem_public.clone()),
        one_time_prekey_signature: one_time.map_or_else(Vec::new, |p| p.signature.to_vec()),
    }
    .encode_to_vec()
}

/// What a channel's start is recomputed from: the two identities, the initiator's card, and
/// the responder's prekeys the bundle carried (the signed prekey, and the one-time prekey
/// if any).
pub struct StartInputs<'a> {
    pub initiator: &'a IdentityVector,
    pub responder: &'a IdentityVector,
    pub initiator_card: &'a [u8],
    pub signed_prekey: &'a ListedPrekey<'a>,
    pub one_time_prekey: Option<&'a ListedPrekey<'a>>,
}

/// What a recomputed start gives the rest of the recomputation.
pub struct Start {
    pub associated_data: Vec<u8>,
    pub prekey_info: proto::PrekeyInfo,
}

/// Recomputes a channel's hybrid start (section 4) from both sides, then its chains.
pub fn check_start(what: &str, c: &ChannelVector, inputs: &StartInputs) -> Start {
    let (a, b) = (inputs.initiator, inputs.responder);
    assert_eq!(
        (c.initiator.as_str(), c.responder.as_str()),
        (a.name.as_str(), b.name.as_str()),
        "{what}: initiator and responder"
    );
    assert_eq!(
        c.signed_prekey_id, inputs.signed_prekey.id,
        "{what}: signed prekey"
    );
    assert_eq!(
        c.one_time_prekey_id,
        inputs.one_time_prekey.map(|p| p.id),
        "{what}: one-time prekey"
    );
    let ek_secret = array::<32>(&c.ephemeral_secret);
    let ek_public = x25519_public(&ek_secret);
    check!(c.ephemeral_public, ek_public, "{what}: ephemeral_public");
    let secrets = StartSecrets {
        initiator_identity: array(&a.agreement_secret),
        ephemeral: ek_secret,
        responder_identity: array(&b.agreement_secret),
        signed_prekey: array(inputs.signed_prekey.secret),
        one_time_prekey: inputs.one_time_prekey.map(|p| array(p.secret)),
    };
    let dh = secrets.dh_outputs();
    let listed_dh = [Some(&c.dh1), Some(&c.dh2), Some(&c.dh3), c.dh4.as_ref()];
    assert_eq!(
        listed_dh.iter().flatten().count(),
        dh.len(),
        "{what}: dh4 exactly with a one-time prekey"
    );
    for (i, (listed, computed)) in listed_dh.iter().flatten().zip(&dh).enumerate() {
        check!(listed, computed, "{what}: dh{}", i + 1);
    }

    // The creator encapsulates to the one-time prekey's ML-KEM key if the bundle had one,
    // else to the signed prekey's; the responder decapsulates with that key pair's seed.
    let kem_prekey = inputs.one_time_prekey.unwrap_or(inputs.signed_prekey);
    let (ciphertext, kem_secret) = mlkem_encapsulate(
        &mlkem_public(&array(kem_prekey.kem_seed)),
        &array(&c.kem_randomness),
    );
    check!(c.kem_ciphertext, ciphertext, "{what}: kem_ciphertext");
    assert_eq!(ciphertext.len(), KEM_CIPHERTEXT_LEN);
    check!(c.kem_shared_secret, kem_secret, "{what}: kem_shared_secret");
    assert_eq!(
        mlkem_decapsulate(&array(kem_prekey.kem_seed), &ciphertext),
        kem_secret,
        "{what}: the responder decapsulates the same secret"
    );
    let (ikm, root_key, chain_key) = pqxdh_keys(&dh, &kem_secret);
    assert_eq!(ikm.len(), 32 * (dh.len() + 2), "{what}: ikm length");
    check!(c.ikm, ikm, "{what}: ikm");
    check!(c.root_key, root_key, "{what}: root_key");
    check!(c.chain_key, chain_key, "{what}: chain_key");

    let associated_data = channel_associated_data(
        [&bytes(&a.signing_public), &bytes(&a.agreement_public)],
        [&bytes(&b.signing_public), &bytes(&b.agreement_public)],
    );
    check!(
        c.associated_data,
        associated_data,
        "{what}: associated_data"
    );
    check!(
        c.channel_id,
        channel_id(&associated_data, &ek_public),
        "{what}: channel_id"
    );
    let prekey_info = proto::PrekeyInfo {
        initiator_card: inputs.initiator_card.to_vec(),
        signed_prekey_id: c.signed_prekey_id,
        one_time_prekey_id: c.one_time_prekey_id,
        kem_ciphertext: ciphertext,
    };
    let info = prekey_info.encode_to_vec();
    check!(c.prekey_info, info, "{what}: prekey_info");
    check!(
        c.prekey_info_hash,
        prekey_info_hash(&info),
        "{what}: prekey_info_hash"
    );
    check_chains(
        what,
        &c.chains,
        [&c.initiator, &c.responder],
        (root_key, chain_key),
        ek_secret,
    );
    Start {
        associated_data,
        prekey_info,
    }
}

/// Recomputes a channel's sending chains (`names`: the initiator's, then the responder's).
/// Chain 0 is the initiator's first, straight from the start: ratchet key pair EK_A
/// (`ephemeral_secret`), root key RK and chain key CK, no DH ratchet step. Every later one
/// starts with a DH ratchet step, alternating between the sides, each agreeing with the
/// ratchet key of the chain before (the first reply with EK_A) and stepping the root key on.
pub fn check_chains(
    what: &str,
    chains: &[ChainVector],
    names: [&str; 2],
    (root_key, chain_key): ([u8; 32], [u8; 32]),
    ephemeral_secret: [u8; 32],
) {
    let first = chains
        .first()
        .unwrap_or_else(|| panic!("{what}: a first chain"));
    let ephemeral_public = x25519_public(&ephemeral_secret);
    assert_eq!(first.index, 0, "{what}, chain 0: index");
    assert_eq!(first.sender, names[0], "{what}, chain 0: the initiator's");
    check!(
        first.ratchet_secret,
        ephemeral_secret,
        "{what}, chain 0: its ratchet key is EK_A"
    );
    check!(
        first.ratchet_public,
        ephemeral_public,
        "{what}, chain 0: ratchet_public"
    );
    assert_eq!(
        (
            &first.peer_ratchet_public,
            &first.dh_output,
            &first.root_key_before
        ),
        (&None, &None, &None),
        "{what}, chain 0: no DH ratchet step"
    );
    check!(first.root_key, root_key, "{what}, chain 0: root_key is RK");
    check!(
        first.chain_key,
        chain_key,
        "{what}, chain 0: chain_key is CK"
    );
    let mut root_key = root_key;
    let mut peer = (names[0], ephemeral_secret, ephemeral_public);
    for (i, chain) in chains.iter().enumerate().skip(1) {
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
        let listed = |field: &Option<String>, name: &str| {
            field
                .clone()
                .unwrap_or_else(|| panic!("{what}: {name} of a DH ratchet step"))
        };
        check!(
            listed(&chain.peer_ratchet_public, "peer_ratchet_public"),
            peer.2,
            "{what}: peer_ratchet_public"
        );
        let dh_output = x25519(&secret, &peer.2);
        assert_eq!(
            x25519(&peer.1, &public),
            dh_output,
            "{what}: both sides' DH agree"
        );
        check!(
            listed(&chain.dh_output, "dh_output"),
            dh_output,
            "{what}: dh_output"
        );
        check!(
            listed(&chain.root_key_before, "root_key_before"),
            root_key,
            "{what}: root_key_before"
        );
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

/// Recomputes the keys of the channel message `steps` KDF_CK steps into the chain that
/// starts at `chain_key`, its AES key and nonce derived with its `salt`; returns the AES key
/// and nonce.
pub fn check_message_keys(
    what: &str,
    listed: &ListedKeys,
    chain_key: &[u8; 32],
    steps: u32,
    salt: &[u8; MESSAGE_SALT_LEN],
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
    let (aes_key, nonce) = salted_message_aead(&message_key, salt, MESSAGE_INFO);
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
    pub salt: &'a str,
    pub header: &'a str,
    pub prekey_info: Option<&'a str>,
    pub aad: &'a str,
    pub plaintext: &'a str,
    pub padded_plaintext: &'a str,
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
            salt: &$m.salt,
            header: &$m.header,
            prekey_info: $m.prekey_info.as_deref(),
            aad: &$m.aad,
            plaintext: &$m.plaintext,
            padded_plaintext: &$m.padded_plaintext,
            ciphertext: &$m.ciphertext,
            message: &$m.message,
        }
    };
}
pub(crate) use listed_channel_message;

/// How the sender of a channel message pads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pad {
    /// To `max(32, Padmé(len + 1))` bytes: the default.
    Padme,
    /// The 0x80 marker alone.
    #[allow(dead_code)] // Every group member pads with the default setting.
    Minimal,
}

/// The message a channel message is, as the timeline determines it: where it goes, what it
/// carries, and how its sender pads it.
pub struct Expected<'a> {
    pub position: &'a Position,
    pub content_type: u32,
    pub prekey: Option<&'a proto::PrekeyInfo>,
    pub padding: Pad,
}

/// Recomputes a channel message at its `expected` position on `chain` from the chain's keys
/// and the message's listed salt, with the channel's `associated_data`.
pub fn check_channel_message(
    what: &str,
    m: &ListedChannelMessage,
    chain: &ChainVector,
    expected: &Expected,
    associated_data: &[u8],
) {
    let position = expected.position;
    let number = position.message_number;
    assert_eq!(m.sender, chain.sender, "{what}: sender");
    assert_eq!(
        m.previous_chain_length, position.previous_chain_length,
        "{what}: previous_chain_length"
    );
    assert_eq!(m.message_number, number, "{what}: message_number");
    let salt = array::<MESSAGE_SALT_LEN>(m.salt);
    let (aes_key, nonce) =
        check_message_keys(what, &m.keys, &array(&chain.chain_key), number, &salt);
    let header = proto::RatchetHeader {
        ratchet_key: x25519_public(&array(&chain.ratchet_secret)).to_vec(),
        previous_chain_length: position.previous_chain_length,
        message_number: number,
        content_type: expected.content_type,
        salt: salt.to_vec(),
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    let prekey_info = expected.prekey.map(Message::encode_to_vec);
    assert_eq!(m.prekey_info.map(bytes), prekey_info, "{what}: prekey_info");
    let aad = message_associated_data(associated_data, prekey_info.as_deref(), &header);
    check!(m.aad, aad, "{what}: aad");
    let plaintext = bytes(m.plaintext);
    let padded_plaintext = match expected.padding {
        Pad::Padme => padded(&plaintext),
        Pad::Minimal => padded_minimally(&plaintext),
    };
    check!(
        m.padded_plaintext,
        padded_plaintext,
        "{what}: padded_plaintext"
    );
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, &padded_plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    let opened = aes_gcm_open(&aes_key, &nonce, &aad, &ciphertext).expect("it opens");
    assert_eq!(unpadded(&opened), Some(plaintext), "{what}: it unpads");
    let message = proto::ChannelMessage {
        version: PROTOCOL_VERSION,
        header,
        ciphertext,
        prekey: expected.prekey.cloned(),
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
