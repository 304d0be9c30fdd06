//! Checks `tests/vectors/channel-v1.json` three ways:
//!
//! 1. the committed file is exactly what the generator prints today, so it is reproducible
//!    and up to date (`committed_file_is_a_fresh_generation`);
//! 2. every public key, signature, card, bundle, DH output, key, nonce, header, ciphertext
//!    and message in it is recomputed from the listed private keys with the primitive
//!    crates alone (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2, aes-gcm, and prost with
//!    messages declared here from `proto/ratchetkit.proto`), never through ratchetkit
//!    (`primitives_recompute_every_byte`);
//! 3. ratchetkit, given the listed private keys through a scripted RNG, rebuilds the cards
//!    and the bundle, re-encrypts every message byte for byte and decrypts every message in
//!    the listed delivery order, Bob joining from the first; and it refuses every rejected
//!    input at its point of the timeline with the listed error, leaving the channel (for a
//!    join, the prekey store) byte for byte unchanged
//!    (`ratchetkit_replays_the_conversation`).
//!
//! The independent implementation of 2. also checks, from the protocol document alone, that
//! each rejected input must fail the way it is listed to (`check_rejected`).
//!
//! Regenerate the file after an intentional change with
//! `cargo run --example generate_vectors > tests/vectors/channel-v1.json`.

#[path = "vectors/generate.rs"]
mod generate;

use generate::{Action, IdentityVector, MessageVector, RejectedAction, Vectors};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/channel-v1.json");

fn committed_text() -> String {
    std::fs::read_to_string(PATH).unwrap_or_else(|error| {
        panic!(
            "cannot read {PATH}: {error}; generate it with \
             `cargo run --example generate_vectors > tests/vectors/channel-v1.json`"
        )
    })
}

fn committed() -> Vectors {
    serde_json::from_str(&committed_text()).expect("channel-v1.json parses")
}

/// Lowercase hex to bytes, refusing anything else (the file is lowercase hex throughout).
fn bytes(hex_text: &str) -> Vec<u8> {
    assert_eq!(
        hex_text,
        hex_text.to_ascii_lowercase(),
        "hex in the file is lowercase"
    );
    hex::decode(hex_text).unwrap_or_else(|error| panic!("bad hex {hex_text:?}: {error}"))
}

fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    let value = bytes(hex_text);
    value
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{hex_text} is {} bytes, not {N}", value.len()))
}

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

#[test]
fn committed_file_is_a_fresh_generation() {
    let fresh = generate::to_json();
    let committed = committed_text();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "tests/vectors/channel-v1.json differs from a fresh generation (first at {line}). \
             If the change is intended, regenerate it with \
             `cargo run --example generate_vectors > tests/vectors/channel-v1.json`"
        );
    }
}

/// An independent implementation of the protocol from its specification, on the primitive
/// crates only.
mod independent {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
    use hkdf::Hkdf;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    use x25519_dalek::{PublicKey, StaticSecret};

    pub const CARD_CONTEXT: &[u8] = b"ratchetkit/v1/card";
    pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v1/signed-prekey";
    pub const X3DH_INFO: &[u8] = b"ratchetkit/v1/x3dh";
    pub const ROOT_INFO: &[u8] = b"ratchetkit/v1/root";
    pub const MESSAGE_INFO: &[u8] = b"ratchetkit/v1/message";

    /// The wire messages, declared by hand from `proto/ratchetkit.proto`.
    pub mod proto {
        #[derive(Clone, PartialEq, prost::Message)]
        pub struct CardContent {
            #[prost(string, tag = "1")]
            pub identity: String,
            #[prost(bytes = "vec", tag = "2")]
            pub signing_key: Vec<u8>,
            #[prost(bytes = "vec", tag = "3")]
            pub agreement_key: Vec<u8>,
            #[prost(uint64, tag = "4")]
            pub created_at: u64,
            #[prost(bytes = "vec", tag = "5")]
            pub previous_fingerprint: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct CardSignature {
            #[prost(string, tag = "1")]
            pub signer: String,
            #[prost(bytes = "vec", tag = "2")]
            pub signature: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct SignedCard {
            #[prost(bytes = "vec", tag = "1")]
            pub content: Vec<u8>,
            #[prost(message, repeated, tag = "2")]
            pub signatures: Vec<CardSignature>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct PrekeyBundle {
            #[prost(bytes = "vec", tag = "1")]
            pub card: Vec<u8>,
            #[prost(uint32, tag = "2")]
            pub signed_prekey_id: u32,
            #[prost(bytes = "vec", tag = "3")]
            pub signed_prekey: Vec<u8>,
            #[prost(bytes = "vec", tag = "4")]
            pub signed_prekey_signature: Vec<u8>,
            #[prost(uint32, optional, tag = "5")]
            pub one_time_prekey_id: Option<u32>,
            #[prost(bytes = "vec", tag = "6")]
            pub one_time_prekey: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct RatchetHeader {
            #[prost(bytes = "vec", tag = "1")]
            pub ratchet_key: Vec<u8>,
            #[prost(uint32, tag = "2")]
            pub previous_chain_length: u32,
            #[prost(uint32, tag = "3")]
            pub message_number: u32,
            #[prost(uint32, tag = "4")]
            pub content_type: u32,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct PrekeyInfo {
            #[prost(bytes = "vec", tag = "1")]
            pub initiator_card: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub ephemeral_key: Vec<u8>,
            #[prost(uint32, tag = "3")]
            pub signed_prekey_id: u32,
            #[prost(uint32, optional, tag = "4")]
            pub one_time_prekey_id: Option<u32>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct ChannelMessage {
            #[prost(uint32, tag = "1")]
            pub version: u32,
            #[prost(bytes = "vec", tag = "2")]
            pub header: Vec<u8>,
            #[prost(bytes = "vec", tag = "3")]
            pub ciphertext: Vec<u8>,
            #[prost(message, optional, tag = "4")]
            pub prekey: Option<PrekeyInfo>,
        }
    }

    pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(seed).verifying_key().to_bytes()
    }

    /// Signs `message` and checks the signature with the public key, strictly.
    pub fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
        let key = SigningKey::from_bytes(seed);
        let signature = key.sign(message);
        let public = VerifyingKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
        public.verify(message, &signature).unwrap();
        public.verify_strict(message, &signature).unwrap();
        signature.to_bytes()
    }

    pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
        PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
    }

    /// X25519, refusing the all-zero output of a low-order point.
    pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
        let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*public));
        assert!(shared.was_contributory(), "non-contributory DH");
        shared.to_bytes()
    }

    pub fn sha256(data: &[u8]) -> [u8; 32] {
        Sha256::digest(data).into()
    }

    pub fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
        let mut okm = vec![0u8; len];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .unwrap();
        okm
    }

    pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// KDF_RK: HKDF-SHA256(salt = rk, ikm = dh, info = root info), 64 bytes.
    pub fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        let okm = hkdf(root_key, dh, ROOT_INFO, 64);
        (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
    }

    /// KDF_CK: (message key, next chain key).
    pub fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
        (
            hmac_sha256(chain_key, &[0x01]),
            hmac_sha256(chain_key, &[0x02]),
        )
    }

    /// The AES-256-GCM key and nonce of a message key.
    pub fn message_aead(message_key: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
        let okm = hkdf(&[0; 32], message_key, MESSAGE_INFO, 44);
        (okm[..32].try_into().unwrap(), okm[32..].try_into().unwrap())
    }

    pub fn aes_gcm_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        Aes256Gcm::new(&(*key).into())
            .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
            .unwrap()
    }

    pub fn aes_gcm_open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
        Aes256Gcm::new(&(*key).into())
            .decrypt(&Nonce::from(*nonce), Payload { msg, aad })
            .unwrap()
    }
}

/// Recomputes one identity; returns its card bytes.
fn check_identity(identity: &IdentityVector) -> Vec<u8> {
    use independent::proto;
    use independent::*;
    use prost::Message;

    let name = &identity.name;
    let seed = array::<32>(&identity.signing_seed);
    let agreement_secret = array::<32>(&identity.agreement_secret);
    let signing_public = ed25519_public(&seed);
    let agreement_public = x25519_public(&agreement_secret);
    check!(
        &identity.signing_public,
        signing_public,
        "{name}: signing_public"
    );
    check!(
        &identity.agreement_public,
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
    check!(&identity.card_content, content, "{name}: card_content");
    let input = [CARD_CONTEXT, &content].concat();
    check!(
        &identity.card_signature_input,
        input,
        "{name}: card_signature_input"
    );
    let signature = ed25519_sign(&seed, &input);
    check!(
        &identity.card_signature,
        signature,
        "{name}: card_signature"
    );
    let card = proto::SignedCard {
        content: content.clone(),
        signatures: vec![proto::CardSignature {
            signer: "self".into(),
            signature: signature.to_vec(),
        }],
    }
    .encode_to_vec();
    check!(&identity.card, card, "{name}: card");
    check!(
        &identity.fingerprint,
        sha256(&content),
        "{name}: fingerprint"
    );
    card
}

#[test]
fn primitives_recompute_every_byte() {
    use independent::proto;
    use independent::*;
    use prost::Message;

    let v = committed();

    // The protocol's constants.
    assert_eq!(v.protocol.version, 1);
    assert_eq!(v.protocol.card_signature_context.as_bytes(), CARD_CONTEXT);
    assert_eq!(
        v.protocol.signed_prekey_signature_context.as_bytes(),
        SIGNED_PREKEY_CONTEXT
    );
    assert_eq!(v.protocol.self_signer, "self");
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
    let alice_seed = array::<32>(&alice.signing_seed);
    let bob_seed = array::<32>(&bob.signing_seed);
    let alice_agreement = array::<32>(&alice.agreement_secret);
    let bob_agreement = array::<32>(&bob.agreement_secret);

    // Bob's prekeys and bundle.
    let prekeys = &v.prekeys;
    assert_eq!(prekeys.owner, "bob");
    let spk = &prekeys.signed_prekey;
    let spk_secret = array::<32>(&spk.secret);
    let spk_public = x25519_public(&spk_secret);
    check!(&spk.public, spk_public, "signed prekey public");
    let spk_input = [SIGNED_PREKEY_CONTEXT, &spk.id.to_be_bytes(), &spk_public].concat();
    check!(
        &spk.signature_input,
        spk_input,
        "signed prekey signature_input"
    );
    let spk_signature = ed25519_sign(&bob_seed, &spk_input);
    check!(&spk.signature, spk_signature, "signed prekey signature");
    let mut ids = vec![spk.id];
    for one_time in &prekeys.one_time_prekeys {
        let public = x25519_public(&array(&one_time.secret));
        check!(&one_time.public, public, "one-time prekey {}", one_time.id);
        ids.push(one_time.id);
    }
    let distinct: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "prekey ids are distinct");
    let otpk = prekeys
        .one_time_prekeys
        .iter()
        .find(|one_time| one_time.id == prekeys.bundle_one_time_prekey_id)
        .expect("the bundle's one-time prekey is listed");
    let otpk_secret = array::<32>(&otpk.secret);
    let otpk_public = x25519_public(&otpk_secret);
    let bundle = proto::PrekeyBundle {
        card: bob_card.clone(),
        signed_prekey_id: spk.id,
        signed_prekey: spk_public.to_vec(),
        signed_prekey_signature: spk_signature.to_vec(),
        one_time_prekey_id: Some(otpk.id),
        one_time_prekey: otpk_public.to_vec(),
    }
    .encode_to_vec();
    check!(&prekeys.bundle, bundle, "bundle");

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
    check!(&x.ephemeral_public, ek_public, "ephemeral_public");
    let alice_public = array::<32>(&alice.agreement_public);
    let bob_public = array::<32>(&bob.agreement_public);
    let dh = [
        x25519(&alice_agreement, &spk_public),
        x25519(&ek_secret, &bob_public),
        x25519(&ek_secret, &spk_public),
        x25519(&ek_secret, &otpk_public),
    ];
    let responder_dh = [
        x25519(&spk_secret, &alice_public),
        x25519(&bob_agreement, &ek_public),
        x25519(&spk_secret, &ek_public),
        x25519(&otpk_secret, &ek_public),
    ];
    assert_eq!(dh, responder_dh, "both sides of X3DH agree");
    for (i, (listed, computed)) in [&x.dh1, &x.dh2, &x.dh3, &x.dh4].iter().zip(&dh).enumerate() {
        check!(listed, computed, "dh{}", i + 1);
    }
    let ikm = [[0xff; 32], dh[0], dh[1], dh[2], dh[3]].concat();
    check!(&x.ikm, ikm, "ikm");
    let shared_secret: [u8; 32] = hkdf(&[0; 32], &ikm, X3DH_INFO, 32).try_into().unwrap();
    check!(&x.shared_secret, shared_secret, "shared_secret");
    let ad = [
        ed25519_public(&alice_seed),
        alice_public,
        ed25519_public(&bob_seed),
        bob_public,
    ]
    .concat();
    check!(&x.associated_data, ad, "associated_data");
    let prekey_info = proto::PrekeyInfo {
        initiator_card: alice_card,
        ephemeral_key: ek_public.to_vec(),
        signed_prekey_id: spk.id,
        one_time_prekey_id: Some(otpk.id),
    };
    check!(&x.prekey_info, prekey_info.encode_to_vec(), "prekey_info");

    // The sending chains: one DH ratchet step each, alternating between the sides, each
    // agreeing with the ratchet key of the chain before (for the first, Bob's signed
    // prekey, his first ratchet key pair) and stepping the root key on.
    assert!(
        v.chains.len() >= 4,
        "at least three DH ratchet steps after the first"
    );
    let mut root_key = shared_secret;
    let mut peer = ("bob", spk_secret, spk_public);
    for (i, chain) in v.chains.iter().enumerate() {
        let what = format!("chain {i}");
        assert_eq!(chain.index, i, "{what}: index");
        let sender = if peer.0 == "bob" { "alice" } else { "bob" };
        assert_eq!(
            chain.sender, sender,
            "{what}: chains alternate, starting with alice"
        );
        let secret = array::<32>(&chain.ratchet_secret);
        let public = x25519_public(&secret);
        check!(&chain.ratchet_public, public, "{what}: ratchet_public");
        check!(
            &chain.peer_ratchet_public,
            peer.2,
            "{what}: peer_ratchet_public"
        );
        let dh_output = x25519(&secret, &peer.2);
        assert_eq!(
            x25519(&peer.1, &public),
            dh_output,
            "{what}: both sides' DH agree"
        );
        check!(&chain.dh_output, dh_output, "{what}: dh_output");
        check!(&chain.root_key_before, root_key, "{what}: root_key_before");
        let (next_root, chain_key) = kdf_rk(&root_key, &dh_output);
        check!(&chain.root_key, next_root, "{what}: root_key");
        check!(&chain.chain_key, chain_key, "{what}: chain_key");
        root_key = next_root;
        peer = (sender, secret, public);
    }

    // The timeline: each message sent once, then delivered once to the other side.
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
                let first_for_bob = event.party == "bob"
                    && !v.timeline[..step].iter().any(|e| e.action == Action::Join);
                assert_eq!(
                    event.action == Action::Join,
                    first_for_bob,
                    "step {step}: join"
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

    // The messages, in the order they were sent: which chain each is on follows from the
    // timeline (a side that has received a chain newer than its own starts the next one),
    // and every byte from the chain's keys.
    let mut current: [Option<usize>; 2] = [Some(0), None]; // Alice's first chain: create.
    let mut latest_received: [Option<usize>; 2] = [None, None];
    let mut sent_on_chain = vec![0u32; v.chains.len()];
    let mut chain_pn = vec![None; v.chains.len()];
    chain_pn[0] = Some(0);
    let mut alice_has_decrypted = false;
    for event in &v.timeline {
        let message = &v.messages[event.message];
        let side = usize::from(event.party == "bob");
        if event.action != Action::Send {
            latest_received[side] = latest_received[side].max(Some(message.chain));
            alice_has_decrypted |= event.party == "alice";
            continue;
        }
        let chain = match (current[side], latest_received[side]) {
            (Some(chain), received) if received.is_none_or(|r| r < chain) => chain,
            (previous, Some(received)) => {
                // A DH ratchet step: PN is the length of the side's previous chain.
                let chain = received + 1;
                current[side] = Some(chain);
                chain_pn[chain] = Some(previous.map_or(0, |p| sent_on_chain[p]));
                chain
            }
            (_, None) => panic!("{} sends before any ratchet key is known", event.party),
        };
        assert_eq!(message.chain, chain, "message {}: chain", message.index);
        assert_eq!(
            Some(message.previous_chain_length),
            chain_pn[chain],
            "message {}: previous_chain_length",
            message.index
        );
        let number = sent_on_chain[chain];
        sent_on_chain[chain] += 1;
        let expect_prekey = message.sender == "alice" && !alice_has_decrypted;
        check_message(
            message,
            &v.chains[chain],
            number,
            &ad,
            expect_prekey.then_some(&prekey_info),
        );
    }

    for (index, rejected) in v.rejected.iter().enumerate() {
        assert_eq!(
            rejected.index, index,
            "rejected inputs are numbered in order"
        );
        check_rejected(&v, rejected, &ad, &prekey_info);
    }
    let kinds: std::collections::BTreeSet<&str> = v
        .rejected
        .iter()
        .map(|r| r.expected_error.as_str())
        .collect();
    for kind in [
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
    ] {
        assert!(kinds.contains(kind), "a rejected input gives {kind}");
    }
}

/// Checks from the protocol document alone that a rejected input must fail the way it is
/// listed to, at its point of the timeline.
fn check_rejected(
    v: &Vectors,
    r: &generate::RejectedVector,
    ad: &[u8],
    prekey_info: &independent::proto::PrekeyInfo,
) {
    use independent::proto;
    use independent::*;
    use prost::Message;

    let what = format!("rejected {} ({})", r.index, r.description);
    let base = &v.messages[r.message];
    let original = bytes(&base.message);
    let input = bytes(&r.input);
    assert!(r.after_step < v.timeline.len(), "{what}: after_step");
    let happened = &v.timeline[..=r.after_step];
    assert!(
        happened
            .iter()
            .any(|e| e.action == Action::Send && e.message == r.message),
        "{what}: made from a message sent by then"
    );
    assert_eq!(
        r.party, base.receiver,
        "{what}: given to the message's receiver"
    );
    let delivered = happened
        .iter()
        .any(|e| e.action != Action::Send && e.message == r.message);
    let joined = happened.iter().any(|e| e.action == Action::Join);
    if r.action == RejectedAction::Join {
        assert_eq!(r.party, "bob", "{what}: only the responder joins");
    } else {
        assert!(
            r.party == "alice" || joined,
            "{what}: bob decrypts once joined"
        );
    }
    assert_eq!(
        input == original,
        matches!(
            r.expected_error.as_str(),
            "Duplicate" | "UnknownOneTimePrekey" | "NotAPrekeyMessage"
        ),
        "{what}: only replays are the listed message itself"
    );

    let message = proto::ChannelMessage::decode(input.as_slice()).expect("decodes");
    let header = proto::RatchetHeader::decode(message.header.as_slice()).expect("decodes");
    let canonical = message.encode_to_vec() == input && header.encode_to_vec() == message.header;
    let spk_id = v.prekeys.signed_prekey.id;
    match r.expected_error.as_str() {
        "Decode" => assert!(
            !canonical || header.content_type > 1,
            "{what}: not canonical"
        ),
        "UnsupportedVersion" => assert_ne!(message.version, 1, "{what}"),
        "InvalidLength" => assert_ne!(header.ratchet_key.len(), 32, "{what}"),
        "InvalidPublicKey" => assert_ne!(header.ratchet_key[31] & 0x80, 0, "{what}: top bit"),
        "Duplicate" => assert!(delivered, "{what}: a replay of a message already received"),
        "NotAPrekeyMessage" => assert!(message.prekey.is_none(), "{what}"),
        "UnknownSignedPrekey" => {
            let id = message
                .prekey
                .as_ref()
                .expect("prekey information")
                .signed_prekey_id;
            assert_ne!(id, spk_id, "{what}: a signed prekey bob never had");
        }
        "UnknownOneTimePrekey" => {
            assert!(
                joined,
                "{what}: the one-time prekey was consumed by the join"
            );
            let prekey = message.prekey.as_ref().expect("prekey information");
            assert_eq!(prekey.one_time_prekey_id, Some(v.x3dh.one_time_prekey_id));
        }
        "PrekeyInfoMismatch" => {
            // The initiator refuses any prekey information; the responder requires the one
            // it joined with on the chain it joined, and none on any other.
            let expected = (r.party == "bob" && base.chain == 0).then_some(prekey_info);
            assert!(canonical, "{what}: canonical");
            assert_ne!(message.prekey.as_ref(), expected, "{what}");
        }
        "TooFarAhead" => {
            assert!(canonical, "{what}: canonical");
            assert!(
                header.message_number > 2000,
                "{what}: more than MAX_MESSAGE_GAP ahead"
            );
        }
        "AuthenticationFailed" => {
            // Canonical and well-formed, but the AEAD fails with the key of the message it
            // claims to be.
            assert!(canonical, "{what}: canonical");
            assert_eq!(
                (message.version, header.ratchet_key.len()),
                (1, 32),
                "{what}"
            );
            let mut chain_key = array::<32>(&v.chains[base.chain].chain_key);
            for _ in 0..header.message_number {
                chain_key = kdf_ck(&chain_key).1;
            }
            let (aes_key, nonce) = message_aead(&kdf_ck(&chain_key).0);
            let aad = [ad, message.header.as_slice()].concat();
            let opened = aes_gcm::aead::Aead::decrypt(
                &<aes_gcm::Aes256Gcm as aes_gcm::aead::KeyInit>::new(&aes_key.into()),
                &aes_gcm::Nonce::from(nonce),
                aes_gcm::aead::Payload {
                    msg: &message.ciphertext,
                    aad: &aad,
                },
            );
            assert!(opened.is_err(), "{what}: the tag must fail");
        }
        other => panic!("{what}: an error kind this test does not know: {other}"),
    }
}

/// Recomputes one message from its chain: `number` keys into the chain, `prekey` attached.
fn check_message(
    m: &MessageVector,
    chain: &generate::ChainVector,
    number: u32,
    ad: &[u8],
    prekey: Option<&independent::proto::PrekeyInfo>,
) {
    use independent::proto;
    use independent::*;
    use prost::Message;

    let what = format!("message {}", m.index);
    assert_eq!(m.sender, chain.sender, "{what}: sender");
    let receiver = if m.sender == "alice" { "bob" } else { "alice" };
    assert_eq!(m.receiver, receiver, "{what}: receiver");
    assert_eq!(
        m.ratchet_secret, chain.ratchet_secret,
        "{what}: ratchet_secret"
    );
    assert_eq!(m.root_key, chain.root_key, "{what}: root_key");
    let ratchet_public = x25519_public(&array(&m.ratchet_secret));
    check!(&m.ratchet_public, ratchet_public, "{what}: ratchet_public");
    assert_eq!(m.message_number, number, "{what}: message_number");

    let mut chain_key = array::<32>(&chain.chain_key);
    for _ in 0..number {
        chain_key = kdf_ck(&chain_key).1;
    }
    check!(&m.chain_key, chain_key, "{what}: chain_key");
    let (message_key, next_chain_key) = kdf_ck(&chain_key);
    check!(&m.message_key, message_key, "{what}: message_key");
    check!(&m.next_chain_key, next_chain_key, "{what}: next_chain_key");
    let (aes_key, nonce) = message_aead(&message_key);
    check!(&m.aes_key, aes_key, "{what}: aes_key");
    check!(&m.nonce, nonce, "{what}: nonce");

    let header = proto::RatchetHeader {
        ratchet_key: ratchet_public.to_vec(),
        previous_chain_length: m.previous_chain_length,
        message_number: number,
        content_type: 0,
    }
    .encode_to_vec();
    check!(&m.header, header, "{what}: header");
    assert_eq!(
        m.prekey_info.as_deref().map(bytes),
        prekey.map(Message::encode_to_vec),
        "{what}: prekey_info"
    );
    let aad = [ad, &header].concat();
    check!(&m.aad, aad, "{what}: aad");
    let plaintext = bytes(&m.plaintext);
    assert_eq!(
        m.plaintext_utf8.as_bytes(),
        plaintext,
        "{what}: plaintext_utf8"
    );
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, &plaintext);
    check!(&m.ciphertext, ciphertext, "{what}: ciphertext");
    assert_eq!(aes_gcm_open(&aes_key, &nonce, &aad, &ciphertext), plaintext);
    let message = proto::ChannelMessage {
        version: 1,
        header,
        ciphertext,
        prekey: prekey.cloned(),
    }
    .encode_to_vec();
    check!(&m.message, message, "{what}: message");
}

/// An RNG that hands out the given 32-byte values in order, and nothing else.
struct ScriptedRng(std::collections::VecDeque<[u8; 32]>);

impl ScriptedRng {
    fn new(values: &[&str]) -> Self {
        Self(values.iter().map(|value| array(value)).collect())
    }

    fn assert_used_up(&self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what} drew fewer random values than listed"
        );
    }
}

impl rand::TryRng for ScriptedRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        panic!("ratchetkit drew a u32: only 32-byte draws are scripted")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        panic!("ratchetkit drew a u64: only 32-byte draws are scripted")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let value = self
            .0
            .pop_front()
            .expect("ratchetkit drew more random values than listed");
        dst.copy_from_slice(&value);
        Ok(())
    }
}

impl rand::TryCryptoRng for ScriptedRng {}

#[test]
fn ratchetkit_replays_the_conversation() {
    use ratchetkit::{Channel, Identity, PrekeyBundle, PrekeyStore};

    let v = committed();
    let [alice_vector, bob_vector] = v.identities.as_slice() else {
        panic!("two identities")
    };
    let identity = |listed: &IdentityVector| {
        let mut rng = ScriptedRng::new(&[
            listed.signing_seed.as_str(),
            listed.agreement_secret.as_str(),
        ]);
        let identity = Identity::generate_at(&mut rng, &listed.name, listed.created_at).unwrap();
        rng.assert_used_up("Identity::generate_at");
        assert_eq!(
            identity.card().to_bytes(),
            bytes(&listed.card),
            "{}: card",
            listed.name
        );
        assert_eq!(
            identity.card().fingerprint().to_string(),
            listed.fingerprint
        );
        identity
    };
    let alice = identity(alice_vector);
    let bob = identity(bob_vector);

    // Bob's prekey store, rebuilt from the listed secrets.
    let prekeys = &v.prekeys;
    let mut rng = ScriptedRng::new(&[prekeys.signed_prekey.secret.as_str()]);
    let mut bob_prekeys = PrekeyStore::new(&mut rng);
    rng.assert_used_up("PrekeyStore::new");
    assert_eq!(bob_prekeys.signed_prekey_id(), prekeys.signed_prekey.id);
    let secrets: Vec<&str> = prekeys
        .one_time_prekeys
        .iter()
        .map(|k| k.secret.as_str())
        .collect();
    let mut rng = ScriptedRng::new(&secrets);
    let ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, secrets.len())
        .unwrap();
    rng.assert_used_up("generate_one_time_prekeys");
    let listed_ids: Vec<u32> = prekeys.one_time_prekeys.iter().map(|k| k.id).collect();
    assert_eq!(ids, listed_ids);
    let bundle = bob_prekeys
        .bundle(&bob, Some(prekeys.bundle_one_time_prekey_id))
        .unwrap();
    assert_eq!(bundle.to_bytes(), bytes(&prekeys.bundle), "bundle");

    // Alice creates the channel from the bundle as fetched.
    let fetched = PrekeyBundle::from_bytes(&bytes(&prekeys.bundle)).unwrap();
    let mut rng = ScriptedRng::new(&[
        v.x3dh.ephemeral_secret.as_str(),
        v.chains[0].ratchet_secret.as_str(),
    ]);
    let mut alice_channel = Channel::create(&mut rng, &alice, &fetched).unwrap();
    rng.assert_used_up("Channel::create");
    let mut bob_channel: Option<Channel> = None;
    let mut refused = 0;

    for event in &v.timeline {
        let m = &v.messages[event.message];
        let what = format!("step {} (message {})", event.step, m.index);
        let channel = if event.party == "alice" {
            Some(&mut alice_channel)
        } else {
            bob_channel.as_mut()
        };
        match event.action {
            Action::Send => {
                // A new sending chain (but the first, drawn by create) draws its ratchet key.
                let draws: Vec<&str> = if m.message_number == 0 && m.chain != 0 {
                    vec![m.ratchet_secret.as_str()]
                } else {
                    Vec::new()
                };
                let mut rng = ScriptedRng::new(&draws);
                let channel = channel.expect("a side sends only once it has a channel");
                let message = channel.encrypt(&mut rng, &bytes(&m.plaintext)).unwrap();
                rng.assert_used_up(&what);
                assert_eq!(hex::encode(message), m.message, "{what}: encrypt");
            }
            Action::Join => {
                assert!(bob_channel.is_none(), "{what}: Bob joins once");
                let joined = Channel::join(&bob, &mut bob_prekeys, &bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: join: {error}"));
                assert_eq!(joined.plaintext, bytes(&m.plaintext), "{what}: plaintext");
                assert_eq!(
                    joined.peer.to_bytes(),
                    alice.card().to_bytes(),
                    "{what}: peer"
                );
                bob_channel = Some(joined.channel);
            }
            Action::Receive => {
                let channel = channel.expect("a side receives only once it has a channel");
                let plaintext = channel
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: decrypt: {error}"));
                assert_eq!(plaintext, bytes(&m.plaintext), "{what}: plaintext");
            }
        }

        // The rejected inputs of this point: the listed error, and nothing changed.
        for r in v.rejected.iter().filter(|r| r.after_step == event.step) {
            let what = format!("rejected {} ({})", r.index, r.description);
            let input = bytes(&r.input);
            let (result, unchanged) = match r.action {
                RejectedAction::Join => {
                    assert_eq!(r.party, "bob", "{what}: only bob joins");
                    let before = bob_prekeys.to_bytes();
                    let result = Channel::join(&bob, &mut bob_prekeys, &input).map(drop);
                    (result, *before == *bob_prekeys.to_bytes())
                }
                RejectedAction::Decrypt => {
                    let channel = if r.party == "alice" {
                        &mut alice_channel
                    } else {
                        bob_channel.as_mut().expect("bob has joined")
                    };
                    let before = channel.to_bytes();
                    let result = channel.decrypt(&input).map(drop);
                    (result, *before == *channel.to_bytes())
                }
            };
            let error = result.expect_err(&what);
            assert_eq!(
                generate::error_kind(&error),
                r.expected_error,
                "{what}: {error:?}"
            );
            assert!(unchanged, "{what}: the rejected input changed the state");
            refused += 1;
        }
    }
    assert_eq!(refused, v.rejected.len(), "every rejected input was given");
    assert!(
        !bob_prekeys
            .one_time_prekey_ids()
            .contains(&prekeys.bundle_one_time_prekey_id),
        "joining consumed the one-time prekey"
    );
    for (side, channel) in [
        ("alice", &alice_channel),
        ("bob", bob_channel.as_ref().unwrap()),
    ] {
        assert_eq!(
            channel.skipped_keys(),
            0,
            "{side}: every skipped key was used"
        );
    }
}
