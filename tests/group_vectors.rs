//! Checks `tests/vectors/group-v1.json` four ways:
//!
//! 1. the committed file is exactly what the generator prints today
//!    (`committed_file_is_a_fresh_generation`);
//! 2. every public key, signature, card, bundle, DH output, root, chain and message key, AES
//!    key and nonce, header, ciphertext and channel message, every roster, sender key,
//!    distribution and `GroupControl`, and every group message with its signature, is
//!    recomputed from the listed private keys with the primitive crates alone
//!    (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2, aes-gcm, and prost with messages
//!    declared here from `proto/ratchetkit.proto`), never through ratchetkit. Which chain
//!    each channel message is on, which draws each call makes, what each group operation
//!    sends and which keys each member holds follow from the timeline and the protocol
//!    document alone (`primitives_recompute_every_byte`);
//! 3. ratchetkit, given the listed private keys through a scripted RNG, replays the
//!    timeline and reproduces every channel message, control and group message byte for
//!    byte (`ratchetkit_replays_the_timeline`);
//! 4. every rejected input, given to ratchetkit at its point of the timeline, fails with
//!    the listed `Error` variant and leaves the party's group, channels and prekey store
//!    byte for byte unchanged (`ratchetkit_refuses_the_rejected_inputs`).
//!
//! Regenerate the file after an intentional change with
//! `cargo run --example generate_vectors -- group > tests/vectors/group-v1.json`.

// The group generator shares the channel generator's types; not all of them are used here.
#[allow(dead_code)]
#[path = "vectors/generate.rs"]
mod generate;
#[path = "vectors/generate_group.rs"]
mod generate_group;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use generate_group::{
    Action, ChannelMessageVector, ControlVector, EventVector, GroupVectors, RejectedAction,
    RejectedVector,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/group-v1.json");
const REGENERATE: &str =
    "cargo run --example generate_vectors -- group > tests/vectors/group-v1.json";

fn committed_text() -> String {
    std::fs::read_to_string(PATH).unwrap_or_else(|error| {
        panic!("cannot read {PATH}: {error}; generate it with `{REGENERATE}`")
    })
}

fn committed() -> GroupVectors {
    serde_json::from_str(&committed_text()).expect("group-v1.json parses")
}

/// Lowercase hex to bytes, refusing anything else.
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

/// Asserts that a hex field of the file equals computed bytes.
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
    let fresh = generate_group::to_json();
    let committed = committed_text();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "tests/vectors/group-v1.json differs from a fresh generation (first at {line}). \
             If the change is intended, regenerate it with `{REGENERATE}`"
        );
    }
}

/// An independent implementation of the protocol from its specification, on the primitive
/// crates only.
mod independent {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use aes_gcm::{Aes256Gcm, Nonce};
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use hkdf::Hkdf;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    use x25519_dalek::{PublicKey, StaticSecret};

    pub const CARD_CONTEXT: &[u8] = b"ratchetkit/v1/card";
    pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v1/signed-prekey";
    pub const X3DH_INFO: &[u8] = b"ratchetkit/v1/x3dh";
    pub const ROOT_INFO: &[u8] = b"ratchetkit/v1/root";
    pub const MESSAGE_INFO: &[u8] = b"ratchetkit/v1/message";
    pub const GROUP_MESSAGE_INFO: &[u8] = b"ratchetkit/v1/group-message";
    pub const GROUP_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v1/group-signature";
    pub const ROSTER_CONTEXT: &[u8] = b"ratchetkit/v1/group-roster";

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

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct GroupHeader {
            #[prost(bytes = "vec", tag = "1")]
            pub group_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub sender: Vec<u8>,
            #[prost(uint32, tag = "3")]
            pub epoch: u32,
            #[prost(uint32, tag = "4")]
            pub iteration: u32,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct GroupMessage {
            #[prost(uint32, tag = "1")]
            pub version: u32,
            #[prost(bytes = "vec", tag = "2")]
            pub header: Vec<u8>,
            #[prost(bytes = "vec", tag = "3")]
            pub ciphertext: Vec<u8>,
            #[prost(bytes = "vec", tag = "4")]
            pub signature: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct SenderKeyDistribution {
            #[prost(bytes = "vec", tag = "1")]
            pub group_id: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub sender: Vec<u8>,
            #[prost(uint32, tag = "3")]
            pub epoch: u32,
            #[prost(uint32, tag = "4")]
            pub iteration: u32,
            #[prost(bytes = "vec", tag = "5")]
            pub chain_key: Vec<u8>,
            #[prost(bytes = "vec", tag = "6")]
            pub signing_key: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct Roster {
            #[prost(bytes = "vec", tag = "1")]
            pub group_id: Vec<u8>,
            #[prost(uint64, tag = "2")]
            pub version: u64,
            #[prost(bytes = "vec", repeated, tag = "3")]
            pub members: Vec<Vec<u8>>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct SignedRoster {
            #[prost(bytes = "vec", tag = "1")]
            pub roster: Vec<u8>,
            #[prost(bytes = "vec", tag = "2")]
            pub signature: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct LeaveRequest {
            #[prost(bytes = "vec", tag = "1")]
            pub group_id: Vec<u8>,
        }

        #[derive(Clone, PartialEq, prost::Message)]
        pub struct GroupControl {
            #[prost(uint32, tag = "1")]
            pub version: u32,
            #[prost(message, optional, tag = "2")]
            pub roster: Option<SignedRoster>,
            #[prost(message, optional, tag = "3")]
            pub sender_key: Option<SenderKeyDistribution>,
            #[prost(message, optional, tag = "4")]
            pub leave: Option<LeaveRequest>,
            #[prost(uint64, tag = "5")]
            pub roster_version: u64,
        }
    }

    pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
        SigningKey::from_bytes(seed).verifying_key().to_bytes()
    }

    /// Signs `message` and checks the signature with the public key, strictly.
    pub fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
        let key = SigningKey::from_bytes(seed);
        let signature = key.sign(message);
        key.verifying_key()
            .verify_strict(message, &signature)
            .unwrap();
        signature.to_bytes()
    }

    /// Strict Ed25519 verification.
    pub fn ed25519_verifies(public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
        let Ok(signature) = <[u8; 64]>::try_from(signature) else {
            return false;
        };
        VerifyingKey::from_bytes(public).is_ok_and(|key| {
            key.verify_strict(message, &Signature::from_bytes(&signature))
                .is_ok()
        })
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

    /// The chain key `steps` KDF_CK steps after `chain_key`.
    pub fn chain_key_at(chain_key: &[u8; 32], steps: u32) -> [u8; 32] {
        let mut key = *chain_key;
        for _ in 0..steps {
            key = kdf_ck(&key).1;
        }
        key
    }

    /// The AES-256-GCM key and nonce of a message key, with `info`.
    pub fn message_aead(message_key: &[u8; 32], info: &[u8]) -> ([u8; 32], [u8; 12]) {
        let okm = hkdf(&[0; 32], message_key, info, 44);
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

    /// `"ratchetkit/v1/group-signature" || be32(len(header)) || header || ciphertext`.
    pub fn group_signature_input(header: &[u8], ciphertext: &[u8]) -> Vec<u8> {
        let length = u32::try_from(header.len()).unwrap().to_be_bytes();
        [GROUP_SIGNATURE_CONTEXT, &length, header, ciphertext].concat()
    }
}

use independent::proto;

/// The members by name, and what the independent check knows of them.
struct Names(Vec<String>);

impl Names {
    fn of(&self, name: &str) -> usize {
        self.0
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} is not one of the identities"))
    }
}

/// Recomputes one identity; returns its card bytes.
fn check_identity(identity: &generate::IdentityVector) -> Vec<u8> {
    use independent::*;
    use prost::Message;

    let name = &identity.name;
    let seed = array::<32>(&identity.signing_seed);
    let agreement_secret = array::<32>(&identity.agreement_secret);
    let signing_public = ed25519_public(&seed);
    let agreement_public = x25519_public(&agreement_secret);
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
            signer: "self".into(),
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

/// One side of a channel, as the timeline determines it.
#[derive(Clone, Default)]
struct SideView {
    /// The side's current sending chain, if it has one it may still use.
    current: Option<usize>,
    /// The newest chain received from the peer.
    latest_received: Option<usize>,
    /// Whether the side has decrypted anything (the initiator stops attaching prekey
    /// information then).
    has_decrypted: bool,
}

/// A channel, as the timeline determines it.
struct ChannelView {
    initiator: usize,
    associated_data: Vec<u8>,
    prekey_info: proto::PrekeyInfo,
    sides: [SideView; 2],
    /// Messages sent so far on each chain.
    sent_on_chain: Vec<u32>,
    /// Each chain's previous chain length (PN), once started.
    chain_pn: Vec<Option<u32>>,
}

impl ChannelView {
    fn side(&self, party: usize) -> usize {
        usize::from(party != self.initiator)
    }

    /// The chain `party`'s next message goes on, and whether that message starts it (a
    /// new chain follows the newest chain received from the peer, as the Double Ratchet
    /// does on its next send).
    fn next_chain(&self, party: usize) -> (usize, bool) {
        let side = &self.sides[self.side(party)];
        match (side.current, side.latest_received) {
            (Some(chain), received) if received.is_none_or(|r| r < chain) => (chain, false),
            (_, Some(received)) => (received + 1, true),
            (_, None) => panic!("a side sends before any ratchet key is known"),
        }
    }

    /// Where `party`'s next message goes: (chain, PN, message number, whether it starts the
    /// chain). Nothing is recorded.
    fn position(&self, party: usize) -> (usize, u32, u32, bool) {
        let (chain, new) = self.next_chain(party);
        if new {
            let previous = self.sides[self.side(party)].current;
            let pn = previous.map_or(0, |p| self.sent_on_chain[p]);
            (chain, pn, 0, true)
        } else {
            let pn = self.chain_pn[chain].expect("a started chain");
            (chain, pn, self.sent_on_chain[chain], false)
        }
    }

    /// Records that `party` sent its next message; returns its position.
    fn send(&mut self, party: usize) -> (usize, u32, u32, bool) {
        let position = self.position(party);
        let (chain, pn, _, new) = position;
        if new {
            let side = self.side(party);
            self.sides[side].current = Some(chain);
            self.chain_pn[chain] = Some(pn);
        }
        self.sent_on_chain[chain] += 1;
        position
    }

    fn receive(&mut self, party: usize, chain: usize) {
        let side = &mut self.sides[self.side(party)];
        side.latest_received = side.latest_received.max(Some(chain));
        side.has_decrypted = true;
    }

    /// The prekey information `party`'s next message carries.
    fn prekey(&self, party: usize) -> Option<proto::PrekeyInfo> {
        (party == self.initiator && !self.sides[0].has_decrypted).then(|| self.prekey_info.clone())
    }
}

/// Recomputes one channel message on `chain` at the given position from the chain's keys.
fn check_channel_message(
    m: &ChannelMessageVector,
    chain: &generate::ChainVector,
    (previous_chain_length, message_number): (u32, u32),
    associated_data: &[u8],
    prekey: Option<&proto::PrekeyInfo>,
) {
    use independent::*;
    use prost::Message;

    let what = format!("channel message {:?} on channel {}", m.index, m.channel);
    assert_eq!(m.sender, chain.sender, "{what}: sender");
    assert_eq!(m.previous_chain_length, previous_chain_length, "{what}: PN");
    assert_eq!(m.message_number, message_number, "{what}: message_number");
    let chain_key = chain_key_at(&array(&chain.chain_key), message_number);
    check!(m.chain_key, chain_key, "{what}: chain_key");
    let (message_key, next_chain_key) = kdf_ck(&chain_key);
    check!(m.message_key, message_key, "{what}: message_key");
    check!(m.next_chain_key, next_chain_key, "{what}: next_chain_key");
    let (aes_key, nonce) = message_aead(&message_key, MESSAGE_INFO);
    check!(m.aes_key, aes_key, "{what}: aes_key");
    check!(m.nonce, nonce, "{what}: nonce");
    let header = proto::RatchetHeader {
        ratchet_key: bytes(&chain.ratchet_public),
        previous_chain_length,
        message_number,
        content_type: m.content_type,
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    assert_eq!(
        m.prekey_info.as_deref().map(bytes),
        prekey.map(Message::encode_to_vec),
        "{what}: prekey_info"
    );
    let aad = [associated_data, &header].concat();
    check!(m.aad, aad, "{what}: aad");
    let plaintext = bytes(&m.plaintext);
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, &plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    assert_eq!(aes_gcm_open(&aes_key, &nonce, &aad, &ciphertext), plaintext);
    let message = proto::ChannelMessage {
        version: 1,
        header,
        ciphertext,
        prekey: prekey.cloned(),
    }
    .encode_to_vec();
    check!(m.message, message, "{what}: message");
}

/// A member's sender key as the independent check tracks it.
#[derive(Clone)]
struct OwnKey {
    epoch: u32,
    chain_key: [u8; 32],
    seed: [u8; 32],
    iteration: u32,
}

/// What the walk over the timeline tracks.
struct Walk<'a> {
    v: &'a GroupVectors,
    names: Names,
    group_id: Vec<u8>,
    channels: Vec<ChannelView>,
    /// Each member's roster (index into `rosters`).
    roster: Vec<Option<usize>>,
    /// Each member's own sender key.
    own: Vec<Option<OwnKey>>,
    /// (holder, sender, epoch) -> the iteration the holder's key starts at.
    held: BTreeMap<(usize, usize, u32), u32>,
    /// Channel messages and group messages sent so far.
    sent_channel_messages: usize,
    sent_group_messages: usize,
    /// For each (sender, epoch), how many group messages were sent.
    iterations: BTreeMap<(usize, u32), u32>,
}

impl Walk<'_> {
    fn channel_between(&self, a: usize, b: usize) -> usize {
        self.v
            .channels
            .iter()
            .position(|c| {
                let pair = (self.names.of(&c.initiator), self.names.of(&c.responder));
                pair == (a, b) || pair == (b, a)
            })
            .expect("a channel between them")
    }

    fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.v.rosters[roster]
            .members
            .iter()
            .map(|m| self.names.of(m))
            .collect()
    }

    fn roster_of_version(&self, version: u64) -> usize {
        self.v
            .rosters
            .iter()
            .position(|r| r.version == version)
            .expect("a listed roster")
    }

    /// The sender key `member` made for `epoch`.
    fn sender_key(&self, member: usize, epoch: u32) -> &generate_group::SenderKeyVector {
        self.v
            .sender_keys
            .iter()
            .find(|k| self.names.of(&k.member) == member && k.epoch == epoch)
            .unwrap_or_else(|| {
                panic!(
                    "no sender key of {} for epoch {epoch}",
                    self.names.0[member]
                )
            })
    }

    /// A sender key made at `step` becomes `member`'s own; its two draws come first.
    fn take_new_key(&mut self, member: usize, step: usize, draws: &mut VecDeque<String>) {
        let key = self
            .v
            .sender_keys
            .iter()
            .find(|k| k.step == step)
            .unwrap_or_else(|| panic!("step {step} makes a sender key"));
        assert_eq!(self.names.of(&key.member), member, "step {step}: whose key");
        let expected_epoch = self.own[member].as_ref().map_or(0, |own| own.epoch + 1);
        assert_eq!(
            key.epoch, expected_epoch,
            "step {step}: epochs count up from 0"
        );
        assert_eq!(
            draws.pop_front().as_ref(),
            Some(&key.chain_key),
            "step {step}: first draw is the chain key"
        );
        assert_eq!(
            draws.pop_front().as_ref(),
            Some(&key.signing_seed),
            "step {step}: second draw is the signing seed"
        );
        self.own[member] = Some(OwnKey {
            epoch: key.epoch,
            chain_key: array(&key.chain_key),
            seed: array(&key.signing_seed),
            iteration: 0,
        });
    }

    /// `member`'s distribution of its current sender key.
    fn distribution(&self, member: usize) -> proto::SenderKeyDistribution {
        let own = self.own[member].as_ref().expect("a sender key");
        proto::SenderKeyDistribution {
            group_id: self.group_id.clone(),
            sender: bytes(&self.v.identities[member].signing_public),
            epoch: own.epoch,
            iteration: own.iteration,
            chain_key: independent::chain_key_at(&own.chain_key, own.iteration).to_vec(),
            signing_key: independent::ed25519_public(&own.seed).to_vec(),
        }
    }

    fn signed_roster(&self, roster: usize) -> proto::SignedRoster {
        use prost::Message;
        proto::SignedRoster::decode(bytes(&self.v.rosters[roster].signed_roster).as_slice())
            .unwrap()
    }

    /// Checks the channel message `index`, the next one `from` sends to `to`, and records
    /// it sent; a ratchet key draw is taken from `draws` when it starts a chain.
    fn send_channel_message(
        &mut self,
        index: usize,
        from: usize,
        to: usize,
        draws: &mut VecDeque<String>,
    ) {
        let v = self.v;
        let m = &v.channel_messages[index];
        assert_eq!(m.index, Some(index), "channel message {index}: index");
        assert_eq!(
            index, self.sent_channel_messages,
            "channel messages are listed in sending order"
        );
        self.sent_channel_messages += 1;
        let channel = self.channel_between(from, to);
        assert_eq!(m.channel, channel, "channel message {index}: channel");
        assert_eq!(
            (m.sender.as_str(), m.receiver.as_str()),
            (self.names.0[from].as_str(), self.names.0[to].as_str())
        );
        let prekey = self.channels[channel].prekey(from);
        let (chain, pn, number, new) = self.channels[channel].send(from);
        assert_eq!(m.chain, chain, "channel message {index}: chain");
        let listed = &v.channels[channel].chains[chain];
        if new {
            assert_eq!(
                draws.pop_front().as_ref(),
                Some(&listed.ratchet_secret),
                "channel message {index}: a new chain draws its ratchet key"
            );
        }
        check_channel_message(
            m,
            listed,
            (pn, number),
            &self.channels[channel].associated_data,
            prekey.as_ref(),
        );
    }

    fn receive_channel_message(&mut self, index: usize, party: usize) {
        let m = &self.v.channel_messages[index];
        assert!(
            index < self.sent_channel_messages,
            "channel message {index} received before it was sent"
        );
        assert_eq!(
            self.names.of(&m.receiver),
            party,
            "channel message {index}: receiver"
        );
        self.channels[m.channel].receive(party, m.chain);
    }

    /// Checks the controls a group operation of `party` sent: recipients and parts as the
    /// protocol says (`expected`: (to, carries the roster, carries the sender key)), bytes,
    /// and their channel messages.
    fn check_sent(
        &mut self,
        party: usize,
        sent: &[usize],
        expected: &[(usize, Option<usize>, bool)],
        draws: &mut VecDeque<String>,
    ) {
        use prost::Message;
        assert_eq!(
            sent.len(),
            expected.len(),
            "{} sends {} controls",
            self.names.0[party],
            expected.len()
        );
        let v = self.v;
        let roster_version = v.rosters[self.roster[party].expect("a roster")].version;
        for (&index, &(to, roster, sender_key)) in sent.iter().zip(expected) {
            let c: &ControlVector = &v.controls[index];
            let what = format!("control {index}");
            assert_eq!(c.index, index, "{what}: index");
            assert_eq!(self.names.of(&c.sender), party, "{what}: sender");
            assert_eq!(self.names.of(&c.receiver), to, "{what}: receiver");
            assert_eq!(c.roster_version, roster_version, "{what}: roster_version");
            assert_eq!(
                c.roster,
                roster.map(|r| self.v.rosters[r].version),
                "{what}: roster"
            );
            assert!(!c.leave, "{what}: leave");
            let distribution = sender_key.then(|| self.distribution(party));
            match (&c.sender_key, &distribution) {
                (None, None) => {}
                (Some(listed), Some(d)) => {
                    assert_eq!(self.names.of(&listed.sender), party);
                    assert_eq!(
                        (listed.epoch, listed.iteration),
                        (d.epoch, d.iteration),
                        "{what}: epoch, iteration"
                    );
                    let own = self.own[party].as_ref().unwrap();
                    let chain_key = independent::chain_key_at(&own.chain_key, own.iteration);
                    check!(
                        listed.chain_key,
                        chain_key,
                        "{what}: the chain key at the iteration"
                    );
                    check!(
                        listed.signing_public,
                        independent::ed25519_public(&own.seed),
                        "{what}: signing_public"
                    );
                    check!(
                        listed.bytes,
                        d.encode_to_vec(),
                        "{what}: distribution bytes"
                    );
                }
                _ => panic!("{what}: sender_key"),
            }
            let control = proto::GroupControl {
                version: 1,
                roster: roster.map(|r| self.signed_roster(r)),
                sender_key: c.sender_key.as_ref().map(|d| {
                    proto::SenderKeyDistribution::decode(bytes(&d.bytes).as_slice()).unwrap()
                }),
                leave: None,
                roster_version,
            }
            .encode_to_vec();
            check!(c.bytes, control, "{what}: bytes");
            let m = &v.channel_messages[c.channel_message];
            assert_eq!(
                m.control,
                Some(index),
                "{what}: its channel message names it"
            );
            assert_eq!(m.content_type, 1, "{what}: group control is content type 1");
            check!(
                m.plaintext,
                control,
                "{what}: the channel message's plaintext"
            );
            self.send_channel_message(c.channel_message, party, to, draws);
        }
    }

    /// `party` takes in the sender key a control carries.
    fn install(&mut self, party: usize, control: &ControlVector) {
        if let Some(d) = &control.sender_key {
            let sender = self.names.of(&d.sender);
            assert_eq!(
                self.names.of(&control.sender),
                sender,
                "a member sends only its own key"
            );
            let previous = self.held.insert((party, sender, d.epoch), d.iteration);
            assert!(previous.is_none(), "an epoch is installed once");
        }
    }

    fn expected_events(
        &self,
        party: usize,
        control: &ControlVector,
        old_roster: Option<usize>,
    ) -> Vec<EventVector> {
        let mut events = Vec::new();
        if let (Some(version), Some(old)) = (control.roster, old_roster) {
            let old = self.roster_members(old);
            let new = self.roster_members(self.roster_of_version(version));
            let names =
                |list: Vec<usize>| list.into_iter().map(|m| self.names.0[m].clone()).collect();
            if new.contains(&party) {
                events.push(EventVector::RosterChanged {
                    version,
                    added: names(new.iter().copied().filter(|m| !old.contains(m)).collect()),
                    removed: names(old.iter().copied().filter(|m| !new.contains(m)).collect()),
                });
            } else {
                events.push(EventVector::Removed { version });
            }
        }
        if let Some(d) = &control.sender_key {
            events.push(EventVector::SenderKey {
                member: d.sender.clone(),
                epoch: d.epoch,
            });
        }
        events
    }
}

#[test]
fn primitives_recompute_every_byte() {
    use independent::*;
    use prost::Message;

    let v = committed();

    // The protocol's constants.
    let p = &v.protocol;
    assert_eq!((p.channel_version, p.group_version), (1, 1));
    assert_eq!(p.card_signature_context.as_bytes(), CARD_CONTEXT);
    assert_eq!(p.self_signer, "self");
    assert_eq!(
        p.signed_prekey_signature_context.as_bytes(),
        SIGNED_PREKEY_CONTEXT
    );
    assert_eq!(p.x3dh_info.as_bytes(), X3DH_INFO);
    assert_eq!(p.root_info.as_bytes(), ROOT_INFO);
    assert_eq!(p.message_info.as_bytes(), MESSAGE_INFO);
    assert_eq!(p.group_message_info.as_bytes(), GROUP_MESSAGE_INFO);
    assert_eq!(
        p.group_signature_context.as_bytes(),
        GROUP_SIGNATURE_CONTEXT
    );
    assert_eq!(p.roster_signature_context.as_bytes(), ROSTER_CONTEXT);
    assert_eq!(
        (p.content_type_application, p.content_type_group_control),
        (0, 1)
    );
    let group_id = bytes(&v.group_id);
    assert!(
        (16..=64).contains(&group_id.len()),
        "a group id is 16..=64 bytes"
    );

    // Identities and cards.
    let names = Names(v.identities.iter().map(|i| i.name.clone()).collect());
    assert_eq!(names.0, ["alice", "bob", "carol"]);
    let cards: Vec<Vec<u8>> = v.identities.iter().map(check_identity).collect();

    // Prekeys and bundles.
    for prekey in &v.prekeys {
        let owner = names.of(&prekey.owner);
        let public = x25519_public(&array(&prekey.secret));
        check!(prekey.public, public, "{}: signed prekey", prekey.owner);
        let input = [SIGNED_PREKEY_CONTEXT, &prekey.id.to_be_bytes(), &public].concat();
        check!(
            prekey.signature_input,
            input,
            "{}: signature_input",
            prekey.owner
        );
        let signature = ed25519_sign(&array(&v.identities[owner].signing_seed), &input);
        check!(prekey.signature, signature, "{}: signature", prekey.owner);
        let bundle = proto::PrekeyBundle {
            card: cards[owner].clone(),
            signed_prekey_id: prekey.id,
            signed_prekey: public.to_vec(),
            signed_prekey_signature: signature.to_vec(),
            one_time_prekey_id: None,
            one_time_prekey: Vec::new(),
        }
        .encode_to_vec();
        check!(prekey.bundle, bundle, "{}: bundle", prekey.owner);
    }

    // Channels: X3DH, then the chains, alternating between the sides, each agreeing with
    // the ratchet key of the chain before (the first with the responder's signed prekey).
    let mut channel_views = Vec::new();
    for (index, c) in v.channels.iter().enumerate() {
        let what = format!("channel {index}");
        assert_eq!(c.index, index);
        let (a, b) = (names.of(&c.initiator), names.of(&c.responder));
        let prekey = v
            .prekeys
            .iter()
            .find(|p| p.owner == c.responder && p.id == c.signed_prekey_id)
            .expect("the responder's signed prekey");
        let spk_secret = array::<32>(&prekey.secret);
        let spk = x25519_public(&spk_secret);
        let ek_secret = array::<32>(&c.ephemeral_secret);
        let ek = x25519_public(&ek_secret);
        check!(c.ephemeral_public, ek, "{what}: ephemeral_public");
        let (ia, ib) = (&v.identities[a], &v.identities[b]);
        let a_public = array::<32>(&ia.agreement_public);
        let b_public = array::<32>(&ib.agreement_public);
        let dh = [
            x25519(&array(&ia.agreement_secret), &spk),
            x25519(&ek_secret, &b_public),
            x25519(&ek_secret, &spk),
        ];
        let responder_dh = [
            x25519(&spk_secret, &a_public),
            x25519(&array(&ib.agreement_secret), &ek),
            x25519(&spk_secret, &ek),
        ];
        assert_eq!(dh, responder_dh, "{what}: both sides of X3DH agree");
        check!(c.dh1, dh[0], "{what}: dh1");
        check!(c.dh2, dh[1], "{what}: dh2");
        check!(c.dh3, dh[2], "{what}: dh3");
        let ikm = [[0xff; 32], dh[0], dh[1], dh[2]].concat();
        check!(c.ikm, ikm, "{what}: ikm");
        let shared_secret: [u8; 32] = hkdf(&[0; 32], &ikm, X3DH_INFO, 32).try_into().unwrap();
        check!(c.shared_secret, shared_secret, "{what}: shared_secret");
        let ad = [
            bytes(&ia.signing_public),
            a_public.to_vec(),
            bytes(&ib.signing_public),
            b_public.to_vec(),
        ]
        .concat();
        check!(c.associated_data, ad, "{what}: associated_data");
        let prekey_info = proto::PrekeyInfo {
            initiator_card: cards[a].clone(),
            ephemeral_key: ek.to_vec(),
            signed_prekey_id: prekey.id,
            one_time_prekey_id: None,
        };
        check!(
            c.prekey_info,
            prekey_info.encode_to_vec(),
            "{what}: prekey_info"
        );
        let mut root_key = shared_secret;
        let mut peer = (b, spk_secret, spk);
        for (i, chain) in c.chains.iter().enumerate() {
            let what = format!("{what}, chain {i}");
            assert_eq!(chain.index, i);
            let sender = if peer.0 == b { a } else { b };
            assert_eq!(
                names.of(&chain.sender),
                sender,
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
        channel_views.push(ChannelView {
            initiator: a,
            associated_data: ad,
            prekey_info,
            sides: Default::default(),
            sent_on_chain: vec![0; c.chains.len()],
            chain_pn: vec![None; c.chains.len()],
        });
    }

    // Rosters, signed by the owner (the first member of the first roster).
    let owner = names.of(&v.rosters[0].members[0]);
    for (i, r) in v.rosters.iter().enumerate() {
        let what = format!("roster {i}");
        assert_eq!(names.of(&r.members[0]), owner, "{what}: the owner first");
        let content = proto::Roster {
            group_id: group_id.clone(),
            version: r.version,
            members: r
                .members
                .iter()
                .map(|m| cards[names.of(m)].clone())
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
    let mut walk = Walk {
        v: &v,
        names,
        group_id: group_id.clone(),
        channels: channel_views,
        roster: vec![None; 3],
        own: vec![None; 3],
        held: BTreeMap::new(),
        sent_channel_messages: 0,
        sent_group_messages: 0,
        iterations: BTreeMap::new(),
    };
    let mut rejected_checked = 0;
    let mut signatures_checked = 0;
    let mut out_of_order = false;
    let mut old_epoch_read_late = false;
    for (step, e) in v.timeline.iter().enumerate() {
        assert_eq!(e.step, step, "timeline step numbers");
        let party = walk.names.of(&e.party);
        let mut draws: VecDeque<String> = e.draws.iter().cloned().collect();
        let others = |walk: &Walk, roster: usize| -> Vec<usize> {
            walk.roster_members(roster)
                .into_iter()
                .filter(|&m| m != party)
                .collect()
        };
        match e.action {
            Action::ChannelCreate => {
                let channel = e.channel.expect("channel");
                let c = &v.channels[channel];
                assert_eq!(walk.names.of(&c.initiator), party);
                assert_eq!(
                    draws.pop_front().as_ref(),
                    Some(&c.ephemeral_secret),
                    "create draws the ephemeral key"
                );
                assert_eq!(
                    draws.pop_front().as_ref(),
                    Some(&c.chains[0].ratchet_secret),
                    "then the first ratchet key"
                );
                walk.channels[channel].sides[0].current = Some(0);
                walk.channels[channel].chain_pn[0] = Some(0);
            }
            Action::ChannelSend => {
                let index = e.channel_message.expect("channel_message");
                let m = &v.channel_messages[index];
                assert_eq!(m.content_type, 0, "application data");
                assert_eq!(m.control, None);
                let to = walk.names.of(&m.receiver);
                walk.send_channel_message(index, party, to, &mut draws);
            }
            Action::ChannelJoin | Action::ChannelReceive => {
                let index = e.channel_message.expect("channel_message");
                let m = &v.channel_messages[index];
                let first = walk.channels[m.channel].sides[1].latest_received.is_none()
                    && party != walk.channels[m.channel].initiator;
                assert_eq!(
                    e.action == Action::ChannelJoin,
                    first,
                    "step {step}: the responder joins from its first message"
                );
                walk.receive_channel_message(index, party);
            }
            Action::GroupCreate => {
                let members: Vec<usize> = e
                    .members
                    .as_ref()
                    .expect("members")
                    .iter()
                    .map(|m| walk.names.of(m))
                    .collect();
                assert_eq!(party, owner, "the owner creates the group");
                let roster = walk.roster_of_version(1);
                assert_eq!(
                    walk.roster_members(roster),
                    [vec![party], members.clone()].concat(),
                    "roster 1: the owner, then the members"
                );
                walk.roster[party] = Some(roster);
                walk.take_new_key(party, step, &mut draws);
                let expected: Vec<_> = members.iter().map(|&m| (m, Some(roster), true)).collect();
                walk.check_sent(party, &e.sent, &expected, &mut draws);
            }
            Action::GroupJoin | Action::GroupReceive => {
                let index = e.control.expect("control");
                let control = &v.controls[index];
                let from = walk.names.of(e.from.as_ref().expect("from"));
                assert_eq!(walk.names.of(&control.sender), from);
                assert_eq!(walk.names.of(&control.receiver), party);
                walk.receive_channel_message(control.channel_message, party);
                let old_roster = walk.roster[party];
                assert_eq!(
                    e.action == Action::GroupJoin,
                    old_roster.is_none(),
                    "step {step}: join without a group"
                );
                let mut expected = Vec::new();
                let mut new_epoch = e.action == Action::GroupJoin;
                if let Some(version) = control.roster {
                    let roster = walk.roster_of_version(version);
                    walk.roster[party] = Some(roster);
                    if let Some(old) = old_roster {
                        assert!(version > walk.v.rosters[old].version, "a newer roster");
                        let old = walk.roster_members(old);
                        let new = walk.roster_members(roster);
                        if !new.contains(&party) {
                            walk.own[party] = None;
                        } else if old.iter().any(|m| !new.contains(m)) {
                            // A removal: a new epoch for the remaining members.
                            new_epoch = true;
                        }
                    }
                } else {
                    assert!(old_roster.is_some(), "a welcome carries the roster");
                }
                if new_epoch {
                    walk.take_new_key(party, step, &mut draws);
                    let roster = walk.roster[party].unwrap();
                    expected = others(&walk, roster)
                        .into_iter()
                        .map(|m| (m, None, true))
                        .collect();
                }
                walk.install(party, control);
                let events = walk.expected_events(party, control, old_roster);
                assert_eq!(e.events, events, "step {step}: events");
                walk.check_sent(party, &e.sent, &expected, &mut draws);
            }
            Action::RemoveMember => {
                assert_eq!(party, owner, "only the owner removes");
                let removed = walk.names.of(e.member.as_ref().expect("member"));
                let old = walk.roster[party].expect("a roster");
                let roster = walk.roster_of_version(walk.v.rosters[old].version + 1);
                let remaining: Vec<usize> = walk
                    .roster_members(old)
                    .into_iter()
                    .filter(|&m| m != removed)
                    .collect();
                assert_eq!(
                    walk.roster_members(roster),
                    remaining,
                    "the new roster drops the member, keeping the order"
                );
                walk.roster[party] = Some(roster);
                walk.take_new_key(party, step, &mut draws);
                let mut expected: Vec<_> = others(&walk, roster)
                    .into_iter()
                    .map(|m| (m, Some(roster), true))
                    .collect();
                expected.push((removed, Some(roster), false));
                walk.check_sent(party, &e.sent, &expected, &mut draws);
            }
            Action::Rekey => {
                walk.take_new_key(party, step, &mut draws);
                let roster = walk.roster[party].expect("a roster");
                let expected: Vec<_> = others(&walk, roster)
                    .into_iter()
                    .map(|m| (m, None, true))
                    .collect();
                walk.check_sent(party, &e.sent, &expected, &mut draws);
            }
            Action::Encrypt => {
                let index = e.group_message.expect("group_message");
                assert_eq!(
                    index, walk.sent_group_messages,
                    "group messages are listed in sending order"
                );
                walk.sent_group_messages += 1;
                let own = walk.own[party]
                    .clone()
                    .expect("a member with a sender key sends");
                check_group_message(
                    &v.group_messages[index],
                    &walk.names.0[party],
                    &own,
                    &group_id,
                    &bytes(&v.identities[party].signing_public),
                );
                let iterations = walk.iterations.entry((party, own.epoch)).or_default();
                assert_eq!(*iterations, own.iteration);
                *iterations += 1;
                let own = walk.own[party].as_mut().unwrap();
                own.iteration += 1;
            }
            Action::Decrypt => {
                let index = e.group_message.expect("group_message");
                assert!(index < walk.sent_group_messages, "decrypted before sent");
                let m = &v.group_messages[index];
                let sender = walk.names.of(&m.sender);
                assert_ne!(sender, party, "members do not decrypt their own messages");
                let first = walk.held.get(&(party, sender, m.epoch)).copied();
                assert!(
                    first.is_some_and(|first| first <= m.iteration),
                    "step {step}: {} holds {}'s key of epoch {} from before iteration {}",
                    e.party,
                    m.sender,
                    m.epoch,
                    m.iteration
                );
                let roster = walk.roster_members(walk.roster[party].unwrap());
                assert!(
                    roster.contains(&sender),
                    "step {step}: the sender is in the reader's roster"
                );
                let (key, nonce) = (array::<32>(&m.aes_key), array::<12>(&m.nonce));
                assert_eq!(
                    aes_gcm_open(&key, &nonce, &bytes(&m.header), &bytes(&m.ciphertext)),
                    bytes(&m.plaintext)
                );
                // Coverage: a message read after a later one of its chain, and one of an
                // old epoch read after the sender's next epoch was installed.
                out_of_order |= v.timeline[..step].iter().any(|earlier| {
                    earlier.action == Action::Decrypt
                        && earlier.party == e.party
                        && earlier.group_message.is_some_and(|g| {
                            let g = &v.group_messages[g];
                            g.sender == m.sender && g.epoch == m.epoch && g.iteration > m.iteration
                        })
                });
                old_epoch_read_late |= walk.held.contains_key(&(party, sender, m.epoch + 1));
            }
        }
        assert!(draws.is_empty(), "step {step}: draws left over: {draws:?}");
        for r in v.rejected.iter().filter(|r| r.after_step == step) {
            signatures_checked += usize::from(check_rejected(&walk, r));
            rejected_checked += 1;
        }
    }
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
    assert!(
        signatures_checked >= 6,
        "the signature rule is checked on the rejected group messages ({signatures_checked})"
    );
    assert_eq!(
        rejected_checked,
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
        out_of_order,
        "a group message is read after a later one of its chain"
    );
    assert!(
        old_epoch_read_late,
        "a message of an old epoch is read after the next epoch's key"
    );
    let kinds: BTreeSet<&str> = v
        .rejected
        .iter()
        .map(|r| r.expected_error.as_str())
        .collect();
    for kind in [
        "BadSignature",
        "AuthenticationFailed",
        "Duplicate",
        "UnknownEpoch",
        "NotGroupMember",
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
    ] {
        assert!(kinds.contains(kind), "a rejected input gives {kind}");
    }
}

/// Recomputes a group message from its sender's key.
fn check_group_message(
    m: &generate_group::GroupMessageVector,
    sender: &str,
    own: &OwnKey,
    group_id: &[u8],
    sender_key: &[u8],
) {
    use independent::*;
    use prost::Message;

    let what = format!("group message {}", m.index);
    assert_eq!(m.sender, sender, "{what}: sender");
    assert_eq!(
        (m.epoch, m.iteration),
        (own.epoch, own.iteration),
        "{what}: epoch and iteration"
    );
    let chain_key = chain_key_at(&own.chain_key, own.iteration);
    check!(m.chain_key, chain_key, "{what}: chain_key");
    let (message_key, next_chain_key) = kdf_ck(&chain_key);
    check!(m.message_key, message_key, "{what}: message_key");
    check!(m.next_chain_key, next_chain_key, "{what}: next_chain_key");
    let (aes_key, nonce) = message_aead(&message_key, GROUP_MESSAGE_INFO);
    check!(m.aes_key, aes_key, "{what}: aes_key");
    check!(m.nonce, nonce, "{what}: nonce");
    let header = proto::GroupHeader {
        group_id: group_id.to_vec(),
        sender: sender_key.to_vec(),
        epoch: own.epoch,
        iteration: own.iteration,
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    let plaintext = bytes(&m.plaintext);
    assert_eq!(
        m.plaintext_utf8.as_bytes(),
        plaintext,
        "{what}: plaintext_utf8"
    );
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &header, &plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    let input = group_signature_input(&header, &ciphertext);
    check!(m.signature_input, input, "{what}: signature_input");
    let signature = ed25519_sign(&own.seed, &input);
    check!(m.signature, signature, "{what}: signature");
    let message = proto::GroupMessage {
        version: 1,
        header,
        ciphertext,
        signature: signature.to_vec(),
    }
    .encode_to_vec();
    check!(m.message, message, "{what}: message");
}

/// The independent checks of a rejected input, at its point of the timeline: what can be
/// recomputed is recomputed, and a signature is valid exactly when the expected error
/// comes after the signature check.
fn check_rejected(walk: &Walk, r: &RejectedVector) -> bool {
    use independent::*;
    use prost::Message;

    let what = format!("rejected {}", r.index);
    let party = walk.names.of(&r.party);
    let input = bytes(&r.input);
    if let Some(base) = r.group_message {
        assert!(
            base < walk.sent_group_messages,
            "{what}: made from a message sent by then"
        );
    }
    if let Some(base) = r.channel_message {
        assert!(
            base < walk.sent_channel_messages,
            "{what}: made from a message sent by then"
        );
        assert_eq!(
            walk.names.of(&walk.v.channel_messages[base].receiver),
            party,
            "{what}: given to the message's receiver"
        );
    }
    if matches!(
        r.action,
        RejectedAction::Receive | RejectedAction::Join | RejectedAction::ChannelDecrypt
    ) {
        assert!(r.from.is_some(), "{what}: from");
    }
    match r.action {
        RejectedAction::Join => assert!(
            walk.roster[party].is_none(),
            "{what}: join is for a party without the group"
        ),
        RejectedAction::Decrypt | RejectedAction::Receive => assert!(
            walk.roster[party].is_some(),
            "{what}: the party has the group"
        ),
        RejectedAction::ChannelDecrypt => {}
    }

    if let Some(signer) = &r.signed_by {
        // Re-signed by the generator: the signature is the signer's over the input's parts.
        let key = walk.sender_key(walk.names.of(&signer.member), signer.epoch);
        let message = proto::GroupMessage::decode(input.as_slice()).unwrap();
        let signature = ed25519_sign(
            &array(&key.signing_seed),
            &group_signature_input(&message.header, &message.ciphertext),
        );
        assert_eq!(message.signature, signature, "{what}: signed_by");
        assert_eq!(input, message.encode_to_vec(), "{what}: canonical");
    }
    let mut signature_checked = false;
    if r.action == RejectedAction::Decrypt
        && !matches!(r.expected_error.as_str(), "Decode" | "InvalidLength")
    {
        // When the receiver holds the key the header names, the signature verifies exactly
        // when the expected error comes after the signature check.
        if let Some(verifies) = signature_verifies(walk, party, &input) {
            let after_signature = matches!(
                r.expected_error.as_str(),
                "AuthenticationFailed" | "Duplicate" | "TooFarAhead" | "SentBeforeKeyReceived"
            );
            assert_eq!(
                verifies, after_signature,
                "{what}: the signature verifies exactly when the error comes after it"
            );
            signature_checked = true;
        }
    }
    if let Some(crafted) = &r.crafted {
        // A made-up channel message: the next one on the sender's open chain.
        let from = walk.names.of(r.from.as_ref().unwrap());
        let channel = walk.channel_between(from, party);
        assert_eq!(
            crafted.index, None,
            "{what}: a crafted message has no index"
        );
        assert_eq!(
            crafted.control, None,
            "{what}: a crafted message has no control"
        );
        let view = &walk.channels[channel];
        let (chain, pn, number, new) = view.position(from);
        assert!(!new, "{what}: on the sender's open chain");
        assert_eq!(
            (crafted.channel, crafted.chain),
            (channel, chain),
            "{what}: channel and chain"
        );
        check_channel_message(
            crafted,
            &walk.v.channels[channel].chains[chain],
            (pn, number),
            &view.associated_data,
            view.prekey(from).as_ref(),
        );
        check!(r.input, bytes(&crafted.message), "{what}: input");
        if crafted.content_type == 1 {
            // The control inside decodes; the group must refuse it.
            proto::GroupControl::decode(bytes(&crafted.plaintext).as_slice()).unwrap();
        }
    }
    signature_checked
}

/// Whether a group message's signature verifies with the epoch key its header names, if
/// it is a group message of this group from a member of `party`'s roster whose key for
/// that epoch `party` holds.
fn signature_verifies(walk: &Walk, party: usize, input: &[u8]) -> Option<bool> {
    use independent::*;
    use prost::Message;

    let message = proto::GroupMessage::decode(input).ok()?;
    let header = proto::GroupHeader::decode(message.header.as_slice()).ok()?;
    if message.version != 1 || header.group_id != walk.group_id {
        return None;
    }
    let sender = walk
        .v
        .identities
        .iter()
        .position(|i| bytes(&i.signing_public) == header.sender)?;
    let roster = walk.roster_members(walk.roster[party]?);
    if !roster.contains(&sender) || !walk.held.contains_key(&(party, sender, header.epoch)) {
        return None;
    }
    let public = array::<32>(&walk.sender_key(sender, header.epoch).signing_public);
    Some(ed25519_verifies(
        &public,
        &group_signature_input(&message.header, &message.ciphertext),
        &message.signature,
    ))
}

/// An RNG that hands out the given 32-byte values in order, and nothing else.
struct ScriptedRng(VecDeque<[u8; 32]>);

impl ScriptedRng {
    fn new<S: AsRef<str>>(values: &[S]) -> Self {
        Self(values.iter().map(|value| array(value.as_ref())).collect())
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

/// The name of an error's variant.
fn kind(error: &ratchetkit::Error) -> String {
    format!("{error:?}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

struct Member {
    identity: ratchetkit::Identity,
    key: [u8; 32],
    prekeys: Option<ratchetkit::PrekeyStore>,
    channels: BTreeMap<[u8; 32], ratchetkit::Channel>,
    group: Option<ratchetkit::Group>,
}

impl Member {
    /// Everything a rejected input must leave unchanged.
    fn state(&self) -> Vec<Vec<u8>> {
        let mut state: Vec<Vec<u8>> = self
            .channels
            .values()
            .map(|channel| channel.to_bytes().to_vec())
            .collect();
        state.push(
            self.group
                .as_ref()
                .map(|g| g.to_bytes().to_vec())
                .unwrap_or_default(),
        );
        state.push(
            self.prekeys
                .as_ref()
                .map(|p| p.to_bytes().to_vec())
                .unwrap_or_default(),
        );
        state
    }
}

/// Replays the timeline with ratchetkit; with `refuse`, gives every rejected input at its
/// point and checks the error and the unchanged state.
fn replay(refuse: bool) {
    use ratchetkit::group::Outgoing;
    use ratchetkit::{Channel, Group, GroupEvent, Identity, PrekeyBundle, PrekeyStore};

    let v = committed();
    let group_id = bytes(&v.group_id);
    let names = Names(v.identities.iter().map(|i| i.name.clone()).collect());
    let mut members: Vec<Member> = v
        .identities
        .iter()
        .map(|listed| {
            let mut rng = ScriptedRng::new(&[&listed.signing_seed, &listed.agreement_secret]);
            let identity =
                Identity::generate_at(&mut rng, &listed.name, listed.created_at).unwrap();
            rng.assert_used_up("Identity::generate_at");
            assert_eq!(
                identity.card().to_bytes(),
                bytes(&listed.card),
                "{}: card",
                listed.name
            );
            Member {
                key: identity.card().signing_key(),
                identity,
                prekeys: None,
                channels: BTreeMap::new(),
                group: None,
            }
        })
        .collect();
    for prekey in &v.prekeys {
        let owner = names.of(&prekey.owner);
        let mut rng = ScriptedRng::new(&[&prekey.secret]);
        let store = PrekeyStore::new(&mut rng);
        rng.assert_used_up("PrekeyStore::new");
        assert_eq!(store.signed_prekey_id(), prekey.id);
        let bundle = store.bundle(&members[owner].identity, None).unwrap();
        assert_eq!(
            bundle.to_bytes(),
            bytes(&prekey.bundle),
            "{}: bundle",
            prekey.owner
        );
        members[owner].prekeys = Some(store);
    }
    let key = |name: &str| -> [u8; 32] { array(&v.identities[names.of(name)].signing_public) };
    let event_names = |events: &[GroupEvent]| -> Vec<EventVector> {
        let name = |key: &[u8; 32]| {
            v.identities
                .iter()
                .find(|i| bytes(&i.signing_public) == key)
                .unwrap()
                .name
                .clone()
        };
        events
            .iter()
            .map(|event| match event {
                GroupEvent::RosterChanged {
                    version,
                    added,
                    removed,
                } => EventVector::RosterChanged {
                    version: *version,
                    added: added.iter().map(|c| name(&c.signing_key())).collect(),
                    removed: removed.iter().map(|c| name(&c.signing_key())).collect(),
                },
                GroupEvent::Removed { version } => EventVector::Removed { version: *version },
                GroupEvent::SenderKey { sender, epoch } => EventVector::SenderKey {
                    member: name(sender),
                    epoch: *epoch,
                },
                GroupEvent::LeaveRequested { member } => EventVector::LeaveRequested {
                    member: name(member),
                },
                other => panic!("unexpected event {other:?}"),
            })
            .collect()
    };
    let check_sent = |what: &str, outgoing: &[Outgoing], sent: &[usize]| {
        assert_eq!(outgoing.len(), sent.len(), "{what}: how many controls");
        for (out, &index) in outgoing.iter().zip(sent) {
            let control = &v.controls[index];
            assert_eq!(
                out.to,
                key(&control.receiver),
                "{what}: control {index} recipient"
            );
            assert_eq!(
                hex::encode(&out.message),
                v.channel_messages[control.channel_message].message,
                "{what}: control {index}"
            );
        }
    };

    let mut refused = 0;
    for e in &v.timeline {
        let what = format!("step {} ({} {:?})", e.step, e.party, e.action);
        let party = names.of(&e.party);
        let mut rng = ScriptedRng::new(e.draws.as_slice());
        let member = &mut members[party];
        match e.action {
            Action::ChannelCreate => {
                let c = &v.channels[e.channel.unwrap()];
                let prekey = v.prekeys.iter().find(|p| p.owner == c.responder).unwrap();
                let bundle = PrekeyBundle::from_bytes(&bytes(&prekey.bundle)).unwrap();
                let channel = Channel::create(&mut rng, &member.identity, &bundle).unwrap();
                member.channels.insert(key(&c.responder), channel);
            }
            Action::ChannelSend => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let channel = member.channels.get_mut(&key(&m.receiver)).unwrap();
                let message = channel.encrypt(&mut rng, &bytes(&m.plaintext)).unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}");
            }
            Action::ChannelJoin => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let store = member.prekeys.as_mut().unwrap();
                let joined = Channel::join(&member.identity, store, &bytes(&m.message)).unwrap();
                assert_eq!(joined.plaintext, bytes(&m.plaintext), "{what}");
                assert_eq!(joined.peer.signing_key(), key(&m.sender), "{what}: peer");
                member.channels.insert(key(&m.sender), joined.channel);
            }
            Action::ChannelReceive => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let channel = member.channels.get_mut(&key(&m.sender)).unwrap();
                assert_eq!(
                    channel.decrypt(&bytes(&m.message)).unwrap(),
                    bytes(&m.plaintext),
                    "{what}"
                );
            }
            Action::GroupCreate => {
                let cards: Vec<_> = e
                    .members
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|m| {
                        ratchetkit::Card::from_bytes(&bytes(&v.identities[names.of(m)].card))
                            .unwrap()
                    })
                    .collect();
                let (group, outgoing) = Group::create(
                    &mut rng,
                    &member.identity,
                    &group_id,
                    &cards,
                    &mut member.channels,
                )
                .unwrap();
                check_sent(&what, &outgoing, &e.sent);
                member.group = Some(group);
            }
            Action::GroupJoin | Action::GroupReceive => {
                let control = &v.controls[e.control.unwrap()];
                let from = key(e.from.as_ref().unwrap());
                let message = bytes(&v.channel_messages[control.channel_message].message);
                let received = if e.action == Action::GroupJoin {
                    let (group, received) = Group::join(
                        &mut rng,
                        &member.identity,
                        &mut member.channels,
                        &from,
                        &message,
                    )
                    .unwrap_or_else(|error| panic!("{what}: {error:?}"));
                    member.group = Some(group);
                    received
                } else {
                    member
                        .group
                        .as_mut()
                        .unwrap()
                        .receive(&mut rng, &mut member.channels, &from, &message)
                        .unwrap_or_else(|error| panic!("{what}: {error:?}"))
                };
                check_sent(&what, &received.outgoing, &e.sent);
                assert_eq!(event_names(&received.events), e.events, "{what}: events");
            }
            Action::RemoveMember => {
                let removed = key(e.member.as_ref().unwrap());
                let group = member.group.as_mut().unwrap();
                let outgoing = group
                    .remove_member(&mut rng, &member.identity, &removed, &mut member.channels)
                    .unwrap();
                check_sent(&what, &outgoing, &e.sent);
            }
            Action::Rekey => {
                let outgoing = member
                    .group
                    .as_mut()
                    .unwrap()
                    .rekey(&mut rng, &mut member.channels)
                    .unwrap();
                check_sent(&what, &outgoing, &e.sent);
            }
            Action::Encrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let message = member
                    .group
                    .as_mut()
                    .unwrap()
                    .encrypt(&bytes(&m.plaintext))
                    .unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}");
            }
            Action::Decrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let decrypted = member
                    .group
                    .as_mut()
                    .unwrap()
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: {error:?}"));
                assert_eq!(decrypted.plaintext, bytes(&m.plaintext), "{what}");
                assert_eq!(decrypted.sender, key(&m.sender), "{what}: sender");
                assert_eq!(decrypted.epoch, m.epoch, "{what}: epoch");
            }
        }
        rng.assert_used_up(&what);

        if !refuse {
            continue;
        }
        for r in v.rejected.iter().filter(|r| r.after_step == e.step) {
            let what = format!("rejected {} ({})", r.index, r.description);
            let member = &mut members[names.of(&r.party)];
            let before = member.state();
            let input = bytes(&r.input);
            let from = r.from.as_deref().map(key);
            let mut rng = ScriptedRng::new::<&str>(&[]);
            let result = match r.action {
                RejectedAction::Decrypt => member.group.as_mut().unwrap().decrypt(&input).map(drop),
                RejectedAction::Receive => member
                    .group
                    .as_mut()
                    .unwrap()
                    .receive(&mut rng, &mut member.channels, &from.unwrap(), &input)
                    .map(drop),
                RejectedAction::Join => {
                    assert!(member.group.is_none(), "{what}: joins only without a group");
                    Group::join(
                        &mut rng,
                        &member.identity,
                        &mut member.channels,
                        &from.unwrap(),
                        &input,
                    )
                    .map(drop)
                }
                RejectedAction::ChannelDecrypt => member
                    .channels
                    .get_mut(&from.unwrap())
                    .unwrap()
                    .decrypt(&input)
                    .map(drop),
            };
            let error = result.expect_err(&what);
            assert_eq!(kind(&error), r.expected_error, "{what}: {error:?}");
            assert!(member.state() == before, "{what}: the state changed");
            refused += 1;
        }
    }
    if refuse {
        assert_eq!(refused, v.rejected.len(), "every rejected input was given");
    }

    // Every message arrived: no skipped key is left anywhere, carol is out, and the others
    // end where the timeline leaves them.
    for member in &members {
        for channel in member.channels.values() {
            assert_eq!(
                channel.skipped_keys(),
                0,
                "{}: channel skipped keys",
                member.identity.card().identity()
            );
        }
        let group = member.group.as_ref().unwrap();
        for other in &members {
            assert_eq!(
                group.skipped_keys(&other.key),
                0,
                "{}: group skipped keys",
                member.identity.card().identity()
            );
        }
    }
    let [alice, bob, carol] = &members[..] else {
        panic!("three members")
    };
    let (alice, bob, carol) = (
        alice.group.as_ref().unwrap(),
        bob.group.as_ref().unwrap(),
        carol.group.as_ref().unwrap(),
    );
    assert!(alice.is_member() && bob.is_member() && !carol.is_member());
    assert_eq!(
        (
            alice.roster_version(),
            bob.roster_version(),
            carol.roster_version()
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (alice.epoch(), bob.epoch(), carol.epoch()),
        (Some(1), Some(2), None)
    );
}

#[test]
fn ratchetkit_replays_the_timeline() {
    replay(false);
}

#[test]
fn ratchetkit_refuses_the_rejected_inputs() {
    replay(true);
}
